//! The listeners to pass on: every socket a function with `inherit` made
//! or took after upgrades were set up, as this record's own copy of the
//! descriptor (close-on-exec) under the name it goes by. An upgrade passes
//! them to the new process; systemd's fd store keeps them.
//!
//! Each listener is kept once: the handoff record hands each passed socket
//! out once, and a bind makes a new socket.

use std::io;
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, MutexGuard, PoisonError};

use socket2::Socket;

/// A listener on record.
#[derive(Debug)]
pub(crate) struct Kept {
    /// `LISTEN_FDNAMES` / `FDNAME=`: what `inherit = "name"` takes.
    pub(crate) name: String,
    /// This record's own copy of the descriptor.
    pub(crate) fd: OwnedFd,
}

impl Kept {
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// `None` until upgrades are set up: until then nothing is copied, and a
/// process that never asks for upgrades keeps no copies.
static KEPT: Mutex<Option<Vec<Kept>>> = Mutex::new(None);

fn kept() -> MutexGuard<'static, Option<Vec<Kept>>> {
    // An entry is pushed whole: a panic cannot leave the list half changed.
    KEPT.lock().unwrap_or_else(PoisonError::into_inner)
}

/// From now on, listeners with `inherit` are kept.
pub(crate) fn start() {
    kept().get_or_insert_with(Vec::new);
}

/// The name a listener goes by when its function did not name one and the
/// socket it took had none.
pub(crate) const UNNAMED: &str = "restartable";

/// Keeps a copy of `socket` under `name`, when upgrades are set up.
pub(crate) fn keep(socket: &Socket, name: &str) -> io::Result<()> {
    let mut kept = kept();
    let Some(list) = kept.as_mut() else {
        return Ok(());
    };
    let copy = socket.as_fd().try_clone_to_owned().map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot keep a copy of the listener {name:?} for upgrades: {error}"),
        )
    })?;
    crate::event!(
        debug,
        "listener {name:?} (fd {}) is kept for upgrades and the fd store",
        socket.as_raw_fd()
    );
    list.push(Kept {
        name: name.to_owned(),
        fd: copy,
    });
    Ok(())
}

/// Runs `f` on the listeners on record, the record locked.
pub(crate) fn with<R>(f: impl FnOnce(&[Kept]) -> R) -> R {
    let kept = kept();
    f(kept.as_deref().unwrap_or(&[]))
}

/// Copies of the listeners on record, in order: what an upgrade passes.
pub(crate) fn copies() -> io::Result<Vec<Kept>> {
    with(|kept| {
        kept.iter()
            .map(|k| {
                Ok(Kept {
                    name: k.name.clone(),
                    fd: k.fd.try_clone()?,
                })
            })
            .collect()
    })
}

/// Closes the record's copies (after a new process took over): the
/// sockets stay open wherever else they are.
pub(crate) fn release() {
    if let Some(list) = kept().as_mut() {
        list.clear();
    }
}
