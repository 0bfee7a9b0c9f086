//! The one path from a specification to a bound socket, shared by the
//! attribute's expansion and the builder: take a passed socket if asked,
//! else create, apply the OS policy, set the requested options, bind (again
//! while the address is in use, if asked), listen, convert.

use std::env;
use std::ffi::OsString;
use std::io;
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use socket2::{Domain, Socket};

use crate::error::{self, bad_variable, Failure};
use crate::retry::{Delay, Retry};
use crate::sys::{self, Policy};
use crate::{Bindable, SocketKind};

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

/// Everything about a listener except the OS policy. The attribute's
/// expansion builds one as a struct literal; the builder borrows its own
/// fields into one.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct Spec<'a> {
    /// The address to bind, whole: an IPv6 scope id and flow info are kept.
    pub addr: SocketAddr,
    /// An environment variable whose value, when it is set, replaces the
    /// port of `addr`.
    pub port_env: Option<&'a str>,
    /// Whether the port of `addr` is used when `port_env` is unset; `false`
    /// when `port_env` alone gives the port.
    pub port_fallback: bool,
    /// The length of the queue of connections not yet accepted (TCP only).
    pub backlog: i32,
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
    /// The address to bind: `addr`, with the port from `port_env` when that
    /// variable is set.
    pub(crate) fn address(&self) -> io::Result<SocketAddr> {
        let mut addr = self.addr;
        let from_env = self
            .port_env
            .and_then(|name| env::var_os(name).map(|value| (name, value)));
        match (from_env, self.port_env) {
            (Some((name, value)), _) => addr.set_port(parse_port(name, &value)?),
            (None, _) if self.port_fallback => {}
            (None, Some(name)) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "environment variable {name} is not set and no fallback `port` was given"
                    ),
                ))
            }
            (None, None) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "no port was given",
                ))
            }
        }
        Ok(addr)
    }

    /// [`Spec::address`], with the options checked against it.
    pub(crate) fn checked_address(&self) -> io::Result<SocketAddr> {
        let addr = self.address()?;
        if self.backlog < 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot listen on {addr}: backlog must be at least 1, got {}",
                    self.backlog
                ),
            ));
        }
        if addr.is_ipv4() && self.only_v6.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot bind {addr}: only_v6 applies to IPv6 addresses only"),
            ));
        }
        Ok(addr)
    }
}

pub(crate) fn parse_port(name: &str, value: &OsString) -> io::Result<u16> {
    value
        .to_str()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| bad_variable(name, value, "is not a port number (expected 0 to 65535)"))
}

/// The socket `spec` describes: a passed one when `inherit` asks for it and
/// one was passed; else created with `policy`, bound (retried while the
/// address is in use, when `retry` asks for it) and, for a stream socket,
/// listening. Every error keeps its kind and names the address.
#[doc(hidden)]
pub fn listen<T: Bindable>(spec: &Spec<'_>, policy: Policy) -> io::Result<T> {
    run(&IpPlan { spec, policy }, T::KIND, T::check_context).and_then(T::from_socket)
}

/// [`listen`] for an `async fn`: the same, except that the pauses between
/// attempts let the executor run other tasks. Independent of the async
/// runtime: a pause is a short-lived thread that wakes the task.
#[doc(hidden)]
pub async fn listen_async<T: Bindable>(spec: &Spec<'_>, policy: Policy) -> io::Result<T> {
    run_async(&IpPlan { spec, policy }, T::KIND, T::check_context)
        .await
        .and_then(T::from_socket)
}

/// How one listener is made, whatever its address: the steps that
/// [`Attempts`] takes in turn.
pub(crate) trait Plan: Sync {
    /// How long to keep trying while the address is in use.
    fn retry(&self) -> Option<Duration>;
    /// A passed socket that fits, when `inherit` asks for one.
    fn inherited(&self, kind: SocketKind) -> io::Result<Handoff>;
    /// One attempt to create, bind and (for a stream socket) listen.
    fn bind(&self, kind: SocketKind) -> io::Result<Socket>;
}

/// The socket `plan` describes, pausing the thread between attempts.
pub(crate) fn run(
    plan: &dyn Plan,
    kind: SocketKind,
    check_context: fn() -> io::Result<()>,
) -> io::Result<Socket> {
    let mut attempts = Attempts::new(plan, kind, check_context);
    loop {
        match attempts.next() {
            Next::Done(result) => return result,
            Next::Pause(pause) => thread::sleep(pause),
        }
    }
}

/// The socket `plan` describes, awaiting the pauses between attempts.
pub(crate) async fn run_async(
    plan: &dyn Plan,
    kind: SocketKind,
    check_context: fn() -> io::Result<()>,
) -> io::Result<Socket> {
    let mut attempts = Attempts::new(plan, kind, check_context);
    loop {
        match attempts.next() {
            Next::Done(result) => return result,
            Next::Pause(pause) => Delay::new(pause).await,
        }
    }
}

