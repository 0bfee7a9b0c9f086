//! A whole listen address from a string: what a service takes as
//! `--listen`, from a configuration file or from the environment.

use std::ffi::{CString, OsString};
use std::fmt;
use std::io;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
#[cfg(unix)]
use std::os::unix::ffi::OsStrExt;
#[cfg(unix)]
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::sys;
#[cfg(unix)]
use crate::sys::unix_socket::sun_path_len;
use crate::variable::bad_variable;

/// Where to listen, parsed from text: `127.0.0.1:8080` or `[::1]:8080`
/// (with a scope id: `[fe80::1%2]:8080`), and on unix a socket path
/// (`/run/app.sock`, `./app.sock`: a path has a `/`) or `@name`, a name in
/// the abstract namespace (Linux, Android).
///
/// Its [`FromStr`] makes it a command-line argument type as it is (clap:
/// `#[arg(long)] listen: ListenAddr`), and with the `serde` feature it is
/// read from and written as a string. [`ListenAddr::bind`] makes the
/// listener that fits it (a [`Listener`](crate::Listener)), or hand it to
/// [`Builder`](crate::Builder) or (on unix) `UnixBuilder` for
/// options:
///
/// ```no_run
/// use restartable::ListenAddr;
///
/// fn main() {
///     let text = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
///     // `127.0.0.1:8080` and `/run/app.sock` alike.
///     match text.parse::<ListenAddr>().and_then(|listen| listen.bind()) {
///         Ok(_listener) => println!("listening on {text}"),
///         Err(error) => {
///             eprintln!("error: {error}");
///             std::process::exit(1);
///         }
///     }
/// }
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
/// This is also how every error of the crate names the address.
///
/// Formatting cannot fail, so a path that is not UTF-8 (possible only when
/// the value was built from bytes, not parsed from a `&str`) is shown
/// lossily, each byte sequence that is not UTF-8 as U+FFFD; in an abstract
/// name such bytes, and control characters (a NUL, a newline), are shown
/// escaped (`\x00`, `\n`, `\xff`). `to_string().parse()` gives back the same
/// value for every path and name that is UTF-8 without control characters.
/// Serializing any other value is an error rather than lossy.
impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Ip(addr) => write!(f, "{addr}"),
            #[cfg(unix)]
            ListenAddr::Path(path) => write!(f, "{}", path.display()),
            #[cfg(unix)]
            ListenAddr::Abstract(name) => {
                f.write_str("@")?;
                write_escaped(f, name)
            }
        }
    }
}

