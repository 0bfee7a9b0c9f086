//! A supervisor in miniature, as systemd runs a socket-activated service:
//! it holds the listening socket, starts the server with the socket as
//! descriptor 3 and `LISTEN_FDS`/`LISTEN_PID` set, and starts it again when
//! it dies. Used to show that a crash-restart then refuses no connection,
//! against a server that binds the port itself.

use std::io::{self, Read};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use restartable::socket2::{SockRef, Socket};

use crate::crash::{Listener, ServerProcess, Start};

/// A command that starts a server with the held socket as descriptor 3,
/// `LISTEN_FDS=1` and `LISTEN_PID` its own process id, as systemd starts a
/// socket-activated service; [`Passing::spawn`] starts it.
struct Passing {
    command: Command,
    /// A copy of the socket that the server inherits (not close-on-exec),
    /// closed in this process once the server has started.
    inheritable: Socket,
}

/// Starting processes with an inheritable descriptor is done one at a time,
/// so that no other child started meanwhile inherits it.
static SPAWNING: Mutex<()> = Mutex::new(());

impl Passing {
    /// Prepares `target` (its program, arguments and variables) with
    /// `socket` passed. `bash` moves the descriptor to 3 and sets
    /// `LISTEN_PID` to its own process id, which `exec` hands on to the
    /// program.
    fn new(target: &Command, socket: BorrowedFd<'_>) -> io::Result<Passing> {
        let inheritable = SockRef::from(&socket).try_clone()?;
        inheritable.set_cloexec(false)?;
        // Through a high number first, in case the socket is at 3 already.
        let script = format!(
            "exec 100<&{} || exit 97\nexec 3<&100 100<&- || exit 97\n\
             export LISTEN_PID=$$\nexec \"$@\"\n",
            inheritable.as_raw_fd()
        );
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(script)
            .arg("bash")
            .arg(target.get_program())
            .args(target.get_args());
        for (name, value) in target.get_envs() {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        command
            .env("LISTEN_FDS", "1")
            .env_remove("LISTEN_FDNAMES")
            .env_remove("LISTEN_FDS_FIRST_FD");
        Ok(Passing {
            command,
            inheritable,
        })
    }

    /// Starts it as a [`ServerProcess`], then closes the inheritable copy.
    fn spawn(self) -> io::Result<ServerProcess> {
        let _one_at_a_time = spawning();
        let server = ServerProcess::spawn(self.command);
        drop(self.inheritable);
        server
    }
}

fn spawning() -> MutexGuard<'static, ()> {
    SPAWNING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts a server that binds the port itself, not in the middle of a
/// [`Passing::spawn`], so that it inherits no passed socket.
fn spawn_plain(command: Command) -> io::Result<ServerProcess> {
    let _one_at_a_time = spawning();
    ServerProcess::spawn(command)
}

/// How a restart gets its listening socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The supervisor holds the socket and passes it to each server.
    Handoff,
    /// Each server binds the port itself.
    Rebind,
}

/// What clients saw during one kill-and-restart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Connections that got the server's byte.
    pub served: u64,
    /// Connection attempts refused (ECONNREFUSED): no listener at that time.
    pub refused: u64,
    /// Connections accepted and then reset or closed without the byte: the
    /// killed server had accepted them.
    pub broken: u64,
    /// The probe, a connect made after the kill and before the restart:
    /// was it refused?
    pub probe_refused: bool,
    /// From the kill to the restarted server saying "ready".
    pub gap: Duration,
}

/// Starts a server on `port` (`Listener::Inherited`, the same code for both
/// modes), lets `clients` threads connect in a loop, kills the server with
/// SIGKILL, connects once more (the probe) and starts it again at once, lets
/// the clients go on, and counts what they saw. `command` makes the command
/// that runs [`crate::crash::serve`] for a listener and a port.
///
/// # Errors
///
/// When a server does not start.
pub fn kill_and_restart(
    mode: Mode,
    port: u16,
    clients: usize,
    command: &dyn Fn(Listener, u16) -> Command,
) -> io::Result<Tally> {
    let held = match mode {
        Mode::Handoff => Some(crate::crash::restartable(port)?),
        Mode::Rebind => None,
    };
    let start = || -> io::Result<ServerProcess> {
        let server_command = command(Listener::Inherited, port);
        let mut server = match &held {
            Some(listener) => Passing::new(&server_command, listener.as_fd())?.spawn()?,
            None => spawn_plain(server_command)?,
        };
        match server.start(Duration::from_secs(5))? {
            Start::Ready { .. } => Ok(server),
            Start::BindError { kind, message } => Err(io::Error::other(format!(
                "the server did not start: {kind} {message}"
            ))),
        }
    };
    let mut first = start()?;
    let stop = Arc::new(AtomicBool::new(false));
    let tallies: Vec<_> = (0..clients)
        .map(|_| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut tally = Tally::default();
                while !stop.load(Ordering::Relaxed) {
                    count(connect_once(port), &mut tally);
                }
                tally
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    let killed = Instant::now();
    first.kill()?;
    // The probe: one connect between the kill and the restart, made here,
    // then read on a thread while the server restarts.
    let probe = TcpStream::connect((Ipv4Addr::LOCALHOST, port));
    let probe = thread::spawn(move || match probe {
        Ok(stream) => read_byte(stream),
        Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => Connection::Refused,
        Err(_) => Connection::Broken,
    });
    let second = start();
    let gap = killed.elapsed();
    thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let mut total = Tally::default();
    for tally in tallies {
        let tally = tally
            .join()
            .map_err(|_| io::Error::other("a client panicked"))?;
        total.served += tally.served;
        total.refused += tally.refused;
        total.broken += tally.broken;
    }
    let probe = probe
        .join()
        .map_err(|_| io::Error::other("the probe panicked"))?;
    total.probe_refused = probe == Connection::Refused;
    count(probe, &mut total);
    total.gap = gap;
    drop(second?);
    Ok(total)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Connection {
    Served,
    Refused,
    Broken,
}

fn connect_once(port: u16) -> Connection {
    match TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
        Ok(stream) => read_byte(stream),
        Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => Connection::Refused,
        Err(_) => Connection::Broken,
    }
}

fn read_byte(mut stream: TcpStream) -> Connection {
    let mut byte = [0];
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    match stream.read_exact(&mut byte) {
        Ok(()) => Connection::Served,
        Err(_) => Connection::Broken,
    }
}

fn count(connection: Connection, tally: &mut Tally) {
    match connection {
        Connection::Served => tally.served += 1,
        Connection::Refused => tally.refused += 1,
        Connection::Broken => tally.broken += 1,
    }
}
