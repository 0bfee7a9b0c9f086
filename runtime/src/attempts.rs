//! The attempts that make one listener, whatever its address: take a passed
//! socket if asked, else bind, again while the address is in use if asked,
//! pausing the thread or the task in between.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use socket2::Socket;

use crate::error;
use crate::retry::{Delay, Retry};
use crate::SocketKind;

/// How one listener is made, whatever its address: the steps that
/// [`Attempts`] takes in turn. (`pub` in a private module: unnameable
/// outside the crate, and allowed in the future type below.)
pub trait Plan: Sync {
    /// How long to keep trying while the address is in use.
    fn retry(&self) -> Option<Duration>;
    /// A passed socket that fits, when `inherit` asks for one.
    fn inherited(&self, kind: SocketKind) -> io::Result<Handoff>;
    /// One attempt to create, bind and (for a stream socket) listen.
    fn bind(&self, kind: SocketKind) -> io::Result<Socket>;
}

impl<P: Plan + ?Sized> Plan for &P {
    fn retry(&self) -> Option<Duration> {
        (**self).retry()
    }

    fn inherited(&self, kind: SocketKind) -> io::Result<Handoff> {
        (**self).inherited(kind)
    }

    fn bind(&self, kind: SocketKind) -> io::Result<Socket> {
        (**self).bind(kind)
    }
}

/// The socket `plan` describes, pausing the thread between attempts.
pub(crate) fn run<P: Plan>(
    plan: P,
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

/// The future of the `async fn` listeners: the attempts, the pause in
/// progress, and the conversion to `T`. Nothing in it asks for `T` to be a
/// socket type: only the function that makes it does, so that an
/// unsupported return type is one error, not one per `.await` obligation.
#[must_use = "a future does nothing unless awaited"]
pub struct Listening<P, T> {
    attempts: Attempts<P>,
    pause: Option<Delay>,
    convert: fn(Socket) -> io::Result<T>,
}

impl<P: Plan, T> Listening<P, T> {
    pub(crate) fn new(
        plan: P,
        kind: SocketKind,
        check_context: fn() -> io::Result<()>,
        convert: fn(Socket) -> io::Result<T>,
    ) -> Self {
        Listening {
            attempts: Attempts::new(plan, kind, check_context),
            pause: None,
            convert,
        }
    }
}

impl<P: Plan + Unpin, T> Future for Listening<P, T> {
    type Output = io::Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        loop {
            if let Some(pause) = &mut self.pause {
                match Pin::new(pause).poll(cx) {
                    Poll::Ready(()) => self.pause = None,
                    Poll::Pending => return Poll::Pending,
                }
            }
            match self.attempts.next() {
                Next::Done(result) => return Poll::Ready(result.and_then(self.convert)),
                Next::Pause(pause) => self.pause = Some(Delay::new(pause)),
            }
        }
    }
}

impl<P, T> std::fmt::Debug for Listening<P, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listening").finish_non_exhaustive()
    }
}

/// The steps of [`run`] and [`Listening`], which differ only in how they
/// pause.
struct Attempts<P> {
    plan: P,
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

impl<P: Plan> Attempts<P> {
    fn new(plan: P, kind: SocketKind, check_context: fn() -> io::Result<()>) -> Self {
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
#[allow(missing_debug_implementations)]
pub enum Handoff {
    /// A passed socket that fits, checked and prepared.
    // Windows has no socket activation.
    #[cfg_attr(windows, allow(dead_code))]
    Taken(Socket),
    /// None: bind as usual. Any sockets passed to this process and left
    /// alone are described here, to be said if the port is in use.
    NotTaken(Option<String>),
}
