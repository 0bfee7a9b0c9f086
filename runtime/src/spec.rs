//! What a listener is asked to be, before any socket exists: the IP
//! listener's specification (`Spec`, which the attribute's expansion writes
//! as a struct literal), and the parts every kind of listener shares.

use std::env;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use socket2::Socket;

#[cfg(unix)]
use crate::addr::{check_abstract, check_path, place_from_variable, ListenAddr};
use crate::addr::{parse_addr, parse_port};

/// A `backlog` below 1 is refused, for a socket bound on `place` or taken.
pub(crate) fn check_backlog(backlog: Option<i32>, place: &dyn std::fmt::Display) -> io::Result<()> {
    match backlog.filter(|&backlog| backlog < 1) {
        Some(backlog) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot listen on {place}: backlog must be at least 1, got {backlog}"),
        )),
        None => Ok(()),
    }
}

/// The backlog of a listener when none is given.
pub const DEFAULT_BACKLOG: i32 = 1024;

/// A function that sets more options on the socket before bind.
/// `Sync`, so that the future of an `async fn` holding it can be sent.
#[doc(hidden)]
pub type Configure<'a> = &'a (dyn Fn(&Socket) -> io::Result<()> + Sync);

/// Which passed socket to take (`inherit`).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inherit<'a> {
    /// `inherit = true`: the first passed socket that fits.
    Next,
    /// `inherit = "name"`: the socket `LISTEN_FDNAMES` gives this name.
    Named(&'a str),
}

/// What a listener binds when no variable (`port_env`, `addr_env`) gives its
/// address.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// This address, whole: an IPv6 scope id and flow info are kept.
    Addr(SocketAddr),
    /// No port was given: a variable must give it (or the whole address);
    /// this is the host it goes with.
    Host(IpAddr),
}

/// Everything about a listener except the OS policy. The attribute's
/// expansion builds one as a struct literal; the builder borrows its own
/// fields into one.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct Spec<'a> {
    /// What to bind when the variables below are unset.
    pub addr: Fallback,
    /// An environment variable whose value, when it is set, replaces the
    /// port of `addr`.
    pub port_env: Option<&'a str>,
    /// An environment variable whose value, when it is set, replaces `addr`
    /// whole: `127.0.0.1:8080`, `[::1]:8080`.
    pub addr_env: Option<&'a str>,
    /// The length of the queue of connections not yet accepted (TCP only);
    /// `None`: [`DEFAULT_BACKLOG`](crate::DEFAULT_BACKLOG) for a socket this
    /// binds, and a passed socket's queue is never lowered.
    pub backlog: Option<i32>,
    /// IPV6_V6ONLY; `None` is dual stack for an IPv6 address.
    pub only_v6: Option<bool>,
    /// Whether the socket is in nonblocking mode (set before bind; on a
    /// passed socket, set either way).
    pub nonblocking: bool,
    /// Called after the policy and the options, before bind.
    pub configure: Option<Configure<'a>>,
    /// Take a socket passed by a supervisor instead of binding, when one
    /// was passed.
    pub inherit: Option<Inherit<'a>>,
    /// How long to keep trying while the address is in use.
    pub retry: Option<Duration>,
}

