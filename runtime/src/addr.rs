//! A whole listen address from a string: what a service takes as
//! `--listen`, from a configuration file or from the environment.

use std::ffi::{CString, OsString};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
#[cfg(unix)]
use std::os::unix::ffi::{OsStrExt, OsStringExt};
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
/// # As text
///
/// The text is read as the first of these that it is: an IP socket address
/// (an IPv6 scope id by number or interface name); `@` and a name; text
/// with a `/`, a path. Anything else is an error: `app.sock` alone is no
/// address, `./app.sock` is. In a path or a name a backslash starts an
/// escape: `\\` (a backslash), `\n`, `\r`, `\t`, `\xNN` (one byte in
/// hex: a NUL in a name, a byte that is not UTF-8) or `\u{N}` (a
/// character); another escape is an error.
///
/// Printed ([`Display`](fmt::Display), and so with serde), every value
/// gives text that parses back to an equal value, where the value can be
/// parsed at all (a path without NUL of at most 107 bytes, 103 on macOS and
/// the BSDs; a name of 1 to 107 bytes, on Linux and Android: the limits of
/// [`bind`](ListenAddr::bind)): control characters,
/// backslashes and bytes that are not UTF-8 are written escaped, and a
/// relative path that would read as something else (`app.sock`, `@app`,
/// `127.0.0.1:80`, `[::1]:80`) is written after `./` (`./app.sock`). To
/// that end two paths that differ only by a leading `./` are equal (and
/// hash alike): they name the same file for `bind`, as `a/./b` and `a/b`,
/// equal as `Path`s, do. The one thing not printed is the flow
/// information of an IPv6 address, which has no text form (std does not
/// write it; Linux's `bind` ignores it).
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
#[derive(Clone, Debug)]
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

/// The same address: a path compared as a `Path`, without a leading `./`
/// (see "As text" above).
impl PartialEq for ListenAddr {
    fn eq(&self, other: &ListenAddr) -> bool {
        match (self, other) {
            (ListenAddr::Ip(a), ListenAddr::Ip(b)) => a == b,
            #[cfg(unix)]
            (ListenAddr::Path(a), ListenAddr::Path(b)) => {
                without_leading_dot(a) == without_leading_dot(b)
            }
            #[cfg(unix)]
            (ListenAddr::Abstract(a), ListenAddr::Abstract(b)) => a == b,
            #[cfg(unix)]
            _ => false,
        }
    }
}

impl Eq for ListenAddr {}

/// Consistent with [`PartialEq`]: a path hashes as a `Path` does, without
/// a leading `./`.
impl Hash for ListenAddr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            ListenAddr::Ip(addr) => addr.hash(state),
            #[cfg(unix)]
            ListenAddr::Path(path) => without_leading_dot(path).hash(state),
            #[cfg(unix)]
            ListenAddr::Abstract(name) => name.hash(state),
        }
    }
}

/// `path` without a leading `.` component: `./app.sock` as `app.sock`.
#[cfg(unix)]
fn without_leading_dot(path: &Path) -> &Path {
    path.strip_prefix(".").unwrap_or(path)
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> ListenAddr {
        ListenAddr::Ip(addr)
    }
}

/// The text it was parsed from, as far as the value holds it:
/// `127.0.0.1:8080`, `/run/app.sock`, `@app`; an IPv6 scope id given by
/// interface name is shown as the index it was resolved to
/// (`[fe80::1%2]:8080`). This is also how every error of the crate names the
/// address.
///
/// The text parses back to an equal value ("As text" on [`ListenAddr`]):
/// in a path or a name, control characters, backslashes and bytes that are
/// not UTF-8 are escaped (`\x00`, `\n`, `\\`, `\xff`), and a relative path
/// that would read as something else gets a leading `./` (`./app.sock`,
/// `./@app`, `./127.0.0.1:80`).
impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Ip(addr) => write!(f, "{addr}"),
            #[cfg(unix)]
            ListenAddr::Path(path) => {
                let text = Escaped(path.as_os_str().as_bytes()).to_string();
                if !reads_as_path(&text) {
                    f.write_str("./")?;
                }
                f.write_str(&text)
            }
            #[cfg(unix)]
            ListenAddr::Abstract(name) => write!(f, "@{}", Escaped(name)),
        }
    }
}

