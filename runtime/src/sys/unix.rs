//! The POSIX half of the policy: SO_REUSEADDR on stream listeners, so that a
//! restarted service binds through its old connections' TIME_WAIT at once.

use std::io;

use socket2::Socket;

use crate::SocketKind;

/// The raw calls of Unix-domain socket files and their locks.
pub(crate) mod unix_socket;

/// The socket options a listener gets on a unix target.
///
/// The constants are what the attribute's expansion names in its
/// `#[cfg(unix)]` branch; the builder picks the same ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    reuse_port: ReusePort,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReusePort {
    No,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Port,
    #[cfg(target_os = "freebsd")]
    LoadBalanced,
}

impl Policy {
    /// SO_REUSEADDR on TCP listeners; no reuse option on UDP sockets, where
    /// Linux would let another socket share the port.
    pub const REUSE_ADDRESS: Policy = Policy {
        reuse_port: ReusePort::No,
    };

    /// [`Policy::REUSE_ADDRESS`] plus SO_REUSEPORT, so that several sockets
    /// share the port and the kernel balances connections between them.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub const REUSE_PORT: Policy = Policy {
        reuse_port: ReusePort::Port,
    };

    /// [`Policy::REUSE_ADDRESS`] plus SO_REUSEPORT_LB, FreeBSD's
    /// load-balancing form of SO_REUSEPORT.
    #[cfg(target_os = "freebsd")]
    pub const REUSE_PORT_LB: Policy = Policy {
        reuse_port: ReusePort::LoadBalanced,
    };

    /// Whether the policy lets several sockets share the port
    /// (`reuse_port`): only then is a passed socket with SO_REUSEPORT taken.
    pub(crate) fn shares_port(self) -> bool {
        self.reuse_port != ReusePort::No
    }

    /// The policy for the builder's options. `exclusive` concerns Windows
    /// only; `reuse_port` is refused where it does not balance load.
    // Infallible on Linux, Android and FreeBSD only.
    #[allow(clippy::unnecessary_wraps)]
    pub(crate) fn from_options(reuse_port: bool, _exclusive: bool) -> io::Result<Policy> {
        if !reuse_port {
            return Ok(Policy::REUSE_ADDRESS);
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        return Ok(Policy::REUSE_PORT);
        #[cfg(target_os = "freebsd")]
        return Ok(Policy::REUSE_PORT_LB);
        #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            crate::messages::REUSE_PORT_ELSEWHERE,
        ));
    }
}

/// Sets the policy's options on a socket that is not bound yet.
pub(crate) fn apply_listener_policy(
    socket: &Socket,
    kind: SocketKind,
    policy: Policy,
) -> Result<(), (&'static str, io::Error)> {
    if kind == SocketKind::Stream {
        socket
            .set_reuse_address(true)
            .map_err(|e| ("set SO_REUSEADDR on", e))?;
    }
    match policy.reuse_port {
        ReusePort::No => Ok(()),
        #[cfg(any(target_os = "linux", target_os = "android"))]
        ReusePort::Port => socket
            .set_reuse_port(true)
            .map_err(|e| ("set SO_REUSEPORT on", e)),
        #[cfg(target_os = "freebsd")]
        ReusePort::LoadBalanced => socket
            .set_reuse_port_lb(true)
            .map_err(|e| ("set SO_REUSEPORT_LB on", e)),
    }
}

/// IPV6_V6ONLY on an IPv6 socket before bind: `only_v6`, or dual stack
/// (`false`) when not given. Set either way, so that dual stack does not
/// depend on the OS default or on a sysctl such as net.ipv6.bindv6only.
#[cfg(not(any(target_os = "openbsd", target_os = "dragonfly")))]
pub(crate) fn set_only_v6(socket: &Socket, only_v6: Option<bool>) -> io::Result<()> {
    socket.set_only_v6(only_v6.unwrap_or(false))
}

/// OpenBSD and DragonFly BSD have no dual stack. OpenBSD's ip6(4): "IPv6
/// sockets are always IPv6-only, so the socket option is read-only"; setting
/// it fails with EINVAL (libzmq#2631, libuv skips it). DragonFly dropped
/// IPv4-mapped addresses in 2015 (golang/go#10764), and setting the option
/// to 0 fails with EOPNOTSUPP (DragonFlyBSD/DPorts#208). So it is left
/// alone there, and dual stack asked for explicitly is an error.
#[cfg(any(target_os = "openbsd", target_os = "dragonfly"))]
pub(crate) fn set_only_v6(_socket: &Socket, only_v6: Option<bool>) -> io::Result<()> {
    match only_v6 {
        Some(false) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            crate::messages::NO_DUAL_STACK,
        )),
        Some(true) | None => Ok(()),
    }
}
