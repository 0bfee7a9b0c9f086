//! Descriptors inherited through exec, named by number in the environment
//! (`LISTEN_FDS`, the upgrade's channel): looked at by number without being
//! touched, then adopted as owned values, each once. This is the one place
//! in the crate that turns a number into an owned descriptor.

use std::io;
use std::os::unix::io::{FromRawFd, IntoRawFd, OwnedFd, RawFd};

use crate::sys::{self, PassedFd};

/// Where descriptors passed through exec start: `SD_LISTEN_FDS_START` of
/// `sd_listen_fds(3)`, after standard input, output and error. The first
/// passed socket when `LISTEN_FDS_FIRST_FD` is unset, and where a child
/// this process starts gets its passed descriptors.
pub(crate) const SD_LISTEN_FDS_START: RawFd = 3;

/// A descriptor number the environment names, and what is there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Inherited {
    fd: RawFd,
    found: PassedFd,
}

/// Looks at descriptor `fd` without touching it: whether it is open,
/// already taken in this process (close-on-exec), a socket or not.
pub(crate) fn look(fd: RawFd) -> io::Result<Inherited> {
    Ok(Inherited {
        fd,
        found: sys::passed_fd(fd)?,
    })
}

/// Why an inherited descriptor was not adopted. It was left as it was:
/// not closed, not changed.
#[derive(Debug)]
pub(crate) enum NotAdopted {
    /// Not open.
    Closed,
    /// Close-on-exec: something in this process took it already (an
    /// inherited descriptor cannot have the flag).
    Taken,
    /// Not the kind asked for (a file where a socket was expected, or the
    /// reverse).
    OtherKind,
    /// Its close-on-exec flag could not be set.
    CannotMark(io::Error),
}

impl NotAdopted {
    /// Why, as words that follow "fd N".
    pub(crate) fn describe(&self) -> String {
        match self {
            NotAdopted::Closed => "is not open".to_owned(),
            NotAdopted::Taken => "is close-on-exec, so something else in this process already \
                                  took it (libsystemd's sd_listen_fds, listenfd, another copy \
                                  of restartable)"
                .to_owned(),
            NotAdopted::OtherKind => {
                "is not a socket (systemd's OpenFile= passes files)".to_owned()
            }
            NotAdopted::CannotMark(error) => {
                format!("could not be marked close-on-exec ({error}), so it was left alone")
            }
        }
    }
}

impl Inherited {
    pub(crate) fn found(self) -> PassedFd {
        self.found
    }

    /// Owns the descriptor, marked close-on-exec at once so that no
    /// program this process starts inherits it — when it is open,
    /// inheritable, and a socket (`socket: true`) or not one.
    ///
    /// # Safety
    ///
    /// The number must have been passed to this process by the one that
    /// started it (the variable naming it names this process's pid), and
    /// the caller must be the one place in this crate that adopts it, once
    /// per process. A descriptor inherited through exec cannot be
    /// close-on-exec, and every consumer of these protocols that we know
    /// (libsystemd, listenfd, restartable) sets the flag when it takes one,
    /// so an inheritable one is owned by nothing in this process yet. Still
    /// assumed: no other consumer reads the same variables at the same
    /// moment from another thread, between its look and its mark.
    #[allow(unsafe_code)]
    pub(crate) unsafe fn adopt(self, socket: bool) -> Result<OwnedFd, NotAdopted> {
        match (self.found, socket) {
            (PassedFd::Closed, _) => return Err(NotAdopted::Closed),
            (PassedFd::CloseOnExec, _) => return Err(NotAdopted::Taken),
            (PassedFd::Socket, true) | (PassedFd::NotASocket, false) => {}
            (PassedFd::Socket, false) | (PassedFd::NotASocket, true) => {
                return Err(NotAdopted::OtherKind)
            }
        }
        // SAFETY: open and inheritable (looked at above), passed to this
        // process and adopted only here: the caller's contract.
        let owned = unsafe { OwnedFd::from_raw_fd(self.fd) };
        if let Err(error) = sys::set_cloexec(&owned) {
            // Not ours after all: released, not closed.
            let _ = owned.into_raw_fd();
            return Err(NotAdopted::CannotMark(error));
        }
        Ok(owned)
    }
}
