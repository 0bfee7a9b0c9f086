//! The pieces of a crash-restart on Linux: a server process whose listener
//! comes from `#[restartable_listener]` or from naive socket2 code, clients
//! that leave the server's side of their connections in TIME_WAIT, a count
//! of those from `/proc/net/tcp`, and the time until a restarted server
//! accepts again.

use std::fmt;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{self, Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use restartable::restartable_listener;
use restartable::socket2::{Domain, Socket, Type};

use crate::describe;

/// Which code makes the server's listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// `#[restartable_listener(host = "127.0.0.1", port = port)]`.
    Restartable,
    /// socket, bind, listen with socket2 and no option at all.
    Naive,
    /// `#[restartable_listener(host = "127.0.0.1", port = port, inherit = true)]`:
    /// the socket a supervisor passed, else bound as `Restartable` is.
    Inherited,
}

impl Listener {
    /// Binds this kind of listener on `127.0.0.1:port`.
    ///
    /// # Errors
    ///
    /// When the socket cannot be created, bound or put in listening state.
    pub fn bind(self, port: u16) -> io::Result<TcpListener> {
        match self {
            Listener::Restartable => restartable(port),
            Listener::Naive => naive(port),
            Listener::Inherited => inherited(port),
        }
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Listener::Restartable => "restartable",
            Listener::Naive => "naive",
            Listener::Inherited => "inherited",
        })
    }
}

impl std::str::FromStr for Listener {
    type Err = io::Error;

    fn from_str(name: &str) -> io::Result<Self> {
        match name {
            "restartable" => Ok(Listener::Restartable),
            "naive" => Ok(Listener::Naive),
            "inherited" => Ok(Listener::Inherited),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("expected `restartable`, `naive` or `inherited`, found {name:?}"),
            )),
        }
    }
}

/// The server's listener, as a service would write it with restartable.
#[restartable_listener(host = "127.0.0.1", port = port)]
pub fn restartable(port: u16) -> io::Result<TcpListener> {}

/// The server's listener when a supervisor may hold the socket: the passed
/// socket when there is one, else bound like [`restartable()`].
#[restartable_listener(host = "127.0.0.1", port = port, inherit = true)]
pub fn inherited(port: u16) -> io::Result<TcpListener> {}

/// The server's listener without restartable: no socket option at all.
///
/// # Errors
///
/// When the socket cannot be created, bound or put in listening state.
pub fn naive(port: u16) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// The server process: binds, reports on stdout (`options ...` then
/// `ready`, or `bind-error KIND MESSAGE`), then gives each connection one
/// byte and closes it first, so that the server's side ends in TIME_WAIT.
pub fn serve(listener: Listener, port: u16) -> ! {
    let listener = match listener.bind(port) {
        Ok(listener) => listener,
        Err(error) => {
            println!("bind-error {:?} {error}", error.kind());
            process::exit(3);
        }
    };
    let options = describe(&listener).unwrap_or_else(|error| format!("unreadable: {error}"));
    println!("options {options}");
    println!("ready");
    let _ = io::stdout().flush();
    for mut stream in listener.incoming().flatten() {
        let _ = stream.write_all(b"x");
    }
    process::exit(0)
}

/// Runs [`serve`], and so never returns, when `args` are
/// `--serve LISTENER PORT`: for an example that starts itself as the server.
///
/// # Errors
///
/// When the listener or the port does not parse.
pub fn serve_when_asked(args: &[String]) -> io::Result<()> {
    if let [flag, listener, port] = args {
        if flag == "--serve" {
            let port = port.parse().map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("bad port {port:?}"))
            })?;
            serve(listener.parse()?, port);
        }
    }
    Ok(())
}

/// The count after `flag` when `args` are `flag N`, `default` when there
/// are none; other arguments print `usage` and exit with status 2.
///
/// # Errors
///
/// When N is not a number.
pub fn count_option<T: std::str::FromStr>(
    args: &[String],
    flag: &str,
    default: T,
    usage: &str,
) -> io::Result<T> {
    match args {
        [given, count] if given == flag => count.parse().map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("bad count {count:?}"))
        }),
        [] => Ok(default),
        _ => {
            eprintln!("usage: {usage}");
            process::exit(2);
        }
    }
}

/// What a server process said when it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// It is listening; the options its listener got.
    Ready {
        /// As [`describe`] prints them.
        options: String,
    },
    /// Its bind failed.
    BindError {
        /// The `io::ErrorKind`, as `Debug` prints it (e.g. `AddrInUse`).
        kind: String,
        /// The error message.
        message: String,
    },
}

/// A running server process and the lines it prints.
pub struct ServerProcess {
    child: Child,
    lines: Receiver<String>,
}

