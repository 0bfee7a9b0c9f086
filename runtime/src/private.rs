//! What the attribute's expansion calls. Not a public API: it may change
//! in any release.

pub use crate::listener::ip::{listen, listen_async};
#[cfg(unix)]
pub use crate::listener::unix::{listen_unix, listen_unix_async};
#[cfg(unix)]
pub use crate::spec::UnixSpec;
pub use crate::spec::{Configure, Fallback, Inherit, Spec};
pub use core::time::Duration;
pub use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

/// `host = expr`: an `IpAddr`, `Ipv4Addr`, `Ipv6Addr` or octets.
#[inline]
pub fn ip_addr(ip: impl Into<IpAddr>) -> IpAddr {
    ip.into()
}

/// `addr = expr`: a `SocketAddr` or anything that converts to one.
#[inline]
pub fn socket_addr(addr: impl Into<SocketAddr>) -> SocketAddr {
    addr.into()
}

/// An error type that the listener's `std::io::Error` converts into:
/// the annotated function may return `Result<T, E>` for any such `E`.
#[cfg_attr(
    restartable_diagnostic_namespace,
    diagnostic::on_unimplemented(
        message = "`{Self}` cannot hold the listener's `std::io::Error`",
        label = "no `From<std::io::Error>` for this error type",
        note = "the function returns std::io::Result<T>, or Result<T, E> for an E \
                that implements From<std::io::Error>: anyhow::Error, \
                Box<dyn std::error::Error + Send + Sync>, or an enum of your own \
                with that impl"
    )
)]
pub trait ErrorType: From<std::io::Error> {}

impl<E: From<std::io::Error>> ErrorType for E {}

/// The listener's result as the function's own result type.
#[inline]
pub fn into_result<T, E: ErrorType>(result: std::io::Result<T>) -> Result<T, E> {
    result.map_err(E::from)
}

/// A `path = expr` value as the address it names.
#[cfg(unix)]
#[inline]
pub fn unix_path<P: AsRef<std::path::Path> + ?Sized>(path: &P) -> crate::ListenAddr {
    crate::ListenAddr::Path(path.as_ref().to_owned())
}

/// An `abstract_name = expr` value as the address it names.
#[cfg(unix)]
#[inline]
pub fn abstract_name<N: AsRef<[u8]> + ?Sized>(name: &N) -> crate::ListenAddr {
    crate::ListenAddr::Abstract(name.as_ref().to_owned())
}

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
