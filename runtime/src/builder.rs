//! The same listener as the attribute makes, for addresses and options known
//! only at run time.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::Socket;

use crate::bind::{listen, listen_async, Configure, Inherit, Spec};
use crate::sys::Policy;
use crate::Bindable;

/// `inherit` as the builder keeps it.
#[derive(Debug)]
enum InheritOwned {
    Next,
    Named(String),
}

type BoxedConfigure = Box<dyn Fn(&Socket) -> io::Result<()> + Send + Sync>;

/// Builds a listener with the per-OS policy, like `#[restartable_listener]`,
/// from values known at run time.
///
/// Each method matches the attribute key of the same name and has the same
/// default. The policy (SO_REUSEADDR on unix, SO_EXCLUSIVEADDRUSE on
/// Windows) is applied by the same code as for the attribute.
///
/// ```no_run
/// use std::net::{Ipv4Addr, TcpListener, UdpSocket};
///
/// # fn main() -> std::io::Result<()> {
/// let listener: TcpListener = restartable::Builder::new((Ipv4Addr::LOCALHOST, 8080))
///     .port_env("PORT")
///     .backlog(128)
///     .bind()?;
///
/// let socket: UdpSocket = restartable::Builder::new((Ipv4Addr::LOCALHOST, 5353)).bind()?;
/// # drop((listener, socket));
/// # Ok(())
/// # }
/// ```
pub struct Builder {
    addr: SocketAddr,
    port_env: Option<String>,
    backlog: i32,
    only_v6: Option<bool>,
    nonblocking: bool,
    reuse_port: bool,
    exclusive: bool,
    configure: Option<BoxedConfigure>,
    inherit: Option<InheritOwned>,
    retry: Option<Duration>,
}

impl Builder {
    /// A builder for a listener on `addr`, with every option at its default.
    /// The address is bound as given: an IPv6 scope id (`fe80::1%2`) and
    /// flow info are kept.
    pub fn new(addr: impl Into<SocketAddr>) -> Builder {
        Builder {
            addr: addr.into(),
            port_env: None,
            backlog: crate::DEFAULT_BACKLOG,
            only_v6: None,
            nonblocking: false,
            reuse_port: false,
            exclusive: true,
            configure: None,
            inherit: None,
            retry: None,
        }
    }

    /// Takes the port from the environment variable `name` when it is set;
    /// the port of the address given to [`Builder::new`] is the fallback.
    ///
    /// A value that is not a port number 0 to 65535 is an
    /// [`io::ErrorKind::InvalidInput`] error that names the variable.
    #[must_use]
    pub fn port_env(mut self, name: impl Into<String>) -> Builder {
        self.port_env = Some(name.into());
        self
    }

    /// The length of the queue of connections not yet accepted; TCP only.
    /// Default 1024; a value below 1 is an [`io::ErrorKind::InvalidInput`]
    /// error at bind.
    #[must_use]
    pub fn backlog(mut self, backlog: i32) -> Builder {
        self.backlog = backlog;
        self
    }

    /// IPV6_V6ONLY for an IPv6 address. Without this call an IPv6 socket is
    /// set to dual stack explicitly; for an IPv4 address, calling it is an
    /// [`io::ErrorKind::InvalidInput`] error at bind.
    #[must_use]
    pub fn only_v6(mut self, only_v6: bool) -> Builder {
        self.only_v6 = Some(only_v6);
        self
    }

    /// Puts the socket in nonblocking mode before it is bound.
    #[must_use]
    pub fn nonblocking(mut self, nonblocking: bool) -> Builder {
        self.nonblocking = nonblocking;
        self
    }

    /// Lets several sockets share the port, with the kernel balancing
    /// connections: SO_REUSEPORT on Linux and Android, SO_REUSEPORT_LB on
    /// FreeBSD. Elsewhere [`Builder::bind`] fails with
    /// [`io::ErrorKind::Unsupported`]: on Windows the only way to share a
    /// port is SO_REUSEADDR, which lets any process take it.
    #[must_use]
    pub fn reuse_port(mut self, reuse_port: bool) -> Builder {
        self.reuse_port = reuse_port;
        self
    }

