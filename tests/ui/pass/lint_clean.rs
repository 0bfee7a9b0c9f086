//! The generated code is clean under strict lints in the user's crate: every
//! return type and every option family, with names the expansion also uses
//! (`spec`, `policy`, `addr`) imported or declared here.
#![deny(warnings, unused_qualifications, unused_results, missing_docs)]
#![deny(clippy::pedantic)]

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use restartable::restartable_listener;
use restartable::socket2::Socket;

/// The port, as a constant.
pub const PORT: u16 = 0;

/// A TCP listener with the defaults.
#[restartable_listener(host = "127.0.0.1", port = 0)]
pub fn tcp() -> io::Result<TcpListener> {}

/// A UDP socket.
#[restartable_listener(host = "127.0.0.1", port = PORT)]
pub fn udp() -> io::Result<UdpSocket> {}

/// A socket2 listener with every flag and a configure function.
#[restartable_listener(
    host = "::1",
    port = 0,
    only_v6 = true,
    nonblocking = true,
    exclusive = false,
    backlog = 16,
    configure = keepalive
)]
pub fn socket() -> io::Result<Socket> {}

/// Linux load balancing.
#[cfg(target_os = "linux")]
#[restartable_listener(host = "127.0.0.1", port = 0, reuse_port = true)]
pub fn shared() -> io::Result<TcpListener> {}

/// Host, port and address from parameters and expressions, named like the
/// expansion's own locals.
#[restartable_listener(host = spec, port = policy, port_env = "RESTARTABLE_LINT_CLEAN_PORT")]
pub fn from_parameters(spec: IpAddr, policy: u16) -> io::Result<TcpListener> {}

/// An address literal, with the crate path spelled out.
#[restartable_listener(addr = "127.0.0.1:0", crate = "::restartable")]
pub fn from_literal_addr() -> io::Result<TcpListener> {}

/// A whole address from a parameter.
#[restartable_listener(addr = addr)]
pub fn from_addr(addr: SocketAddr) -> io::Result<TcpListener> {}

/// Sets SO_KEEPALIVE.
///
/// # Errors
///
/// When the option cannot be set.
pub fn keepalive(socket: &Socket) -> io::Result<()> {
    socket.set_keepalive(true)
}

/// Runs them all.
///
/// # Panics
///
/// When one of them fails.
pub fn main() {
    let spec = IpAddr::V4(Ipv4Addr::LOCALHOST);
    drop(tcp().expect("tcp"));
    drop(udp().expect("udp"));
    #[cfg(target_os = "linux")]
    drop(shared().expect("shared"));
    drop(from_parameters(spec, 0).expect("from parameters"));
    drop(from_addr(SocketAddr::new(spec, 0)).expect("from addr"));
    drop(from_literal_addr().expect("from a literal addr"));
    // ::1 may be missing on a host without IPv6; building the call is the point.
    drop(socket());
}
