//! The listeners an upgrade passes on (Windows): every socket a function
//! with `inherit` made or took after upgrades were set up, as this record's
//! own handle of it (`WSADuplicateSocketW` into this process, socket2's
//! `try_clone`), under the name it goes by.

use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};

use socket2::Socket;

/// A listener on record.
#[derive(Debug)]
pub(crate) struct Kept {
    /// What `inherit = "name"` takes in the new process.
    pub(crate) name: String,
    /// This record's own handle of the socket.
    pub(crate) socket: Socket,
}

/// `None` until upgrades are set up.
static KEPT: Mutex<Option<Vec<Kept>>> = Mutex::new(None);

fn kept() -> MutexGuard<'static, Option<Vec<Kept>>> {
    KEPT.lock().unwrap_or_else(PoisonError::into_inner)
}

/// From now on, listeners with `inherit` are kept.
pub(crate) fn start() {
    kept().get_or_insert_with(Vec::new);
}

/// The name a listener goes by when its function did not name one and the
/// socket it took had none.
pub(crate) const UNNAMED: &str = "restartable";

/// Keeps a handle of `socket` under `name`, when upgrades are set up.
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
    crate::event!(debug, "listener {name:?} is kept for upgrades");
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

/// Closes the record's handles (after a new process took over): the
/// sockets stay open wherever else they are.
pub(crate) fn release() {
    if let Some(list) = kept().as_mut() {
        list.clear();
    }
}
