//! Whether a passed socket is the one a function asks for, and preparing
//! the one it takes: the kind, the address, the options.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Socket, Type};

use super::Handoff;
use crate::addr::ListenAddr;
use crate::convert::SocketKind;
use crate::spec::{Inherit, DEFAULT_BACKLOG};
use crate::sys;

/// What the function asks of a passed socket, and how it prepares one.
pub(crate) struct Wanted<'a> {
    pub(crate) kind: SocketKind,
    pub(crate) place: WantedPlace<'a>,
    /// `backlog` when given; `None`: a passed listener's queue is raised to
    /// [`DEFAULT_BACKLOG`] where it is shorter and the OS tells its length,
    /// and never lowered (systemd's `Backlog=` stays).
    pub(crate) backlog: Option<i32>,
    pub(crate) nonblocking: bool,
    /// Whether the function binds an address of its own when nothing is
    /// taken; without one, nothing taken is an error.
    pub(crate) binds: bool,
    /// What the function sets last on a socket that fits (a Unix-domain
    /// socket's `mode`): when it fails, the socket stays on record,
    /// untaken, as the other steps of preparing it.
    pub(crate) finish: Option<Finish<'a>>,
}

/// A last step on a socket that fits.
pub(crate) type Finish<'a> = &'a dyn Fn(&Socket) -> io::Result<()>;

/// Where the function would bind, for choosing and checking a passed socket.
pub(crate) enum WantedPlace<'a> {
    /// An IP socket on `addr` (port 0: any port; `None`: not known, which
    /// selects any IP socket) with these options.
    Ip {
        addr: Option<SocketAddr>,
        only_v6: Option<bool>,
        shares_port: bool,
    },
    /// A Unix-domain socket on this path or abstract name.
    Unix(&'a ListenAddr),
}

/// What a passed socket is to the function.
pub(super) enum Assessment {
    /// Not selected: on another address, left for another function.
    ForAnother,
    /// Selected, and it is what the function would have made.
    Fits,
    /// Selected, and not what the function would have made: what it is.
    Misfit(String),
}

/// IPV6_V6ONLY of an IPv6 socket the function binds without `only_v6`: dual
/// stack, except where the OS has none (sys/unix.rs, `set_only_v6`).
const DEFAULT_ONLY_V6: Option<bool> = if cfg!(any(target_os = "openbsd", target_os = "dragonfly")) {
    None
} else {
    Some(false)
};

