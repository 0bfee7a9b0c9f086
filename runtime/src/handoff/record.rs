//! The process-wide record of the descriptors passed to this process: read
//! once, each owned by exactly one value, handed out at most once.

use std::env;
use std::io;
use std::os::unix::io::RawFd;
use std::sync::{Mutex, MutexGuard, PoisonError};

use socket2::Socket;

use super::fit::{Assessment, Wanted};
use super::vars::{Addressed, Vars, LISTEN_FDNAMES, LISTEN_FDS, LISTEN_FDS_FIRST_FD, LISTEN_PID};
use super::Handoff;
use crate::process::inherited;
use crate::spec::Inherit;
use crate::sys::PassedFd;

/// One descriptor that the variables name.
#[derive(Debug)]
struct Passed {
    fd: RawFd,
    name: Option<String>,
    state: State,
}

/// Who owns a passed descriptor.
#[derive(Debug)]
enum State {
    /// The record, until a function takes it.
    Held(Socket),
    /// The function that took it.
    Taken,
    /// Not this crate: never wrapped, never closed here. Why, in words.
    LeftAlone(String),
}

/// What the variables said.
#[derive(Debug)]
enum Record {
    /// No `LISTEN_FDS`: nothing was passed.
    Nothing,
    /// Sockets were passed to another process (`pid`), or with `LISTEN_PID`
    /// unset (`None`).
    NotOurs { count: String, pid: Option<u32> },
    /// The descriptors passed to this process.
    Ours(Vec<Passed>),
    /// The variables were for this process but cannot be used: every
    /// `inherit` call fails with this.
    Unusable {
        kind: io::ErrorKind,
        message: String,
    },
}

/// `None` until the variables are read.
static RECORD: Mutex<Option<Record>> = Mutex::new(None);

fn lock() -> MutexGuard<'static, Option<Record>> {
    RECORD.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The passed socket that `inherit` selects, checked and prepared; or, when
/// none is passed, `NotTaken` with what was passed and left alone (the
/// caller binds), or an error when the function has no address to bind.
///
/// One rule, whatever the order in which functions are called:
/// - `inherit = "name"` selects the sockets `LISTEN_FDNAMES` gives that
///   name, wherever they are bound: the unit places them.
/// - `inherit = true` selects the passed sockets on the function's address:
///   its port (or, for port 0, its host); a Unix-domain socket at its path.
///   Sockets elsewhere are left for other functions.
///
/// The first selected socket that fits is taken. When sockets are selected
/// but none fits, that is an error naming each; when none is selected, the
/// function binds its address.
pub(crate) fn take(inherit: Inherit<'_>, wanted: &Wanted<'_>) -> io::Result<Handoff> {
    let mut record = lock();
    let passed = match record.get_or_insert_with(|| read(false)) {
        Record::Nothing => {
            return wanted.nothing_taken(inherit, &format!("{LISTEN_FDS} is unset"), None);
        }
        Record::NotOurs { count, pid } => {
            let why = not_ours(count, *pid);
            return wanted.nothing_taken(inherit, &why, Some(why.clone()));
        }
        Record::Unusable { kind, message } => return Err(io::Error::new(*kind, message.clone())),
        Record::Ours(passed) => passed,
    };
    let mut misfits = Vec::new();
    for slot in passed.iter_mut().filter(|slot| inherit.names(slot)) {
        let socket = match &slot.state {
            State::Held(socket) => socket,
            State::Taken | State::LeftAlone(_) => continue,
        };
        match wanted.assess(socket, inherit) {
            Assessment::ForAnother => {}
            Assessment::Misfit(found) => misfits.push(format!("{} is {found}", which(slot))),
            Assessment::Fits => {
                wanted.prepare(socket).map_err(|error| {
                    io::Error::new(
                        error.kind(),
                        format!("{} cannot be used: {error}", which(slot)),
                    )
                })?;
                return match std::mem::replace(&mut slot.state, State::Taken) {
                    State::Held(socket) => Ok(Handoff::Taken(socket, slot.name.clone())),
                    State::Taken | State::LeftAlone(_) => unreachable!("the slot was held"),
                };
            }
        }
    }
    if !misfits.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}; expected {}",
                misfits.join("; "),
                wanted.describe(inherit)
            ),
        ));
    }
    let left = not_taken(passed, inherit);
    let why = left
        .clone()
        .unwrap_or_else(|| "no socket was passed to this process".to_owned());
    wanted.nothing_taken(inherit, &why, left)
}

/// Every passed socket no function took, with its name, taken now: what
/// a supervisor that was passed sockets (socket activation of a container)
/// holds and passes on. A record the variables make unusable is the error.
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
pub(crate) fn take_all() -> io::Result<Vec<(Option<String>, Socket)>> {
    let mut record = lock();
    match record.get_or_insert_with(|| read(false)) {
        Record::Nothing | Record::NotOurs { .. } => Ok(Vec::new()),
        Record::Unusable { kind, message } => Err(io::Error::new(*kind, message.clone())),
        Record::Ours(passed) => Ok(passed
            .iter_mut()
            .filter_map(
                |slot| match std::mem::replace(&mut slot.state, State::Taken) {
                    State::Held(socket) => Some((slot.name.clone(), socket)),
                    other => {
                        slot.state = other;
                        None
                    }
                },
            )
            .collect()),
    }
}

impl Inherit<'_> {
    fn names(self, slot: &Passed) -> bool {
        match self {
            Inherit::Next => true,
            Inherit::Named(name) => slot.name.as_deref() == Some(name),
        }
    }
}

/// `the socket passed as fd 3 (LISTEN_FDNAMES "http")`.
fn which(slot: &Passed) -> String {
    match &slot.name {
        Some(name) => format!(
            "the socket passed as fd {} ({LISTEN_FDNAMES} {name:?})",
            slot.fd
        ),
        None => format!("the socket passed as fd {} ({LISTEN_FDS})", slot.fd),
    }
}

