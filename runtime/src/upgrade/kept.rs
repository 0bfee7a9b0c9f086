//! The listeners an upgrade passes on and the fd store keeps: every socket
//! a function with `inherit` made or took after [`Upgrade::new`], as a
//! copy of its descriptor (close-on-exec) and the name it goes by.
//!
//! [`Upgrade::new`]: super::Upgrade::new

use std::io;
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::{Mutex, MutexGuard, PoisonError};

use socket2::Socket;

/// A listener on record.
#[derive(Debug)]
pub(crate) struct Kept {
    /// `LISTEN_FDNAMES` / `FDNAME=`: what `inherit = "name"` takes.
    pub(crate) name: String,
    /// This record's own copy of the descriptor.
    pub(crate) socket: Socket,
}

/// `None` until an [`Upgrade`](super::Upgrade) exists: until then nothing is
/// copied, and a process that never asks for upgrades keeps no copies.
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

/// Keeps a copy of `socket` under `name`, when upgrades are asked for.
/// The same socket (taken again after a rebind in this process) is kept
/// once.
pub(crate) fn keep(socket: &Socket, name: &str) -> io::Result<()> {
    let mut kept = kept();
    let Some(list) = kept.as_mut() else {
        return Ok(());
    };
    let copy = socket.try_clone().map_err(|error| {
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
        socket: copy,
    });
    Ok(())
}

/// Runs `f` on the listeners on record, the record locked.
pub(crate) fn with<R>(f: impl FnOnce(&[Kept]) -> R) -> R {
    let kept = kept();
    f(kept.as_deref().unwrap_or(&[]))
}

/// The names and descriptors on record.
pub(crate) fn fds() -> Vec<(String, RawFd)> {
    with(|kept| {
        kept.iter()
            .map(|k| (k.name.clone(), k.socket.as_raw_fd()))
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
