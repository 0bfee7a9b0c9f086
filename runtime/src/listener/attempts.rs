//! The attempts that make one listener, whatever its address: take a passed
//! socket if asked, else bind, again while the address is in use if asked,
//! pausing the thread or the task in between.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use socket2::Socket;

use crate::convert::SocketKind;
use crate::error::Unfinished;
use crate::listener::background::{Helper, Wait, HELPER};
use crate::listener::retry::Retry;
use crate::spec::Inherit;

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
    /// `inherit`: a listener that takes passed sockets can take its own
    /// back, so upgrades pass it on (and the fd store keeps it).
    fn inherit(&self) -> Option<Inherit<'_>>;
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

    fn inherit(&self) -> Option<Inherit<'_>> {
        (**self).inherit()
    }
}

/// The socket `plan` describes, pausing the thread between attempts; the
/// final error's holder is looked up on this thread too.
pub(crate) fn run<P: Plan>(
    plan: P,
    kind: SocketKind,
    check_context: fn() -> io::Result<()>,
) -> io::Result<Socket> {
    let mut attempts = Attempts::new(plan, kind, check_context);
    loop {
        match attempts.next() {
            Next::Done(result) => return result,
            Next::Pause(pause, _) => thread::sleep(pause),
            Next::Failed(unfinished) => return Err(unfinished.finish()),
        }
    }
}

/// The future of the `async fn` listeners: the attempts, what it waits for,
/// and the conversion to `T`. A `poll` binds at most once and never blocks:
/// the pauses and the lookup of who holds the port are awaited on the
/// process's helper thread. Nothing in it asks for `T` to be a socket type:
/// only the function that makes it does, so that an unsupported return
/// type is one error, not one per `.await` obligation.
#[must_use = "a future does nothing unless awaited"]
pub struct Listening<P, T> {
    attempts: Attempts<P>,
    waiting: Waiting,
    convert: fn(Socket) -> io::Result<T>,
    helper: &'static Helper,
}

/// What a [`Listening`] waits for between two polls.
enum Waiting {
    Nothing,
    Pause(Wait<()>),
    /// Who holds the port, for the final error.
    Holder(Wait<Option<String>>, Unfinished),
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
            waiting: Waiting::Nothing,
            convert,
            helper: &HELPER,
        }
    }

    /// The final error: who holds the port is looked up on the helper
    /// thread and awaited (this poll returns `Pending`; the helper wakes the
    /// task). When no thread can be had, the error says nothing of the
    /// holder rather than block this one for the lookup.
    fn fail(&mut self, unfinished: Unfinished, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if let Some(lookup) = unfinished.holder_lookup() {
            if let Ok(wait) = self.helper.run(move || lookup.run(), cx.waker()) {
                self.waiting = Waiting::Holder(wait, unfinished);
                return Poll::Pending;
            }
        }
        Poll::Ready(Err(unfinished.finish_with(None)))
    }
}

