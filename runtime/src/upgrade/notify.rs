//! Messages to the service manager, by the protocol of `sd_notify(3)`: one
//! message to the socket `$NOTIFY_SOCKET` names, descriptors attached with
//! `SCM_RIGHTS` for `FDSTORE=1`.
//!
//! Decided as `sd_notify(3)` decides:
//! - The addresses: an absolute path or an abstract name (`@…`), a Unix
//!   datagram socket; and since systemd 253 `vsock:CID:PORT` (a datagram
//!   socket, else a sequenced-packet one, else a stream), and since 254
//!   `vsock-dgram:`, `vsock-seqpacket:`, `vsock-stream:` (that type only).
//!   Anything else names no socket. Descriptors cannot cross a vsock
//!   connection (it reaches another machine): the fd store is skipped
//!   there. Sending over vsock is on paper: this machine has no vsock
//!   device to send to.
//! - A message that cannot be sent (a stale path, a manager gone) is an
//!   error the caller logs and carries on from: `sd_notify` returns it, and
//!   its manual recommends ignoring it, so that a service runs the same
//!   with or without a manager.
//! - `$NOTIFY_SOCKET` is read, never unset: unsetting a variable while
//!   other threads may read the environment is unsound (setenv(3)), and
//!   systemd's own threads-aware documentation says the same. Programs the
//!   service starts inherit it; `Command::env_remove("NOTIFY_SOCKET")`
//!   keeps it from them. The new process of an upgrade gets it on purpose.
//!
//! A few lines over libc and socket2 rather than the `sd-notify` crate: its
//! 0.5 (`notify_with_fds`) states Rust 1.82 where this crate states 1.71,
//! and it has neither abstract names nor vsock.

use std::env;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsFd, BorrowedFd};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::sys::upgrade::send_with_fds;

pub(crate) const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// How long a message over a connection-oriented vsock socket may take.
#[cfg(any(target_os = "linux", target_os = "android"))]
const VSOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Where `$NOTIFY_SOCKET` points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// A Unix datagram socket: a path, or an abstract name.
    Unix(SockAddr),
    /// A vsock address (Linux); `types` are tried in turn.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Vsock {
        cid: u32,
        port: u32,
        types: &'static [Type],
    },
}

impl Target {
    /// The socket `value` names.
    pub(crate) fn parse(value: &OsStr) -> io::Result<Target> {
        let bytes = value.as_bytes();
        let bad = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "environment variable {NOTIFY_SOCKET} is {value:?}, {why}; expected an \
                     absolute path, an abstract name starting with @, or vsock:CID:PORT"
                ),
            )
        };
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            const ANY: &[Type] = &[Type::DGRAM, Type::SEQPACKET, Type::STREAM];
            for (prefix, types) in [
                (&b"vsock:"[..], ANY),
                (b"vsock-dgram:", &[Type::DGRAM][..]),
                (b"vsock-seqpacket:", &[Type::SEQPACKET]),
                (b"vsock-stream:", &[Type::STREAM]),
            ] {
                if let Some(rest) = bytes.strip_prefix(prefix) {
                    let (cid, port) = std::str::from_utf8(rest)
                        .ok()
                        .and_then(|rest| rest.split_once(':'))
                        .and_then(|(cid, port)| Some((vsock_cid(cid)?, port.parse().ok()?)))
                        .ok_or_else(|| bad("which is no vsock address"))?;
                    return Ok(Target::Vsock { cid, port, types });
                }
            }
        }
        match bytes.first() {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Some(b'@') => crate::sys::upgrade::abstract_addr(&bytes[1..])
                .map(Target::Unix)
                .map_err(|e| bad(&e.to_string())),
            Some(b'/') => SockAddr::unix(value)
                .map(Target::Unix)
                .map_err(|e| bad(&e.to_string())),
            _ => Err(bad("which names no socket")),
        }
    }

    /// Sends `message` with `fds` attached.
    fn send(&self, message: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
        match self {
            Target::Unix(addr) => {
                let socket = Socket::new(Domain::UNIX, Type::DGRAM, None)?;
                send_with_fds(socket.as_fd(), Some(addr), message, fds).map(drop)
            }
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Target::Vsock { cid, port, types } => {
                if !fds.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        "descriptors cannot be sent over vsock, so the fd store is not used",
                    ));
                }
                send_vsock(*cid, *port, types, message)
            }
        }
    }
}

/// A vsock CID: a number, or one of systemd's names for the well-known ones.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn vsock_cid(text: &str) -> Option<u32> {
    match text {
        "hypervisor" => Some(0),
        "local" => Some(1),
        "host" => Some(2),
        _ => text.parse().ok(),
    }
}

