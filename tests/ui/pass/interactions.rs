// Combinations whose meaning is chosen and documented:
// - `reuse_port` on a UDP socket: SO_REUSEPORT, the kernel spreads datagrams
//   between the sockets (Linux); still no SO_REUSEADDR.
// - `port_env` with `addr`: the variable, when set, replaces the port of `addr`.
// - `exclusive = true` spelled out, with `reuse_port = false`: the defaults.
// - `only_v6` with a host expression: checked at run time (InvalidInput on IPv4).
use std::net::{IpAddr, Ipv4Addr, TcpListener, UdpSocket};

use restartable::restartable_listener;

#[cfg(target_os = "linux")]
#[restartable_listener(host = "127.0.0.1", port = port, reuse_port = true)]
fn shared_udp(port: u16) -> std::io::Result<UdpSocket> {}

#[restartable_listener(addr = "127.0.0.1:0", port_env = "RESTARTABLE_PASS_INTERACTIONS_PORT")]
fn from_addr_or_env() -> std::io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = 0, exclusive = true, reuse_port = false)]
fn defaults_spelled_out() -> std::io::Result<TcpListener> {}

#[restartable_listener(host = host, port = 0, only_v6 = true)]
fn only_v6_from_expression(host: IpAddr) -> std::io::Result<TcpListener> {}

fn main() {
    #[cfg(target_os = "linux")]
    {
        let first = shared_udp(0).unwrap();
        let port = first.local_addr().unwrap().port();
        let second = shared_udp(port).expect("both UDP sockets set SO_REUSEPORT");
        drop((first, second));
    }
    std::env::set_var("RESTARTABLE_PASS_INTERACTIONS_PORT", "0");
    assert!(from_addr_or_env().is_ok());
    std::env::set_var("RESTARTABLE_PASS_INTERACTIONS_PORT", "not a port");
    assert_eq!(
        from_addr_or_env().unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
    assert!(defaults_spelled_out().is_ok());
    let error = only_v6_from_expression(IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}
