// The crate docs are the README (runtime/README.md links to the one at the
// root of the repository), so that the two cannot drift apart; its Rust
// examples run as this crate's doctests.
#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
// Without the `macros` feature (as in the Windows check, built with rustc
// 1.63) the attribute the docs link to is absent.
#![cfg_attr(not(feature = "macros"), allow(rustdoc::broken_intra_doc_links))]
#![warn(missing_debug_implementations, rust_2018_idioms)]
// Without `macros` the runtime builds with Rust 1.63 (scripts/windows-check.sh
// proves it), which has neither let-else (1.65) nor `is_ok_and` (1.70);
// clippy goes by the package's rust-version, 1.71, the attribute's.
#![allow(clippy::manual_let_else, clippy::unnecessary_map_or)]

#[cfg(not(any(unix, windows)))]
compile_error!(
    "restartable supports the `unix` target family (Linux, Android, macOS, iOS, the BSDs, illumos) \
     and the `windows` family; this target is in neither, so no socket policy is defined for it"
);

// Everything below is for unix and windows only: on any other target the
// error above is the only one (socket2 and tokio are not even built).
#[cfg(all(feature = "async-io", any(unix, windows)))]
mod async_io;
#[cfg(any(unix, windows))]
mod attempts;
#[cfg(any(unix, windows))]
mod background;
#[cfg(any(unix, windows))]
mod bind;
#[cfg(any(unix, windows))]
mod bindable;
#[cfg(any(unix, windows))]
mod builder;
#[cfg(any(unix, windows))]
mod error;
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub mod handoff;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod holder;
#[cfg(any(unix, windows))]
mod listen_addr;
#[cfg(any(unix, windows))]
mod messages;
#[cfg(any(unix, windows))]
mod retry;
#[cfg(any(unix, windows))]
mod spec;
#[cfg(all(feature = "tokio", any(unix, windows)))]
mod tokio;

#[cfg(any(unix, windows))]
#[cfg_attr(unix, path = "sys/unix.rs")]
#[cfg_attr(windows, path = "sys/windows.rs")]
mod sys;
#[cfg(unix)]
mod unix_socket;
// Microsoft's table of Winsock's bind refusals: used on Windows, compiled
// and tested everywhere.
#[cfg(any(unix, windows))]
mod winsock_bind;

#[cfg(any(unix, windows))]
pub use crate::bindable::{Bindable, SocketKind};
#[cfg(any(unix, windows))]
pub use crate::builder::Builder;
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub use crate::builder::UnixBuilder;
#[cfg(any(unix, windows))]
pub use crate::error::os_error;
#[cfg(any(unix, windows))]
pub use crate::listen_addr::ListenAddr;
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub use crate::unix_socket::BindableUnix;

/// The socket2 this crate uses: name it in return types
/// (`restartable::socket2::Socket`) and in `configure` functions so that the
/// versions match.
#[cfg(any(unix, windows))]
pub use socket2;

