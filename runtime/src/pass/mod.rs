//! Sockets passed between processes on Windows: the same socket, handed on
//! with `WSADuplicateSocketW`, never bound again.
//!
//! A process that runs another (the supervisor, or the old process of an
//! upgrade) starts it with
//! [`RESTARTABLE_SOCKETS`](wire::RESTARTABLE_SOCKETS) and two inherited
//! pipe handles, and no other handle of its own (an explicit handle list):
//!
//! - **take**: the records of the sockets passed to the new process — a
//!   name and `WSADuplicateSocketW`'s description for the new process's
//!   id — up to the pipe's end. A function with `inherit` takes one by name
//!   (`inherit = "name"`) or by its port (`inherit = true`), as on Unix.
//! - **store**: where the new process sends a record of each listener a
//!   function with `inherit` made, described for the parent, which keeps
//!   it and passes it to the next process after a crash.
//!
//! The variable is the process's only when its parent is the process the
//! variable names: a process the service starts in turn inherits the
//! variable, not the pipes, and leaves it alone. The pipes are read and
//! marked not inheritable at the first call that needs them, and no other
//! user can reach them: they are inherited handles, not names. systemfd
//! passes the same descriptions over a TCP connection to a port on
//! 127.0.0.1, guarded by a secret in the child's environment; a pipe handed
//! only to the new process needs no secret.

// Pure: compiled on every target for its tests, used on Windows.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) mod wire;

#[cfg(windows)]
pub(crate) mod kept;
#[cfg(windows)]
mod record;
#[cfg(windows)]
mod send;

#[cfg(windows)]
pub(crate) use self::record::{
    claim, is_ours, keeper, parent_is, send_main, store, take, WantedSocket,
};
#[cfg(windows)]
pub(crate) use self::send::send_sockets;
