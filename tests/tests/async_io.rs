//! The `async-io` feature: `async_io::Async<T>` return types (the reactor
//! smol and async-std run on), from plain and `async` functions, nonblocking
//! and usable with no other runtime running.
#![cfg(target_os = "linux")]

use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::{UnixListener, UnixStream};

use async_io::{block_on, Async};
use restartable::restartable_listener;
use restartable::socket2::SockRef;

#[restartable_listener(host = "127.0.0.1", port = 0)]
fn listener() -> io::Result<Async<TcpListener>> {}

#[restartable_listener(host = "127.0.0.1", port = port, retry = "1s")]
async fn datagrams(port: u16) -> io::Result<Async<UdpSocket>> {}

#[restartable_listener(path = path)]
async fn unix(path: &std::path::Path) -> io::Result<Async<UnixListener>> {}

#[test]
fn an_async_tcp_listener_is_nonblocking_and_accepts_on_the_reactor() {
    let listener = listener().unwrap();
    assert!(SockRef::from(listener.get_ref()).nonblocking().unwrap());
    let addr = listener.get_ref().local_addr().unwrap();
    // A blocking connect completes once the kernel queues it; the async
    // accept then takes it through the reactor.
    let _client = TcpStream::connect(addr).unwrap();
    block_on(listener.accept()).unwrap();
    // The std policy underneath: SO_REUSEADDR, as for a std listener.
    assert!(SockRef::from(listener.get_ref()).reuse_address().unwrap());
}

#[test]
fn an_async_udp_socket_from_an_async_fn_receives() {
    block_on(async {
        let socket = datagrams(0).await.unwrap();
        let port = socket.get_ref().local_addr().unwrap().port();
        let sender = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sender
            .send_to(b"ping", (Ipv4Addr::LOCALHOST, port))
            .unwrap();
        let mut buffer = [0; 8];
        let (got, _) = socket.recv_from(&mut buffer).await.unwrap();
        assert_eq!(&buffer[..got], b"ping");
    });
}

#[test]
fn an_async_unix_listener_replaces_a_stale_file() {
    let dir = std::env::temp_dir().join(format!("restartable-async-io-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.sock");
    drop(UnixListener::bind(&path).unwrap());
    block_on(async {
        let listener = unix(&path).await.unwrap();
        let _client = UnixStream::connect(&path).unwrap();
        listener.accept().await.unwrap();
    });
    std::fs::remove_dir_all(dir).unwrap();
}
