//! `inherit`: a listening socket passed by a supervisor, by the protocol of
//! systemd's socket activation (also spoken by `systemfd` and
//! `systemd-socket-activate`): the sockets are descriptors 3, 4, …;
//! `LISTEN_FDS` says how many, `LISTEN_PID` which process they are for, and
//! `LISTEN_FDNAMES` optionally names them, separated by `:`.
//!
//! The variables are read once per process, at the first call that asks
//! for an inherited socket. When they are meant for this process they are
//! then removed from the environment and every passed descriptor is marked
//! close-on-exec, so that child processes inherit neither. The passed sockets
//! stay on record here, and each is handed out at most once.

use std::env;
use std::ffi::OsStr;
use std::io;
use std::mem::ManuallyDrop;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::io::{FromRawFd, RawFd};
use std::sync::{Mutex, PoisonError};

use socket2::{Domain, Socket, Type};

use crate::bind::{bad_variable, Inherit, Spec};
use crate::SocketKind;

/// The first passed descriptor (`SD_LISTEN_FDS_START`).
const FIRST_FD: RawFd = 3;
/// More passed sockets than this is taken for a malformed `LISTEN_FDS`.
const MAX_FDS: u32 = 65_536;

pub(crate) const LISTEN_PID: &str = "LISTEN_PID";
pub(crate) const LISTEN_FDS: &str = "LISTEN_FDS";
pub(crate) const LISTEN_FDNAMES: &str = "LISTEN_FDNAMES";

/// One passed socket.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Passed {
    fd: RawFd,
    name: Option<String>,
    taken: bool,
}

/// The passed sockets, once the variables have been read.
static PASSED: Mutex<Option<Vec<Passed>>> = Mutex::new(None);

/// The socket passed for `spec`, validated, or `None` when none was passed
/// (or all that match were already taken): then the caller binds as usual.
pub(crate) fn take(
    spec: &Spec<'_>,
    inherit: Inherit<'_>,
    kind: SocketKind,
) -> io::Result<Option<Socket>> {
    let mut passed = PASSED.lock().unwrap_or_else(PoisonError::into_inner);
    if passed.is_none() {
        *passed = Some(read_env()?);
    }
    let sockets = match passed.as_mut() {
        Some(sockets) => sockets,
        None => return Ok(None),
    };
    let slot = sockets.iter_mut().find(|passed| {
        !passed.taken
            && match inherit {
                Inherit::Next => true,
                Inherit::Named(name) => passed.name.as_deref() == Some(name),
            }
    });
    let slot = match slot {
        Some(slot) => slot,
        None => return Ok(None),
    };
    let socket = validate(slot, spec, kind)?;
    slot.taken = true;
    Ok(Some(socket))
}

/// Reads the variables; when they are for this process, removes them and
/// marks the descriptors close-on-exec. A malformed variable is an error and
/// leaves everything as it was.
fn read_env() -> io::Result<Vec<Passed>> {
    let pid = env::var_os(LISTEN_PID);
    let fds = env::var_os(LISTEN_FDS);
    let names = env::var_os(LISTEN_FDNAMES);
    let passed = parse(
        pid.as_deref(),
        fds.as_deref(),
        names.as_deref(),
        std::process::id(),
    )?;
    let passed = match passed {
        Some(passed) => passed,
        None => return Ok(Vec::new()),
    };
    for name in [LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES] {
        env::remove_var(name);
    }
    for socket in &passed {
        // A descriptor that is not open fails here and again, with a clear
        // error, when it is asked for.
        let _ = borrow(socket.fd).set_cloexec(true);
    }
    Ok(passed)
}