/// Whether a path's text, written as it is, parses back as that path: it
/// has a `/`, and is neither a name (`@`) nor perhaps an IP address. With a
/// `/` in it, the only text that can be an IP address is an IPv6 one with a
/// scope id given by name (`[fe80::1%a/b]:80`, refused when no interface
/// has that name), which starts with `[`.
#[cfg(unix)]
fn reads_as_path(text: &str) -> bool {
    text.contains('/') && !text.starts_with('@') && !text.starts_with('[')
}

/// Bytes as text that [`unescape`] reads back: UTF-8 as it is, except
/// control characters and the backslash, which are escaped, as are bytes
/// that are not UTF-8.
#[cfg(unix)]
struct Escaped<'a>(&'a [u8]);

#[cfg(unix)]
impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = self.0;
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
                if c == '\\' || c.is_ascii_control() {
                    // `\\`, `\x00`, `\n`, `\t`, as bytes are usually shown.
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
}

/// The bytes that `text` spells, its escapes replaced: `\\`, `\n`, `\r`,
/// `\t`, `\xNN` (a byte) and `\u{N}` (a character), as [`Escaped`] writes
/// them. `Err`: an escape that is none of these, as a clause for the
/// message that names the text.
#[cfg(unix)]
fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        bytes.extend_from_slice(&rest.as_bytes()[..at]);
        let escape = &rest[at..];
        let length = match escape.as_bytes().get(1) {
            Some(b'x') => {
                let byte = escape
                    .get(2..4)
                    .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .ok_or_else(|| bad_escape(escape, 4))?;
                bytes.push(byte);
                4
            }
            Some(b'u') => {
                let digits = escape
                    .get(2..)
                    .and_then(|after| after.strip_prefix('{'))
                    .and_then(|after| after.split_once('}'))
                    .map(|(digits, _)| digits)
                    .filter(|digits| {
                        (1..=6).contains(&digits.len())
                            && digits.bytes().all(|b| b.is_ascii_hexdigit())
                    });
                let c = digits
                    .and_then(|digits| u32::from_str_radix(digits, 16).ok())
                    .and_then(char::from_u32)
                    .ok_or_else(|| bad_escape(escape, escape.find('}').map_or(3, |end| end + 1)))?;
                bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                // `\u{`, the digits, `}`.
                digits.map_or(0, str::len) + 4
            }
            Some(&letter) => {
                bytes.push(match letter {
                    b'\\' => b'\\',
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    _ => return Err(bad_escape(escape, 2)),
                });
                2
            }
            None => return Err(bad_escape(escape, 2)),
        };
        rest = &escape[length..];
    }
    bytes.extend_from_slice(rest.as_bytes());
    Ok(bytes)
}

