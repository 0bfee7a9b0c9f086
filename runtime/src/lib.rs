//! A listening socket that a crashed service binds again at once, with the
//! right socket options for every OS, chosen at compile time.
//!
//! A service restarted after a crash must bind its port at once. On POSIX
//! systems the dead process's connections linger in TIME_WAIT and `bind`
//! fails with "Address already in use" for up to a minute unless
//! SO_REUSEADDR is set. On Windows rebinding already works, and SO_REUSEADDR
//! would instead let another process bind the same port and take its
//! traffic; there the right option is SO_EXCLUSIVEADDRUSE. Put
//! [`restartable_listener`] on the function that makes your listener and
//! each target gets its own policy:
//!
//! | target | TCP listener | UDP socket |
//! | --- | --- | --- |
//! | Linux, Android, macOS, iOS, the BSDs, illumos (`unix`) | SO_REUSEADDR | no reuse option |
//! | Windows | SO_EXCLUSIVEADDRUSE, never SO_REUSEADDR | SO_EXCLUSIVEADDRUSE |
//! | IPv6 address, every target | IPV6_V6ONLY set explicitly (dual stack unless `only_v6 = true`) | same |
//! | any other target | a compile error | a compile error |
//!
//! # Quick start
//!
//! ```no_run
//! use restartable::restartable_listener;
//!
//! #[restartable_listener(port = 8080)]
//! fn listener() -> std::io::Result<std::net::TcpListener> {}
//!
//! fn main() -> std::io::Result<()> {
//!     let listener = listener()?;
//!     for stream in listener.incoming() {
//!         let _stream = stream?;
//!         // serve it
//!     }
//!     Ok(())
//! }
//! ```
//!
//! The attribute writes the body. Expanded, the function reads:
//!
//! ```
//! # fn main() {}
//! QUICK_START_EXPANSION
//! ```
//!
//! The `cfg` branches are the whole per-OS choice; the rest of the work
//! (create, set options, bind, listen) is one function shared with
//! [`Builder`], which makes the same listener from values known only at run
//! time.
//!
//! # Return types
//!
//! The function returns `std::io::Result<T>`, and `T` decides what is built,
//! through the [`Bindable`] trait: [`std::net::TcpListener`],
//! [`std::net::UdpSocket`], or [`socket2::Socket`] (a TCP listener; use
//! [`restartable::socket2`](crate::socket2) so that the versions match). For a
//! socket2 UDP socket, return `std::net::UdpSocket` and convert it with
//! `socket2::Socket::from`, which costs nothing.
//!
//! # Errors
//!
//! Every error keeps the [`std::io::ErrorKind`] of its cause and names the
//! address, for example `cannot bind 0.0.0.0:8080: address in use: another
//! socket holds this port (os error 98)`.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, rust_2018_idioms)]

#[cfg(not(any(unix, windows)))]
compile_error!(
    "restartable supports the `unix` target family (Linux, Android, macOS, iOS, the BSDs, illumos) \
     and the `windows` family; this target is in neither, so no socket policy is defined for it"
);

mod bind;
mod builder;

#[cfg_attr(unix, path = "sys/unix.rs")]
#[cfg_attr(windows, path = "sys/windows.rs")]
mod sys;

use std::io;
use std::net::{TcpListener, UdpSocket};

pub use crate::builder::Builder;

/// The socket2 this crate uses: name it in return types
/// (`restartable::socket2::Socket`) and in `configure` functions so that the
/// versions match.
pub use socket2;

#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
#[doc(inline)]
pub use restartable_macros::restartable_listener;

/// The backlog of a TCP listener when none is given.
pub const DEFAULT_BACKLOG: i32 = 1024;

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
const REUSE_PORT_UNSUPPORTED: &str =
    "reuse_port is supported on Linux, Android and FreeBSD only: elsewhere SO_REUSEPORT does not \
     balance load, and on Windows sharing a port takes SO_REUSEADDR, which lets any process take it";

/// Whether a socket listens for connections or exchanges datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketKind {
    /// A TCP socket that is put in the listening state after bind.
    Stream,
    /// A UDP socket, bound and ready to send and receive.
    Datagram,
}

impl SocketKind {
    fn socket_type(self) -> socket2::Type {
        match self {
            SocketKind::Stream => socket2::Type::STREAM,
            SocketKind::Datagram => socket2::Type::DGRAM,
        }
    }
}

/// A socket type that [`restartable_listener`] and [`Builder::bind`] can
/// produce: the return type of an annotated function decides which.
///
/// Implemented for [`std::net::TcpListener`], [`std::net::UdpSocket`] and
/// [`socket2::Socket`] (as a TCP listener). Implement it for a type of your
/// own to have the attribute return that type directly.
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
pub trait Bindable: Sized {
    /// What kind of socket to create.
    const KIND: SocketKind;

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

/// What the attribute's expansion calls. Not a public API: it may change in
/// any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::bind::{listen, Spec};
    pub use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

    /// The policies of the `#[cfg(unix)]` branch.
    #[cfg(unix)]
    pub mod unix {
        pub use crate::sys::Policy;
    }

    /// The policies of the `#[cfg(windows)]` branch.
    #[cfg(windows)]
    pub mod windows {
        pub use crate::sys::Policy;
    }
}
