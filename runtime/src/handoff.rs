//! Sockets passed by a supervisor (`inherit`), by the protocol of systemd's
//! socket activation, `sd_listen_fds(3)`: `LISTEN_FDS` sockets from
//! descriptor 3 (or `LISTEN_FDS_FIRST_FD`, which `systemfd` sets), for the
//! process `LISTEN_PID` names, optionally named by `LISTEN_FDNAMES`.
//!
//! The variables are read once per process, at the first call that asks for
//! a passed socket. They are never changed: a socket is for this process only
//! when `LISTEN_PID` is its process id, so a child process, which inherits
//! the variables, does not take them (its id is another). When they are for
//! this process, every passed descriptor becomes an owned socket at once and
//! is marked close-on-exec, so that a child does not inherit the descriptors
//! either; each is handed out at most once.
//!
//! `systemfd --no-pid` passes sockets with `LISTEN_PID` unset, so that they
//! reach a program started through `cargo run` or `cargo watch`. Such sockets
//! could be meant for any process that inherited the variables, so they are
//! taken only after [`accept_unset_listen_pid`], an `unsafe` call whose
//! contract says when that is right.

use std::env;
use std::ffi::{OsStr, OsString};
use std::io;
use std::net::SocketAddr;
use std::os::unix::io::{FromRawFd, IntoRawFd, RawFd};
use std::sync::{Mutex, MutexGuard, PoisonError};

use socket2::{Domain, Socket, Type};

use crate::attempts::Handoff;
use crate::error::{bad_variable, Place};
use crate::spec::Inherit;
use crate::sys::{self, PassedFd};
use crate::{SocketKind, DEFAULT_BACKLOG};

/// The first passed descriptor when `LISTEN_FDS_FIRST_FD` is unset
/// (`SD_LISTEN_FDS_START`).
const SD_LISTEN_FDS_START: RawFd = 3;
/// More passed sockets than this is taken for a malformed `LISTEN_FDS`.
const MAX_FDS: u32 = 65_536;

const LISTEN_PID: &str = "LISTEN_PID";
const LISTEN_FDS: &str = "LISTEN_FDS";
const LISTEN_FDNAMES: &str = "LISTEN_FDNAMES";
const LISTEN_FDS_FIRST_FD: &str = "LISTEN_FDS_FIRST_FD";