impl ServerProcess {
    /// Starts `command`, which must run [`serve`], with its stdout piped.
    ///
    /// # Errors
    ///
    /// When the process cannot be started.
    pub fn spawn(mut command: Command) -> io::Result<ServerProcess> {
        let mut child = command.stdout(Stdio::piped()).spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("the server's stdout is not piped"))?;
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(ServerProcess { child, lines })
    }

    /// Waits up to `timeout` for the server to say whether it bound.
    ///
    /// # Errors
    ///
    /// `TimedOut` when it says nothing in time, `UnexpectedEof` when it exits
    /// without saying.
    pub fn start(&mut self, timeout: Duration) -> io::Result<Start> {
        let deadline = Instant::now() + timeout;
        let mut options = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the server process said nothing",
                    ))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server process exited without a word",
                    ))
                }
            };
            // A test harness may print its own words before ours on a line.
            let after = |marker: &str| line.find(marker).map(|at| &line[at + marker.len()..]);
            if let Some(rest) = after("options ") {
                rest.clone_into(&mut options);
            } else if line.ends_with("ready") {
                return Ok(Start::Ready { options });
            } else if let Some(rest) = after("bind-error ") {
                let (kind, message) = rest.split_once(' ').unwrap_or((rest, ""));
                return Ok(Start::BindError {
                    kind: kind.to_owned(),
                    message: message.to_owned(),
                });
            }
        }
    }

    /// Kills the process with SIGKILL, as a crash would end it, and reaps it.
    ///
    /// # Errors
    ///
    /// When the kill or the wait fails.
    pub fn kill(&mut self) -> io::Result<()> {
        self.child.kill()?;
        self.child.wait().map(drop)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens `clients` connections to the server one after another; each reads
/// until the server closes, then closes too. The server closed first, so
/// its side of each connection is left in TIME_WAIT.
///
/// # Errors
///
/// When a connection fails.
pub fn leave_in_time_wait(port: u16, clients: usize) -> io::Result<()> {
    for _ in 0..clients {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut received = Vec::new();
        stream.read_to_end(&mut received)?;
    }
    Ok(())
}

/// The server side's connections in TIME_WAIT on one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWait {
    /// How many there are.
    pub count: usize,
    /// The longest time one of them has left, from its timer.
    pub longest: Duration,
}

/// Counts the TCP connections in TIME_WAIT whose local port is `port`, from
/// `/proc/net/tcp` and `/proc/net/tcp6`.
///
/// # Errors
///
/// When `/proc/net/tcp` cannot be read.
pub fn time_wait(port: u16) -> io::Result<TimeWait> {
    const TIME_WAIT: &str = "06";
    // The timer column counts clock ticks (USER_HZ, 100 on Linux).
    const TICKS_PER_SECOND: u64 = 100;
    let mut found = TimeWait {
        count: 0,
        longest: Duration::ZERO,
    };
    let mut table = fs::read_to_string("/proc/net/tcp")?;
    table.push_str(&fs::read_to_string("/proc/net/tcp6").unwrap_or_default());
    for line in table.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(state), Some(timer)) = (fields.get(1), fields.get(3), fields.get(5))
        else {
            continue;
        };
        let local_port = local
            .rsplit_once(':')
            .and_then(|(_, port)| u16::from_str_radix(port, 16).ok());
        if *state != TIME_WAIT || local_port != Some(port) {
            continue;
        }
        found.count += 1;
        let ticks = timer
            .split_once(':')
            .and_then(|(_, when)| u64::from_str_radix(when, 16).ok())
            .unwrap_or(0);
        found.longest = found
            .longest
            .max(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND));
    }
    Ok(found)
}

/// Connects until the server accepts and answers, or until `deadline`;
/// returns when that happened.
#[must_use]
pub fn accepting_at(port: u16, deadline: Instant) -> Option<Instant> {
    while Instant::now() < deadline {
        if let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
            let mut byte = [0];
            if stream
                .set_read_timeout(Some(Duration::from_secs(1)))
                .is_ok()
                && stream.read_exact(&mut byte).is_ok()
            {
                return Some(Instant::now());
            }
        }
        thread::sleep(Duration::from_micros(200));
    }
    None
}

/// A port on 127.0.0.1 that nothing holds and that has no connection in
/// TIME_WAIT, so that a naive listener can bind it the first time.
///
/// # Errors
///
/// When no such port is found in a few tries.
pub fn fresh_port() -> io::Result<u16> {
    for _ in 0..20 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        if time_wait(port)?.count == 0 {
            return Ok(port);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrNotAvailable,
        "no free port without TIME_WAIT connections",
    ))
}

/// What one crash-restart of one kind of server showed.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Which listener the server used.
    pub listener: Listener,
    /// The port.
    pub port: u16,
    /// The options the first server process's listener got.
    pub options: String,
    /// The server side's TIME_WAIT connections when the server was killed.
    pub time_wait: TimeWait,
    /// What the restarted process said.
    pub restart: Start,
    /// From the restart to the first connection it accepted, when it did.
    pub time_to_ready: Option<Duration>,
}

/// Starts a server, connects `clients` clients, kills the server with
/// SIGKILL and starts it again at once. `command` builds the command that
/// runs [`serve`] for a listener on a port.
///
/// # Errors
///
/// When the first server does not start, or a client fails.
pub fn crash_and_restart(
    listener: Listener,
    port: u16,
    clients: usize,
    command: &dyn Fn(Listener, u16) -> Command,
) -> io::Result<Outcome> {
    let startup = Duration::from_secs(5);
    let mut first = ServerProcess::spawn(command(listener, port))?;
    let options = match first.start(startup)? {
        Start::Ready { options } => options,
        Start::BindError { kind, message } => {
            return Err(io::Error::other(format!(
                "the first {listener} server did not start: {kind} {message}"
            )))
        }
    };
    leave_in_time_wait(port, clients)?;
    let time_wait = time_wait(port)?;
    first.kill()?;

    let restarted_at = Instant::now();
    let mut second = ServerProcess::spawn(command(listener, port))?;
    let restart = second.start(startup)?;
    let time_to_ready = match restart {
        Start::Ready { .. } => accepting_at(port, Instant::now() + startup)
            .map(|ready| ready.duration_since(restarted_at)),
        Start::BindError { .. } => None,
    };
    second.kill()?;
    Ok(Outcome {
        listener,
        port,
        options,
        time_wait,
        restart,
        time_to_ready,
    })
}
