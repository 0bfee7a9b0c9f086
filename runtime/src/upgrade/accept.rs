//! A tokio listener that stops accepting once the process is replaced, for
//! a server's own accept loop (hyper) and for a framework's (axum's
//! `serve::Listener` in a few lines, as `frameworks/lib.rs` shows).

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Replaced, Running};

/// A tokio listener [`UntilReplaced`] can wrap: `tokio::net::TcpListener`,
/// and `tokio::net::UnixListener` on Unix.
pub trait Accept: private::Sealed {
    /// The connection.
    type Stream;
    /// The peer's address.
    type Addr;

    /// The listener's own `poll_accept`.
    ///
    /// # Errors
    ///
    /// Those of `accept(2)`, as tokio returns them.
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, Self::Addr)>>;
}

impl Accept for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;
    type Addr = std::net::SocketAddr;

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, Self::Addr)>> {
        tokio::net::TcpListener::poll_accept(self, cx)
    }
}

#[cfg(unix)]
impl Accept for tokio::net::UnixListener {
    type Stream = tokio::net::UnixStream;
    type Addr = tokio::net::unix::SocketAddr;

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, Self::Addr)>> {
        tokio::net::UnixListener::poll_accept(self, cx)
    }
}

/// What one accept gives: the connection and its peer's address.
pub type Accepted<L> = io::Result<(<L as Accept>::Stream, <L as Accept>::Addr)>;

mod private {
    pub trait Sealed {}
    impl Sealed for tokio::net::TcpListener {}
    #[cfg(unix)]
    impl Sealed for tokio::net::UnixListener {}
}

/// A listener that accepts until a new process took over, then drops the
/// listener and accepts no more: made by [`Running::accept_until_replaced`].
///
/// The connections still in the kernel's accept queue then are the new
/// process's: it holds the same socket. A connection accepted here just
/// before is this process's to answer (with `Connection: close`, since it
/// was replaced).
#[derive(Debug)]
pub struct UntilReplaced<L> {
    /// `None` once replaced.
    listener: Option<L>,
    replaced: Replaced,
}

impl Running {
    /// `listener`, accepting until this process is replaced.
    ///
    /// ```no_run
    /// # async fn serve(running: restartable::upgrade::Running, listener: tokio::net::TcpListener) {
    /// let mut listener = running.accept_until_replaced(listener);
    /// while let Some(accepted) = listener.accept().await {
    ///     let Ok((stream, _)) = accepted else { continue };
    ///     // serve `stream`, closing it (`Connection: close`) once replaced
    /// #   drop(stream);
    /// }
    /// // replaced: the new process accepts from here on; drain.
    /// # }
    /// ```
    pub fn accept_until_replaced<L: Accept>(&self, listener: L) -> UntilReplaced<L> {
        UntilReplaced {
            listener: Some(listener),
            replaced: self.replaced(),
        }
    }
}

impl<L: Accept> UntilReplaced<L> {
    /// The next connection; `None` once the process is replaced (and from
    /// then on). An error is the listener's and leaves it usable, as
    /// tokio's `accept` does: a loop usually logs it and goes on (`EMFILE`
    /// may want a pause first).
    pub async fn accept(&mut self) -> Option<Accepted<L>> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// [`accept`](Self::accept) as a poll, for a `Stream` or a framework's
    /// listener trait.
    pub fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Option<Accepted<L>>> {
        let Some(listener) = &self.listener else {
            return Poll::Ready(None);
        };
        // Replaced first: once it is, not one more connection is taken
        // from the queue the new process serves.
        if Pin::new(&mut self.replaced).poll(cx).is_ready() {
            self.listener = None;
            return Poll::Ready(None);
        }
        listener.poll_accept(cx).map(Some)
    }

    /// The listener, until the process is replaced.
    #[must_use]
    pub fn get_ref(&self) -> Option<&L> {
        self.listener.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::time::Duration;

    use super::Running;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap()
    }

    #[test]
    fn accepts_until_replaced_then_ends_and_lets_the_listener_go() {
        runtime().block_on(async {
            let running = Running::for_test();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let mut listener = running.accept_until_replaced(listener);
            let _client = std::net::TcpStream::connect(addr).unwrap();
            assert!(matches!(listener.accept().await, Some(Ok(_))));
            assert!(running.drain_deadline().is_none());

            // Waiting in accept when the takeover comes: woken, and ended.
            let waiting = tokio::spawn(async move {
                let accepted = listener.accept().await;
                (accepted.is_none(), listener.get_ref().is_none())
            });
            tokio::task::yield_now().await;
            running.replace_for_test();
            assert_eq!(waiting.await.unwrap(), (true, true));
            assert!(running.is_replaced());
            assert!(running.drain_deadline().is_some());
        });
    }

    #[test]
    fn a_connection_queued_when_replaced_is_not_taken() {
        runtime().block_on(async {
            let running = Running::for_test();
            let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = std_listener.local_addr().unwrap();
            // The new process's copy of the socket, which goes on serving.
            let other = std_listener.try_clone().unwrap();
            std_listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            let mut listener = running.accept_until_replaced(listener);
            running.replace_for_test();
            let mut client = std::net::TcpStream::connect(addr).unwrap();
            assert!(listener.accept().await.is_none());
            // Still in the queue, for the other copy.
            other.set_nonblocking(false).unwrap();
            let (mut served, _) = other.accept().unwrap();
            served.write_all(b"x").unwrap();
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut byte = [0; 1];
            client.read_exact(&mut byte).unwrap();
            assert_eq!(&byte, b"x");
        });
    }
}