/// The passed sockets the variables describe: `None` when none are passed,
/// or they are for another process. `LISTEN_PID` unset or empty counts as
/// this process, as `systemfd --no-pid` passes sockets through `cargo watch`
/// and `cargo run` without knowing the final process.
pub(crate) fn parse(
    pid: Option<&OsStr>,
    fds: Option<&OsStr>,
    names: Option<&OsStr>,
    own_pid: u32,
) -> io::Result<Option<Vec<Passed>>> {
    let fds = match fds {
        Some(fds) => fds,
        None => return Ok(None),
    };
    match pid {
        Some(pid) if !pid.is_empty() => {
            let pid: u32 = number(pid)
                .filter(|pid| *pid > 0)
                .ok_or_else(|| bad_variable(LISTEN_PID, pid, "is not a process id"))?;
            if pid != own_pid {
                return Ok(None);
            }
        }
        _ => {}
    }
    let count = number(fds)
        .filter(|count| *count <= MAX_FDS)
        .ok_or_else(|| {
            bad_variable(
                LISTEN_FDS,
                fds,
                &format!("is not a number of passed sockets (expected 0 to {MAX_FDS})"),
            )
        })?;
    let names: Vec<Option<String>> = match names {
        None => (0..count).map(|_| None).collect(),
        Some(names) => {
            let text = names
                .to_str()
                .ok_or_else(|| bad_variable(LISTEN_FDNAMES, names, "is not UTF-8"))?;
            let split: Vec<Option<String>> = text.split(':').map(|n| Some(n.to_owned())).collect();
            if split.len() != count as usize {
                return Err(bad_variable(
                    LISTEN_FDNAMES,
                    names,
                    &format!(
                        "has {} names, but {LISTEN_FDS}={count} passes {count} sockets",
                        split.len()
                    ),
                ));
            }
            split
        }
    };
    Ok(Some(
        names
            .into_iter()
            .zip(FIRST_FD..)
            .map(|(name, fd)| Passed {
                fd,
                name,
                taken: false,
            })
            .collect(),
    ))
}

fn number(value: &OsStr) -> Option<u32> {
    let text = value.to_str()?;
    // `parse` takes a leading `+`; the protocol has plain digits only.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The passed descriptor as a socket that is not closed when dropped: until
/// it is validated it is not ours to close.
#[allow(unsafe_code)]
fn borrow(fd: RawFd) -> ManuallyDrop<Socket> {
    // SAFETY: the descriptor was passed to this process by the socket
    // activation protocol, which gives it to this process alone; the record
    // in `PASSED` hands each one out at most once, and `ManuallyDrop` keeps it
    // open until then. A descriptor that is not open or not a socket only
    // makes the socket calls fail with EBADF or ENOTSOCK.
    ManuallyDrop::new(unsafe { Socket::from_raw_fd(fd) })
}

/// Checks the passed socket against what the function asks for; on success
/// it is the caller's. On failure it is left open and on record.
fn validate(slot: &Passed, spec: &Spec<'_>, kind: SocketKind) -> io::Result<Socket> {
    let port = spec.port()?.filter(|port| *port != 0);
    let which = match &slot.name {
        Some(name) => format!(
            "the socket passed as fd {} ({LISTEN_FDNAMES} {name:?})",
            slot.fd
        ),
        None => format!("the socket passed as fd {} ({LISTEN_FDS})", slot.fd),
    };
    let expected = match (kind, port) {
        (SocketKind::Stream, Some(port)) => format!("a listening TCP socket on port {port}"),
        (SocketKind::Stream, None) => "a listening TCP socket".to_owned(),
        (SocketKind::Datagram, Some(port)) => format!("a bound UDP socket on port {port}"),
        (SocketKind::Datagram, None) => "a bound UDP socket".to_owned(),
    };
    let mismatch = |found: String| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{which} is {found}; expected {expected}"),
        )
    };
    let unreadable = |error: io::Error| {
        io::Error::new(
            error.kind(),
            format!("{which} cannot be used: {error}; expected {expected}"),
        )
    };
    let socket = borrow(slot.fd);
    let socket_type = socket.r#type().map_err(unreadable)?;
    let wanted = kind.socket_type();
    if socket_type != wanted {
        return Err(mismatch(type_name(socket_type)));
    }
    let local = socket.local_addr().map_err(unreadable)?;
    let local = match local.as_socket() {
        Some(local) => local,
        None if local.domain() == Domain::UNIX => {
            return Err(mismatch("a Unix domain socket".to_owned()))
        }
        None => return Err(mismatch("not an IPv4 or IPv6 socket".to_owned())),
    };
    if !family_fits(spec.host, local, &socket) {
        let family = if local.is_ipv4() { "IPv4" } else { "IPv6" };
        return Err(mismatch(format!(
            "bound to {local}, an {family} address, and the function binds {}",
            spec.host
        )));
    }
    if let Some(port) = port {
        if local.port() != port {
            return Err(mismatch(format!("bound to {local}, another port")));
        }
    }
    match kind {
        SocketKind::Stream => {
            if listening(&socket) == Some(false) {
                return Err(mismatch(format!(
                    "a TCP socket on {local} that does not listen"
                )));
            }
        }
        SocketKind::Datagram => {
            if local.port() == 0 {
                return Err(mismatch("a UDP socket that is not bound".to_owned()));
            }
        }
    }
    if spec.nonblocking {
        socket.set_nonblocking(true).map_err(unreadable)?;
    }
    Ok(ManuallyDrop::into_inner(socket))
}

