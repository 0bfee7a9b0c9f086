//! A listener whose type follows the address it is given: TCP for an IP
//! address, Unix-domain for a path or an abstract name.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
#[cfg(unix)]
use std::os::unix::net::{UnixListener, UnixStream};

use crate::addr::ListenAddr;

/// A listening socket made from a [`ListenAddr`] by
/// [`ListenAddr::bind`]: a TCP listener for an IP address, on unix a
/// Unix-domain stream listener for a path or an abstract name. A service
/// that takes `--listen 127.0.0.1:8080` or `--listen /run/app.sock`
/// handles both with the same code.
///
/// ```no_run
/// use std::io::Write;
///
/// use restartable::ListenAddr;
///
/// fn main() {
///     let text = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
///     let listener = match text.parse::<ListenAddr>().and_then(|addr| addr.bind()) {
///         Ok(listener) => listener,
///         Err(error) => {
///             eprintln!("error: {error}");
///             std::process::exit(1);
///         }
///     };
///     while let Ok(mut stream) = listener.accept() {
///         let _ = stream.write_all(b"hello\n");
///     }
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Listener {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A Unix-domain stream listener.
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    Unix(UnixListener),
}

/// A connection accepted by a [`Listener`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Stream {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A Unix-domain stream connection.
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    Unix(UnixStream),
}

impl ListenAddr {
    /// A listener on this address, with the per-OS policy and every option
    /// at its default, as [`Builder::bind`](crate::Builder::bind) and (on
    /// unix) `UnixBuilder::bind` make it (a stale socket file is replaced,
    /// a live one never).
    ///
    /// # Errors
    ///
    /// As the builders': the error keeps its [`io::ErrorKind`] and names the
    /// address.
    pub fn bind(&self) -> io::Result<Listener> {
        match self {
            ListenAddr::Ip(addr) => crate::builder::Builder::new(*addr)
                .bind()
                .map(Listener::Tcp),
            #[cfg(unix)]
            ListenAddr::Path(path) => crate::builder::UnixBuilder::new(path.clone())
                .bind()
                .map(Listener::Unix),
            #[cfg(unix)]
            ListenAddr::Abstract(name) => crate::builder::UnixBuilder::abstract_name(name.clone())
                .bind()
                .map(Listener::Unix),
        }
    }
}

impl Listener {
    /// Waits for the next connection.
    ///
    /// # Errors
    ///
    /// As `TcpListener::accept` and `UnixListener::accept`.
    pub fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Tcp(listener) => listener.accept().map(|(stream, _)| Stream::Tcp(stream)),
            #[cfg(unix)]
            Listener::Unix(listener) => listener.accept().map(|(stream, _)| Stream::Unix(stream)),
        }
    }

    /// Where it listens.
    ///
    /// # Errors
    ///
    /// When the OS cannot say, or (unix) the socket is not bound to a path
    /// or a name.
    pub fn local_addr(&self) -> io::Result<ListenAddr> {
        match self {
            Listener::Tcp(listener) => listener.local_addr().map(ListenAddr::Ip),
            #[cfg(unix)]
            Listener::Unix(listener) => {
                let local = listener.local_addr()?;
                if let Some(path) = local.as_pathname() {
                    return Ok(ListenAddr::Path(path.to_owned()));
                }
                #[cfg(any(target_os = "linux", target_os = "android"))]
                {
                    #[cfg(target_os = "android")]
                    use std::os::android::net::SocketAddrExt;
                    #[cfg(target_os = "linux")]
                    use std::os::linux::net::SocketAddrExt;
                    if let Some(name) = local.as_abstract_name() {
                        return Ok(ListenAddr::Abstract(name.to_owned()));
                    }
                }
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the Unix-domain listener is bound to neither a path nor a name",
                ))
            }
        }
    }

    /// Moves it into or out of nonblocking mode.
    ///
    /// # Errors
    ///
    /// As `set_nonblocking` of the std types.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        match self {
            Listener::Tcp(listener) => listener.set_nonblocking(nonblocking),
            #[cfg(unix)]
            Listener::Unix(listener) => listener.set_nonblocking(nonblocking),
        }
    }
}

impl Stream {
    /// Shuts down the read half, the write half or both.
    ///
    /// # Errors
    ///
    /// As `shutdown` of the std types.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.shutdown(how),
            #[cfg(unix)]
            Stream::Unix(stream) => stream.shutdown(how),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.read(buf),
            #[cfg(unix)]
            Stream::Unix(stream) => stream.read(buf),
        }
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.read_vectored(bufs),
            #[cfg(unix)]
            Stream::Unix(stream) => stream.read_vectored(bufs),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.write(buf),
            #[cfg(unix)]
            Stream::Unix(stream) => stream.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(stream) => stream.write_vectored(bufs),
            #[cfg(unix)]
            Stream::Unix(stream) => stream.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(stream) => stream.flush(),
            #[cfg(unix)]
            Stream::Unix(stream) => stream.flush(),
        }
    }
}
