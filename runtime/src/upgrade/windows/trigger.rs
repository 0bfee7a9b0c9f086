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
    requests: OwnedHandle,
}

pub(crate) fn set_up() -> io::Result<Triggers> {
    Ok(Triggers {
        requests: super::control::bind()?,
    })
}

impl Triggers {
    pub(crate) fn start(self, running: &Running) {
        let running = running.clone();
        let started = thread::Builder::new()
            .name("restartable-upgrade-requests".into())
            .spawn(move || super::control::serve(self.requests, &running));
        if let Err(error) = started {
            crate::event!(
                error,
                "upgrade: cannot answer upgrade requests: {error}; Running::upgrade still works"
            );
        }
    }
}