/// The steps of [`run`] and [`run_async`], which differ only in how they
/// pause.
struct Attempts<'p> {
    plan: &'p dyn Plan,
    kind: SocketKind,
    check_context: fn() -> io::Result<()>,
    started: bool,
    retry: Option<Retry>,
    /// Sockets passed to this process and not taken, said when the address
    /// then turns out to be in use.
    not_taken: Option<String>,
}

enum Next {
    Done(io::Result<Socket>),
    Pause(Duration),
}

impl<'p> Attempts<'p> {
    fn new(plan: &'p dyn Plan, kind: SocketKind, check_context: fn() -> io::Result<()>) -> Self {
        Attempts {
            plan,
            kind,
            check_context,
            started: false,
            retry: None,
            not_taken: None,
        }
    }

    /// The first call checks the context and takes a passed socket if there
    /// is one; each call binds once. Then: the result, or a pause before the
    /// next call.
    fn next(&mut self) -> Next {
        if !self.started {
            self.started = true;
            match (self.check_context)().and_then(|()| self.plan.inherited(self.kind)) {
                Ok(Handoff::Taken(socket)) => return Next::Done(Ok(socket)),
                Ok(Handoff::NotTaken(not_taken)) => {
                    self.not_taken = not_taken;
                    self.retry = self.plan.retry().map(Retry::new);
                }
                Err(error) => return Next::Done(Err(error)),
            }
        }
        let retry = &mut self.retry;
        match self.plan.bind(self.kind) {
            Ok(socket) => Next::Done(Ok(socket)),
            Err(error) => match retry.as_mut().and_then(|retry| retry.pause_after(&error)) {
                Some(pause) => Next::Pause(pause),
                None => Next::Done(Err(error::finish(
                    error,
                    retry.as_ref().map(Retry::tried),
                    self.not_taken.take(),
                ))),
            },
        }
    }
}

/// What `inherit` found.
pub(crate) enum Handoff {
    /// A passed socket that fits, checked and prepared.
    // Windows has no socket activation.
    #[cfg_attr(windows, allow(dead_code))]
    Taken(Socket),
    /// None: bind as usual. Any sockets passed to this process and left
    /// alone are described here, to be said if the port is in use.
    NotTaken(Option<String>),
}

/// An IP listener: the spec and the OS policy.
struct IpPlan<'s, 'a> {
    spec: &'s Spec<'a>,
    policy: Policy,
}

impl Plan for IpPlan<'_, '_> {
    fn retry(&self) -> Option<Duration> {
        self.spec.retry
    }

    #[cfg(unix)]
    fn inherited(&self, kind: SocketKind) -> io::Result<Handoff> {
        let spec = self.spec;
        match spec.inherit {
            Some(inherit) => {
                let wanted = crate::handoff::Wanted {
                    kind,
                    place: crate::handoff::WantedPlace::Ip {
                        addr: spec.checked_address()?,
                        only_v6: spec.only_v6,
                        shares_port: self.policy.shares_port(),
                    },
                    backlog: spec.backlog,
                    nonblocking: spec.nonblocking,
                };
                crate::handoff::take(inherit, &wanted)
            }
            None => Ok(Handoff::NotTaken(None)),
        }
    }

    /// Windows has no socket activation: `inherit` binds as usual.
    #[cfg(windows)]
    fn inherited(&self, _kind: SocketKind) -> io::Result<Handoff> {
        Ok(Handoff::NotTaken(None))
    }

    /// One attempt: create, set the policy and the options, bind, listen.
    fn bind(&self, kind: SocketKind) -> io::Result<Socket> {
        let spec = self.spec;
        let addr = spec.checked_address()?;
        let fail = |action: &'static str, error: io::Error| Failure::wrap(action, addr, error);
        let socket = Socket::new(Domain::for_address(addr), kind.socket_type(), None)
            .map_err(|e| fail("create a socket for", e))?;
        sys::apply_listener_policy(&socket, kind, self.policy)
            .map_err(|(action, e)| fail(action, e))?;
        if addr.is_ipv6() {
            sys::set_only_v6(&socket, spec.only_v6).map_err(|e| fail("set IPV6_V6ONLY on", e))?;
        }
        if spec.nonblocking {
            socket
                .set_nonblocking(true)
                .map_err(|e| fail("make nonblocking the socket for", e))?;
        }
        if let Some(configure) = spec.configure {
            configure(&socket).map_err(|e| fail("configure the socket for", e))?;
        }
        socket
            .bind(&addr.into())
            .map_err(|error| Failure::wrap_bind(addr, kind, error))?;
        if kind == SocketKind::Stream {
            socket
                .listen(spec.backlog)
                .map_err(|e| fail("listen on", e))?;
        }
        Ok(socket)
    }
}
