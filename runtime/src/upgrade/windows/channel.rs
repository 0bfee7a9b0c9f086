//! The new process's side of the handover (Windows): the two pipes the old
//! process passed (`RESTARTABLE_UPGRADE`, `crate::pass::wire::UpgradeVars`).
//! `R` on `ready` once this process is ready; `C` back on `commit` once the
//! old one stopped accepting and let this one outlive it.

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::pass::wire::UpgradeVars;

pub(crate) const RESTARTABLE_UPGRADE: &str = "RESTARTABLE_UPGRADE";

/// The channel to the old process.
#[derive(Debug)]
pub(crate) struct NewSide {
    generation: u32,
    ready: File,
    commit: File,
}

/// How the handover ended, for this process.
pub(crate) enum TakeOver {
    /// The old process stopped accepting: this one serves alone.
    Committed,
    /// The old process did not answer; this one carries on.
    Unfinished(io::Error),
}

/// The channel, when an upgrade started this process: its parent is the
/// old process the variable names. A value for another process is left
/// alone; one that cannot be used is logged, and the process runs as if
/// started by hand.
pub(crate) fn take() -> Option<NewSide> {
    let value = std::env::var(RESTARTABLE_UPGRADE).ok()?;
    let parent = UpgradeVars::parent_of(&value)?;
    if !crate::pass::parent_is(parent).unwrap_or(false) {
        return None;
    }
    let channel = UpgradeVars::parse(RESTARTABLE_UPGRADE, &value).and_then(|vars| {
        let ready = crate::pass::claim(vars.ready, RESTARTABLE_UPGRADE, "ready", parent)?;
        let commit = crate::pass::claim(vars.commit, RESTARTABLE_UPGRADE, "commit", parent)?;
        Ok(NewSide {
            generation: vars.generation,
            ready: File::from(ready),
            commit: File::from(commit),
        })
    });
    match channel {
        Ok(channel) => Some(channel),
        Err(error) => {
            crate::event!(
                warn,
                "upgrade: {error}; this process runs as one started by hand"
            );
            None
        }
    }
}

impl NewSide {
    pub(crate) fn generation(&self) -> u32 {
        self.generation
    }

    /// Tells the old process this one is ready and waits up to `timeout`
    /// for its commit.
    pub(crate) fn take_over(mut self, timeout: Duration) -> TakeOver {
        if let Err(error) = self.ready.write_all(b"R") {
            return TakeOver::Unfinished(error);
        }
        let (answer, answered) = mpsc::channel();
        let mut commit = self.commit;
        // A blocking read on an anonymous pipe cannot time out: on a
        // thread, which ends with the pipe.
        let reader = thread::Builder::new()
            .name("restartable-upgrade-commit".into())
            .spawn(move || {
                let mut byte = [0u8; 1];
                let _ = answer.send(commit.read(&mut byte).map(|n| (n, byte[0])));
            });
        if let Err(error) = reader {
            return TakeOver::Unfinished(error);
        }
        match answered.recv_timeout(timeout) {
            Ok(Ok((1, b'C'))) => TakeOver::Committed,
            Ok(Ok((0, _))) => TakeOver::Unfinished(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the old process closed the channel before it committed",
            )),
            Ok(Ok((_, byte))) => TakeOver::Unfinished(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the old process answered {byte:#04x}; expected C"),
            )),
            Ok(Err(error)) => TakeOver::Unfinished(error),
            Err(_) => TakeOver::Unfinished(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the old process did not commit within {timeout:?}"),
            )),
        }
    }
}