/// Takes the sockets that `LISTEN_FDS` describes although `LISTEN_PID` is
/// unset or empty, as `systemfd --no-pid` passes them; returns how many are
/// on record and not taken yet. Call it at the start of `main`, before any
/// function with `inherit`.
///
/// Without this call such sockets are left alone: the annotated function
/// binds, and if the port is in use its error says that sockets were passed
/// and how to take them. With `LISTEN_PID` set, the call changes nothing:
/// the sockets are this process's exactly when `LISTEN_PID` is its id.
///
/// systemfd binds 127.0.0.1 and sets SO_REUSEPORT on its sockets, so the
/// function names that host and asks for `reuse_port` (Linux, Android,
/// FreeBSD), or the socket is refused:
///
/// ```no_run
/// use restartable::restartable_listener;
///
/// #[cfg(target_os = "linux")]
/// #[restartable_listener(host = "127.0.0.1", port = 3000, inherit = true, reuse_port = true)]
/// fn listener() -> std::io::Result<std::net::TcpListener> {}
///
/// # #[cfg(target_os = "linux")]
/// fn main() -> std::io::Result<()> {
///     // Started as `systemfd --no-pid -s http::3000 -- cargo watch -x run`.
///     // SAFETY: nothing has run before this line that opens or closes
///     // descriptors, and this program is run only by systemfd or by hand.
///     #[cfg(unix)]
///     unsafe { restartable::handoff::accept_unset_listen_pid()? };
///     let listener = listener()?;
///     # drop(listener);
///     Ok(())
/// }
/// # #[cfg(not(target_os = "linux"))]
/// # fn main() {}
/// ```
///
/// # Safety
///
/// The descriptors `LISTEN_FDS` names (from 3, or `LISTEN_FDS_FIRST_FD`)
/// must be sockets passed to this process that nothing else in it owns:
/// this call takes them over, and they are closed when dropped. Without
/// `LISTEN_PID` nothing proves that: the variables are inherited by every
/// child of the process they were meant for, so in a child (of a server
/// that took its sockets, or of `cargo`) those numbers may be descriptors
/// that the child opened itself — a file, a pipe — which would then be
/// closed twice. Call it only in a program that is started directly by the
/// supervisor (or through `cargo run`/`cargo watch`, which pass the
/// descriptors on), before anything in it opens or closes descriptors.
///
/// # Errors
///
/// A malformed variable (`InvalidInput`, naming it and its value), or a
/// named descriptor that is not open; then every later `inherit` fails
/// with the same error.
// `unsafe` for its contract: the caller vouches for descriptors this crate
// then owns. The body itself makes no unsafe call.
#[allow(unsafe_code)]
pub unsafe fn accept_unset_listen_pid() -> io::Result<usize> {
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
                    State::Held(socket) => Ok(Handoff::Taken(socket)),
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
/// number first, and only an open, inheritable socket becomes an owned
/// socket, marked close-on-exec at once: one that is close-on-exec was
/// already taken in this process (an inherited descriptor cannot have the
/// flag), and one that is not a socket (`OpenFile=`) is not ours to wrap;
/// both are left alone and never closed. A descriptor whose flag cannot be
/// set is released again without being closed: the variables still
/// advertise it.
fn own(fds: Vec<(RawFd, Option<String>)>) -> io::Result<Vec<Passed>> {
    let mut looks = Vec::with_capacity(fds.len());
    for (fd, _) in &fds {
        let look = sys::passed_fd(*fd).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("cannot look at the passed fd {fd}: {error}"),
            )
        })?;
        if look == PassedFd::Closed {
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
        let state = match look {
            PassedFd::Closed => unreachable!("refused above"),
            PassedFd::CloseOnExec => State::LeftAlone(
                "is close-on-exec, so something else in this process already took it \
                 (libsystemd's sd_listen_fds, listenfd, another copy of restartable)"
                    .to_owned(),
            ),
            PassedFd::NotASocket => {
                State::LeftAlone("is not a socket (systemd's OpenFile= passes files)".to_owned())
            }
            PassedFd::Socket => {
                #[allow(unsafe_code)]
                // SAFETY: `fd` is an open socket without FD_CLOEXEC (looked
                // at just above) that the variables pass to this process:
                // LISTEN_PID names it (or the caller of
                // `accept_unset_listen_pid` vouched for it). A descriptor
                // inherited through exec cannot be close-on-exec, and every
                // consumer of the protocol that we know (libsystemd, listenfd,
                // restartable) sets the flag when it takes one, so nothing
                // in this process owns it yet. Still assumed: no other
                // consumer reads the variables at the same moment from
                // another thread (between its look and its fcntl), and no
                // code wraps these numbers without marking them; the
                // README gives that rule. The record reads the variables
                // once, so this crate owns each descriptor once.
                let socket = unsafe { Socket::from_raw_fd(fd) };
                match socket.set_cloexec(true) {
                    Ok(()) => State::Held(socket),
                    Err(error) => {
                        // Not ours after all: released, not closed.
                        let _ = socket.into_raw_fd();
                        State::LeftAlone(format!(
                            "could not be marked close-on-exec ({error}), so it was left alone"
                        ))
                    }
                }
            }
        };
        passed.push(Passed { fd, name, state });
    }
    Ok(passed)
}

/// The variables, as read.
#[derive(Default)]
pub(crate) struct Vars {
    pub(crate) pid: Option<OsString>,
    pub(crate) fds: Option<OsString>,
    pub(crate) names: Option<OsString>,
    pub(crate) first_fd: Option<OsString>,
}