/// `bytes` as text: UTF-8 as it is, control characters and bytes that are
/// not UTF-8 escaped.
#[cfg(unix)]
fn write_escaped(f: &mut fmt::Formatter<'_>, mut bytes: &[u8]) -> fmt::Result {
    while !bytes.is_empty() {
        let (text, bad) = match std::str::from_utf8(bytes) {
            Ok(text) => (text, &[][..]),
            Err(error) => {
                let (valid, after) = bytes.split_at(error.valid_up_to());
                let bad_len = error.error_len().unwrap_or(after.len());
                // `valid` is UTF-8: from_utf8 said so.
                (
                    std::str::from_utf8(valid).unwrap_or_default(),
                    &after[..bad_len],
                )
            }
        };
        for c in text.chars() {
            if c.is_ascii_control() {
                // `\x00`, `\n`, `\t`, as bytes are usually shown.
                write!(f, "{}", std::ascii::escape_default(c as u8))?;
            } else if c.is_control() {
                write!(f, "{}", c.escape_unicode())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        for byte in bad {
            write!(f, "\\x{byte:02x}")?;
        }
        bytes = &bytes[text.len() + bad.len()..];
    }
    Ok(())
}

/// # Errors
///
/// [`io::ErrorKind::InvalidInput`] naming the value and what was expected;
/// on unix an `@name` elsewhere than Linux and Android is
/// [`io::ErrorKind::Unsupported`].
impl FromStr for ListenAddr {
    type Err = io::Error;

    fn from_str(text: &str) -> io::Result<ListenAddr> {
        match socket_addr_from_text(text) {
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
                // Printed back, a control character is escaped: refused
                // here, so that what is accepted prints back as itself.
                if name.chars().any(char::is_control) {
                    return Err(invalid(
                        "an abstract name given as text has no control characters".to_owned(),
                    ));
                }
                return check_abstract(name.as_bytes())
                    .map(|()| ListenAddr::Abstract(name.as_bytes().to_owned()))
                    .map_err(|(kind, problem)| {
                        io::Error::new(kind, format!("invalid listen address {text:?}: {problem}"))
                    });
            }
            if text.contains('/') {
                return check_path(Path::new(text))
                    .map(|()| ListenAddr::Path(PathBuf::from(text)))
                    .map_err(invalid);
            }
        }
        let hint = if text.parse::<std::net::IpAddr>().is_ok() {
            "it has no port"
        } else if text
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
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

/// Whether `path` can be a socket's path here.
#[cfg(unix)]
pub(crate) fn check_path(path: &Path) -> Result<(), String> {
    let bytes = path.as_os_str().as_bytes();
    let max = sun_path_len() - 1;
    if bytes.is_empty() {
        Err("the path is empty".to_owned())
    } else if bytes.contains(&0) {
        Err("the path contains a NUL byte".to_owned())
    } else if bytes.len() > max {
        Err(format!(
            "the path is {} bytes long, and a Unix-domain socket's path is at most {max} bytes \
             on this OS (sun_path holds {} with the terminating NUL); use a shorter path, or a \
             relative one",
            bytes.len(),
            max + 1
        ))
    } else {
        Ok(())
    }
}

/// Whether `name` can be an abstract name here.
#[cfg(unix)]
pub(crate) fn check_abstract(name: &[u8]) -> Result<(), (io::ErrorKind, String)> {
    if !cfg!(any(target_os = "linux", target_os = "android")) {
        return Err((
            io::ErrorKind::Unsupported,
            "abstract names exist on Linux and Android only; use a path".to_owned(),
        ));
    }
    if name.is_empty() {
        return Err((
            io::ErrorKind::InvalidInput,
            "the abstract name is empty".to_owned(),
        ));
    }
    let max = sun_path_len() - 1;
    if name.len() > max {
        return Err((
            io::ErrorKind::InvalidInput,
            format!(
                "the abstract name is {} bytes long, over the {max} that sun_path holds after \
                 its leading NUL",
                name.len()
            ),
        ));
    }
    Ok(())
}

/// `APP_SOCKET=/run/app.sock` or `APP_SOCKET=@app`.
#[cfg(unix)]
pub(crate) fn place_from_variable(name: &str, value: &OsString) -> io::Result<ListenAddr> {
    let bytes = value.as_bytes();
    if let Some(abstract_name) = bytes.strip_prefix(b"@") {
        return check_abstract(abstract_name)
            .map(|()| ListenAddr::Abstract(abstract_name.to_owned()))
            .map_err(|(kind, problem)| {
                let error = bad_variable(name, value, &format!("cannot be used: {problem}"));
                io::Error::new(kind, error.to_string())
            });
    }
    check_path(Path::new(value))
        .map(|()| ListenAddr::Path(PathBuf::from(value)))
        .map_err(|problem| bad_variable(name, value, &format!("is not a socket path: {problem}")))
}

/// An `addr_env` value: a whole socket address.
pub(crate) fn parse_addr(name: &str, value: &OsString) -> io::Result<SocketAddr> {
    if let Some(text) = value.to_str() {
        match socket_addr_from_text(text) {
            Ok(Some(addr)) => return Ok(addr),
            Ok(None) => {}
            Err(problem) => {
                return Err(io::Error::new(
                    problem.kind(),
                    format!(
                        "environment variable {name}={text:?} is not a usable socket address: \
                         {problem}"
                    ),
                ))
            }
        }
    }
    let text = value.to_string_lossy();
    let hint = if text.starts_with('/') || text.starts_with('@') || text.starts_with('.') {
        "; a Unix-domain socket's path is given with `path_env`"
    } else if text.parse::<std::net::IpAddr>().is_ok() {
        "; it has no port"
    } else {
        " (host names are not resolved)"
    };
    Err(bad_variable(
        name,
        value,
        &format!("is not a socket address such as 127.0.0.1:8080 or [::1]:8080{hint}"),
    ))
}

/// A socket address from text, as `addr_env` and [`ListenAddr`] read it:
/// what std parses, and an IPv6 address whose scope id is an interface's
/// name (`[fe80::1%eth0]:8080`), which std does not take, with the name
/// resolved to the interface's index. `Ok(None)`: not a socket address.
///
/// # Errors
///
/// A scope id that names no interface ([`io::ErrorKind::InvalidInput`]),
/// or the lookup's own error; the message is a clause to follow what
/// names the text.
///
/// [`ListenAddr`]: crate::ListenAddr
pub(crate) fn socket_addr_from_text(text: &str) -> io::Result<Option<SocketAddr>> {
    if let Ok(addr) = text.parse() {
        return Ok(Some(addr));
    }
    let Some((ip, interface, port)) = scope_by_name(text) else {
        return Ok(None);
    };
    let index = match CString::new(interface) {
        Ok(name) => sys::interface_index(&name).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("the network interface {interface:?} could not be looked up: {error}"),
            )
        })?,
        // A NUL cannot be in an interface's name.
        Err(_) => None,
    };
    match index {
        Some(index) => Ok(Some(SocketAddrV6::new(ip, port, 0, index).into())),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "no network interface is named {interface:?} (the scope id of an IPv6 address is \
                 an interface's name or index)"
            ),
        )),
    }
}

/// `[ip%name]:port` with an IPv6 address, a scope that is not a number (a
/// number is std's to parse, and one it refused is out of range) and a
/// port as std writes it (digits only): the address, the name, the port.
fn scope_by_name(text: &str) -> Option<(Ipv6Addr, &str, u16)> {
    let (inside, port) = text.strip_prefix('[')?.split_once("]:")?;
    let (ip, interface) = inside.split_once('%')?;
    if interface.is_empty()
        || interface.bytes().all(|b| b.is_ascii_digit())
        || port.is_empty()
        || !port.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some((ip.parse().ok()?, interface, port.parse().ok()?))
}

pub(crate) fn parse_port(name: &str, value: &OsString) -> io::Result<u16> {
    value
        .to_str()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| bad_variable(name, value, "is not a port number (expected 0 to 65535)"))
}