fn not_ours(count: &str, pid: Option<u32>) -> String {
    let own = std::process::id();
    match pid {
        Some(pid) => format!(
            "{LISTEN_FDS}={count} passes sockets to process {pid} ({LISTEN_PID}), not to this \
             one ({own}), so they were left alone"
        ),
        None => format!(
            "{LISTEN_FDS}={count} passes sockets with {LISTEN_PID} unset (as `systemfd --no-pid` \
             does); they were left alone: to take them, call \
             `restartable::handoff::accept_unset_listen_pid()` at the start of main (see its \
             safety contract)"
        ),
    }
}

/// What was passed to this process and not taken by `inherit`: the
/// sockets still held, and the descriptors left alone with the reason.
fn not_taken(passed: &[Passed], inherit: Inherit<'_>) -> Option<String> {
    let mut left = Vec::new();
    let mut alone = Vec::new();
    for slot in passed {
        let named = match &slot.name {
            Some(name) => format!("fd {} named {name:?}", slot.fd),
            None => format!("fd {}, unnamed", slot.fd),
        };
        match &slot.state {
            State::Held(_) => left.push(named),
            State::Taken => {}
            State::LeftAlone(why) => alone.push(format!("{named} {why}")),
        }
    }
    let mut parts = Vec::new();
    if !left.is_empty() {
        let how = match inherit {
            Inherit::Next => String::new(),
            Inherit::Named(name) if passed.iter().all(|slot| slot.name.is_none()) => format!(
                ": inherit = {name:?} takes a named socket, and the supervisor named none \
                 ({LISTEN_FDNAMES} is unset, as systemfd leaves it); use inherit = true"
            ),
            Inherit::Named(name) => format!(
                ": inherit = {name:?} names none of them; use one of their names, or inherit = true"
            ),
        };
        parts.push(format!(
            "a socket was passed to this process and not taken ({}){how}",
            left.join(", ")
        ));
    }
    if !alone.is_empty() {
        parts.push(format!(
            "a descriptor was passed to this process and left alone ({})",
            alone.join("; ")
        ));
    }
    if parts.is_empty() && !passed.is_empty() {
        parts.push(
            "every socket passed to this process was already taken by another `inherit`".to_owned(),
        );
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Reads the variables; when they are for this process, owns the passed
/// sockets (see [`own`]). `accept_unset_pid`: sockets with `LISTEN_PID`
/// unset are this process's too.
fn read(accept_unset_pid: bool) -> Record {
    let vars = Vars {
        pid: env::var_os(LISTEN_PID),
        fds: env::var_os(LISTEN_FDS),
        names: env::var_os(LISTEN_FDNAMES),
        first_fd: env::var_os(LISTEN_FDS_FIRST_FD),
    };
    let result = vars
        .parse(std::process::id(), accept_unset_pid)
        .and_then(|addressed| match addressed {
            Addressed::Nothing => Ok(Record::Nothing),
            Addressed::NotOurs { count, pid } => Ok(Record::NotOurs { count, pid }),
            Addressed::Ours(fds) => own(fds).map(Record::Ours),
        });
    result.unwrap_or_else(|error| Record::Unusable {
        kind: error.kind(),
        message: error.to_string(),
    })
}

/// The passed descriptors as the record holds them. Each is looked at by
/// number first; one that is not open makes the whole record unusable.
/// Then each open, inheritable socket becomes an owned socket, marked
/// close-on-exec at once (`process::inherited`); one that is close-on-exec
/// was already taken in this process, and one that is not a socket
/// (`OpenFile=`) is not ours to wrap: both are left alone and never closed.
fn own(fds: Vec<(RawFd, Option<String>)>) -> io::Result<Vec<Passed>> {
    let mut looks = Vec::with_capacity(fds.len());
    for (fd, _) in &fds {
        let look = inherited::look(*fd).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("cannot look at the passed fd {fd}: {error}"),
            )
        })?;
        if look.found() == PassedFd::Closed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "fd {fd} is not open, but {LISTEN_FDS}={} says sockets were passed as fds \
                     {} to {}",
                    fds.len(),
                    fds[0].0,
                    fds[fds.len() - 1].0,
                ),
            ));
        }
        looks.push(look);
    }
    let mut passed = Vec::with_capacity(fds.len());
    for ((fd, name), look) in fds.into_iter().zip(looks) {
        #[allow(unsafe_code)]
        // SAFETY: the variables pass `fd` to this process: LISTEN_PID names
        // it (or the caller of `accept_unset_listen_pid` vouched for it);
        // the record reads the variables once per process, so this is the
        // one adoption of each descriptor.
        let state = match unsafe { look.adopt(true) } {
            Ok(fd) => State::Held(Socket::from(fd)),
            Err(why) => State::LeftAlone(why.describe()),
        };
        passed.push(Passed { fd, name, state });
    }
    Ok(passed)
}

/// [`accept_unset_listen_pid`](super::accept_unset_listen_pid): the
/// variables read again as this process's when `LISTEN_PID` is unset.
pub(super) fn accept_unset_pid() -> io::Result<usize> {
    let mut record = lock();
    match *record {
        None | Some(Record::NotOurs { pid: None, .. }) => *record = Some(read(true)),
        Some(_) => {}
    }
    match record.as_ref() {
        Some(Record::Ours(passed)) => Ok(passed
            .iter()
            .filter(|p| matches!(p.state, State::Held(_)))
            .count()),
        Some(Record::Unusable { kind, message }) => Err(io::Error::new(*kind, message.clone())),
        _ => Ok(0),
    }
}
