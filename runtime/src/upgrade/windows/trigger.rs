//! What starts an upgrade besides [`Running::upgrade`] on Windows: a request
//! from another process over the named pipe (`control`). Windows has no
//! SIGHUP. The pipe is made in [`Upgrade::ready`](super::Upgrade::ready)
//! before the handover, so that a failure ends a new process before it
//! takes over; its thread starts once the process serves.

use std::io;
use std::os::windows::io::OwnedHandle;
use std::thread;

use super::Running;

/// The request pipe, made and not yet served.
#[derive(Debug)]
pub(crate) struct Triggers {
    /// `None`: the name was taken (another process made it first); then
    /// only `Running::upgrade` starts an upgrade.
    requests: Option<OwnedHandle>,
}

/// Makes the request pipe. A name another process made first is logged,
/// not an error: a squatter could otherwise keep the service from starting
/// (the name is known to all, from the process id).
pub(crate) fn set_up() -> io::Result<Triggers> {
    let requests = match super::control::bind() {
        Ok(pipe) => Some(pipe),
        Err(error) => {
            crate::event!(
                error,
                "upgrade: {error}; requests from other processes cannot reach this one, \
                 Running::upgrade still works"
            );
            None
        }
    };
    Ok(Triggers { requests })
}

impl Triggers {
    pub(crate) fn start(self, running: &Running) {
        let Some(requests) = self.requests else {
            return;
        };
        let running = running.clone();
        let started = thread::Builder::new()
            .name("restartable-upgrade-requests".into())
            .spawn(move || super::control::serve(requests, &running));
        if let Err(error) = started {
            crate::event!(
                error,
                "upgrade: cannot answer upgrade requests: {error}; Running::upgrade still works"
            );
        }
    }
}
