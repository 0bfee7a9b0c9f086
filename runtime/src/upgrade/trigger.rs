//! What starts an upgrade besides [`Running::upgrade`]: the signal, and on
//! Linux a request from another process ([`request`]), for `ExecReload=`
//! and scripts, which learn the outcome.
//!
//! The request goes over a Unix socket in the abstract namespace,
//! `restartable/upgrade/<pid>`. Both ends check who is at the other one
//! (`SO_PEERCRED`): the process accepts requests only from its own user or
//! root, and [`request`] accepts a reply only from the process it asked,
//! so that a socket bound under that name by another process is not
//! believed.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::thread;

use super::Running;
#[cfg(any(target_os = "linux", target_os = "android"))]
use super::Upgraded;
use crate::sys::upgrade as sys;

/// Starts the threads that wait for the signal and for requests.
pub(crate) fn start(running: &Running) -> io::Result<()> {
    if let Some(signal) = running.shared.setup.signal {
        let (mut receiver, sender) = UnixStream::pair()?;
        sys::signal_to_socket(signal, sender).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("cannot handle signal {signal} for upgrades: {error}"),
            )
        })?;
        let running = running.clone();
        thread::Builder::new()
            .name("restartable-signal".into())
            .spawn(move || {
                let mut byte = [0u8; 1];
                while let Ok(1) = receiver.read(&mut byte) {
                    crate::event!(info, "upgrade: signal {signal} received");
                    // The outcome is in the log; the next signal may retry.
                    let _ = running.upgrade();
                }
            })?;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    control::start(running)?;
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod control {
    use std::io::{self, BufRead, BufReader, Write};
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::thread;

    use super::{sys, Running};
    use crate::sys::unix_socket::effective_uid;

    pub(super) fn name(pid: u32) -> Vec<u8> {
        format!("restartable/upgrade/{pid}").into_bytes()
    }

    pub(super) fn start(running: &Running) -> io::Result<()> {
        let addr = sys::abstract_addr(&name(sys::own_pid()))?;
        let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
        socket.bind(&addr).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!(
                    "cannot listen for upgrade requests on @restartable/upgrade/{}: {error}",
                    sys::own_pid()
                ),
            )
        })?;
        socket.listen(8)?;
        let listener = UnixListener::from(std::os::unix::io::OwnedFd::from(socket));
        let running = running.clone();
        thread::Builder::new()
            .name("restartable-control".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    serve(&running, stream);
                }
            })?;
        Ok(())
    }

    fn serve(running: &Running, mut stream: UnixStream) {
        let own = effective_uid();
        match sys::peer(&stream) {
            Ok((_, uid)) if uid == own || uid == 0 => {}
            Ok((pid, uid)) => {
                crate::event!(
                    warn,
                    "upgrade: refused a request from pid {pid} of user {uid} (not this user or root)"
                );
                let _ = stream.write_all(b"error only this process's user or root may ask\n");
                return;
            }
            Err(_) => return,
        }
        let mut line = String::new();
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
        if BufReader::new(&stream).read_line(&mut line).is_err() || line.trim() != "upgrade" {
            let _ = stream.write_all(b"error expected the request \"upgrade\"\n");
            return;
        }
        crate::event!(info, "upgrade: requested by another process");
        let reply = match running.upgrade() {
            Ok(upgraded) => format!("ok {upgraded}\n"),
            Err(error) => format!("error {}\n", error.to_string().replace('\n', " ")),
        };
        let _ = stream.write_all(reply.as_bytes());
    }
}

/// Asks the running process `pid` to upgrade, and waits for the outcome:
/// what a reload command (`ExecReload=`) or a script calls.
///
/// # Errors
///
/// The process does not listen for requests (`ConnectionRefused`: it did
/// not call [`Upgrade::ready`](super::Upgrade::ready), or is not running);
/// the socket there belongs to another process (`PermissionDenied`); the
/// upgrade failed or another one is under way (`Other`, with the process's
/// reason).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn request(pid: u32) -> io::Result<Upgraded> {
    let addr = sys::abstract_addr(&control::name(pid))?;
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    socket.connect(&addr).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!(
                "cannot ask process {pid} to upgrade: it does not listen for requests ({error})"
            ),
        )
    })?;
    let mut stream = UnixStream::from(std::os::unix::io::OwnedFd::from(socket));
    let (peer, _) = sys::peer(&stream)?;
    if peer != pid {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "cannot ask process {pid} to upgrade: its request socket is held by process {peer}"
            ),
        ));
    }
    stream.write_all(b"upgrade\n")?;
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply)?;
    let reply = reply.trim_end();
    if let Some(rest) = reply.strip_prefix("ok ") {
        let value = |key: &str| {
            rest.split(' ')
                .find_map(|part| part.strip_prefix(key))
                .and_then(|v| v.parse::<u32>().ok())
        };
        if let (Some(pid), Some(generation)) = (value("pid="), value("generation=")) {
            return Ok(Upgraded { pid, generation });
        }
    }
    let why = reply.strip_prefix("error ").unwrap_or(if reply.is_empty() {
        "process ended the request without a reply"
    } else {
        reply
    });
    Err(io::Error::new(io::ErrorKind::Other, why.to_owned()))
}
