//! What an annotated function can return: the `Bindable` trait, and the
//! kind of socket each type is made from.

#[cfg(feature = "async-io")]
mod async_io;
#[cfg(feature = "tokio")]
mod tokio;
#[cfg(unix)]
mod unix;

#[cfg(unix)]
pub use self::unix::BindableUnix;

use std::io;
use std::net::{TcpListener, UdpSocket};

/// Whether a socket listens for connections or exchanges datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocketKind {
    /// A TCP socket that is put in the listening state after bind.
    Stream,
    /// A UDP socket, bound and ready to send and receive.
    Datagram,
}

impl SocketKind {
    pub(crate) fn socket_type(self) -> socket2::Type {
        match self {
            SocketKind::Stream => socket2::Type::STREAM,
            SocketKind::Datagram => socket2::Type::DGRAM,
        }
    }
}

/// A socket type that [`restartable_listener`](crate::restartable_listener) and [`Builder::bind`](crate::Builder::bind) can
/// produce: the return type of an annotated function decides which.
///
/// Implemented for [`std::net::TcpListener`], [`std::net::UdpSocket`] and
/// [`socket2::Socket`] (as a TCP listener), with the `tokio` feature for
/// `tokio::net::TcpListener` and `tokio::net::UdpSocket`, and with the
/// `async-io` feature for `async_io::Async<TcpListener>` and
/// `Async<UdpSocket>`. Implement it for a type of your
/// own to have the attribute return that type directly.
// One note per enabled feature: the error lists what this build allows.
#[cfg_attr(
    restartable_diagnostic_namespace,
    diagnostic::on_unimplemented(
        message = "`{Self}` is not a socket type that restartable can create",
        label = "unsupported return type",
        note = "supported: std::net::TcpListener, std::net::UdpSocket, \
                restartable::socket2::Socket (a TCP listener), \
                or a type that implements `restartable::Bindable`"
    )
)]
#[cfg_attr(
    all(restartable_diagnostic_namespace, feature = "tokio"),
    diagnostic::on_unimplemented(
        note = "with the `tokio` feature: tokio::net::TcpListener, tokio::net::UdpSocket"
    )
)]
#[cfg_attr(
    all(restartable_diagnostic_namespace, feature = "async-io"),
    diagnostic::on_unimplemented(
        note = "with the `async-io` feature: async_io::Async<std::net::TcpListener>, \
                async_io::Async<std::net::UdpSocket>"
    )
)]
#[cfg_attr(
    restartable_diagnostic_namespace,
    diagnostic::on_unimplemented(
        note = "a Unix-domain socket type takes `path` or `abstract_name` instead of a port"
    )
)]
pub trait Bindable: Sized {
    /// What kind of socket to create.
    const KIND: SocketKind;

    /// Checks, before any socket is made or taken, that `Self` can be made
    /// here: the tokio types need a tokio runtime. The default accepts.
    ///
    /// # Errors
    ///
    /// When `Self` cannot be made in this context; nothing has been bound
    /// or taken yet.
    fn check_context() -> io::Result<()> {
        Ok(())
    }

    /// Converts the bound (and, for [`SocketKind::Stream`], listening)
    /// socket.
    ///
    /// # Errors
    ///
    /// When the conversion itself fails; the std types never do.
    fn from_socket(socket: socket2::Socket) -> io::Result<Self>;
}

impl Bindable for TcpListener {
    const KIND: SocketKind = SocketKind::Stream;

    fn from_socket(socket: socket2::Socket) -> io::Result<Self> {
        Ok(socket.into())
    }
}

impl Bindable for UdpSocket {
    const KIND: SocketKind = SocketKind::Datagram;

    fn from_socket(socket: socket2::Socket) -> io::Result<Self> {
        Ok(socket.into())
    }
}

impl Bindable for socket2::Socket {
    const KIND: SocketKind = SocketKind::Stream;

    fn from_socket(socket: socket2::Socket) -> io::Result<Self> {
        Ok(socket)
    }
}
