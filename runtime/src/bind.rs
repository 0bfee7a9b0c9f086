//! The one path from a specification to a bound socket, shared by the
//! attribute's expansion and the builder: take a passed socket if asked,
//! else create, apply the OS policy, set the requested options, bind (again
//! while the address is in use, if asked), listen, convert.

use std::env;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::thread;
use std::time::Duration;

use socket2::{Domain, Socket};

use crate::retry::{Delay, Retry};
use crate::sys::{self, Policy};
use crate::{Bindable, SocketKind};

/// A function that sets more options on the socket before bind.
/// `Sync`, so that the future of an `async fn` holding it can be sent.
pub(crate) type Configure<'a> = &'a (dyn Fn(&Socket) -> io::Result<()> + Sync);

/// Which passed socket to take (`inherit`).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inherit<'a> {
    /// `inherit = true`: the first passed socket not yet taken.
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
    /// The address to bind, without its port.
    pub host: IpAddr,
    /// The port, or the fallback when `port_env` names a variable.
    pub port: Option<u16>,
    /// An environment variable that overrides `port` when it is set.
    pub port_env: Option<&'a str>,
    /// The length of the queue of connections not yet accepted (TCP only).
    pub backlog: i32,
    /// IPV6_V6ONLY; `None` is dual stack for an IPv6 address.
    pub only_v6: Option<bool>,
    /// Whether the socket is put in nonblocking mode before it is bound.
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
    /// The port: from `port_env` when that variable is set, else `port`;
    /// `None` when neither gives one.
    pub(crate) fn port(&self) -> io::Result<Option<u16>> {
        match self
            .port_env
            .and_then(|name| env::var_os(name).map(|value| (name, value)))
        {
            Some((name, value)) => parse_port(name, &value).map(Some),
            None => Ok(self.port),
        }
    }

    /// The address to bind: `host` with [`Spec::port`].
    pub(crate) fn address(&self) -> io::Result<SocketAddr> {
        match (self.port()?, self.port_env) {
            (Some(port), _) => Ok(SocketAddr::new(self.host, port)),
            (None, Some(name)) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("environment variable {name} is not set and no fallback `port` was given"),
            )),
            (None, None) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no port was given",
            )),
        }
    }
}

fn parse_port(name: &str, value: &OsString) -> io::Result<u16> {
    value
        .to_str()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| bad_variable(name, value, "is not a port number (expected 0 to 65535)"))
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

/// The socket `spec` describes: a passed one when `inherit` asks for it and
/// one was passed; else created with `policy`, bound (retried while the
/// address is in use, when `retry` asks for it) and, for a stream socket,
/// listening. Every error keeps its kind and names the address.
#[doc(hidden)]
pub fn listen<T: Bindable>(spec: &Spec<'_>, policy: Policy) -> io::Result<T> {
    let mut attempts = Attempts::new(spec, policy);
    loop {
        match attempts.next::<T>() {
            Next::Done(result) => return result,
            Next::Pause(pause) => thread::sleep(pause),
        }
    }
}

/// [`listen`] for an `async fn`: the same, except that the pauses between
/// attempts let the executor run other tasks. Independent of the async
/// runtime: a pause is a short-lived thread that wakes the task.
#[doc(hidden)]
pub async fn listen_async<T: Bindable>(spec: &Spec<'_>, policy: Policy) -> io::Result<T> {
    let mut attempts = Attempts::new(spec, policy);
    loop {
        match attempts.next::<T>() {
            Next::Done(result) => return result,
            Next::Pause(pause) => Delay::new(pause).await,
        }
    }
}

/// The steps of [`listen`] and [`listen_async`], which differ only in how
/// they pause.
struct Attempts<'s, 'a> {
    spec: &'s Spec<'a>,
    policy: Policy,
    started: bool,
    retry: Option<Retry>,
}

enum Next<T> {
    Done(io::Result<T>),
    Pause(Duration),
}

impl<'s, 'a> Attempts<'s, 'a> {
    fn new(spec: &'s Spec<'a>, policy: Policy) -> Self {
        Attempts {
            spec,
            policy,
            started: false,
            retry: None,
        }
    }

    /// The first call checks the context and takes a passed socket if there
    /// is one; each call binds once. Then: the result, or a pause before the
    /// next call.
    fn next<T: Bindable>(&mut self) -> Next<T> {
        let spec = self.spec;
        if !self.started {
            self.started = true;
            match T::check_context().and_then(|()| inherited(spec, T::KIND)) {
                Ok(Some(socket)) => return Next::Done(T::from_socket(socket)),
                Ok(None) => self.retry = spec.retry.map(Retry::new),
                Err(error) => return Next::Done(Err(error)),
            }
        }
        let retry = &mut self.retry;
        match bind::<T>(spec, self.policy) {
            Ok(socket) => Next::Done(T::from_socket(socket)),
            Err(error) => match retry.as_mut().and_then(|retry| retry.pause_after(&error)) {
                Some(pause) => Next::Pause(pause),
                None => Next::Done(Err(gave_up(retry.as_ref(), error))),
            },
        }
    }
}

