//! The errors a listener can fail with: an `io::Error` that keeps the kind
//! of its cause, names the address, and keeps the OS error as its source.

use std::error::Error;
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::net::SocketAddr;
#[cfg(unix)]
use std::path::PathBuf;
use std::time::Duration;

use crate::SocketKind;

/// The OS error code behind an error from this crate (or any `io::Error`):
/// errno on unix, the WSA error on Windows, e.g. 98 (EADDRINUSE on Linux)
/// or 10048 (WSAEADDRINUSE).
///
/// The errors of this crate carry a message that names the address, so
/// their own [`io::Error::raw_os_error`] is `None`; the OS error they wrap
/// is their [`source`](std::error::Error::source), and this function finds
/// it.
///
/// ```no_run
/// # use restartable::restartable_listener;
/// #[restartable_listener(host = "127.0.0.1", port = 8080)]
/// fn listener() -> std::io::Result<std::net::TcpListener> {}
///
/// if let Err(error) = listener() {
///     eprintln!("{error}"); // cannot bind 127.0.0.1:8080: address in use: …
///     if restartable::os_error(&error) == Some(98) {
///         // EADDRINUSE on Linux
///     }
/// }
/// ```
#[must_use]
pub fn os_error(error: &io::Error) -> Option<i32> {
    if let Some(code) = error.raw_os_error() {
        return Some(code);
    }
    let mut cause: Option<&(dyn Error + 'static)> = match error.get_ref() {
        Some(inner) => Some(inner),
        None => None,
    };
    while let Some(error) = cause {
        if let Some(code) = error
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
        {
            return Some(code);
        }
        cause = error.source();
    }
    None
}

/// An environment variable whose value cannot be used: `InvalidInput`,
/// naming the variable and its value.
pub(crate) fn bad_variable(name: &str, value: &OsStr, problem: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "environment variable {name}={:?} {problem}",
            value.to_string_lossy()
        ),
    )
}

/// Where a listener binds, as its errors name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    /// An IP address and port.
    Ip(SocketAddr),
    /// A Unix-domain socket's path.
    #[cfg(unix)]
    Path(PathBuf),
    /// A name in Linux's abstract namespace, without the leading NUL.
    #[cfg(unix)]
    Abstract(Vec<u8>),
}

impl From<SocketAddr> for Place {
    fn from(addr: SocketAddr) -> Place {
        Place::Ip(addr)
    }
}

/// `127.0.0.1:8080`, `/run/app.sock`, `@app` (an abstract name, its bytes
/// escaped where they are not printable ASCII).
impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Ip(addr) => write!(f, "{addr}"),
            #[cfg(unix)]
            Place::Path(path) => write!(f, "{}", path.display()),
            #[cfg(unix)]
            Place::Abstract(name) => {
                f.write_str("@")?;
                for byte in name {
                    write!(f, "{}", std::ascii::escape_default(*byte))?;
                }
                Ok(())
            }
        }
    }
}

/// What went wrong, on which address; the `io::Error` around it keeps the
/// original kind, and the original error is its source.
pub(crate) struct Failure {
    action: &'static str,
    place: Place,
    error: io::Error,
    /// For a failed bind: the kind of socket, so that the holder of the
    /// port can be looked up once the last attempt has failed.
    bound_kind: Option<SocketKind>,
    /// Who holds the port (Linux), found once, when the final error is made.
    holder: Option<String>,
    /// A socket passed to this process and not taken (`inherit`).
    handoff: Option<String>,
    /// After `retry`: how long it tried and how many attempts it made.
    tried: Option<(Duration, u32)>,
}

impl Failure {
    /// The error of `action` on `addr`, e.g. `"set IPV6_V6ONLY on"`.
    pub(crate) fn wrap(
        action: &'static str,
        place: impl Into<Place>,
        error: io::Error,
    ) -> io::Error {
        Failure::into_io_error(action, place.into(), error, None)
    }

    /// The error of a bind: when it is "address in use", [`finish`] adds
    /// who holds the port.
    pub(crate) fn wrap_bind(
        place: impl Into<Place>,
        kind: SocketKind,
        error: io::Error,
    ) -> io::Error {
        Failure::into_io_error("bind", place.into(), error, Some(kind))
    }

    fn into_io_error(
        action: &'static str,
        place: Place,
        error: io::Error,
        bound_kind: Option<SocketKind>,
    ) -> io::Error {
        io::Error::new(
            error.kind(),
            Failure {
                action,
                place,
                error,
                bound_kind,
                holder: None,
                handoff: None,
                tried: None,
            },
        )
    }
}

/// The error a listener finally returns: for "address in use", who holds
/// the port (looked up here, once: formatting the error does no work), the
/// passed socket that was not taken, and how long `retry` tried.
pub(crate) fn finish(
    mut error: io::Error,
    tried: Option<(Duration, u32)>,
    handoff: Option<String>,
) -> io::Error {
    if error.kind() != io::ErrorKind::AddrInUse {
        return error;
    }
    if let Some(failure) = error
        .get_mut()
        .and_then(|inner| inner.downcast_mut::<Failure>())
    {
        if let Some(kind) = failure.bound_kind {
            failure.holder = holder(&failure.place, kind);
        }
        failure.tried = tried;
        failure.handoff = handoff;
    }
    error
}

/// Who holds the port or path, on Linux and Android, from `/proc`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn holder(place: &Place, kind: SocketKind) -> Option<String> {
    crate::holder::describe(place, kind)
}

/// Elsewhere nothing is said rather than something unsure.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn holder(_place: &Place, _kind: SocketKind) -> Option<String> {
    None
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot {} {}: ", self.action, self.place)?;
        let what = match self.place {
            Place::Ip(_) => "this port",
            #[cfg(unix)]
            Place::Path(_) => "this path",
            #[cfg(unix)]
            Place::Abstract(_) => "this name",
        };
        match (self.error.kind(), self.error.raw_os_error()) {
            (io::ErrorKind::AddrInUse, Some(code)) => write!(
                f,
                "address in use: another socket holds {what} (os error {code})"
            )?,
            // The runtime's own account of why the address is in use (a lock
            // that another process holds), not an OS error.
            (io::ErrorKind::AddrInUse, None) if self.error.get_ref().is_some() => {
                write!(f, "address in use: {}", self.error)?;
            }
            (io::ErrorKind::AddrInUse, None) => {
                write!(f, "address in use: another socket holds {what}")?;
            }
            _ => write!(f, "{}", self.error)?,
        }
        for part in [&self.holder, &self.handoff].into_iter().flatten() {
            write!(f, "; {part}")?;
        }
        match self.tried {
            Some((duration, attempts)) => write!(
                f,
                "; still in use after retrying for {:.1} s ({attempts} attempts)",
                duration.as_secs_f64()
            ),
            None => Ok(()),
        }
    }
}

/// The message, quoted: what `fn main() -> io::Result<()>` prints inside
/// `Custom { kind: .., error: .. }` reads as the error does, holder included.
impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string(), f)
    }
}

/// The message above already quotes the OS error, so that printing the
/// `io::Error` alone says everything; the source is there for programs that
/// want the code ([`os_error`]) or the original error.
impl Error for Failure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.error)
    }
}