impl<P: Plan + Unpin, T> Future for Listening<P, T> {
    type Output = io::Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let this = &mut *self;
        match std::mem::replace(&mut this.waiting, Waiting::Nothing) {
            Waiting::Nothing => {}
            Waiting::Pause(mut wait) => {
                if Pin::new(&mut wait).poll(cx).is_pending() {
                    this.waiting = Waiting::Pause(wait);
                    return Poll::Pending;
                }
            }
            Waiting::Holder(mut wait, unfinished) => match Pin::new(&mut wait).poll(cx) {
                Poll::Ready(holder) => return Poll::Ready(Err(unfinished.finish_with(holder))),
                Poll::Pending => {
                    this.waiting = Waiting::Holder(wait, unfinished);
                    return Poll::Pending;
                }
            },
        }
        match this.attempts.next() {
            Next::Done(result) => Poll::Ready(result.and_then(this.convert)),
            Next::Failed(unfinished) => this.fail(unfinished, cx),
            Next::Pause(pause, error) => {
                match this.helper.sleep_until(Instant::now() + pause, cx.waker()) {
                    Ok(wait) => {
                        this.waiting = Waiting::Pause(wait);
                        Poll::Pending
                    }
                    // No thread to wait on, and the task must not sleep:
                    // the retry ends here, and the error says why.
                    Err(no_thread) => {
                        let unfinished = this.attempts.unfinished(error).retry_stopped(no_thread);
                        this.fail(unfinished, cx)
                    }
                }
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
/// pause and on which thread they look up who holds the port.
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
    /// The socket, or an error that is final as it is.
    Done(io::Result<Socket>),
    /// Pause this long, then call [`Attempts::next`] again; the error of
    /// the attempt is final if the pause cannot be had.
    Pause(Duration, io::Error),
    /// The last attempt failed; the error still needs its holder.
    Failed(Unfinished),
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
    /// next call. Nothing here blocks.
    fn next(&mut self) -> Next {
        if !self.started {
            self.started = true;
            match (self.check_context)().and_then(|()| self.plan.inherited(self.kind)) {
                Ok(Handoff::Taken(socket, name)) => {
                    crate::event!(
                        info,
                        "took the passed socket {}",
                        name.as_deref()
                            .map_or_else(|| "(unnamed)".to_owned(), |n| format!("{n:?}"))
                    );
                    return Next::Done(self.kept(socket, name.as_deref(), true));
                }
                Ok(Handoff::NotTaken(not_taken)) => {
                    self.not_taken = not_taken;
                    self.retry = self.plan.retry().map(Retry::new);
                }
                Err(error) => return Next::Done(Err(error)),
            }
        }
        match self.plan.bind(self.kind) {
            Ok(socket) => {
                crate::event!(
                    info,
                    "bound {}",
                    socket.local_addr().ok().map_or_else(
                        || "a socket".to_owned(),
                        |addr| addr
                            .as_socket()
                            .map_or_else(|| "a Unix-domain socket".to_owned(), |a| a.to_string())
                    )
                );
                Next::Done(self.kept(socket, None, false))
            }
            Err(error) => match self
                .retry
                .as_mut()
                .and_then(|retry| retry.pause_after(&error))
            {
                Some(pause) => {
                    crate::event!(info, "retrying in {pause:?}: {error}");
                    Next::Pause(pause, error)
                }
                None => Next::Failed(self.unfinished(error)),
            },
        }
    }

    /// The socket, a copy of it kept for upgrades when the function has
    /// `inherit` and upgrades are set up: under the function's name, else
    /// the name it was passed with.
    #[cfg(unix)]
    fn kept(&self, socket: Socket, passed_name: Option<&str>, _taken: bool) -> io::Result<Socket> {
        if let Some(inherit) = self.plan.inherit() {
            let name = match inherit {
                Inherit::Named(name) => name,
                Inherit::Next => passed_name.unwrap_or(crate::process::kept::UNNAMED),
            };
            crate::process::kept::keep(&socket, name)?;
        }
        Ok(socket)
    }

    /// The socket, passed to the supervisor to keep when the function has
    /// `inherit` and this process runs under one (`crate::pass`): under
    /// the function's name, else the name it was passed with. One the
    /// supervisor passed (`taken`) is only said to be taken. And, as on
    /// Unix, a copy kept for upgrades when they are set up.
    #[cfg(windows)]
    fn kept(&self, socket: Socket, passed_name: Option<&str>, taken: bool) -> io::Result<Socket> {
        if let Some(inherit) = self.plan.inherit() {
            let name = match inherit {
                Inherit::Named(name) => Some(name),
                Inherit::Next => passed_name,
            };
            crate::pass::store(&socket, name, taken);
            crate::pass::kept::keep(&socket, name.unwrap_or(crate::pass::kept::UNNAMED))?;
        }
        Ok(socket)
    }

    /// `error` as the last one, with what the attempts know.
    fn unfinished(&mut self, error: io::Error) -> Unfinished {
        Unfinished::new(
            error,
            self.retry.as_ref().map(Retry::tried),
            self.not_taken.take(),
        )
    }
}

/// What `inherit` found.
#[allow(missing_debug_implementations)]
pub enum Handoff {
    /// A passed socket that fits, checked and prepared.
    Taken(Socket, Option<String>),
    /// None: bind as usual. Any sockets passed to this process and left
    /// alone are described here, to be said if the port is in use.
    NotTaken(Option<String>),
}

#[cfg(unix)]
impl From<crate::handoff::Handoff> for Handoff {
    fn from(found: crate::handoff::Handoff) -> Handoff {
        match found {
            crate::handoff::Handoff::Taken(socket, name) => Handoff::Taken(socket, name),
            crate::handoff::Handoff::NotTaken(note) => Handoff::NotTaken(note),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use crate::error::Failure;

    /// A port that stays in use, retried for a minute.
    struct AlwaysInUse;

    impl Plan for AlwaysInUse {
        fn retry(&self) -> Option<Duration> {
            Some(Duration::from_secs(60))
        }

        fn inherited(&self, _kind: SocketKind) -> io::Result<Handoff> {
            Ok(Handoff::NotTaken(None))
        }

        fn inherit(&self) -> Option<Inherit<'_>> {
            None
        }

        fn bind(&self, kind: SocketKind) -> io::Result<Socket> {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 8080));
            let error = io::Error::from(io::ErrorKind::AddrInUse);
            Err(Failure::wrap_bind(addr, kind, error))
        }
    }

    static NO_THREAD: Helper =
        Helper::new(|_| Err(io::Error::new(io::ErrorKind::WouldBlock, "no thread")));

    fn waker() -> Waker {
        struct Nothing;
        impl Wake for Nothing {
            fn wake(self: Arc<Self>) {}
        }
        Arc::new(Nothing).into()
    }

    #[test]
    fn the_future_is_send_whatever_it_returns() {
        fn assert_send<F: Send>(_: &F) {}
        let future: Listening<&AlwaysInUse, Rc<()>> = Listening::new(
            &AlwaysInUse,
            SocketKind::Stream,
            || Ok(()),
            |_| Ok(Rc::new(())),
        );
        assert_send(&future);
    }

    #[test]
    fn without_a_thread_the_first_poll_ends_the_retry_and_says_why() {
        let mut future: Listening<AlwaysInUse, Socket> = Listening {
            helper: &NO_THREAD,
            ..Listening::new(AlwaysInUse, SocketKind::Stream, || Ok(()), Ok)
        };
        let waker = waker();
        let polled = Pin::new(&mut future).poll(&mut Context::from_waker(&waker));
        let Poll::Ready(Err(error)) = polled else {
            panic!("the first poll did not end the retry")
        };
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
        let message = error.to_string();
        assert!(message.contains("(1 attempts); the retry stopped early because no thread could be started for its pauses: no thread"), "{message}");
    }
}
