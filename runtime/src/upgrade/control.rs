//! Upgrade requests from another process (Linux): the request socket, how
//! a requester finds it, and the lines both ends write.
//!
//! The socket is in the abstract namespace, under a name nobody can guess
//! before it is bound: `restartable/upgrade/<pid>/<32 random hex digits>`.
//! Abstract names have no permissions, so the name is no secret once bound
//! (`/proc/net/unix` lists it); what it prevents is another user binding it
//! first. A requester finds it among the target's own descriptors
//! (`/proc/PID/fd`, readable by the same user or root only), and believes
//! an answer only from the process it asked (`SO_PEERCRED`). The service
//! answers only its own user or root, and a user it sees as the overflow
//! uid only from inside its own user namespace (see [`authorize`]).
//!
//! The lines: the requester writes `upgrade`; the service answers
//! `started ready_timeout_ms=N` once the upgrade is under way, then
//! `ok pid=P generation=G` or `error <kind> <why>`; or `error <kind> <why>`
//! at once (`<kind>` an `io::ErrorKind`, so that the requester's error has
//! the kind the service's had).

use std::fs;
use std::io::{self, BufRead, BufReader};
use std::os::unix::io::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Instant;

use super::Upgraded;
use crate::sys::send_all;
use crate::sys::unix_socket::effective_uid;
use crate::sys::upgrade as sys;

/// The start of every request socket's name.
const PREFIX: &str = "restartable/upgrade/";

pub(crate) use super::answer::{
    read_line, Answer, ANSWER_TIMEOUT, MOST_ANSWER_BYTES, MOST_REQUEST_BYTES, REQUEST, START_MARGIN,
};

/// Binds this process's request socket under a new random name.
pub(crate) fn bind() -> io::Result<UnixListener> {
    let name = sys::random_name(PREFIX)?;
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    socket.bind(&sys::abstract_addr(name.as_bytes())?)?;
    socket.listen(16)?;
    Ok(UnixListener::from(std::os::unix::io::OwnedFd::from(socket)))
}

/// Who asked, when refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Another user than this process's, and not root.
    OtherUser { pid: u32, uid: u32 },
    /// A user this process's user namespace cannot map, shown as the
    /// overflow uid, which is also this process's: it must ask from inside
    /// this namespace.
    Unmapped { pid: u32, uid: u32 },
    /// Who it is could not be read.
    Unknown,
}

impl Refused {
    /// The answer the requester gets.
    pub(crate) fn answer(self) -> Answer {
        Answer::Error(
            io::ErrorKind::PermissionDenied,
            match self {
                Refused::OtherUser { .. } => "only this process's user or root may ask",
                Refused::Unmapped { .. } => {
                    "this process's user namespace cannot tell your user from its own (both show \
                     as the overflow uid); ask from inside its user namespace"
                }
                Refused::Unknown => "who you are could not be read",
            }
            .to_owned(),
        )
    }
}

/// Whether the process at the other end of `stream` may ask: its user, as
/// this process's user namespace sees it, is this process's or root, and,
/// when that user is the overflow uid (the uid the kernel shows for any
/// user the namespace cannot map), it is in this process's own user
/// namespace. A service running as `nobody` (65534) on the host is asked
/// by `nobody` on the host; in a user namespace where it is 65534, a host
/// user the namespace does not map is refused.
pub(crate) fn authorize(stream: &UnixStream) -> Result<(), Refused> {
    let (pid, uid) = sys::peer(stream).map_err(|_| Refused::Unknown)?;
    if uid != effective_uid() && uid != 0 {
        return Err(Refused::OtherUser { pid, uid });
    }
    if uid == sys::overflow_uid() {
        let theirs = sys::user_namespace(Some(pid));
        let ours = sys::user_namespace(None);
        match (theirs, ours) {
            (Ok(theirs), Ok(ours)) if theirs == ours => {}
            _ => return Err(Refused::Unmapped { pid, uid }),
        }
    }
    Ok(())
}

/// The abstract name of process `pid`'s request socket: a listening Unix
/// socket among its descriptors whose name starts with
/// `restartable/upgrade/`. `Ok(None)` when it has none.
pub(crate) fn find(pid: u32) -> io::Result<Option<Vec<u8>>> {
    find_socket(pid, PREFIX.as_bytes(), true)
}

/// The abstract name, after its NUL, of a socket of process `pid` named
/// `prefix…` (a listening one when `listening`).
pub(crate) fn find_socket(pid: u32, prefix: &[u8], listening: bool) -> io::Result<Option<Vec<u8>>> {
    let dir = format!("/proc/{pid}/fd");
    let entries = fs::read_dir(&dir).map_err(|error| {
        let why = match error.kind() {
            io::ErrorKind::NotFound => format!("there is no process {pid}"),
            io::ErrorKind::PermissionDenied => {
                format!("its descriptors ({dir}) cannot be read: only its user or root may ask it")
            }
            _ => format!("its descriptors ({dir}) cannot be read: {error}"),
        };
        io::Error::new(
            error.kind(),
            format!("cannot ask process {pid} to upgrade: {why}"),
        )
    })?;
    let mut inodes = Vec::new();
    for entry in entries.flatten() {
        let Ok(target) = fs::read_link(entry.path()) else {
            continue;
        };
        let target = target.to_string_lossy();
        if let Some(inode) = target
            .strip_prefix("socket:[")
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(|inode| inode.parse::<u32>().ok())
        {
            inodes.push(inode);
        }
    }
    let mut abstract_prefix = vec![0u8];
    abstract_prefix.extend_from_slice(prefix);
    // Each of the target's sockets is looked up by its inode: a dump of
    // every listening Unix socket could be made too long to read by
    // anyone who binds enough of them.
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    for inode in inodes {
        let socket =
            crate::sys::sock_diag::unix_socket_named(inode, deadline).map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!(
                        "cannot ask process {pid} to upgrade: its sockets cannot be looked up: \
                     {error}"
                    ),
                )
            })?;
        if let Some(name) = socket
            .filter(|socket| !listening || socket.is_listening())
            .and_then(|socket| socket.name)
            .filter(|name| name.starts_with(&abstract_prefix))
        {
            return Ok(Some(name[1..].to_vec()));
        }
    }
    Ok(None)
}