/// A socket of the host's family fits; so does an IPv6 wildcard socket that
/// also takes IPv4 when the function binds the IPv4 wildcard (the default),
/// as systemd's `ListenStream=8080` makes one.
fn family_fits(host: IpAddr, local: SocketAddr, socket: &Socket) -> bool {
    match (host, local) {
        (IpAddr::V4(_), SocketAddr::V4(_)) | (IpAddr::V6(_), SocketAddr::V6(_)) => true,
        (IpAddr::V4(host), SocketAddr::V6(local)) => {
            host.is_unspecified()
                && local.ip().is_unspecified()
                && socket.only_v6().ok() == Some(false)
        }
        (IpAddr::V6(_), SocketAddr::V4(_)) => false,
    }
}

fn type_name(socket_type: Type) -> String {
    if socket_type == Type::STREAM {
        "a stream (TCP) socket".to_owned()
    } else if socket_type == Type::DGRAM {
        "a datagram (UDP) socket".to_owned()
    } else {
        format!("a socket of type {}", i32::from(socket_type))
    }
}

/// SO_ACCEPTCONN where socket2 reads it; elsewhere unknown.
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "fuchsia"
))]
fn listening(socket: &Socket) -> Option<bool> {
    socket.is_listener().ok()
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "fuchsia"
)))]
fn listening(_socket: &Socket) -> Option<bool> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn os(value: &str) -> OsString {
        OsString::from(value)
    }

    fn run(
        pid: Option<&str>,
        fds: Option<&str>,
        names: Option<&str>,
    ) -> io::Result<Option<Vec<Passed>>> {
        let (pid, fds, names) = (pid.map(os), fds.map(os), names.map(os));
        parse(pid.as_deref(), fds.as_deref(), names.as_deref(), 42)
    }

    fn fds(passed: &[Passed]) -> Vec<(RawFd, Option<&str>)> {
        passed.iter().map(|p| (p.fd, p.name.as_deref())).collect()
    }

    #[test]
    fn nothing_passed_without_listen_fds() {
        assert_eq!(run(Some("42"), None, None).unwrap(), None);
        assert_eq!(run(None, None, Some("http")).unwrap(), None);
    }

    #[test]
    fn sockets_for_another_process_are_not_ours() {
        assert_eq!(run(Some("43"), Some("2"), None).unwrap(), None);
    }

    #[test]
    fn sockets_for_this_process_start_at_fd_3() {
        let passed = run(Some("42"), Some("2"), Some("http:dns"))
            .unwrap()
            .unwrap();
        assert_eq!(fds(&passed), [(3, Some("http")), (4, Some("dns"))]);
        let passed = run(None, Some("1"), None).unwrap().unwrap();
        assert_eq!(fds(&passed), [(3, None)]);
        let passed = run(Some(""), Some("0"), None).unwrap().unwrap();
        assert!(passed.is_empty());
    }

    #[test]
    fn malformed_variables_are_invalid_input_naming_the_variable() {
        let cases = [
            (
                Some("abc"),
                Some("1"),
                None,
                "LISTEN_PID=\"abc\" is not a process id",
            ),
            (
                Some("0"),
                Some("1"),
                None,
                "LISTEN_PID=\"0\" is not a process id",
            ),
            (Some("-42"), Some("1"), None, "LISTEN_PID=\"-42\""),
            (
                Some("42"),
                Some("x"),
                None,
                "LISTEN_FDS=\"x\" is not a number of passed sockets",
            ),
            (Some("42"), Some("+1"), None, "LISTEN_FDS=\"+1\""),
            (Some("42"), Some(""), None, "LISTEN_FDS=\"\""),
            (
                Some("42"),
                Some("99999999"),
                None,
                "LISTEN_FDS=\"99999999\"",
            ),
            (
                Some("42"),
                Some("2"),
                Some("http"),
                "LISTEN_FDNAMES=\"http\" has 1 names, but LISTEN_FDS=2 passes 2 sockets",
            ),
            (
                Some("42"),
                Some("1"),
                Some("a:b"),
                "LISTEN_FDNAMES=\"a:b\" has 2 names",
            ),
        ];
        for (pid, count, names, message) in cases {
            let error = run(pid, count, names).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{error}");
            assert!(error.to_string().contains(message), "{error} ∌ {message}");
        }
    }
}
