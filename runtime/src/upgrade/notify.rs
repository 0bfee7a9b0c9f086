//! Messages to systemd, by the protocol of `sd_notify(3)`: one datagram to the
//! Unix socket `$NOTIFY_SOCKET` names (a leading `@` is the abstract
//! namespace), descriptors attached with `SCM_RIGHTS` for `FDSTORE=1`.
//!
//! A few lines over libc rather than the `sd-notify` crate: its 0.5
//! (`notify_with_fds`) states Rust 1.82 where this crate states 1.71, and
//! what it would do here is one `sendmsg`.

use std::env;
use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::RawFd;

use socket2::SockAddr;

use crate::sys;

pub(crate) const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Whether `$NOTIFY_SOCKET` is set: the process runs under a service
/// manager that listens.
pub(crate) fn available() -> bool {
    env::var_os(NOTIFY_SOCKET).is_some_and(|value| !value.is_empty())
}

/// The socket `$NOTIFY_SOCKET` names.
fn address(value: &OsStr) -> io::Result<SockAddr> {
    let bytes = value.as_bytes();
    let bad = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "environment variable {NOTIFY_SOCKET} is {value:?}, {why}; expected an absolute \
                 path or an abstract name starting with @"
            ),
        )
    };
    match bytes.first() {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Some(b'@') => sys::upgrade::abstract_addr(&bytes[1..]).map_err(|e| bad(&e.to_string())),
        Some(b'/') => SockAddr::unix(value).map_err(|e| bad(&e.to_string())),
        _ => Err(bad("which names no socket")),
    }
}

/// Sends `message` (lines `KEY=value`) with `fds` attached. Outside a
/// service manager (`$NOTIFY_SOCKET` unset) nothing is sent: `Ok(false)`.
pub(crate) fn send(message: &str, fds: &[RawFd]) -> io::Result<bool> {
    let Some(value) = env::var_os(NOTIFY_SOCKET).filter(|v| !v.is_empty()) else {
        return Ok(false);
    };
    let addr = address(&value)?;
    sys::upgrade::send_with_fds(&addr, message.as_bytes(), fds).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!(
                "cannot send {:?} to the service manager at {NOTIFY_SOCKET}={value:?}: {error}",
                message.lines().next().unwrap_or_default()
            ),
        )
    })?;
    Ok(true)
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
    fn a_notify_socket_is_a_path_or_an_abstract_name() {
        assert!(address(OsStr::new("/run/systemd/notify")).is_ok());
        #[cfg(target_os = "linux")]
        assert!(address(OsStr::new("@/org/freedesktop/systemd1/notify/1")).is_ok());
        let error = address(OsStr::new("relative")).unwrap_err();
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
        use std::os::unix::io::AsRawFd;
        use std::os::unix::net::UnixDatagram;
        let dir = env::temp_dir().join(format!("restartable-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = SockAddr::unix(&path).unwrap();
        sys::upgrade::send_with_fds(&addr, b"FDSTORE=1\nFDNAME=http", &[listener.as_raw_fd()])
            .unwrap();
        let mut buffer = [0u8; 64];
        let n = receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"FDSTORE=1\nFDNAME=http");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