    /// Windows only: `false` leaves out SO_EXCLUSIVEADDRUSE (SO_REUSEADDR is
    /// never set either). See the crate docs for when that is wanted.
    #[must_use]
    pub fn exclusive(mut self, exclusive: bool) -> Builder {
        self.exclusive = exclusive;
        self
    }

    /// Runs `configure` on the socket after the policy and the other
    /// options, just before bind, to set anything else.
    #[must_use]
    pub fn configure<F>(mut self, configure: F) -> Builder
    where
        F: Fn(&Socket) -> io::Result<()> + Send + Sync + 'static,
    {
        self.configure = Some(Box::new(configure));
        self
    }

    /// Takes the first socket passed by a supervisor (systemd socket
    /// activation, `systemfd`) that is not taken yet, instead of binding;
    /// binds as usual when none was passed. Like `inherit = true`: see the
    /// attribute's docs for the protocol, the checks and the variables.
    #[must_use]
    pub fn inherit(mut self) -> Builder {
        self.inherit = Some(InheritOwned::Next);
        self
    }

    /// Takes the passed socket that `LISTEN_FDNAMES` names `name`, instead
    /// of binding; binds as usual when there is none. Like
    /// `inherit = "name"`.
    #[must_use]
    pub fn inherit_named(mut self, name: impl Into<String>) -> Builder {
        self.inherit = Some(InheritOwned::Named(name.into()));
        self
    }

    /// While bind fails with "address in use", tries again, with a pause
    /// from 10 ms doubling up to 200 ms, until `limit` has passed. Like
    /// `retry = "2s"`.
    #[must_use]
    pub fn retry(mut self, limit: Duration) -> Builder {
        self.retry = Some(limit);
        self
    }

    /// Creates the socket, applies the policy and the options, binds and,
    /// for a TCP listener, listens (or takes a passed socket, with
    /// [`Builder::inherit`]).
    ///
    /// # Errors
    ///
    /// Any failure of those steps, with its [`io::ErrorKind`] kept and the
    /// address in the message; see also [`Builder::port_env`],
    /// [`Builder::backlog`], [`Builder::only_v6`] and
    /// [`Builder::reuse_port`].
    pub fn bind<T: Bindable>(&self) -> io::Result<T> {
        let policy = Policy::from_options(self.reuse_port, self.exclusive)?;
        listen(&self.spec(), policy)
    }

    /// [`Builder::bind`] for async code: the pauses of [`Builder::retry`]
    /// do not block the executor.
    ///
    /// # Errors
    ///
    /// As [`Builder::bind`].
    pub async fn bind_async<T: Bindable>(&self) -> io::Result<T> {
        let policy = Policy::from_options(self.reuse_port, self.exclusive)?;
        listen_async(&self.spec(), policy).await
    }

    fn spec(&self) -> Spec<'_> {
        Spec {
            addr: self.addr,
            port_env: self.port_env.as_deref(),
            port_fallback: true,
            backlog: self.backlog,
            only_v6: self.only_v6,
            nonblocking: self.nonblocking,
            configure: self.configure.as_ref().map(|f| -> Configure<'_> { f }),
            inherit: self.inherit.as_ref().map(|inherit| match inherit {
                InheritOwned::Named(name) => Inherit::Named(name),
                InheritOwned::Next => Inherit::Next,
            }),
            retry: self.retry,
        }
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("addr", &self.addr)
            .field("port_env", &self.port_env)
            .field("backlog", &self.backlog)
            .field("only_v6", &self.only_v6)
            .field("nonblocking", &self.nonblocking)
            .field("reuse_port", &self.reuse_port)
            .field("exclusive", &self.exclusive)
            .field("configure", &self.configure.as_ref().map(|_| ".."))
            .field("inherit", &self.inherit)
            .field("retry", &self.retry)
            .finish()
    }
}