impl Wanted<'_> {
    /// The outcome when `inherit` found nothing to take: `why` says what
    /// was passed; `note` goes into the error of a later failed bind.
    pub(super) fn nothing_taken(
        &self,
        inherit: Inherit<'_>,
        why: &str,
        note: Option<String>,
    ) -> io::Result<Handoff> {
        if self.binds {
            return Ok(Handoff::NotTaken(note));
        }
        let message = match inherit {
            Inherit::Named(name) => format!(
                "no socket named {name:?} was passed to this process, and the function gives \
                 no address to bind instead ({why}); pass the socket (a socket unit with \
                 FileDescriptorName={name}), or give the function an address to bind when \
                 none is passed"
            ),
            Inherit::Next => format!(
                "no socket was passed to this process, and the function gives no address to \
                 bind instead ({why}); pass the socket (a socket unit), or give the function \
                 an address to bind when none is passed"
            ),
        };
        Err(io::Error::new(io::ErrorKind::NotFound, message))
    }

    pub(super) fn describe(&self, inherit: Inherit<'_>) -> String {
        let what = match (&self.place, self.kind) {
            (WantedPlace::Ip { .. }, SocketKind::Stream) => "a listening TCP socket",
            (WantedPlace::Ip { .. }, SocketKind::Datagram) => "a bound UDP socket",
            (WantedPlace::Unix(_), SocketKind::Stream) => "a listening Unix-domain stream socket",
            (WantedPlace::Unix(_), SocketKind::Datagram) => "a Unix-domain datagram socket",
        };
        if let Inherit::Named(name) = inherit {
            return format!(
                "{what} (on any address: inherit = {name:?} takes the socket of that name \
                 wherever the supervisor bound it)"
            );
        }
        match &self.place {
            WantedPlace::Ip { addr: None, .. } => what.to_owned(),
            WantedPlace::Ip {
                addr: Some(addr), ..
            } if addr.port() == 0 => format!("{what} on {}", addr.ip()),
            WantedPlace::Ip {
                addr: Some(addr), ..
            } => format!("{what} on {addr}"),
            WantedPlace::Unix(place) => format!("{what} on {place}"),
        }
    }

    /// Whether `inherit` selects `socket` for this function, and if so
    /// whether it fits.
    pub(super) fn assess(&self, socket: &Socket, inherit: Inherit<'_>) -> Assessment {
        let named = matches!(inherit, Inherit::Named(_));
        let unreadable = |error: io::Error| {
            Assessment::Misfit(format!("a descriptor that cannot be used ({error})"))
        };
        let local = match socket.local_addr() {
            Ok(local) => local,
            Err(error) => return unreadable(error),
        };
        let socket_type = match socket.r#type() {
            Ok(socket_type) => socket_type,
            Err(error) => return unreadable(error),
        };
        let verdict = match (&self.place, local.as_socket()) {
            (WantedPlace::Ip { addr, .. }, Some(found)) => {
                if !named && !on_address(*addr, found) {
                    return Assessment::ForAnother;
                }
                self.fits_ip(socket, socket_type, found, named)
            }
            (WantedPlace::Unix(place), None) if local.domain() == Domain::UNIX => {
                let found = unix_place(&local);
                if !named && !same_unix_place(place, found.as_ref()) {
                    return Assessment::ForAnother;
                }
                self.fits_unix(socket, socket_type, found)
            }
            (_, _) if !named => return Assessment::ForAnother,
            (WantedPlace::Ip { .. }, None) if local.domain() == Domain::UNIX => {
                Err(match unix_place(&local) {
                    Some(found) => format!("a Unix-domain socket on {found}"),
                    None => "a Unix-domain socket".to_owned(),
                })
            }
            (WantedPlace::Unix(_), Some(found)) => Err(format!("an IP socket on {found}")),
            (_, None) => Err("not an IPv4, IPv6 or Unix-domain socket".to_owned()),
        };
        match verdict {
            Ok(()) => Assessment::Fits,
            Err(found) => Assessment::Misfit(found),
        }
    }

    /// A selected IP socket: its type, SO_REUSEPORT only when the function
    /// shares its port, and for `inherit = true` its host and options as the
    /// function would have set them; a named one is not checked for its host
    /// (and for `only_v6` only when the function gives it).
    fn fits_ip(
        &self,
        socket: &Socket,
        socket_type: Type,
        local: SocketAddr,
        named: bool,
    ) -> Result<(), String> {
        let (addr, asked_only_v6, shares_port) = match &self.place {
            WantedPlace::Ip {
                addr,
                only_v6,
                shares_port,
            } => (addr, only_v6, shares_port),
            WantedPlace::Unix(_) => unreachable!("an IP place"),
        };
        if socket_type != self.kind.socket_type() {
            return Err(type_name(socket_type));
        }
        let unreadable = |error: io::Error| format!("a descriptor that cannot be used ({error})");
        let only_v6 = match local {
            SocketAddr::V6(_) => Some(socket.only_v6().map_err(unreadable)?),
            SocketAddr::V4(_) => None,
        };
        match self.kind {
            SocketKind::Stream if listening(socket) == Some(false) => {
                return Err(format!("a TCP socket on {local} that does not listen"));
            }
            SocketKind::Datagram if local.port() == 0 => {
                return Err("a UDP socket that is not bound".to_owned());
            }
            _ => {}
        }
        let wanted_only_v6 = match addr {
            _ if named => *asked_only_v6,
            Some(SocketAddr::V6(_)) => asked_only_v6.or(DEFAULT_ONLY_V6),
            _ => *asked_only_v6,
        };
        if let (Some(wanted), Some(found)) = (wanted_only_v6, only_v6) {
            if wanted != found {
                let asked = match asked_only_v6 {
                    Some(asked) => format!("asks for only_v6 = {asked}"),
                    None => "binds dual-stack (only_v6 is not given)".to_owned(),
                };
                return Err(format!(
                    "a socket on {local} with IPV6_V6ONLY={}, and the function {asked}, which \
                     cannot be changed once the socket is bound",
                    u8::from(found)
                ));
            }
        }
        // Selected by name or by address alike: sharing the port stays
        // opt-in.
        if !shares_port && reuse_port(socket) == Some(true) {
            return Err(format!(
                "a socket on {local} with SO_REUSEPORT set (systemfd sets it, and a socket \
                 unit with ReusePort=yes), which lets another socket of the same user bind this \
                 port and take its traffic, and which cannot be cleared once the socket is \
                 bound; {REUSE_PORT_REMEDY}"
            ));
        }
        if named {
            return Ok(());
        }
        if let Some(addr) = addr {
            if !same_host(*addr, local, only_v6) {
                return Err(format!(
                    "bound to {local}, and the function binds {}",
                    addr.ip()
                ));
            }
        }
        Ok(())
    }

    /// A selected Unix-domain socket: its type and, for a stream, that it
    /// listens.
    fn fits_unix(
        &self,
        socket: &Socket,
        socket_type: Type,
        found: Option<ListenAddr>,
    ) -> Result<(), String> {
        let on = found.map_or_else(
            || "that is not bound".to_owned(),
            |found| format!("on {found}"),
        );
        if socket_type != self.kind.socket_type() {
            return Err(format!("{} {on}", type_name(socket_type)));
        }
        if self.kind == SocketKind::Stream && listening(socket) == Some(false) {
            return Err(format!(
                "a Unix-domain stream socket {on} that does not listen"
            ));
        }
        Ok(())
    }

    /// The policy and the options on a socket that fits, as far as they can
    /// be set once it is bound: SO_REUSEADDR on a TCP listener and off on a
    /// UDP socket (`systemd-socket-activate --datagram` sets it, and it would
    /// let another socket share the port), the backlog (`listen` again, when
    /// given, or to raise a shorter queue than the default: never lowered),
    /// and blocking or nonblocking as asked (the mode is shared with the
    /// supervisor's copy, so it is set either way). A Unix-domain socket's
    /// file keeps the owner the supervisor gave it.
    pub(super) fn prepare(&self, socket: &Socket) -> io::Result<()> {
        let ip = matches!(self.place, WantedPlace::Ip { .. });
        match self.kind {
            SocketKind::Stream => {
                if ip {
                    socket.set_reuse_address(true)?;
                }
                // Where the OS does not tell the queue's length, it stays as
                // the supervisor made it.
                let backlog = match self.backlog {
                    Some(backlog) => Some(backlog),
                    None => if ip {
                        sys::tcp_listen_backlog(socket)
                    } else {
                        sys::unix_listen_backlog(socket)
                    }
                    .filter(|&now| i64::from(now) < i64::from(DEFAULT_BACKLOG))
                    .map(|_| DEFAULT_BACKLOG),
                };
                if let Some(backlog) = backlog {
                    socket.listen(backlog)?;
                }
            }
            SocketKind::Datagram => {
                if ip && socket.reuse_address()? {
                    socket.set_reuse_address(false)?;
                }
            }
        }
        socket.set_nonblocking(self.nonblocking)?;
        match self.finish {
            Some(finish) => finish(socket),
            None => Ok(()),
        }
    }
}