/// The clause for an escape that is not one: its first `chars` characters.
#[cfg(unix)]
fn bad_escape(escape: &str, chars: usize) -> String {
    let shown: String = escape.chars().take(chars).collect();
    format!(
        "{shown} is not an escape; a backslash starts \\\\ (a backslash), \\n, \\r, \\t, \\xNN \
         (a byte in hex) or \\u{{N}} (a character in hex)"
    )
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
                let name = unescape(name).map_err(invalid)?;
                return check_abstract(&name)
                    .map(|()| ListenAddr::Abstract(name))
                    .map_err(|(kind, problem)| {
                        io::Error::new(kind, format!("invalid listen address {text:?}: {problem}"))
                    });
            }
            if text.contains('/') {
                let mut bytes = unescape(text).map_err(invalid)?;
                // A leading `./` that only makes the text a path (`./app.sock`,
                // `./@app`, as `Display` writes them) is not kept: without it
                // the path names the same file, and is two bytes shorter. (Not
                // before an escaped `/`: `.//` is not `/`.)
                let marks_a_path = text
                    .strip_prefix("./")
                    .is_some_and(|rest| !rest.is_empty() && !reads_as_path(rest));
                if marks_a_path && bytes.get(2) != Some(&b'/') {
                    bytes.drain(..2);
                }
                let path = PathBuf::from(OsString::from_vec(bytes));
                return check_path(&path)
                    .map(|()| ListenAddr::Path(path))
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

/// Written as its text ([`Display`](fmt::Display)), which parses back to an
/// equal value ("As text" on [`ListenAddr`]).
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl serde::Serialize for ListenAddr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
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

#[cfg(all(test, unix))]
mod tests {
    use std::collections::hash_map::DefaultHasher;
    use std::ffi::OsStr;

    use super::*;

    /// A small deterministic generator (xorshift64*): the same values on
    /// every run, many of them.
    struct Values(u64);

    impl Values {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n as u64).unwrap()
        }

        /// Bytes as a path or a name might hold them: the characters that
        /// decide how text is read (`/`, `.`, `@`, `[`, `:`, `%`, `\`),
        /// digits, control characters, a character that is a control in
        /// UTF-8, bytes that are not UTF-8 alone or in a row, and with
        /// `nul` the NUL byte.
        fn bytes(&mut self, max: usize, nul: bool) -> Vec<u8> {
            const PIECES: &[&[u8]] = &[
                b"/",
                b".",
                b"./",
                b"@",
                b"[",
                b"]",
                b":",
                b"%",
                b"\\",
                b"\\x41",
                b"\\u{7f}",
                b"8",
                b"80",
                b"127.0.0.1",
                b"::1",
                b"a",
                b"app.sock",
                b"\n",
                b"\t",
                b"\r",
                b"\x01",
                b"\x1b",
                b"\x7f",
                b"\xc2\x85",
                b"\xe2\x80\xae",
                b"\xc3\xa9",
                b"\xff",
                b"\xc3",
                b"\x80\x80",
                b"\xf0\x9f\x92",
                b" ",
                b"\"",
                b"{",
                b"}",
            ];
            let mut bytes = Vec::new();
            let length = 1 + self.below(max);
            while bytes.len() < length {
                if nul && self.below(8) == 0 {
                    bytes.push(0);
                } else {
                    bytes.extend_from_slice(PIECES[self.below(PIECES.len())]);
                }
            }
            bytes.truncate(length);
            bytes
        }

        fn ip(&mut self) -> SocketAddr {
            let port = u16::try_from(self.next() & 0xffff).unwrap();
            if self.below(2) == 0 {
                SocketAddr::from((
                    u32::try_from(self.next() >> 32).unwrap().to_be_bytes(),
                    port,
                ))
            } else {
                let ip = Ipv6Addr::from(u128::from(self.next()) << 64 | u128::from(self.next()));
                let scope = if self.below(2) == 0 {
                    0
                } else {
                    u32::try_from(self.next() >> 40).unwrap()
                };
                SocketAddrV6::new(ip, port, 0, scope).into()
            }
        }
    }

    fn hash(addr: &ListenAddr) -> u64 {
        let mut hasher = DefaultHasher::new();
        addr.hash(&mut hasher);
        hasher.finish()
    }

    /// Printed, then parsed: the same value (and hash), from text without
    /// control characters.
    fn assert_round_trip(addr: &ListenAddr) {
        let text = addr.to_string();
        let back: ListenAddr = text
            .parse()
            .unwrap_or_else(|error| panic!("{addr:?} printed as {text:?}: {error}"));
        assert_eq!(&back, addr, "printed as {text:?}");
        assert_eq!(hash(&back), hash(addr), "printed as {text:?}");
        assert!(!text.chars().any(char::is_control), "{text:?}");
    }

    #[test]
    fn every_address_prints_as_text_that_parses_back_to_it() {
        let ambiguous = [
            "app.sock",
            "@app",
            "127.0.0.1:80",
            "[::1]:80",
            "8080",
            "[fe80::1%a/b]:80",
            ".",
            "..",
            "./",
            "./app.sock",
            "././app.sock",
            "a\\b",
            "\\x41/b",
            "/\\",
            "@",
            "[a]/b",
        ];
        for path in ambiguous {
            assert_round_trip(&ListenAddr::Path(PathBuf::from(path)));
        }
        // As long as a path can be: printed after `./`, still one that fits.
        assert_round_trip(&ListenAddr::Path(PathBuf::from("a".repeat(107))));
        let mut values = Values(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let addr = match values.below(4) {
                0 => ListenAddr::Ip(values.ip()),
                1 => ListenAddr::Path(PathBuf::from(OsString::from_vec(values.bytes(107, false)))),
                2 => {
                    let mut absolute = b"/".to_vec();
                    absolute.extend(values.bytes(106, false));
                    ListenAddr::Path(PathBuf::from(OsString::from_vec(absolute)))
                }
                _ if cfg!(any(target_os = "linux", target_os = "android")) => {
                    ListenAddr::Abstract(values.bytes(107, true))
                }
                _ => continue,
            };
            assert_round_trip(&addr);
        }
    }

    #[test]
    fn escapes_in_text_are_the_bytes_they_name_and_others_are_refused() {
        let parsed = |text: &str| text.parse::<ListenAddr>().unwrap();
        let path = |bytes: &[u8]| ListenAddr::Path(PathBuf::from(OsStr::from_bytes(bytes)));
        assert_eq!(parsed("/run/a\\\\b"), path(b"/run/a\\b"));
        assert_eq!(
            parsed("/run/\\xff\\n\\t\\r\\x41"),
            path(b"/run/\xff\n\t\rA")
        );
        assert_eq!(
            parsed("/run/\\u{e9}\\u{85}"),
            path("/run/é\u{85}".as_bytes())
        );
        // A `./` that only makes the text a path is not kept; one that is
        // part of a path of its own is.
        let spelled = |text: &str| match parsed(text) {
            ListenAddr::Path(path) => path.into_os_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(spelled("./app.sock"), "app.sock");
        assert_eq!(spelled("./@app"), "@app");
        assert_eq!(spelled("./run/app.sock"), "./run/app.sock");
        assert_eq!(spelled("./"), "./");
        assert_eq!(spelled("./\\x2f"), ".//");
        if cfg!(any(target_os = "linux", target_os = "android")) {
            assert_eq!(parsed("@a\\x00b"), ListenAddr::Abstract(b"a\0b".to_vec()));
        }
        for (text, shown) in [
            ("/run/\\q", "\\q"),
            ("/run/a\\", "\\"),
            ("/run/\\x4", "\\x4"),
            ("/run/\\x+f", "\\x+f"),
            ("/run/\\xzz", "\\xzz"),
            ("/run/\\u{d800}", "\\u{d800}"),
            ("/run/\\u{}", "\\u{}"),
            ("/run/\\u{1234567}", "\\u{1234567}"),
            ("/run/\\u41", "\\u4"),
        ] {
            let error = text.parse::<ListenAddr>().unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{error}");
            assert_eq!(
                error.to_string(),
                format!(
                    "invalid listen address {text:?}: {shown} is not an escape; a backslash \
                     starts \\\\ (a backslash), \\n, \\r, \\t, \\xNN (a byte in hex) or \\u{{N}} \
                     (a character in hex)"
                )
            );
        }
        // A NUL cannot be in a path, escaped or not.
        let error = "/run/a\\x00".parse::<ListenAddr>().unwrap_err();
        assert!(
            error.to_string().ends_with("the path contains a NUL byte"),
            "{error}"
        );
    }

    #[test]
    fn paths_that_differ_by_a_leading_dot_slash_are_one_address() {
        let path = |text: &str| ListenAddr::Path(PathBuf::from(text));
        assert_eq!(path("app.sock"), path("./app.sock"));
        assert_eq!(hash(&path("app.sock")), hash(&path("./app.sock")));
        assert_eq!(path("run/app.sock"), path("./run/app.sock"));
        // Controls: another directory, another file, a root.
        assert_ne!(path("app.sock"), path("../app.sock"));
        assert_ne!(path("app.sock"), path("/app.sock"));
        assert_ne!(path("app.sock"), path("app.sock2"));
        assert_ne!(path("@app"), ListenAddr::Abstract(b"app".to_vec()));
        // Printed: as it is when that reads back, else after `./`.
        assert_eq!(path("run/app.sock").to_string(), "run/app.sock");
        assert_eq!(path("./app.sock").to_string(), "./app.sock");
        assert_eq!(path("app.sock").to_string(), "./app.sock");
        assert_eq!(path("@app").to_string(), "./@app");
        assert_eq!(path("[::1]:80").to_string(), "./[::1]:80");
    }
}
