//! A supervisor in miniature, as systemd runs a socket-activated service:
//! it holds the listening socket, starts the server with the socket as
//! descriptor 3 and `LISTEN_FDS`/`LISTEN_PID` set, and starts it again when
//! it dies. Used to show that a crash-restart then refuses no connection,
//! against a server that binds the port itself.

use std::io::{self, Read};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::io::{AsRawFd, BorrowedFd};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use restartable::socket2::{SockRef, Socket};

use crate::crash::{Listener, ServerProcess, Start};

/// What `LISTEN_PID` says to the started process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenPid {
    /// Its own process id, as systemd sets it.
    Own,
    /// Not set, as `systemfd --no-pid` leaves it.
    Unset,
    /// This text, for tests of other and malformed values.
    Value(String),
}

/// A command that starts `program` with `sockets` as descriptors 3, 4, …
/// and the socket activation variables; [`Passing::spawn`] starts it.
pub struct Passing {
    command: Command,
    /// Copies of the sockets that a child inherits (not close-on-exec),
    /// closed in this process once the child has started.
    inheritable: Vec<Socket>,
}

/// Starting processes with inheritable descriptors is done one at a time,
/// so that no other child started meanwhile inherits them.
static SPAWNING: Mutex<()> = Mutex::new(());

impl Passing {
    /// Prepares `command` (its program, arguments and variables) with
    /// `sockets` passed, `names` (when given)
    /// as `LISTEN_FDNAMES`, and `LISTEN_PID` as `pid` says. `bash` moves the
    /// descriptors to 3, 4, … and sets `LISTEN_PID` to its own process id,
    /// which `exec` hands on to the program.
    ///
    /// # Errors
    ///
    /// When a socket cannot be copied.
    pub fn new(
        target: &Command,
        sockets: &[BorrowedFd<'_>],
        names: Option<&str>,
        pid: &ListenPid,
    ) -> io::Result<Passing> {
        Passing::from_fd(target, sockets, names, pid, 3)
    }

    /// [`Passing::new`] with the sockets from descriptor `first` on, as
    /// `systemfd` places them when lower numbers are taken: the numbers from
    /// 3 up to `first` are open on `/dev/null`, and `LISTEN_FDS_FIRST_FD`
    /// says where the sockets start.
    ///
    /// # Errors
    ///
    /// When a socket cannot be copied.
    pub fn from_fd(
        target: &Command,
        sockets: &[BorrowedFd<'_>],
        names: Option<&str>,
        pid: &ListenPid,
        first: usize,
    ) -> io::Result<Passing> {
        let mut inheritable = Vec::new();
        for socket in sockets {
            let copy = SockRef::from(socket).try_clone()?;
            copy.set_cloexec(false)?;
            inheritable.push(copy);
        }
        // Through high numbers first, so that no source is overwritten
        // before it is copied.
        let mut lines: Vec<String> = inheritable
            .iter()
            .enumerate()
            .map(|(index, socket)| {
                format!("exec {}<&{} || exit 97", 100 + index, socket.as_raw_fd())
            })
            .collect();
        lines.extend((3..first).map(|fd| format!("exec {fd}</dev/null || exit 97")));
        lines.extend((0..inheritable.len()).map(|index| {
            format!(
                "exec {}<&{} {}<&- || exit 97",
                first + index,
                100 + index,
                100 + index
            )
        }));
        let mut script = lines.join("\n");
        script.push('\n');
        if *pid == ListenPid::Own {
            script.push_str("export LISTEN_PID=$$\n");
        }
        script.push_str("exec \"$@\"\n");
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
        command.env("LISTEN_FDS", sockets.len().to_string());
        command
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES");
        if let Some(names) = names {
            command.env("LISTEN_FDNAMES", names);
        }
        if first == 3 {
            command.env_remove("LISTEN_FDS_FIRST_FD");
        } else {
            command.env("LISTEN_FDS_FIRST_FD", first.to_string());
        }
        if let ListenPid::Value(value) = pid {
            command.env("LISTEN_PID", value);
        }
        Ok(Passing {
            command,
            inheritable,
        })
    }

    /// The command, to set more variables on it.
    pub fn command(&mut self) -> &mut Command {
        &mut self.command
    }

    /// Starts it as a [`ServerProcess`], then closes the inheritable copies.
    ///
    /// # Errors
    ///
    /// When the process cannot be started.
    pub fn spawn(self) -> io::Result<ServerProcess> {
        let _one_at_a_time = spawning();
        let server = ServerProcess::spawn(self.command);
        drop(self.inheritable);
        server
    }
}

impl Passing {
    /// Runs it to the end and returns what it printed on stdout. A child
    /// still running after 30 s is killed (and what it printed so far is
    /// returned), so that a scenario that hangs fails instead of hanging.
    ///
    /// # Errors
    ///
    /// When the process cannot be started.
    pub fn stdout(mut self) -> io::Result<String> {
        let child = {
            let _one_at_a_time = spawning();
            let child = self.command.stdout(Stdio::piped()).spawn();
            drop(self.inheritable);
            child?
        };
        let pid = child.id();
        let done = Arc::new(AtomicBool::new(false));
        let watchdog = {
            let done = Arc::clone(&done);
            thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(30);
                while !done.load(Ordering::Acquire) && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(20));
                }
                if !done.load(Ordering::Acquire) {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
            })
        };
        let output = child.wait_with_output();
        done.store(true, Ordering::Release);
        let _ = watchdog.join();
        Ok(String::from_utf8_lossy(&output?.stdout).into_owned())
    }
}

fn spawning() -> MutexGuard<'static, ()> {
    SPAWNING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts a child process that does not inherit descriptors in the middle
/// of a [`Passing::spawn`]: for children started next to passing ones.
///
/// # Errors
///
/// When the process cannot be started.
pub fn spawn_plain(command: Command) -> io::Result<ServerProcess> {
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
            Some(listener) => Passing::new(
                &server_command,
                &[listener_fd(listener)],
                None,
                &ListenPid::Own,
            )?
            .spawn()?,
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

fn listener_fd(listener: &std::net::TcpListener) -> BorrowedFd<'_> {
    use std::os::unix::io::AsFd;
    listener.as_fd()
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