/// Whether a passed socket on `found` is on the function's address, for
/// `inherit = true`: the same port, or for port 0 the same host; any IP
/// socket when the function gives no address.
fn on_address(addr: Option<SocketAddr>, found: SocketAddr) -> bool {
    match addr {
        None => true,
        Some(addr) if addr.port() != 0 => addr.port() == found.port(),
        Some(addr) => {
            addr.ip() == found.ip() || (addr.ip().is_unspecified() && found.ip().is_unspecified())
        }
    }
}

/// The path or abstract name a Unix-domain socket is bound to.
fn unix_place(local: &socket2::SockAddr) -> Option<ListenAddr> {
    if let Some(path) = local.as_pathname() {
        return Some(ListenAddr::Path(path.to_owned()));
    }
    local
        .as_abstract_namespace()
        .map(|name| ListenAddr::Abstract(name.to_owned()))
}

/// The same path (as written, or the same file) or the same abstract name.
fn same_unix_place(wanted: &ListenAddr, found: Option<&ListenAddr>) -> bool {
    match (wanted, found) {
        (ListenAddr::Path(wanted), Some(ListenAddr::Path(found))) => {
            use std::os::unix::fs::MetadataExt;
            wanted == found
                || match (std::fs::metadata(wanted), std::fs::metadata(found)) {
                    (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                    _ => false,
                }
        }
        (ListenAddr::Abstract(wanted), Some(ListenAddr::Abstract(found))) => wanted == found,
        _ => false,
    }
}

/// The host the function binds, as the passed socket is bound: the same
/// address, or an IPv6 wildcard socket that also takes IPv4 for the IPv4
/// wildcard (as systemd's `ListenStream=8080` makes one).
fn same_host(wanted: SocketAddr, local: SocketAddr, only_v6: Option<bool>) -> bool {
    match (wanted, local) {
        (SocketAddr::V4(wanted), SocketAddr::V4(local)) => wanted.ip() == local.ip(),
        (SocketAddr::V6(wanted), SocketAddr::V6(local)) => {
            wanted.ip() == local.ip()
                && (wanted.scope_id() == 0 || wanted.scope_id() == local.scope_id())
        }
        (SocketAddr::V4(wanted), SocketAddr::V6(local)) => {
            wanted.ip().is_unspecified() && local.ip().is_unspecified() && only_v6 == Some(false)
        }
        (SocketAddr::V6(_), SocketAddr::V4(_)) => false,
    }
}

fn type_name(socket_type: Type) -> String {
    if socket_type == Type::STREAM {
        "a stream (TCP) socket".to_owned()
    } else if socket_type == Type::DGRAM {
        "a datagram (UDP) socket".to_owned()
    } else {
        format!("a socket of type {}", i32::from(socket_type))
    }
}

/// SO_ACCEPTCONN where socket2 reads it; elsewhere unknown.
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "fuchsia"
))]
fn listening(socket: &Socket) -> Option<bool> {
    socket.is_listener().ok()
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "fuchsia"
)))]
fn listening(_socket: &Socket) -> Option<bool> {
    None
}

/// What to do about a passed socket with SO_REUSEPORT that the function
/// did not ask to share its port.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
const REUSE_PORT_REMEDY: &str = "to accept it, ask for reuse_port = true";
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
const REUSE_PORT_REMEDY: &str = "reuse_port does not exist on this target, so have the \
     supervisor pass the socket without SO_REUSEPORT";

/// SO_REUSEPORT where the OS has it.
#[cfg(not(any(target_os = "solaris", target_os = "illumos")))]
fn reuse_port(socket: &Socket) -> Option<bool> {
    socket.reuse_port().ok()
}

#[cfg(any(target_os = "solaris", target_os = "illumos"))]
fn reuse_port(_socket: &Socket) -> Option<bool> {
    None
}
