//! A whole listen address from a string: what a service takes as
//! `--listen`, from a configuration file or from the environment.

use std::fmt;
use std::io;
use std::net::SocketAddr;
#[cfg(unix)]
use std::path::PathBuf;
use std::str::FromStr;

/// Where to listen, parsed from text: `127.0.0.1:8080` or `[::1]:8080`
/// (with a scope id: `[fe80::1%2]:8080`), and on unix a socket path
/// (`/run/app.sock`, `./app.sock`: a path has a `/`) or `@name`, a name in
/// the abstract namespace (Linux, Android).
///
/// Its [`FromStr`] makes it a command-line argument type as it is (clap:
/// `#[arg(long)] listen: ListenAddr`), and with the `serde` feature it is
/// read from and written as a string. Hand it to the builder that fits:
///
/// ```no_run
/// use restartable::{Builder, ListenAddr};
///
/// # fn main() -> std::io::Result<()> {
/// let listen: ListenAddr = std::env::args()
///     .nth(1)
///     .unwrap_or_else(|| "127.0.0.1:8080".to_owned())
///     .parse()?;
/// match listen {
///     ListenAddr::Ip(addr) => {
///         let listener: std::net::TcpListener = Builder::new(addr).bind()?;
///         # drop(listener);
///     }
///     #[cfg(unix)]
///     ListenAddr::Path(path) => {
///         let listener: std::os::unix::net::UnixListener = Builder::unix(path).bind()?;
///         # drop(listener);
///     }
///     #[cfg(unix)]
///     ListenAddr::Abstract(name) => {
///         let listener: std::os::unix::net::UnixListener =
///             restartable::UnixBuilder::abstract_name(name).bind()?;
///         # drop(listener);
///     }
///     _ => unreachable!("no other kind of address is parsed"),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListenAddr {
    /// An IP address and port.
    Ip(SocketAddr),
    /// A Unix-domain socket's path.
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    Path(PathBuf),
    /// A name in the abstract namespace of Linux and Android, without the
    /// leading `@`.
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    Abstract(Vec<u8>),
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> ListenAddr {
        ListenAddr::Ip(addr)
    }
}

/// The text it was parsed from: `127.0.0.1:8080`, `/run/app.sock`, `@app`;
/// an IPv6 scope id given by interface name is shown as the index it was
/// resolved to (`[fe80::1%2]:8080`).
///
/// Formatting cannot fail, so a path or an abstract name that is not UTF-8
/// (possible only when the value was built from bytes, not parsed from a
/// `&str`) is shown lossily, each byte sequence that is not UTF-8 as U+FFFD:
/// `to_string().parse()` gives back the same value only for UTF-8 paths and
/// names. Serializing such a value is an error rather than lossy.
impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Ip(addr) => write!(f, "{addr}"),
            #[cfg(unix)]
            ListenAddr::Path(path) => write!(f, "{}", path.display()),
            #[cfg(unix)]
            ListenAddr::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
        }
    }
}

/// # Errors
///
/// [`io::ErrorKind::InvalidInput`] naming the value and what was expected;
/// on unix an `@name` elsewhere than Linux and Android is
/// [`io::ErrorKind::Unsupported`].
impl FromStr for ListenAddr {
    type Err = io::Error;

    fn from_str(text: &str) -> io::Result<ListenAddr> {
        match crate::spec::socket_addr_from_text(text) {
            Ok(Some(addr)) => return Ok(ListenAddr::Ip(addr)),
            Ok(None) => {}
            Err(problem) => {
                return Err(io::Error::new(
                    problem.kind(),
                    format!("invalid listen address {text:?}: {problem}"),
                ))
            }
        }
        let invalid = |problem: String| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid listen address {text:?}: {problem}"),
            )
        };
        #[cfg(unix)]
        {
            if let Some(name) = text.strip_prefix('@') {
                return crate::unix_socket::check_abstract(name.as_bytes())
                    .map(|()| ListenAddr::Abstract(name.as_bytes().to_owned()))
                    .map_err(|(kind, problem)| {
                        io::Error::new(kind, format!("invalid listen address {text:?}: {problem}"))
                    });
            }
            if text.contains('/') {
                return crate::unix_socket::check_path(std::path::Path::new(text))
                    .map(|()| ListenAddr::Path(PathBuf::from(text)))
                    .map_err(invalid);
            }
        }
        let hint = if text.parse::<std::net::IpAddr>().is_ok() {
            "it has no port"
        } else if text
            .rsplit_once(':')
            .map_or(false, |(_, port)| port.parse::<u16>().is_ok())
        {
            "host names are not resolved"
        } else {
            "not an address"
        };
        Err(invalid(format!(
            "expected host:port such as 127.0.0.1:8080 or [::1]:8080{}; {hint}",
            if cfg!(unix) {
                ", a socket path such as /run/app.sock, or @name"
            } else {
                ""
            }
        )))
    }
}

/// Written as its text ([`Display`](fmt::Display)), which parses back to the
/// same value.
///
/// # Errors
///
/// A path or an abstract name that is not UTF-8 has no such text: writing
/// it is an error that names it (lossily) and says so, rather than text
/// that would read back as another path.
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl serde::Serialize for ListenAddr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let not_utf8: Option<&str> = match self {
            ListenAddr::Ip(_) => None,
            #[cfg(unix)]
            ListenAddr::Path(path) => path.to_str().is_none().then_some("path"),
            #[cfg(unix)]
            ListenAddr::Abstract(name) => std::str::from_utf8(name).is_err().then_some("name"),
        };
        match not_utf8 {
            None => serializer.collect_str(self),
            Some(what) => Err(serde::ser::Error::custom(format_args!(
                "cannot write listen address {:?} as text: the {what} is not UTF-8",
                self.to_string()
            ))),
        }
    }
}

/// Read from a string, as [`FromStr`] parses it.
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> serde::Deserialize<'de> for ListenAddr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = ListenAddr;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a listen address such as 127.0.0.1:8080, [::1]:8080 or /run/app.sock")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ListenAddr, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Text)
    }
}