/// Makes the annotated function create, configure, bind and return a
/// listening socket with the right policy for the target OS (see the
/// [crate docs](crate) for the table and the expansion).
///
/// ```no_run
/// use restartable::restartable_listener;
///
/// #[restartable_listener(port = 8080)]
/// fn listener() -> std::io::Result<std::net::TcpListener> {}
/// ```
///
/// # The function
///
/// A free function or an associated function without `self`, with any
/// visibility; its doc comments and other attributes are kept. Not generic,
/// not `const`. Its body is `{}` or `;`: the attribute writes it (to set
/// more options, see `configure`). It returns `std::io::Result<T>`, and `T`
/// decides what is built: see [`Bindable`]; with the `tokio` feature, `T`
/// may be `tokio::net::TcpListener` or `tokio::net::UdpSocket`.
///
/// It may be an `async fn`: the socket is made the same way (binding does
/// not wait), and the pauses of `retry` are awaited instead of blocking the
/// thread, with any executor. The future is `Send`.
///
/// ```no_run
/// # #[cfg(feature = "tokio")]
/// # mod with_tokio {
/// use restartable::restartable_listener;
///
/// #[restartable_listener(port = 8080, retry = "2s")]
/// async fn listener() -> std::io::Result<tokio::net::TcpListener> {}
///
/// // tokio needs its runtime to register the socket: called outside one,
/// // this returns an error that says so (not a panic).
/// #[restartable_listener(port = 8081)]
/// fn admin() -> std::io::Result<tokio::net::TcpListener> {}
/// # }
/// ```
///
/// Each option below is shown with the code it stands for, written by
/// hand with socket2; all of them start from the same steps as the quick
/// start's listener:
///
/// ```no_run
/// use std::net::{SocketAddr, TcpListener};
/// use restartable::socket2::{Domain, Socket, Type};
///
/// fn listener() -> std::io::Result<TcpListener> {
///     let addr: SocketAddr = "0.0.0.0:8080".parse().unwrap();
///     let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
///     #[cfg(unix)]
///     socket.set_reuse_address(true)?;
///     // #[cfg(windows)]: setsockopt(SOL_SOCKET, SO_EXCLUSIVEADDRUSE, 1), which
///     // socket2 has no method for (restartable makes that one unsafe call).
///     socket.bind(&addr.into())?;
///     socket.listen(1024)?;
///     Ok(socket.into())
/// }
/// ```
///
/// # Options
///
/// The crate docs' [Options](crate#options) table lists every key with its
/// value and default; below, each in detail.
///
/// ## `port`, `host`, `addr`
///
/// ```no_run
/// use std::net::{IpAddr, TcpListener};
/// use restartable::restartable_listener;
///
/// const ADMIN_PORT: u16 = 9090;
///
/// #[restartable_listener(host = "127.0.0.1", port = ADMIN_PORT)]
/// fn admin() -> std::io::Result<TcpListener> {}
///
/// #[restartable_listener(host = host, port = port)]
/// fn public(host: IpAddr, port: u16) -> std::io::Result<TcpListener> {}
///
/// #[restartable_listener(addr = "[::1]:8080")]
/// fn local_v6() -> std::io::Result<TcpListener> {}
/// ```
///
/// Without the macro, the address bound is `SocketAddr::new(host, port)`,
/// e.g. `SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), ADMIN_PORT)`, or
/// `addr` as given.
///
/// ## `port_env`
///
/// When the variable is set, its value is the port; a value that is not a
/// port number is an [`io::ErrorKind::InvalidInput`](std::io::ErrorKind::InvalidInput) error that names the
/// variable and the value. When it is not set, `port` is used, and without
/// `port` that is an `InvalidInput` error too.
///
/// ```no_run
/// # use restartable::restartable_listener;
/// #[restartable_listener(port = 8080, port_env = "PORT")]
/// fn listener() -> std::io::Result<std::net::TcpListener> {}
/// ```
///
/// Without the macro:
///
/// ```no_run
/// use std::io::{Error, ErrorKind};
///
/// let port: u16 = match std::env::var_os("PORT") {
///     Some(value) => value.to_str().and_then(|v| v.parse().ok()).ok_or_else(|| {
///         Error::new(ErrorKind::InvalidInput, format!("environment variable PORT={value:?} is not a port number"))
///     })?,
///     None => 8080,
/// };
/// # Ok::<(), Error>(())
/// ```
///
/// ## `backlog`, `only_v6`, `nonblocking`
///
/// ```no_run
/// # use restartable::restartable_listener;
/// // IPv6 only, a short queue, ready for an event loop.
/// #[restartable_listener(host = "::", port = 8080, only_v6 = true, backlog = 128, nonblocking = true)]
/// fn listener() -> std::io::Result<std::net::TcpListener> {}
/// ```
///
/// Without the macro, before bind and listen:
///
/// ```no_run
/// # let socket = restartable::socket2::Socket::new(restartable::socket2::Domain::IPV6, restartable::socket2::Type::STREAM, None)?;
/// socket.set_only_v6(true)?; // without `only_v6`: set_only_v6(false) on IPv6
/// socket.set_nonblocking(true)?;
/// // ... bind ...
/// socket.listen(128)?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// ## `reuse_port`
///
/// Several processes (or threads) each bind their own listener on one port
/// and the kernel spreads connections between them. Only where the kernel
/// balances load: on other targets the expansion's branch for that target is
/// a `compile_error!`. On Windows the only way to share a port is
/// SO_REUSEADDR, which lets any process take it.
///
/// ```no_run
/// # use restartable::restartable_listener;
/// #[cfg(target_os = "linux")]
/// #[restartable_listener(port = 8080, reuse_port = true)]
/// fn worker_listener() -> std::io::Result<std::net::TcpListener> {}
/// ```
///
/// Without the macro, on Linux and Android (FreeBSD: `set_reuse_port_lb`):
///
/// ```no_run
/// # let socket = restartable::socket2::Socket::new(restartable::socket2::Domain::IPV4, restartable::socket2::Type::STREAM, None)?;
/// #[cfg(any(target_os = "linux", target_os = "android"))]
/// socket.set_reuse_port(true)?; // with set_reuse_address(true) for TCP
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// ## `exclusive`
///
/// `exclusive = false` leaves out SO_EXCLUSIVEADDRUSE on Windows (and still
/// never sets SO_REUSEADDR); it changes nothing elsewhere. An exclusive
/// port stays unavailable while connections of a closed listener are still
/// open, so a service that restarts while old connections drain, and
/// accepts that another process could bind the port (a process with
/// SO_REUSEADDR, or one of another user, depending on the Windows version),
/// can opt out.
///
/// ```no_run
/// # use restartable::restartable_listener;
/// #[restartable_listener(port = 8080, exclusive = false)]
/// fn listener() -> std::io::Result<std::net::TcpListener> {}
/// ```
///
/// Without the macro: on Windows, leave out the SO_EXCLUSIVEADDRUSE call of
/// the first example (and set no SO_REUSEADDR); elsewhere nothing changes.
///
/// ## `inherit`
///
/// Takes a listening socket passed by a supervisor instead of binding one,
/// by the protocol of systemd's socket activation, `sd_listen_fds(3)` (also
/// spoken by `systemd-socket-activate` and by `systemfd`): `LISTEN_FDS`
/// sockets from descriptor 3 (or `LISTEN_FDS_FIRST_FD`, which systemfd
/// sets), for the process `LISTEN_PID` names, named by `LISTEN_FDNAMES`
/// (systemd's `FileDescriptorName=`) when the supervisor names them.
/// Which socket a function takes, what it checks and sets on it, and what
/// happens when none is passed is the README's "Socket handoff" section
/// (one rule, whatever the order of calls): `inherit = "http"` takes the
/// socket named `http` wherever the unit bound it; `inherit = true` the
/// passed socket on the function's own address; with nothing to take the
/// function binds its address, and one that gives no address is an error.
///
/// ```no_run
/// # use restartable::restartable_listener;
/// #[restartable_listener(port = 8080, inherit = "http")]
/// fn web() -> std::io::Result<std::net::TcpListener> {}
///
/// #[restartable_listener(inherit = "dns")]
/// fn dns() -> std::io::Result<std::net::UdpSocket> {}
/// ```
///
/// Windows has no such protocol: there `inherit` always binds as usual
/// (systemfd's own Windows protocol is not supported).
///
/// Without the macro, in outline (the `listenfd` crate does the first part,
/// without names or the checks):
///
/// ```text
/// if LISTEN_PID == getpid() and LISTEN_FDS = n:
///     fds first .. first+n (first: LISTEN_FDS_FIRST_FD or 3), named by
///     LISTEN_FDNAMES split at ':'; each: fcntl(F_GETFD) (open, and not
///     close-on-exec, i.e. not taken in this process yet), fstat (a
///     socket), then from_raw_fd (unsafe) and FD_CLOEXEC, once per process
///     select by name, or by the function's port; take the first that fits:
///     getsockopt(SO_TYPE), getsockname, SO_ACCEPTCONN, IPV6_V6ONLY,
///     SO_REUSEPORT
///     SO_REUSEADDR (TCP: 1, UDP: 0), listen(backlog) when given or to raise
///     a shorter queue (TCP_INFO), set_nonblocking(..)
/// else: bind as usual
/// ```
///
/// ## `retry`
///
/// While bind fails with "address in use", tries again, pausing 10 ms, then
/// twice as long each time up to 200 ms, until the duration has passed; then
/// fails with the last error, which says how long it tried: `…; still in use
/// after retrying for 2.0 s (14 attempts)`. Other errors are not retried.
/// For the restart that begins while the old instance still holds the port
/// (it is shutting down, or a supervisor started the new one early), and for
/// Windows, where an exclusive port stays busy while the old listener's
/// connections drain. The duration is a whole number with `ms`, `s`, `m` or
/// `h`, from 1 ms to 1 hour, checked at compile time. In an `async fn` the
/// pauses are awaited.
///
/// ```no_run
/// # use restartable::restartable_listener;
/// #[restartable_listener(port = 8080, retry = "2s")]
/// fn listener() -> std::io::Result<std::net::TcpListener> {}
/// ```
///
/// Without the macro:
///
/// ```no_run
/// use std::time::{Duration, Instant};
/// # fn bind_once() -> std::io::Result<std::net::TcpListener> { unimplemented!() }
///
/// let deadline = Instant::now() + Duration::from_secs(2);
/// let mut pause = Duration::from_millis(10);
/// let listener = loop {
///     match bind_once() {
///         Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline => {
///             std::thread::sleep(pause.min(deadline - Instant::now()));
///             pause = (pause * 2).min(Duration::from_millis(200));
///         }
///         result => break result?,
///     }
/// };
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// ## `configure`
///
/// ```no_run
/// # use restartable::restartable_listener;
/// use restartable::socket2::Socket;
///
/// fn keepalive(socket: &Socket) -> std::io::Result<()> {
///     socket.set_keepalive(true)
/// }
///
/// #[restartable_listener(port = 8080, configure = keepalive)]
/// fn listener() -> std::io::Result<std::net::TcpListener> {}
/// ```
///
/// Without the macro: call `keepalive(&socket)?` after the policy and the
/// other options, just before `bind`. The function must be `Sync` (any
/// `fn` item and any closure that captures only `Sync` values), so that the
/// future of an `async fn` stays `Send`.
///
/// ## `crate`
///
/// For a crate that re-exports restartable under another path, so that its
/// users need not depend on restartable themselves:
///
/// ```no_run
/// # extern crate restartable as my_framework;
/// // In the user's crate, with `my_framework` re-exporting restartable:
/// #[my_framework::restartable_listener(port = 8080, crate = "my_framework")]
/// fn listener() -> std::io::Result<std::net::TcpListener> {}
/// # fn main() {}
/// ```
///
/// Without the macro there is nothing to write: it names the path that the
/// expansion's calls go through (`my_framework::__private::listen`).
///
/// ## Combinations
///
/// - `addr` with `host` or `port`: a compile error (`addr` gives both).
/// - `addr` with `port_env`: the variable, when set, replaces the port of
///   `addr`.
/// - `only_v6` with an IPv4 literal (`host` or `addr`): a compile error;
///   with a host expression that turns out IPv4: an
///   [`io::ErrorKind::InvalidInput`](std::io::ErrorKind::InvalidInput) error at run time.
/// - `reuse_port = true` on a UDP socket: SO_REUSEPORT, so that the kernel
///   spreads datagrams between the sockets (Linux, Android); still no
///   SO_REUSEADDR.
/// - `reuse_port = true` with `exclusive = false`: a compile error;
///   `exclusive` concerns Windows only, where `reuse_port` is refused.
/// - `backlog` on a UDP socket: not used (a UDP socket does not listen).
/// - `inherit` with `retry`: a passed socket is taken at once; `retry`
///   applies only when the function binds.
/// - `inherit = true` with `port_env` or a port parameter: the port that
///   selects a passed socket is the one the function would bind.
/// - `only_v6 = false` on OpenBSD or DragonFly BSD, which have no dual-stack
///   sockets: a compile error in that target's branch (a run-time
///   `Unsupported` error when the value comes from the builder). Without
///   `only_v6`, an IPv6 socket there is IPv6-only, whatever the docs above
///   say about dual stack; IPV6_V6ONLY is not set at all.
///
/// # Errors at compile time
///
/// A wrong key, a duplicate, a literal out of range, a misplaced attribute
/// or an unsupported return type is a compile error on the token at fault,
/// and all the mistakes of one attribute are reported together.
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
#[doc(inline)]
pub use restartable_macros::restartable_listener;

