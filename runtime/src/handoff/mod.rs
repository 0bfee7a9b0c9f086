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

mod fit;
pub(crate) mod record;
pub(crate) mod vars;

use std::io;

pub(crate) use self::fit::{Wanted, WantedPlace};

/// What `inherit` found: a passed socket that fits, checked and prepared;
/// or none, with what was passed and left alone, to be said if the bind
/// that follows finds the address in use.
pub(crate) enum Handoff {
    /// The socket, and the name it was passed with.
    Taken(socket2::Socket, Option<String>),
    NotTaken(Option<String>),
}
pub(crate) use self::record::take;
#[cfg(fuzzing)]
pub(crate) use self::vars::{Addressed, Vars};

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
    record::accept_unset_pid()
}
