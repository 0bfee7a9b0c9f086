//! The Unix-domain socket types a listener can be made as.

use std::io;
use std::os::unix::net::{UnixDatagram, UnixListener};

use socket2::Socket;

use super::SocketKind;

/// A socket type that an annotated function with `path` or
/// `abstract_name`, and [`UnixBuilder::bind`](crate::UnixBuilder::bind), can
/// produce: the Unix-domain counterpart of [`Bindable`](crate::Bindable).
///
/// Implemented for [`std::os::unix::net::UnixListener`],
/// [`std::os::unix::net::UnixDatagram`] and [`socket2::Socket`] (as a
/// listening stream socket), with the `tokio` feature for
/// `tokio::net::UnixListener` and `tokio::net::UnixDatagram`, and with the
/// `async-io` feature for `async_io::Async<UnixListener>` and
/// `Async<UnixDatagram>`.
#[cfg_attr(
    restartable_diagnostic_namespace,
    diagnostic::on_unimplemented(
        message = "`{Self}` is not a Unix-domain socket type that restartable can create",
        label = "not a Unix-domain socket type",
        note = "with `path` or `abstract_name` the function returns \
                std::os::unix::net::UnixListener, std::os::unix::net::UnixDatagram, \
                restartable::socket2::Socket (a listening stream socket), \
                or a type that implements `restartable::BindableUnix`"
    )
)]
#[cfg_attr(
    all(restartable_diagnostic_namespace, feature = "tokio"),
    diagnostic::on_unimplemented(
        note = "with the `tokio` feature: tokio::net::UnixListener, tokio::net::UnixDatagram"
    )
)]
#[cfg_attr(
    all(restartable_diagnostic_namespace, feature = "async-io"),
    diagnostic::on_unimplemented(
        note = "with the `async-io` feature: async_io::Async<UnixListener>, \
                async_io::Async<UnixDatagram>"
    )
)]
#[cfg_attr(
    restartable_diagnostic_namespace,
    diagnostic::on_unimplemented(
        note = "a TCP or UDP socket takes `port`, `host` or `addr` instead"
    )
)]
pub trait BindableUnix: Sized {
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
    fn from_socket(socket: Socket) -> io::Result<Self>;
}

impl BindableUnix for UnixListener {
    const KIND: SocketKind = SocketKind::Stream;

    fn from_socket(socket: Socket) -> io::Result<Self> {
        Ok(socket.into())
    }
}

impl BindableUnix for UnixDatagram {
    const KIND: SocketKind = SocketKind::Datagram;

    fn from_socket(socket: Socket) -> io::Result<Self> {
        Ok(socket.into())
    }
}

impl BindableUnix for Socket {
    const KIND: SocketKind = SocketKind::Stream;

    fn from_socket(socket: Socket) -> io::Result<Self> {
        Ok(socket)
    }
}