/// As `sd_notify`: the first type the kernel supports; a connection-oriented
/// one is connected, written, shut for writing, and read until the manager
/// closes it (which says it took the message).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_vsock(cid: u32, port: u32, types: &[Type], message: &[u8]) -> io::Result<()> {
    use std::io::Read;
    let addr = SockAddr::vsock(cid, port);
    let mut last = io::Error::from(io::ErrorKind::Unsupported);
    for &kind in types {
        let socket = match Socket::new(Domain::VSOCK, kind, None) {
            Ok(socket) => socket,
            Err(error) => {
                last = error;
                continue;
            }
        };
        if kind == Type::DGRAM {
            return socket.send_to(message, &addr).map(drop);
        }
        socket.set_write_timeout(Some(VSOCK_TIMEOUT))?;
        socket.set_read_timeout(Some(VSOCK_TIMEOUT))?;
        socket.connect(&addr)?;
        socket.send(message)?;
        socket.shutdown(std::net::Shutdown::Write)?;
        let mut rest = [0u8; 64];
        while (&socket).read(&mut rest)? > 0 {}
        return Ok(());
    }
    Err(last)
}

/// The service manager's socket, read from the environment once, when
/// `$NOTIFY_SOCKET` is set (and not empty).
#[derive(Debug)]
pub(crate) struct Manager {
    value: std::ffi::OsString,
    target: io::Result<Target>,
}

impl Manager {
    /// From `$NOTIFY_SOCKET`; `None` when unset or empty.
    pub(crate) fn from_env() -> Option<Manager> {
        let value = env::var_os(NOTIFY_SOCKET).filter(|value| !value.is_empty())?;
        let target = Target::parse(&value);
        Some(Manager { value, target })
    }

    /// Sends `message` (lines `KEY=value`) with `fds` attached.
    pub(crate) fn send(&self, message: &str, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
        let target = self
            .target
            .as_ref()
            .map_err(|error| io::Error::new(error.kind(), error.to_string()))?;
        target.send(message.as_bytes(), fds).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!(
                    "cannot send {:?} to the service manager at {NOTIFY_SOCKET}={:?}: {error}",
                    message.lines().next().unwrap_or_default(),
                    self.value
                ),
            )
        })
    }
}

/// A name `FDNAME=` accepts (`sd_pid_notify_with_fds(3)`): at most 255
/// characters, no control character and no `:`.
pub(crate) fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name.len() > 255 || name.chars().any(|c| c == ':' || c.is_control()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the listener name {name:?} cannot be stored: a name is 1 to 255 characters, \
                 without `:` or control characters (sd_notify FDNAME=)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notify_socket_is_a_path_an_abstract_name_or_a_vsock_address() {
        assert!(Target::parse(OsStr::new("/run/systemd/notify")).is_ok());
        #[cfg(target_os = "linux")]
        {
            assert!(Target::parse(OsStr::new("@/org/freedesktop/systemd1/notify/1")).is_ok());
            assert_eq!(
                Target::parse(OsStr::new("vsock:2:9999")).unwrap(),
                Target::Vsock {
                    cid: 2,
                    port: 9999,
                    types: &[Type::DGRAM, Type::SEQPACKET, Type::STREAM]
                }
            );
            assert_eq!(
                Target::parse(OsStr::new("vsock-stream:host:1")).unwrap(),
                Target::Vsock {
                    cid: 2,
                    port: 1,
                    types: &[Type::STREAM]
                }
            );
            for bad in [
                "vsock:",
                "vsock:2",
                "vsock::1",
                "vsock:x:1",
                "vsock-dgram:2:x",
            ] {
                let error = Target::parse(OsStr::new(bad)).unwrap_err();
                assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{bad}");
            }
        }
        let error = Target::parse(OsStr::new("relative")).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert!(error.to_string().contains("NOTIFY_SOCKET"), "{error}");
    }

    #[test]
    fn names_with_a_colon_or_control_characters_are_refused() {
        assert!(check_name("http").is_ok());
        for bad in ["", "a:b", "a\nb", &"x".repeat(256)] {
            assert_eq!(
                check_name(bad).unwrap_err().kind(),
                io::ErrorKind::InvalidInput
            );
        }
    }

    /// The datagram and the descriptor reach a socket standing in for
    /// systemd's.
    #[test]
    fn a_message_and_its_descriptor_reach_the_socket() {
        use std::os::unix::net::UnixDatagram;
        let dir = env::temp_dir().join(format!("restartable-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = Target::parse(path.as_os_str()).unwrap();
        target
            .send(b"FDSTORE=1\nFDNAME=http", &[listener.as_fd()])
            .unwrap();
        let mut buffer = [0u8; 64];
        let n = receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"FDSTORE=1\nFDNAME=http");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
