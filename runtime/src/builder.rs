//! The same listener as the attribute makes, for addresses and options known
//! only at run time.

use std::fmt;
use std::io;
use std::net::SocketAddr;
#[cfg(unix)]
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use socket2::Socket;

#[cfg(unix)]
use crate::addr::ListenAddr;
use crate::convert::Bindable;
#[cfg(unix)]
use crate::convert::BindableUnix;
use crate::listener::ip::{listen, listen_async};
#[cfg(unix)]
use crate::listener::unix::{listen_unix, listen_unix_async};
use crate::messages;
use crate::policy;
#[cfg(unix)]
use crate::spec::UnixSpec;
use crate::spec::{Configure, Fallback, Inherit, Spec};
use crate::sys::Policy;

/// `inherit` as the builder keeps it.
#[derive(Clone, Debug)]
enum InheritOwned {
    Next,
    Named(String),
}

/// Shared, so that a builder is `Clone`.
type SharedConfigure = Arc<dyn Fn(&Socket) -> io::Result<()> + Send + Sync>;

/// The options that IP and Unix-domain listeners share.
#[derive(Clone)]
struct Common {
    backlog: Option<i32>,
    nonblocking: bool,
    configure: Option<SharedConfigure>,
    inherit: Option<InheritOwned>,
    retry: Option<Duration>,
}

impl Common {
    fn new() -> Common {
        Common {
            backlog: None,
            nonblocking: false,
            configure: None,
            inherit: None,
            retry: None,
        }
    }

    fn configure(&self) -> Option<Configure<'_>> {
        self.configure.as_deref().map(|f| -> Configure<'_> { f })
    }

    /// The checks the attribute makes at compile time on the same values:
    /// the name of a passed socket, and the length of `retry`.
    fn check(&self) -> io::Result<()> {
        if let Some(InheritOwned::Named(name)) = &self.inherit {
            if let Some(problem) = messages::socket_name_problem(name) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "inherit_named({name:?}) is not the name of a passed socket: {problem}"
                    ),
                ));
            }
        }
        if let Some(limit) = self.retry {
            let max = Duration::from_secs(messages::MAX_RETRY_SECS);
            if limit < Duration::from_millis(1) || limit > max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("retry({limit:?}) is not a duration from 1ms to 1h"),
                ));
            }
        }
        Ok(())
    }

    fn inherit(&self) -> Option<Inherit<'_>> {
        self.inherit.as_ref().map(|inherit| match inherit {
            InheritOwned::Named(name) => Inherit::Named(name),
            InheritOwned::Next => Inherit::Next,
        })
    }

    fn fields(&self, f: &mut fmt::DebugStruct<'_, '_>) {
        f.field("backlog", &self.backlog)
            .field("nonblocking", &self.nonblocking)
            .field("configure", &self.configure.as_ref().map(|_| ".."))
            .field("inherit", &self.inherit)
            .field("retry", &self.retry);
    }
}

