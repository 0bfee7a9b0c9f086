//! The attempts that make one listener, whatever its address: take a passed
//! socket if asked, else bind, again while the address is in use if asked,
//! pausing the thread or the task in between.

use std::io;
use std::thread;
use std::time::Duration;

use socket2::Socket;

use crate::error;
use crate::retry::{Delay, Retry};
use crate::SocketKind;

/// How one listener is made, whatever its address: the steps that
/// [`Attempts`] takes in turn.
pub(crate) trait Plan: Sync {
    /// How long to keep trying while the address is in use.
    fn retry(&self) -> Option<Duration>;
    /// A passed socket that fits, when `inherit` asks for one.
    fn inherited(&self, kind: SocketKind) -> io::Result<Handoff>;
    /// One attempt to create, bind and (for a stream socket) listen.
    fn bind(&self, kind: SocketKind) -> io::Result<Socket>;
}

/// The socket `plan` describes, pausing the thread between attempts.
pub(crate) fn run(
    plan: &dyn Plan,
    kind: SocketKind,
    check_context: fn() -> io::Result<()>,
) -> io::Result<Socket> {
    let mut attempts = Attempts::new(plan, kind, check_context);
    loop {
        match attempts.next() {
            Next::Done(result) => return result,
            Next::Pause(pause) => thread::sleep(pause),
        }
    }
}

/// The socket `plan` describes, awaiting the pauses between attempts.
pub(crate) async fn run_async(
    plan: &dyn Plan,
    kind: SocketKind,
    check_context: fn() -> io::Result<()>,
) -> io::Result<Socket> {
    let mut attempts = Attempts::new(plan, kind, check_context);
    loop {
        match attempts.next() {
            Next::Done(result) => return result,
            Next::Pause(pause) => Delay::new(pause).await,
        }
    }
}

/// The steps of [`run`] and [`run_async`], which differ only in how they
/// pause.
struct Attempts<'p> {
    plan: &'p dyn Plan,
    kind: SocketKind,
    check_context: fn() -> io::Result<()>,
    started: bool,
    retry: Option<Retry>,
    /// Sockets passed to this process and not taken, said when the address
    /// then turns out to be in use.
    not_taken: Option<String>,
}

enum Next {
    Done(io::Result<Socket>),
    Pause(Duration),
}

impl<'p> Attempts<'p> {
    fn new(plan: &'p dyn Plan, kind: SocketKind, check_context: fn() -> io::Result<()>) -> Self {
        Attempts {
            plan,
            kind,
            check_context,
            started: false,
            retry: None,
            not_taken: None,
        }
    }

    /// The first call checks the context and takes a passed socket if there
    /// is one; each call binds once. Then: the result, or a pause before the
    /// next call.
    fn next(&mut self) -> Next {
        if !self.started {
            self.started = true;
            match (self.check_context)().and_then(|()| self.plan.inherited(self.kind)) {
                Ok(Handoff::Taken(socket)) => return Next::Done(Ok(socket)),
                Ok(Handoff::NotTaken(not_taken)) => {
                    self.not_taken = not_taken;
                    self.retry = self.plan.retry().map(Retry::new);
                }
                Err(error) => return Next::Done(Err(error)),
            }
        }
        let retry = &mut self.retry;
        match self.plan.bind(self.kind) {
            Ok(socket) => Next::Done(Ok(socket)),
            Err(error) => match retry.as_mut().and_then(|retry| retry.pause_after(&error)) {
                Some(pause) => Next::Pause(pause),
                None => Next::Done(Err(error::finish(
                    error,
                    retry.as_ref().map(Retry::tried),
                    self.not_taken.take(),
                ))),
            },
        }
    }
}

/// What `inherit` found.
pub(crate) enum Handoff {
    /// A passed socket that fits, checked and prepared.
    // Windows has no socket activation.
    #[cfg_attr(windows, allow(dead_code))]
    Taken(Socket),
    /// None: bind as usual. Any sockets passed to this process and left
    /// alone are described here, to be said if the port is in use.
    NotTaken(Option<String>),
}