/// The backlog of a TCP listener when none is given.
pub const DEFAULT_BACKLOG: i32 = 1024;

/// What the attribute's expansion calls. Not a public API: it may change in
/// any release.
/// The parsers of run-time input, for the fuzz targets in `fuzz/` only
/// (`cargo fuzz` builds with `--cfg fuzzing`); not part of the API.
#[cfg(all(fuzzing, any(unix, windows)))]
#[doc(hidden)]
pub mod __fuzz {
    use std::ffi::OsStr;
    use std::io;

    /// A `port_env` value, as `Spec` reads it.
    pub fn port_from_variable(name: &str, value: &OsStr) -> io::Result<u16> {
        crate::spec::parse_port(name, &value.to_owned())
    }

    /// An `addr_env` value, as `Spec` reads it.
    pub fn addr_from_variable(name: &str, value: &OsStr) -> io::Result<std::net::SocketAddr> {
        crate::spec::parse_addr(name, &value.to_owned())
    }

    /// The `LISTEN_*` variables for process `own_pid`: the passed
    /// descriptors and their names when they are for it, `None` when not.
    #[cfg(unix)]
    pub fn listen_vars(
        pid: Option<&OsStr>,
        fds: Option<&OsStr>,
        names: Option<&OsStr>,
        first_fd: Option<&OsStr>,
        own_pid: u32,
        accept_unset_pid: bool,
    ) -> io::Result<Option<Vec<(i32, Option<String>)>>> {
        let vars = crate::handoff::Vars {
            pid: pid.map(OsStr::to_owned),
            fds: fds.map(OsStr::to_owned),
            names: names.map(OsStr::to_owned),
            first_fd: first_fd.map(OsStr::to_owned),
        };
        Ok(match vars.parse(own_pid, accept_unset_pid)? {
            crate::handoff::Addressed::Ours(fds) => Some(fds),
            _ => None,
        })
    }

