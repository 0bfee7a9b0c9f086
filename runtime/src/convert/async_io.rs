//! The `async-io` feature: an annotated function (plain or `async`) may
//! return `async_io::Async<T>` around the std socket types, registered with
//! async-io's reactor (the one smol and async-std run on).

use std::io;
use std::net::{TcpListener, UdpSocket};

use ::async_io::Async;

use crate::convert::{Bindable, SocketKind};

/// `Async::new` makes the socket nonblocking and registers it with the
/// reactor, which async-io starts on first use; when that fails (no thread
/// for the reactor, no epoll/kqueue/IOCP descriptor left), the error says
/// so, with its kind kept.
fn register<T: AsyncSource>(socket: T, type_name: &str) -> io::Result<Async<T>> {
    Async::new(socket).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot register the {type_name} with async-io's reactor: {error}"),
        )
    })
}

#[cfg(unix)]
trait AsyncSource: std::os::unix::io::AsFd {}
#[cfg(unix)]
impl<T: std::os::unix::io::AsFd> AsyncSource for T {}
#[cfg(windows)]
trait AsyncSource: std::os::windows::io::AsSocket {}
#[cfg(windows)]
impl<T: std::os::windows::io::AsSocket> AsyncSource for T {}

/// A listening TCP socket registered with async-io's reactor.
impl Bindable for Async<TcpListener> {
    const KIND: SocketKind = SocketKind::Stream;

    fn from_socket(socket: socket2::Socket) -> io::Result<Self> {
        register(TcpListener::from(socket), "async_io::Async<TcpListener>")
    }
}

/// A bound UDP socket registered with async-io's reactor.
impl Bindable for Async<UdpSocket> {
    const KIND: SocketKind = SocketKind::Datagram;

    fn from_socket(socket: socket2::Socket) -> io::Result<Self> {
        register(UdpSocket::from(socket), "async_io::Async<UdpSocket>")
    }
}

/// A listening Unix-domain stream socket registered with async-io's reactor.
#[cfg(unix)]
impl crate::convert::BindableUnix for Async<std::os::unix::net::UnixListener> {
    const KIND: SocketKind = SocketKind::Stream;

    fn from_socket(socket: socket2::Socket) -> io::Result<Self> {
        register(
            std::os::unix::net::UnixListener::from(socket),
            "async_io::Async<UnixListener>",
        )
    }
}

/// A bound Unix-domain datagram socket registered with async-io's reactor.
#[cfg(unix)]
impl crate::convert::BindableUnix for Async<std::os::unix::net::UnixDatagram> {
    const KIND: SocketKind = SocketKind::Datagram;

    fn from_socket(socket: socket2::Socket) -> io::Result<Self> {
        register(
            std::os::unix::net::UnixDatagram::from(socket),
            "async_io::Async<UnixDatagram>",
        )
    }
}