/// The setters of [`Common`], the same on both builders.
macro_rules! common_setters {
    ($builder:ident) => {
        /// The length of the queue of connections not yet accepted; stream
        /// sockets only. Default 1024; a value below 1 is an
        /// [`io::ErrorKind::InvalidInput`] error at bind.
        #[must_use]
        pub fn backlog(mut self, backlog: i32) -> $builder {
            self.common.backlog = Some(backlog);
            self
        }

        /// Puts the socket in nonblocking mode before it is bound.
        #[must_use]
        pub fn nonblocking(mut self, nonblocking: bool) -> $builder {
            self.common.nonblocking = nonblocking;
            self
        }

        /// Runs `configure` on the socket after the policy and the other
        /// options, just before bind, to set anything else.
        #[must_use]
        pub fn configure<F>(mut self, configure: F) -> $builder
        where
            F: Fn(&Socket) -> io::Result<()> + Send + Sync + 'static,
        {
            self.common.configure = Some(Arc::new(configure));
            self
        }

        /// Takes the first socket passed by a supervisor (systemd socket
        /// activation, `systemfd`) that fits and is not taken yet, instead of
        /// binding; binds as usual when none was passed. Like
        /// `inherit = true`: see the attribute's docs for the protocol, the
        /// checks and the variables.
        #[must_use]
        pub fn inherit(mut self) -> $builder {
            self.common.inherit = Some(InheritOwned::Next);
            self
        }

        /// Takes the passed socket that `LISTEN_FDNAMES` names `name`,
        /// instead of binding; binds as usual when there is none. Like
        /// `inherit = "name"`.
        #[must_use]
        pub fn inherit_named(mut self, name: impl Into<String>) -> $builder {
            self.common.inherit = Some(InheritOwned::Named(name.into()));
            self
        }

        /// While bind fails with "address in use", tries again, with a pause
        /// from 10 ms doubling up to 200 ms, until `limit` has passed. Like
        /// `retry = "2s"`.
        #[must_use]
        pub fn retry(mut self, limit: Duration) -> $builder {
            self.common.retry = Some(limit);
            self
        }
    };
}

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
#[derive(Clone)]
pub struct Builder {
    addr: SocketAddr,
    port_env: Option<String>,
    addr_env: Option<String>,
    only_v6: Option<bool>,
    reuse_port: bool,
    exclusive: bool,
    common: Common,
}

impl Builder {
    /// A builder for a listener on `addr`, with every option at its default.
    /// The address is bound as given: an IPv6 scope id (`fe80::1%2`) and
    /// flow info are kept.
    pub fn new(addr: impl Into<SocketAddr>) -> Builder {
        Builder {
            addr: addr.into(),
            port_env: None,
            addr_env: None,
            only_v6: None,
            reuse_port: false,
            exclusive: true,
            common: Common::new(),
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

    /// Takes the whole address from the environment variable `name` when it
    /// is set (`127.0.0.1:8080`, `[::1]:8080`); the address given to
    /// [`Builder::new`] is the fallback. With [`Builder::port_env`] as well
    /// it is an [`io::ErrorKind::InvalidInput`] error at bind, as
    /// `addr_env` with `port_env` is a compile error of the attribute.
    ///
    /// A value that is not a socket address is an
    /// [`io::ErrorKind::InvalidInput`] error that names the variable.
    #[must_use]
    pub fn addr_env(mut self, name: impl Into<String>) -> Builder {
        self.addr_env = Some(name.into());
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

    common_setters!(Builder);

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
        listen(&self.spec(), self.policy()?)
    }

    /// The policy, after the checks the attribute makes at compile time on
    /// the same combinations of options.
    fn policy(&self) -> io::Result<Policy> {
        self.common.check()?;
        for (method, name) in [("port_env", &self.port_env), ("addr_env", &self.addr_env)] {
            check_variable_name(method, name.as_deref())?;
        }
        if let (Some(addr_env), Some(port_env)) = (&self.addr_env, &self.port_env) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "port_env({port_env:?}) cannot be used with addr_env({addr_env:?}), whose \
                     variable gives host and port; use one of them"
                ),
            ));
        }
        if self.reuse_port && !self.exclusive {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "exclusive(false) has no effect with reuse_port(true): exclusive concerns \
                 Windows only, where reuse_port is refused; remove one of them",
            ));
        }
        policy::for_options(self.reuse_port, self.exclusive)
    }

    /// [`Builder::bind`] for async code: the pauses of [`Builder::retry`]
    /// do not block the executor.
    ///
    /// # Errors
    ///
    /// As [`Builder::bind`].
    pub async fn bind_async<T: Bindable>(&self) -> io::Result<T> {
        listen_async(&self.spec(), self.policy()?).await
    }

    fn spec(&self) -> Spec<'_> {
        Spec {
            addr: Fallback::Addr(self.addr),
            port_env: self.port_env.as_deref(),
            addr_env: self.addr_env.as_deref(),
            backlog: self.common.backlog,
            only_v6: self.only_v6,
            nonblocking: self.common.nonblocking,
            configure: self.common.configure(),
            inherit: self.common.inherit(),
            retry: self.common.retry,
        }
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("Builder");
        f.field("addr", &self.addr)
            .field("port_env", &self.port_env)
            .field("addr_env", &self.addr_env)
            .field("only_v6", &self.only_v6)
            .field("reuse_port", &self.reuse_port)
            .field("exclusive", &self.exclusive);
        self.common.fields(&mut f);
        f.finish()
    }
}

