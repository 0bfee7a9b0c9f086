//! The `tokio` feature: an annotated function (plain or `async`) may return
//! `tokio::net::TcpListener` or `tokio::net::UdpSocket`, and on unix
//! `tokio::net::UnixListener` or `tokio::net::UnixDatagram`.

use std::io;

use crate::convert::{Bindable, SocketKind};

/// tokio registers the socket with the reactor of the current runtime and
/// panics when there is none: this says so as an error instead, before any
/// socket is made.
fn in_runtime(type_name: &str) -> io::Result<()> {
    match ::tokio::runtime::Handle::try_current() {
        Ok(_) => Ok(()),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::Other,
            format!(
                "a {type_name} can only be made inside a tokio runtime: call this function \
                 from async code that tokio runs (e.g. under #[tokio::main]), or return the \
                 std type and convert it inside the runtime"
            ),
        )),
    }
}

/// A listening TCP socket registered with the current tokio runtime; it is
/// made nonblocking before the conversion, as tokio requires.
impl Bindable for ::tokio::net::TcpListener {
    const KIND: SocketKind = SocketKind::Stream;

    fn check_context() -> io::Result<()> {
        in_runtime("tokio::net::TcpListener")
    }

    fn from_socket(socket: socket2::Socket) -> io::Result<Self> {
        Self::check_context()?;
        socket.set_nonblocking(true)?;
        ::tokio::net::TcpListener::from_std(socket.into())
    }
}

/// A bound UDP socket registered with the current tokio runtime; it is made
/// nonblocking before the conversion, as tokio requires.
impl Bindable for ::tokio::net::UdpSocket {
    const KIND: SocketKind = SocketKind::Datagram;

    fn check_context() -> io::Result<()> {
        in_runtime("tokio::net::UdpSocket")
    }

    fn from_socket(socket: socket2::Socket) -> io::Result<Self> {
        Self::check_context()?;
        socket.set_nonblocking(true)?;
        ::tokio::net::UdpSocket::from_std(socket.into())
    }
}

/// A listening Unix-domain stream socket registered with the current tokio
/// runtime; made nonblocking before the conversion.
#[cfg(unix)]
impl crate::convert::BindableUnix for ::tokio::net::UnixListener {
    const KIND: SocketKind = SocketKind::Stream;

    fn check_context() -> io::Result<()> {
        in_runtime("tokio::net::UnixListener")
    }

    fn from_socket(socket: socket2::Socket) -> io::Result<Self> {
        Self::check_context()?;
        socket.set_nonblocking(true)?;
        ::tokio::net::UnixListener::from_std(socket.into())
    }
}

/// A bound Unix-domain datagram socket registered with the current tokio
/// runtime; made nonblocking before the conversion.
#[cfg(unix)]
impl crate::convert::BindableUnix for ::tokio::net::UnixDatagram {
    const KIND: SocketKind = SocketKind::Datagram;

    fn check_context() -> io::Result<()> {
        in_runtime("tokio::net::UnixDatagram")
    }

    fn from_socket(socket: socket2::Socket) -> io::Result<Self> {
        Self::check_context()?;
        socket.set_nonblocking(true)?;
        ::tokio::net::UnixDatagram::from_std(socket.into())
    }
}