#[cfg(unix)]
fn inherited(spec: &Spec<'_>, kind: SocketKind) -> io::Result<Option<Socket>> {
    match spec.inherit {
        Some(inherit) => crate::handoff::take(spec, inherit, kind),
        None => Ok(None),
    }
}

/// Windows has no socket activation: `inherit` binds as usual.
#[cfg(windows)]
fn inherited(_spec: &Spec<'_>, _kind: SocketKind) -> io::Result<Option<Socket>> {
    Ok(None)
}

/// The last error of a retry, saying how long it tried.
fn gave_up(retry: Option<&Retry>, error: io::Error) -> io::Error {
    let tried = match retry {
        Some(retry) if error.kind() == io::ErrorKind::AddrInUse => retry.tried(),
        _ => return error,
    };
    let is_failure = error
        .get_ref()
        .map_or(false, <dyn std::error::Error + Send + Sync>::is::<Failure>);
    if !is_failure {
        return error;
    }
    let kind = error.kind();
    match error
        .into_inner()
        .map(<dyn std::error::Error + Send + Sync>::downcast::<Failure>)
    {
        Some(Ok(mut failure)) => {
            failure.tried = Some(tried);
            io::Error::new(kind, *failure)
        }
        Some(Err(inner)) => io::Error::new(kind, inner),
        None => io::Error::from(kind),
    }
}

/// One attempt: create, set the policy and the options, bind, listen.
fn bind<T: Bindable>(spec: &Spec<'_>, policy: Policy) -> io::Result<Socket> {
    let addr = spec.address()?;
    let fail = |action: &'static str, error: io::Error| Failure::wrap(action, addr, error);
    if spec.backlog < 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "cannot listen on {addr}: backlog must be at least 1, got {}",
                spec.backlog
            ),
        ));
    }
    if addr.is_ipv4() && spec.only_v6.is_some() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot bind {addr}: only_v6 applies to IPv6 addresses only"),
        ));
    }
    let socket = Socket::new(Domain::for_address(addr), T::KIND.socket_type(), None)
        .map_err(|e| fail("create a socket for", e))?;
    sys::apply_listener_policy(&socket, T::KIND, policy).map_err(|(action, e)| fail(action, e))?;
    match (addr, spec.only_v6) {
        // Set either way, so that dual stack does not depend on the OS
        // default or on a sysctl such as net.ipv6.bindv6only.
        (SocketAddr::V6(_), only_v6) => socket
            .set_only_v6(only_v6.unwrap_or(false))
            .map_err(|e| fail("set IPV6_V6ONLY on", e))?,
        (SocketAddr::V4(_), _) => {}
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
        .map_err(|error| Failure::wrap_bind(addr, T::KIND, error))?;
    if T::KIND == SocketKind::Stream {
        socket
            .listen(spec.backlog)
            .map_err(|e| fail("listen on", e))?;
    }
    Ok(socket)
}

/// What went wrong, on which address; the `io::Error` around it keeps the
/// original kind.
#[derive(Debug)]
struct Failure {
    action: &'static str,
    addr: SocketAddr,
    error: io::Error,
    /// For a failed bind: the kind of socket, to look up who holds the port
    /// when the message is displayed (not before: a caller that retries or
    /// only checks the kind does not pay for reading `/proc`).
    bound_kind: Option<SocketKind>,
    /// After `retry`: how long it tried and how many attempts it made.
    tried: Option<(Duration, u32)>,
}

impl Failure {
    fn wrap(action: &'static str, addr: SocketAddr, error: io::Error) -> io::Error {
        Failure::into_io_error(action, addr, error, None)
    }

    fn wrap_bind(addr: SocketAddr, kind: SocketKind, error: io::Error) -> io::Error {
        Failure::into_io_error("bind", addr, error, Some(kind))
    }

    fn into_io_error(
        action: &'static str,
        addr: SocketAddr,
        error: io::Error,
        bound_kind: Option<SocketKind>,
    ) -> io::Error {
        io::Error::new(
            error.kind(),
            Failure {
                action,
                addr,
                error,
                bound_kind,
                tried: None,
            },
        )
    }
}

/// Who holds the port, on Linux and Android, from `/proc`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn port_holder(addr: SocketAddr, kind: SocketKind) -> Option<String> {
    crate::holder::describe(addr, kind)
}

/// Elsewhere nothing is said rather than something unsure.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn port_holder(_addr: SocketAddr, _kind: SocketKind) -> Option<String> {
    None
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot {} {}: ", self.action, self.addr)?;
        match (self.error.kind(), self.error.raw_os_error()) {
            (io::ErrorKind::AddrInUse, Some(code)) => write!(
                f,
                "address in use: another socket holds this port (os error {code})"
            )?,
            (io::ErrorKind::AddrInUse, None) => {
                write!(f, "address in use: another socket holds this port")?;
            }
            _ => write!(f, "{}", self.error)?,
        }
        let holder = match self.bound_kind {
            Some(kind) if self.error.kind() == io::ErrorKind::AddrInUse => {
                port_holder(self.addr, kind)
            }
            _ => None,
        };
        if let Some(holder) = holder {
            write!(f, "; {holder}")?;
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

// The OS error is part of the message, so it is not a separate source:
// error reporters would print it twice.
impl std::error::Error for Failure {}