/// Builds a Unix-domain listener, like `#[restartable_listener(path = ...)]`,
/// from values known at run time: a stale socket file left by a crash is
/// removed, a live socket's never (see the crate docs for how).
///
/// ```no_run
/// use std::os::unix::net::UnixListener;
///
/// # fn main() -> std::io::Result<()> {
/// let listener: UnixListener = restartable::UnixBuilder::new("/run/app/app.sock")
///     .path_env("APP_SOCKET")
///     .mode(0o660)
///     .bind()?;
/// # drop(listener);
/// # Ok(())
/// # }
/// ```
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
#[derive(Clone)]
pub struct UnixBuilder {
    /// A path or an abstract name.
    place: ListenAddr,
    path_env: Option<String>,
    mode: Option<u32>,
    common: Common,
}

#[cfg(unix)]
impl UnixBuilder {
    /// A builder for a listener on the socket file `path`, with every
    /// option at its default.
    pub fn new(path: impl Into<PathBuf>) -> UnixBuilder {
        UnixBuilder::with_place(ListenAddr::Path(path.into()))
    }

    /// A builder for a listener on `name` in the abstract namespace of
    /// Linux and Android: no file, so nothing to clean up, and no mode.
    /// Elsewhere [`UnixBuilder::bind`] fails with
    /// [`io::ErrorKind::Unsupported`].
    pub fn abstract_name(name: impl Into<Vec<u8>>) -> UnixBuilder {
        UnixBuilder::with_place(ListenAddr::Abstract(name.into()))
    }

    fn with_place(place: ListenAddr) -> UnixBuilder {
        UnixBuilder {
            place,
            path_env: None,
            mode: None,
            common: Common::new(),
        }
    }

    /// Takes the path from the environment variable `name` when it is set
    /// (a value `@name` is an abstract name); the path given to
    /// [`UnixBuilder::new`] is the fallback. A value that cannot be a
    /// socket's path is an [`io::ErrorKind::InvalidInput`] error that names
    /// the variable.
    #[must_use]
    pub fn path_env(mut self, name: impl Into<String>) -> UnixBuilder {
        self.path_env = Some(name.into());
        self
    }

    /// The permission bits of the socket's file, such as `0o660`, exactly:
    /// the umask does not apply, and the mode is set without following a
    /// symbolic link. On Linux and Android the file never has more
    /// permissions than these; elsewhere it has the umask's until the mode
    /// is set, before `listen` (see the crate docs).
    #[must_use]
    pub fn mode(mut self, mode: u32) -> UnixBuilder {
        self.mode = Some(mode);
        self
    }

    common_setters!(UnixBuilder);

    /// Creates the socket, binds (removing a stale socket file at the
    /// path first) and, for a stream socket, listens; or takes a passed
    /// socket, with [`UnixBuilder::inherit`].
    ///
    /// # Errors
    ///
    /// Any failure of those steps, with its [`io::ErrorKind`] kept and the
    /// path in the message: [`io::ErrorKind::AddrInUse`] when a live socket
    /// or another restartable process holds the path,
    /// [`io::ErrorKind::AlreadyExists`] when something that is not a socket
    /// is there (it is left alone).
    pub fn bind<T: BindableUnix>(&self) -> io::Result<T> {
        self.check()?;
        listen_unix(&self.spec())
    }

    fn check(&self) -> io::Result<()> {
        self.common.check()?;
        check_variable_name("path_env", self.path_env.as_deref())
    }