    /// A `path_env` value: `Ok` with the place as errors print it.
    #[cfg(unix)]
    pub fn place_from_variable(name: &str, value: &OsStr) -> io::Result<String> {
        crate::unix_socket::place_from_variable(name, &value.to_owned()).map(|p| p.to_string())
    }
}

#[cfg(any(unix, windows))]
#[doc(hidden)]
pub mod __private {
    pub use crate::bind::{listen, listen_async};
    pub use crate::spec::{Configure, Inherit, Spec};
    #[cfg(unix)]
    pub use crate::unix_socket::{listen_unix, listen_unix_async, UnixAddr, UnixSpec};
    pub use core::time::Duration;
    pub use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

    /// `host = expr`: an `IpAddr`, `Ipv4Addr`, `Ipv6Addr` or octets.
    #[inline]
    pub fn ip_addr(ip: impl Into<IpAddr>) -> IpAddr {
        ip.into()
    }

    /// `addr = expr`: a `SocketAddr` or anything that converts to one.
    #[inline]
    pub fn socket_addr(addr: impl Into<SocketAddr>) -> SocketAddr {
        addr.into()
    }

    /// The policies of the `#[cfg(unix)]` branch.
    /// An error type that the listener's `std::io::Error` converts into:
    /// the annotated function may return `Result<T, E>` for any such `E`.
    #[cfg_attr(
        restartable_diagnostic_namespace,
        diagnostic::on_unimplemented(
            message = "`{Self}` cannot hold the listener's `std::io::Error`",
            label = "no `From<std::io::Error>` for this error type",
            note = "the function returns std::io::Result<T>, or Result<T, E> for an E \
                    that implements From<std::io::Error>: anyhow::Error, \
                    Box<dyn std::error::Error + Send + Sync>, or an enum of your own \
                    with that impl"
        )
    )]
    pub trait ErrorType: From<std::io::Error> {}

    impl<E: From<std::io::Error>> ErrorType for E {}

    /// The listener's result as the function's own result type.
    #[inline]
    pub fn into_result<T, E: ErrorType>(result: std::io::Result<T>) -> Result<T, E> {
        result.map_err(E::from)
    }

    /// A `path = expr` value as the path it names.
    #[cfg(unix)]
    #[inline]
    pub fn unix_path<P: AsRef<std::path::Path> + ?Sized>(path: &P) -> &std::path::Path {
        path.as_ref()
    }

    /// An `abstract_name = expr` value as its bytes.
    #[cfg(unix)]
    #[inline]
    pub fn abstract_name<N: AsRef<[u8]> + ?Sized>(name: &N) -> &[u8] {
        name.as_ref()
    }

    #[cfg(unix)]
    pub mod unix {
        pub use crate::sys::Policy;
    }

    /// The policies of the `#[cfg(windows)]` branch.
    #[cfg(windows)]
    pub mod windows {
        pub use crate::sys::Policy;
    }
}
