//! The `tokio` feature: tokio listeners and UDP sockets from plain and
//! `async` functions, made nonblocking, and an error (not a panic) outside a
//! runtime.

use std::future::Future;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, TcpListener as StdListener};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake};
use std::time::{Duration, Instant};

use restartable::restartable_listener;
use restartable::socket2::SockRef;
use restartable_tests::options;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

#[restartable_listener(host = "127.0.0.1", port = 0)]
async fn async_listener() -> std::io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = 0)]
fn plain_listener() -> std::io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = 0)]
async fn udp_socket() -> std::io::Result<UdpSocket> {}

#[restartable_listener(host = "127.0.0.1", port = port, retry = "3s")]
async fn async_retrying(port: u16) -> std::io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = port, retry = "1s")]
fn blocking_retrying(port: u16) -> std::io::Result<TcpListener> {}

#[tokio::test]
async fn an_async_listener_accepts_a_connection() {
    let listener = async_listener().await.unwrap();
    // The policy: SO_REUSEADDR on unix, never on Windows (which gets
    // SO_EXCLUSIVEADDRUSE, read back in windows_policy.rs).
    assert_eq!(options(&listener).unwrap().reuse_address, cfg!(unix));
    let addr = listener.local_addr().unwrap();
    let client = tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"ping").await.unwrap();
        let mut reply = [0; 4];
        stream.read_exact(&mut reply).await.unwrap();
        reply
    });
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut request = [0; 4];
    stream.read_exact(&mut request).await.unwrap();
    assert_eq!(&request, b"ping");
    stream.write_all(b"pong").await.unwrap();
    assert_eq!(&client.await.unwrap(), b"pong");
}

/// The socket's nonblocking mode, read back; `None` on Windows, which has no
/// call that reads it (FIONBIO only sets it): there the tokio calls that
/// follow are what shows the mode works.
#[cfg_attr(unix, allow(clippy::unnecessary_wraps))]
fn nonblocking<'s, S>(socket: &'s S) -> Option<bool>
where
    SockRef<'s>: From<&'s S>,
{
    #[cfg(unix)]
    return Some(SockRef::from(socket).nonblocking().unwrap());
    #[cfg(windows)]
    {
        let _ = SockRef::from(socket);
        None
    }
}

#[tokio::test]
async fn a_plain_fn_gives_a_nonblocking_tokio_listener() {
    let listener = plain_listener().unwrap();
    assert_ne!(nonblocking(&listener), Some(false));
    let addr = listener.local_addr().unwrap();
    let (accepted, connected) = tokio::join!(listener.accept(), TcpStream::connect(addr));
    assert_eq!(
        accepted.unwrap().0.peer_addr().unwrap(),
        connected.unwrap().local_addr().unwrap()
    );

    // Control: what the check above catches. Given a blocking std listener,
    // tokio either keeps it blocking (and its accept then blocks the runtime
    // thread) or, in debug builds of recent versions, panics.
    let blocking = StdListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let converted = std::panic::catch_unwind(|| {
        TcpListener::from_std(blocking).map(|listener| nonblocking(&listener))
    });
    match converted {
        Err(_panic) => println!("tokio refused the blocking listener with a panic"),
        Ok(mode) => assert_ne!(mode.unwrap(), Some(true)),
    }
}

#[tokio::test]
async fn udp_sockets_send_and_receive() {
    let ours = udp_socket().await.unwrap();
    assert_ne!(nonblocking(&ours), Some(false));
    assert!(!options(&ours).unwrap().reuse_address);
    let peer = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let ours_addr = ours.local_addr().unwrap();
    peer.send_to(b"question", ours_addr).await.unwrap();
    let mut buffer = [0; 16];
    let (len, from) = ours.recv_from(&mut buffer).await.unwrap();
    assert_eq!(&buffer[..len], b"question");
    assert_eq!(from, peer.local_addr().unwrap());
    ours.send_to(b"answer", from).await.unwrap();
    let (len, from) = peer.recv_from(&mut buffer).await.unwrap();
    assert_eq!(&buffer[..len], b"answer");
    assert_eq!(from, ours_addr);
}

#[test]
fn outside_a_runtime_it_is_an_error_not_a_panic() {
    let error = plain_listener().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Other);
    assert!(
        error
            .to_string()
            .starts_with("a tokio::net::TcpListener can only be made inside a tokio runtime"),
        "{error}"
    );
    // The async fn polled by an executor that is not tokio: the same error.
    let error = block_on(udp_socket()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("tokio::net::UdpSocket can only be made inside a tokio runtime"),
        "{error}"
    );
    // Control: tokio's own conversion panics there.
    let std_listener = StdListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let panicked = std::panic::catch_unwind(|| TcpListener::from_std(std_listener)).is_err();
    assert!(panicked);
}

/// A single-threaded runtime: a task that releases the port can only run
/// while the retrying `async fn` is paused, so the bind succeeds only if
/// the pauses do not block the thread.
#[tokio::test(flavor = "current_thread")]
async fn the_pauses_of_an_async_retry_let_other_tasks_run() {
    let holder = StdListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = holder.local_addr().unwrap().port();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(holder);
    });
    let started = Instant::now();
    let listener = async_retrying(port).await.unwrap();
    assert_eq!(listener.local_addr().unwrap().port(), port);
    release.await.unwrap();
    println!("async retry bound after {:?}", started.elapsed());

    // Control: the blocking version on the same thread keeps the releasing
    // task from running, and gives up.
    let holder = StdListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = holder.local_addr().unwrap().port();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(holder);
    });
    let error = blocking_retrying(port).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::AddrInUse, "{error}");
    release.await.unwrap();
}

/// The smallest executor: polls on this thread, parks between wakes.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}