    /// [`UnixBuilder::bind`] for async code: the pauses of
    /// [`UnixBuilder::retry`] do not block the executor.
    ///
    /// # Errors
    ///
    /// As [`UnixBuilder::bind`].
    pub async fn bind_async<T: BindableUnix>(&self) -> io::Result<T> {
        self.check()?;
        listen_unix_async(&self.spec()).await
    }

    fn spec(&self) -> UnixSpec<'_> {
        UnixSpec {
            addr: Some(self.place.clone()),
            path_env: self.path_env.as_deref(),
            mode: self.mode,
            backlog: self.common.backlog,
            nonblocking: self.common.nonblocking,
            configure: self.common.configure(),
            inherit: self.common.inherit(),
            retry: self.common.retry,
        }
    }
}

#[cfg(unix)]
impl fmt::Debug for UnixBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("UnixBuilder");
        f.field("place", &self.place)
            .field("path_env", &self.path_env)
            .field("mode", &self.mode.map(|mode| format!("{mode:#o}")));
        self.common.fields(&mut f);
        f.finish()
    }
}

/// A variable name given to `port_env`, `addr_env` or `path_env`, checked
/// as the attribute checks it.
fn check_variable_name(method: &str, name: Option<&str>) -> io::Result<()> {
    match name {
        Some(name) if !messages::is_variable_name(name) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{method}({name:?}) is not an environment variable name (letters, digits and \
                 `_`, not starting with a digit)"
            ),
        )),
        _ => Ok(()),
    }
}

/// The builder's policy is the attribute's, for each choice of options: the
/// attribute is expanded here with its `crate` pointed at a `__private`
/// whose `listen` gives back the policy that the expansion passes it.
#[cfg(all(test, feature = "macros"))]
mod tests {
    use std::io;
    use std::net::Ipv4Addr;

    use restartable_macros::restartable_listener;

    use super::Builder;
    use crate::sys::Policy;

    mod attribute {
        pub(crate) mod __private {
            pub use crate::__private::*;
            use crate::sys::Policy;

            // The signature of the real one, which can fail.
            #[allow(clippy::unnecessary_wraps)]
            pub fn listen<T: From<Policy>>(_spec: &Spec<'_>, policy: Policy) -> std::io::Result<T> {
                Ok(T::from(policy))
            }
        }
    }

    #[restartable_listener(port = 0, crate = "crate::builder::tests::attribute")]
    fn by_default() -> io::Result<Policy> {}

    #[restartable_listener(
        port = 0,
        exclusive = false,
        crate = "crate::builder::tests::attribute"
    )]
    fn not_exclusive() -> io::Result<Policy> {}

    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    #[restartable_listener(
        port = 0,
        reuse_port = true,
        crate = "crate::builder::tests::attribute"
    )]
    fn reuse_port() -> io::Result<Policy> {}

    fn builder() -> Builder {
        Builder::new((Ipv4Addr::LOCALHOST, 0))
    }

    #[test]
    fn the_builder_takes_the_policy_of_the_attribute() {
        assert_eq!(builder().policy().unwrap(), by_default().unwrap());
        assert_eq!(
            builder().exclusive(false).policy().unwrap(),
            not_exclusive().unwrap()
        );
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
        {
            assert_eq!(
                builder().reuse_port(true).policy().unwrap(),
                reuse_port().unwrap()
            );
            // Control: the comparison tells the policies apart.
            assert_ne!(reuse_port().unwrap(), by_default().unwrap());
        }
        // Where the expansion's branch is a compile error, the builder's
        // is an error with the same message.
        #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
        {
            let error = builder().reuse_port(true).policy().unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::Unsupported);
            let message = if cfg!(windows) {
                crate::messages::REUSE_PORT_ON_WINDOWS
            } else {
                crate::messages::REUSE_PORT_ELSEWHERE
            };
            assert_eq!(error.to_string(), message);
        }
    }
}