/// Whom the variables address.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Addressed {
    Nothing,
    NotOurs {
        count: String,
        pid: Option<u32>,
    },
    /// The descriptors and their names.
    Ours(Vec<(RawFd, Option<String>)>),
}

impl Vars {
    /// A malformed variable is an error only when the sockets are for this
    /// process: another process's variables are none of its business.
    pub(crate) fn parse(&self, own_pid: u32, accept_unset_pid: bool) -> io::Result<Addressed> {
        let fds = match &self.fds {
            Some(fds) => fds,
            None => return Ok(Addressed::Nothing),
        };
        let count_text = fds.to_string_lossy().into_owned();
        match self.pid.as_deref().filter(|pid| !pid.is_empty()) {
            Some(pid) => {
                let pid: u32 = number(pid)
                    .filter(|pid| *pid > 0)
                    .ok_or_else(|| bad_variable(LISTEN_PID, pid, "is not a process id"))?;
                if pid != own_pid {
                    return Ok(Addressed::NotOurs {
                        count: count_text,
                        pid: Some(pid),
                    });
                }
            }
            None if accept_unset_pid => {}
            None => {
                return Ok(Addressed::NotOurs {
                    count: count_text,
                    pid: None,
                })
            }
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
        let first = match &self.first_fd {
            None => SD_LISTEN_FDS_START,
            Some(first) => number(first)
                .and_then(|first| RawFd::try_from(first).ok())
                .filter(|first| *first >= SD_LISTEN_FDS_START)
                .filter(|first| {
                    RawFd::try_from(count).map_or(false, |count| first.checked_add(count).is_some())
                })
                .ok_or_else(|| {
                    bad_variable(
                        LISTEN_FDS_FIRST_FD,
                        first,
                        "is not a descriptor number of 3 or more (0 to 2 are standard input, \
                         output and error)",
                    )
                })?,
        };
        let names: Vec<Option<String>> = match &self.names {
            None => (0..count).map(|_| None).collect(),
            Some(names) => {
                let text = names
                    .to_str()
                    .ok_or_else(|| bad_variable(LISTEN_FDNAMES, names, "is not UTF-8"))?;
                let split: Vec<Option<String>> =
                    text.split(':').map(|n| Some(n.to_owned())).collect();
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
        Ok(Addressed::Ours((first..).zip(names).collect()))
    }
}

fn number(value: &OsStr) -> Option<u32> {
    let text = value.to_str()?;
    // `parse` takes a leading `+`; the protocol has plain digits only.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// What the function asks of a passed socket, and how it prepares one.
pub(crate) struct Wanted<'a> {
    pub(crate) kind: SocketKind,
    pub(crate) place: WantedPlace<'a>,
    /// `backlog` when given; `None`: a passed listener's queue is raised to
    /// [`DEFAULT_BACKLOG`] where it is shorter and the OS tells its length,
    /// and never lowered (systemd's `Backlog=` stays).
    pub(crate) backlog: Option<i32>,
    pub(crate) nonblocking: bool,
    /// Whether the function binds an address of its own when nothing is
    /// taken; without one, nothing taken is an error.
    pub(crate) binds: bool,
}

/// Where the function would bind, for choosing and checking a passed socket.
pub(crate) enum WantedPlace<'a> {
    /// An IP socket on `addr` (port 0: any port; `None`: not known, which
    /// selects any IP socket) with these options.
    Ip {
        addr: Option<SocketAddr>,
        only_v6: Option<bool>,
        shares_port: bool,
    },
    /// A Unix-domain socket on this path or abstract name.
    Unix(&'a Place),
}

/// What a passed socket is to the function.
enum Assessment {
    /// Not selected: on another address, left for another function.
    ForAnother,
    /// Selected, and it is what the function would have made.
    Fits,
    /// Selected, and not what the function would have made: what it is.
    Misfit(String),
}

/// IPV6_V6ONLY of an IPv6 socket the function binds without `only_v6`: dual
/// stack, except where the OS has none (sys/unix.rs, `set_only_v6`).
const DEFAULT_ONLY_V6: Option<bool> = if cfg!(any(target_os = "openbsd", target_os = "dragonfly")) {
    None
} else {
    Some(false)
};

impl Wanted<'_> {
    /// The outcome when `inherit` found nothing to take: `why` says what
    /// was passed; `note` goes into the error of a later failed bind.
    fn nothing_taken(
        &self,
        inherit: Inherit<'_>,
        why: &str,
        note: Option<String>,
    ) -> io::Result<Handoff> {
        if self.binds {
            return Ok(Handoff::NotTaken(note));
        }
        let message = match inherit {
            Inherit::Named(name) => format!(
                "no socket named {name:?} was passed to this process, and the function gives \
                 no address to bind instead ({why}); pass the socket (a socket unit with \
                 FileDescriptorName={name}), or give the function an address to bind when \
                 none is passed"
            ),
            Inherit::Next => format!(
                "no socket was passed to this process, and the function gives no address to \
                 bind instead ({why}); pass the socket (a socket unit), or give the function \
                 an address to bind when none is passed"
            ),
        };
        Err(io::Error::new(io::ErrorKind::NotFound, message))
    }

    fn describe(&self, inherit: Inherit<'_>) -> String {
        let what = match (&self.place, self.kind) {
            (WantedPlace::Ip { .. }, SocketKind::Stream) => "a listening TCP socket",
            (WantedPlace::Ip { .. }, SocketKind::Datagram) => "a bound UDP socket",
            (WantedPlace::Unix(_), SocketKind::Stream) => "a listening Unix-domain stream socket",
            (WantedPlace::Unix(_), SocketKind::Datagram) => "a Unix-domain datagram socket",
        };
        if let Inherit::Named(name) = inherit {
            return format!(
                "{what} (on any address: inherit = {name:?} takes the socket of that name \
                 wherever the supervisor bound it)"
            );
        }
        match &self.place {
            WantedPlace::Ip { addr: None, .. } => what.to_owned(),
            WantedPlace::Ip {
                addr: Some(addr), ..
            } if addr.port() == 0 => format!("{what} on {}", addr.ip()),
            WantedPlace::Ip {
                addr: Some(addr), ..
            } => format!("{what} on {addr}"),
            WantedPlace::Unix(place) => format!("{what} on {place}"),
        }
    }

    /// Whether `inherit` selects `socket` for this function, and if so
    /// whether it fits.
    fn assess(&self, socket: &Socket, inherit: Inherit<'_>) -> Assessment {
        let named = matches!(inherit, Inherit::Named(_));
        let unreadable = |error: io::Error| {
            Assessment::Misfit(format!("a descriptor that cannot be used ({error})"))
        };
        let local = match socket.local_addr() {
            Ok(local) => local,
            Err(error) => return unreadable(error),
        };
        let socket_type = match socket.r#type() {
            Ok(socket_type) => socket_type,
            Err(error) => return unreadable(error),
        };
        let verdict = match (&self.place, local.as_socket()) {
            (WantedPlace::Ip { addr, .. }, Some(found)) => {
                if !named && !on_address(*addr, found) {
                    return Assessment::ForAnother;
                }
                self.fits_ip(socket, socket_type, found, named)
            }
            (WantedPlace::Unix(place), None) if local.domain() == Domain::UNIX => {
                let found = unix_place(&local);
                if !named && !same_unix_place(place, found.as_ref()) {
                    return Assessment::ForAnother;
                }
                self.fits_unix(socket, socket_type, found)
            }
            (_, _) if !named => return Assessment::ForAnother,
            (WantedPlace::Ip { .. }, None) if local.domain() == Domain::UNIX => {
                Err(match unix_place(&local) {
                    Some(found) => format!("a Unix-domain socket on {found}"),
                    None => "a Unix-domain socket".to_owned(),
                })
            }
            (WantedPlace::Unix(_), Some(found)) => Err(format!("an IP socket on {found}")),
            (_, None) => Err("not an IPv4, IPv6 or Unix-domain socket".to_owned()),
        };
        match verdict {
            Ok(()) => Assessment::Fits,
            Err(found) => Assessment::Misfit(found),
        }
    }

    /// A selected IP socket: its type, and for `inherit = true` its host
    /// and options as the function would have set them; a named one is
    /// checked for its type only (and `only_v6` when the function gives it).
    fn fits_ip(
        &self,
        socket: &Socket,
        socket_type: Type,
        local: SocketAddr,
        named: bool,
    ) -> Result<(), String> {
        let (addr, asked_only_v6, shares_port) = match &self.place {
            WantedPlace::Ip {
                addr,
                only_v6,
                shares_port,
            } => (addr, only_v6, shares_port),
            WantedPlace::Unix(_) => unreachable!("an IP place"),
        };
        if socket_type != self.kind.socket_type() {
            return Err(type_name(socket_type));
        }
        let unreadable = |error: io::Error| format!("a descriptor that cannot be used ({error})");
        let only_v6 = match local {
            SocketAddr::V6(_) => Some(socket.only_v6().map_err(unreadable)?),
            SocketAddr::V4(_) => None,
        };
        match self.kind {
            SocketKind::Stream if listening(socket) == Some(false) => {
                return Err(format!("a TCP socket on {local} that does not listen"));
            }
            SocketKind::Datagram if local.port() == 0 => {
                return Err("a UDP socket that is not bound".to_owned());
            }
            _ => {}
        }
        let wanted_only_v6 = match addr {
            _ if named => *asked_only_v6,
            Some(SocketAddr::V6(_)) => asked_only_v6.or(DEFAULT_ONLY_V6),
            _ => *asked_only_v6,
        };
        if let (Some(wanted), Some(found)) = (wanted_only_v6, only_v6) {
            if wanted != found {
                let asked = match asked_only_v6 {
                    Some(asked) => format!("asks for only_v6 = {asked}"),
                    None => "binds dual-stack (only_v6 is not given)".to_owned(),
                };
                return Err(format!(
                    "a socket on {local} with IPV6_V6ONLY={}, and the function {asked}, which \
                     cannot be changed once the socket is bound",
                    u8::from(found)
                ));
            }
        }
        if named {
            return Ok(());
        }
        if let Some(addr) = addr {
            if !same_host(*addr, local, only_v6) {
                return Err(format!(
                    "bound to {local}, and the function binds {}",
                    addr.ip()
                ));
            }
        }
        if !shares_port && reuse_port(socket) == Some(true) {
            return Err(format!(
                "a socket on {local} with SO_REUSEPORT set (systemfd sets it), which lets \
                 another socket of the same user bind this port and take its traffic, and which \
                 cannot be cleared once the socket is bound; to accept it, ask for \
                 reuse_port = true"
            ));
        }
        Ok(())
    }

    /// A selected Unix-domain socket: its type and, for a stream, that it
    /// listens.
    fn fits_unix(
        &self,
        socket: &Socket,
        socket_type: Type,
        found: Option<Place>,
    ) -> Result<(), String> {
        let on = found.map_or_else(
            || "that is not bound".to_owned(),
            |found| format!("on {found}"),
        );
        if socket_type != self.kind.socket_type() {
            return Err(format!("{} {on}", type_name(socket_type)));
        }
        if self.kind == SocketKind::Stream && listening(socket) == Some(false) {
            return Err(format!(
                "a Unix-domain stream socket {on} that does not listen"
            ));
        }
        Ok(())
    }

    /// The policy and the options on a socket that fits, as far as they can
    /// be set once it is bound: SO_REUSEADDR on a TCP listener and off on a
    /// UDP socket (`systemd-socket-activate --datagram` sets it, and it would
    /// let another socket share the port), the backlog (`listen` again, when
    /// given, or to raise a shorter queue than the default: never lowered),
    /// and blocking or nonblocking as asked (the mode is shared with the
    /// supervisor's copy, so it is set either way). A Unix-domain socket's
    /// file keeps the owner the supervisor gave it.
    fn prepare(&self, socket: &Socket) -> io::Result<()> {
        let ip = matches!(self.place, WantedPlace::Ip { .. });
        match self.kind {
            SocketKind::Stream => {
                if ip {
                    socket.set_reuse_address(true)?;
                }
                let backlog = match self.backlog {
                    Some(backlog) => Some(backlog),
                    None if ip => sys::tcp_listen_backlog(socket)
                        .filter(|&now| i64::from(now) < i64::from(DEFAULT_BACKLOG))
                        .map(|_| DEFAULT_BACKLOG),
                    // The OS does not tell a Unix-domain listener's queue
                    // length here: it stays as the supervisor made it.
                    None => None,
                };
                if let Some(backlog) = backlog {
                    socket.listen(backlog)?;
                }
            }
            SocketKind::Datagram => {
                if ip && socket.reuse_address()? {
                    socket.set_reuse_address(false)?;
                }
            }
        }
        socket.set_nonblocking(self.nonblocking)
    }
}

/// Whether a passed socket on `found` is on the function's address, for
/// `inherit = true`: the same port, or for port 0 the same host; any IP
/// socket when the function gives no address.
fn on_address(addr: Option<SocketAddr>, found: SocketAddr) -> bool {
    match addr {
        None => true,
        Some(addr) if addr.port() != 0 => addr.port() == found.port(),
        Some(addr) => {
            addr.ip() == found.ip() || (addr.ip().is_unspecified() && found.ip().is_unspecified())
        }
    }
}

/// The path or abstract name a Unix-domain socket is bound to.
fn unix_place(local: &socket2::SockAddr) -> Option<Place> {
    if let Some(path) = local.as_pathname() {
        return Some(Place::Path(path.to_owned()));
    }
    local
        .as_abstract_namespace()
        .map(|name| Place::Abstract(name.to_owned()))
}

/// The same path (as written, or the same file) or the same abstract name.
fn same_unix_place(wanted: &Place, found: Option<&Place>) -> bool {
    match (wanted, found) {
        (Place::Path(wanted), Some(Place::Path(found))) => {
            use std::os::unix::fs::MetadataExt;
            wanted == found
                || match (std::fs::metadata(wanted), std::fs::metadata(found)) {
                    (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                    _ => false,
                }
        }
        (Place::Abstract(wanted), Some(Place::Abstract(found))) => wanted == found,
        _ => false,
    }
}

/// The host the function binds, as the passed socket is bound: the same
/// address, or an IPv6 wildcard socket that also takes IPv4 for the IPv4
/// wildcard (as systemd's `ListenStream=8080` makes one).
fn same_host(wanted: SocketAddr, local: SocketAddr, only_v6: Option<bool>) -> bool {
    match (wanted, local) {
        (SocketAddr::V4(wanted), SocketAddr::V4(local)) => wanted.ip() == local.ip(),
        (SocketAddr::V6(wanted), SocketAddr::V6(local)) => {
            wanted.ip() == local.ip()
                && (wanted.scope_id() == 0 || wanted.scope_id() == local.scope_id())
        }
        (SocketAddr::V4(wanted), SocketAddr::V6(local)) => {
            wanted.ip().is_unspecified() && local.ip().is_unspecified() && only_v6 == Some(false)
        }
        (SocketAddr::V6(_), SocketAddr::V4(_)) => false,
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

/// SO_REUSEPORT where the OS has it.
#[cfg(not(any(target_os = "solaris", target_os = "illumos")))]
fn reuse_port(socket: &Socket) -> Option<bool> {
    socket.reuse_port().ok()
}

#[cfg(any(target_os = "solaris", target_os = "illumos"))]
fn reuse_port(_socket: &Socket) -> Option<bool> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pid: Option<&str>, fds: Option<&str>, names: Option<&str>) -> Vars {
        Vars {
            pid: pid.map(OsString::from),
            fds: fds.map(OsString::from),
            names: names.map(OsString::from),
            first_fd: None,
        }
    }

    fn ours(vars: &Vars) -> Vec<(RawFd, Option<String>)> {
        match vars.parse(42, false).unwrap() {
            Addressed::Ours(fds) => fds,
            other => panic!("expected sockets for this process, got {other:?}"),
        }
    }

    #[test]
    fn nothing_passed_without_listen_fds() {
        assert_eq!(
            vars(Some("42"), None, None).parse(42, false).unwrap(),
            Addressed::Nothing
        );
        assert_eq!(
            vars(None, None, Some("http")).parse(42, true).unwrap(),
            Addressed::Nothing
        );
    }

    #[test]
    fn sockets_for_another_process_are_not_ours_even_when_malformed() {
        assert_eq!(
            vars(Some("43"), Some("2"), None).parse(42, true).unwrap(),
            Addressed::NotOurs {
                count: "2".into(),
                pid: Some(43)
            }
        );
        assert_eq!(
            vars(Some("43"), Some("x"), Some("a:b:c"))
                .parse(42, false)
                .unwrap(),
            Addressed::NotOurs {
                count: "x".into(),
                pid: Some(43)
            }
        );
    }

    #[test]
    fn an_unset_listen_pid_is_ours_only_when_accepted() {
        for pid in [None, Some("")] {
            assert_eq!(
                vars(pid, Some("1"), None).parse(42, false).unwrap(),
                Addressed::NotOurs {
                    count: "1".into(),
                    pid: None
                }
            );
            assert_eq!(
                vars(pid, Some("1"), None).parse(42, true).unwrap(),
                Addressed::Ours(vec![(3, None)])
            );
        }
    }

    #[test]
    fn sockets_for_this_process_start_at_fd_3_or_listen_fds_first_fd() {
        let fds = ours(&vars(Some("42"), Some("2"), Some("http:dns")));
        assert_eq!(fds, [(3, Some("http".into())), (4, Some("dns".into()))]);
        assert!(ours(&vars(Some("42"), Some("0"), None)).is_empty());
        let mut moved = vars(Some("42"), Some("2"), None);
        moved.first_fd = Some("4".into());
        assert_eq!(ours(&moved), [(4, None), (5, None)]);
    }

    #[test]
    fn malformed_variables_are_invalid_input_naming_the_variable() {
        let cases = [
            (
                vars(Some("abc"), Some("1"), None),
                "LISTEN_PID=\"abc\" is not a process id",
            ),
            (
                vars(Some("0"), Some("1"), None),
                "LISTEN_PID=\"0\" is not a process id",
            ),
            (vars(Some("-42"), Some("1"), None), "LISTEN_PID=\"-42\""),
            (
                vars(Some("42"), Some("x"), None),
                "LISTEN_FDS=\"x\" is not a number of passed sockets",
            ),
            (vars(Some("42"), Some("+1"), None), "LISTEN_FDS=\"+1\""),
            (vars(Some("42"), Some(""), None), "LISTEN_FDS=\"\""),
            (
                vars(Some("42"), Some("99999999"), None),
                "LISTEN_FDS=\"99999999\"",
            ),
            (
                vars(Some("42"), Some("2"), Some("http")),
                "LISTEN_FDNAMES=\"http\" has 1 names, but LISTEN_FDS=2 passes 2 sockets",
            ),
            (
                vars(Some("42"), Some("1"), Some("a:b")),
                "LISTEN_FDNAMES=\"a:b\" has 2 names",
            ),
        ];
        for (vars, message) in cases {
            let error = vars.parse(42, false).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{error}");
            assert!(error.to_string().contains(message), "{error} ∌ {message}");
        }
        for first in ["0", "2", "x", "2147483647"] {
            let mut vars = vars(Some("42"), Some("1"), None);
            vars.first_fd = Some(first.into());
            let error = vars.parse(42, false).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains(&format!("LISTEN_FDS_FIRST_FD=\"{first}\"")),
                "{error}"
            );
        }
    }
}