impl Spec<'_> {
    /// Whether the function gives an address to bind at all: without one it
    /// only takes a passed socket (`inherit`).
    pub(crate) fn has_address(&self) -> bool {
        matches!(self.addr, Fallback::Addr(_)) || self.port_env.is_some() || self.addr_env.is_some()
    }

    /// The backlog to listen with when this binds.
    pub(crate) fn backlog(&self) -> i32 {
        self.backlog.unwrap_or(DEFAULT_BACKLOG)
    }

    /// The address to bind: `addr`, with the port from `port_env` when that
    /// variable is set.
    pub(crate) fn address(&self) -> io::Result<SocketAddr> {
        if let Some(name) = self.addr_env {
            if let Some(value) = env::var_os(name) {
                return parse_addr(name, &value);
            }
            if let Fallback::Host(_) = self.addr {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "environment variable {name} is not set and no fallback `addr` or \
                         `port` was given"
                    ),
                ));
            }
        }
        let from_env = self
            .port_env
            .and_then(|name| env::var_os(name).map(|value| (name, value)));
        match (from_env, self.port_env, self.addr) {
            (Some((name, value)), _, Fallback::Addr(mut addr)) => {
                addr.set_port(parse_port(name, &value)?);
                Ok(addr)
            }
            (Some((name, value)), _, Fallback::Host(host)) => {
                Ok(SocketAddr::new(host, parse_port(name, &value)?))
            }
            (None, _, Fallback::Addr(addr)) => Ok(addr),
            (None, Some(name), Fallback::Host(_)) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("environment variable {name} is not set and no fallback `port` was given"),
            )),
            (None, None, Fallback::Host(_)) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no port was given",
            )),
        }
    }

    /// [`Spec::address`], with the options checked against it.
    pub(crate) fn checked_address(&self) -> io::Result<SocketAddr> {
        let addr = self.address()?;
        check_backlog(self.backlog, &addr)?;
        if addr.is_ipv4() && self.only_v6.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot bind {addr}: only_v6 applies to IPv6 addresses only"),
            ));
        }
        Ok(addr)
    }
}

/// Everything about a Unix-domain listener. The attribute's expansion
/// builds one as a struct literal; [`UnixBuilder`](crate::UnixBuilder)
/// borrows its fields.
#[cfg(unix)]
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct UnixSpec<'a> {
    /// The path or abstract name; `None` when `path_env` alone gives it.
    pub addr: Option<ListenAddr>,
    /// An environment variable whose value, when it is set, replaces
    /// `addr`: a path, or `@` and an abstract name.
    pub path_env: Option<&'a str>,
    /// The permission bits of the socket's file.
    pub mode: Option<u32>,
    /// The length of the queue of connections not yet accepted (stream
    /// sockets only).
    pub backlog: Option<i32>,
    /// Whether the socket is in nonblocking mode.
    pub nonblocking: bool,
    /// Called after the options, before bind.
    pub configure: Option<Configure<'a>>,
    /// Take a socket passed by a supervisor instead of binding.
    pub inherit: Option<Inherit<'a>>,
    /// How long to keep trying while a live socket holds the path.
    pub retry: Option<Duration>,
}

#[cfg(unix)]
impl UnixSpec<'_> {
    /// The path or abstract name to bind: from `path_env` when it is set,
    /// else `addr`; checked against the OS's limit.
    pub(crate) fn place(&self) -> io::Result<ListenAddr> {
        if let Some(name) = self.path_env {
            if let Some(value) = env::var_os(name) {
                return place_from_variable(name, &value);
            }
            if self.addr.is_none() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "environment variable {name} is not set and no fallback `path` was given"
                    ),
                ));
            }
        }
        match &self.addr {
            Some(ListenAddr::Path(path)) => check_path(path)
                .map(|()| ListenAddr::Path(path.clone()))
                .map_err(|problem| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("cannot bind {}: {problem}", path.display()),
                    )
                }),
            Some(place @ ListenAddr::Abstract(name)) => check_abstract(name)
                .map(|()| place.clone())
                .map_err(|(kind, problem)| {
                    io::Error::new(kind, format!("cannot bind {place}: {problem}"))
                }),
            Some(ListenAddr::Ip(addr)) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot bind {addr} as a Unix-domain socket: it is an IP address"),
            )),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no path was given",
            )),
        }
    }

    pub(crate) fn checked_place(&self) -> io::Result<ListenAddr> {
        let place = self.place()?;
        check_backlog(self.backlog, &place)?;
        if self.mode.is_some_and(|mode| mode > 0o777) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot bind {place}: mode {:#o} is not a set of permission bits (0 to 0o777)",
                    self.mode.unwrap_or_default()
                ),
            ));
        }
        if let (ListenAddr::Abstract(_), Some(_)) = (&place, self.mode) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot bind {place}: an abstract name has no file, so no mode"),
            ));
        }
        Ok(place)
    }
}
