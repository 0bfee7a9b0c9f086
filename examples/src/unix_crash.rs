//! The crash-restart of a service on a Unix-domain socket: `kill -9` leaves
//! the socket's file behind, and the restarted service's bind fails with
//! "address in use" until someone removes it, unless its listener comes
//! from `#[restartable_listener(path = ...)]`.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{self, Command};
use std::thread;
use std::time::{Duration, Instant};

use restartable::restartable_listener;

use crate::crash::{ServerProcess, Start};

/// Which code makes the server's listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnixKind {
    /// `#[restartable_listener(path = path)]`.
    Restartable,
    /// `std::os::unix::net::UnixListener::bind`, as most services write it.
    Std,
}

impl fmt::Display for UnixKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnixKind::Restartable => "restartable",
            UnixKind::Std => "std",
        })
    }
}

/// The server's listener, as a service would write it with restartable.
#[restartable_listener(path = path)]
pub fn restartable(path: &Path) -> io::Result<UnixListener> {}

/// The server process: binds `path`, says `ready` (or `bind-error KIND
/// MESSAGE`), then gives each connection one byte.
pub fn serve(kind: UnixKind, path: &Path) -> ! {
    let bound = match kind {
        UnixKind::Restartable => restartable(path),
        UnixKind::Std => UnixListener::bind(path),
    };
    let listener = match bound {
        Ok(listener) => listener,
        Err(error) => {
            println!("bind-error {:?} {error}", error.kind());
            process::exit(3);
        }
    };
    println!("ready");
    let _ = io::stdout().flush();
    let mut clients = Vec::new();
    for mut stream in listener.incoming().flatten() {
        let _ = stream.write_all(b"x");
        clients.push(stream);
    }
    process::exit(0)
}

/// Runs [`serve`], and so never returns, when `args` are
/// `--serve-unix KIND PATH`.
///
/// # Errors
///
/// When KIND is neither `restartable` nor `std`.
pub fn serve_when_asked(args: &[String]) -> io::Result<()> {
    if let [flag, kind, path] = args {
        if flag == "--serve-unix" {
            let kind = match kind.as_str() {
                "restartable" => UnixKind::Restartable,
                "std" => UnixKind::Std,
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("expected `restartable` or `std`, found {kind:?}"),
                    ))
                }
            };
            serve(kind, Path::new(path));
        }
    }
    Ok(())
}

/// What one crash-restart on a Unix-domain socket showed.
#[derive(Debug, Clone)]
pub struct UnixOutcome {
    /// Which listener the server used.
    pub kind: UnixKind,
    /// Whether the socket's file was still there after the kill.
    pub file_left: bool,
    /// What the restarted process said.
    pub restart: Start,
    /// From the restart to the first connection it answered, when it did.
    pub time_to_ready: Option<Duration>,
}

/// Starts a server on `path`, connects `clients` clients that stay
/// connected, kills the server with SIGKILL and starts it again at once.
///
/// # Errors
///
/// When the first server does not start, or a client fails.
pub fn crash_and_restart(
    kind: UnixKind,
    path: &Path,
    clients: usize,
    command: &dyn Fn(UnixKind, &Path) -> Command,
) -> io::Result<UnixOutcome> {
    let startup = Duration::from_secs(5);
    let mut first = ServerProcess::spawn(command(kind, path))?;
    if let Start::BindError { kind, message } = first.start(startup)? {
        return Err(io::Error::other(format!(
            "the first server did not start: {kind} {message}"
        )));
    }
    let connected: Vec<UnixStream> = (0..clients)
        .map(|_| UnixStream::connect(path))
        .collect::<io::Result<_>>()?;
    first.kill()?;
    drop(connected);
    let file_left = path.symlink_metadata().is_ok();

    let restarted_at = Instant::now();
    let mut second = ServerProcess::spawn(command(kind, path))?;
    let restart = second.start(startup)?;
    let time_to_ready = match restart {
        Start::Ready { .. } => answered_at(path, Instant::now() + startup)
            .map(|ready| ready.duration_since(restarted_at)),
        Start::BindError { .. } => None,
    };
    second.kill()?;
    Ok(UnixOutcome {
        kind,
        file_left,
        restart,
        time_to_ready,
    })
}

/// Connects until the server answers, or until `deadline`.
fn answered_at(path: &Path, deadline: Instant) -> Option<Instant> {
    while Instant::now() < deadline {
        if let Ok(mut stream) = UnixStream::connect(path) {
            let mut byte = [0];
            if stream.read_exact(&mut byte).is_ok() {
                return Some(Instant::now());
            }
        }
        thread::sleep(Duration::from_micros(200));
    }
    None
}