/// Asks the running process `pid` to upgrade, and waits for the outcome:
/// what a reload command (`ExecReload=`) or a script calls.
///
/// The request socket is found among the process's descriptors, which only
/// its user or root may read, and the answer is believed only from the
/// process asked. Waits at most 5 s to connect and for the process to
/// start the upgrade, then as long as the process's ready timeout allows
/// (plus 10 s for the new process's start).
///
/// # Errors
///
/// - `NotFound`: no process `pid`; `PermissionDenied`: its descriptors
///   cannot be read (another user's process), or the socket belongs to
///   another process;
/// - `ConnectionRefused`: it does not listen for requests (it did not call
///   [`Upgrade::ready`](super::Upgrade::ready), or is not a restartable
///   service);
/// - `TimedOut`: it did not answer in time (stopped, or hung);
/// - the upgrade's own error, with its kind and the process's reason:
///   `WouldBlock` when another one is under way, `TimedOut` when the new
///   process was not ready in time, `NotFound` or `PermissionDenied` when it
///   could not be started, `Other` when it ended before it took over;
///   `PermissionDenied` when the process refused the asker;
/// - the error of a system call on the way (`InvalidData` when the kernel's
///   answer about a socket cannot be read), saying which.
pub fn request(pid: u32) -> io::Result<Upgraded> {
    let asked = pid;
    let (pid, name) = match find(pid)? {
        Some(name) => (pid, Some(name)),
        // A supervisor's: its service is asked.
        None => match crate::supervisor::service_of(pid)? {
            Some(service) => (service, find(service)?),
            None => (pid, None),
        },
    };
    if pid != asked {
        crate::event!(
            info,
            "upgrade: process {asked} is a supervisor; its service, process {pid}, is asked"
        );
    }
    let name = name.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!(
                "cannot ask process {pid} to upgrade: it does not listen for upgrade requests \
                 (it did not call Upgrade::ready, or is not a restartable service)"
            ),
        )
    })?;
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    // A full accept queue makes connect wait: bounded like the answers.
    socket.set_write_timeout(Some(ANSWER_TIMEOUT))?;
    socket.connect(&sys::abstract_addr(&name)?).map_err(|error| {
        io::Error::new(
            timed_out_or(error.kind()),
            format!("cannot ask process {pid} to upgrade: cannot connect to its request socket: {error}"),
        )
    })?;
    let stream = UnixStream::from(std::os::unix::io::OwnedFd::from(socket));
    let (peer, _) = sys::peer(&stream)?;
    if peer != pid {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "cannot ask process {pid} to upgrade: its request socket is held by process {peer}"
            ),
        ));
    }
    // A refusal may come, and the connection close, before the request is
    // written: the answer says why, so it is read either way.
    let written = send_all(stream.as_fd(), format!("{REQUEST}\n").as_bytes());
    stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    let mut answers = BufReader::new(&stream);
    let mut answer = match (next_answer(&mut answers, pid), written) {
        (Ok(answer), _) => answer,
        (Err(_), Err(error)) => {
            return Err(io::Error::new(
                error.kind(),
                format!("cannot ask process {pid} to upgrade: {error}"),
            ))
        }
        (Err(error), Ok(())) => return Err(error),
    };
    if let Answer::Started { ready_timeout } = answer {
        stream.set_read_timeout(Some(ready_timeout.saturating_add(START_MARGIN)))?;
        answer = next_answer(&mut answers, pid)?;
    }
    match answer {
        Answer::Upgraded(upgraded) => Ok(upgraded),
        Answer::Error(kind, why) => Err(io::Error::new(kind, why)),
        Answer::Started { .. } => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("process {pid} said twice that the upgrade started"),
        )),
    }
}

fn next_answer(answers: &mut impl BufRead, pid: u32) -> io::Result<Answer> {
    let line = read_line(answers, MOST_ANSWER_BYTES).map_err(|error| {
        let kind = timed_out_or(error.kind());
        let why = if kind == io::ErrorKind::TimedOut {
            "it did not answer in time (is it stopped?)".to_owned()
        } else {
            error.to_string()
        };
        io::Error::new(kind, format!("asked process {pid} to upgrade: {why}"))
    })?;
    Answer::decode(&line).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("asked process {pid} to upgrade: it answered {line:?}, which is no answer"),
        )
    })
}

/// A socket timeout is `WouldBlock` on Unix: said as `TimedOut`.
fn timed_out_or(kind: io::ErrorKind) -> io::ErrorKind {
    if kind == io::ErrorKind::WouldBlock {
        io::ErrorKind::TimedOut
    } else {
        kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_line_is_bounded() {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(&[b'x'; 100]).unwrap();
        let error = read_line(&mut BufReader::new(&b), 64).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(b"upgrade\nmore").unwrap();
        assert_eq!(read_line(&mut BufReader::new(&b), 64).unwrap(), "upgrade");
    }
}
