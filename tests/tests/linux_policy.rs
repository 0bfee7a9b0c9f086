//! The unix policy on Linux, read back from the kernel with getsockopt, for
//! listeners made by the attribute and by the builder. Each check has a
//! control: the same read on a socket made without restartable, which shows
//! that the read can tell the difference.
#![cfg(target_os = "linux")]

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};

use restartable::socket2::{Domain, Socket, Type};
use restartable::{restartable_listener, Builder};
use restartable_tests::options;

#[restartable_listener(host = "127.0.0.1", port = port)]
fn tcp(port: u16) -> std::io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = 0)]
fn udp() -> std::io::Result<UdpSocket> {}

#[restartable_listener(host = "::", port = 0)]
fn ipv6_default() -> std::io::Result<TcpListener> {}

#[restartable_listener(host = "::", port = 0, only_v6 = true)]
fn ipv6_only() -> std::io::Result<TcpListener> {}

#[restartable_listener(host = "::", port = 0, only_v6 = false)]
fn ipv6_dual_stack() -> std::io::Result<UdpSocket> {}

#[restartable_listener(host = "127.0.0.1", port = port, reuse_port = true)]
fn shared(port: u16) -> std::io::Result<TcpListener> {}

fn plain_socket(ty: Type) -> Socket {
    let socket = Socket::new(Domain::IPV4, ty, None).unwrap();
    socket
        .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    socket
}

#[test]
fn tcp_listener_has_so_reuseaddr() {
    let listener = tcp(0).unwrap();
    assert!(options(&listener).unwrap().reuse_address);
    // Control: a socket made without restartable reads back 0.
    assert!(!options(&plain_socket(Type::STREAM)).unwrap().reuse_address);
}

#[test]
fn udp_socket_has_no_reuse_option() {
    let socket = udp().unwrap();
    assert!(!options(&socket).unwrap().reuse_address);
    // Control: the read reports 1 when the option is set.
    let reused = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
    reused.set_reuse_address(true).unwrap();
    assert!(options(&reused).unwrap().reuse_address);
}

#[test]
fn ipv6_wildcard_is_dual_stack_by_default_and_ipv6_only_when_asked() {
    assert_eq!(
        options(&ipv6_default().unwrap()).unwrap().only_v6,
        Some(false)
    );
    assert_eq!(
        options(&ipv6_dual_stack().unwrap()).unwrap().only_v6,
        Some(false)
    );
    assert_eq!(options(&ipv6_only().unwrap()).unwrap().only_v6, Some(true));
}

#[test]
fn dual_stack_listener_accepts_ipv4_and_ipv6_only_refuses_it() {
    let dual = ipv6_default().unwrap();
    let port = dual.local_addr().unwrap().port();
    assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok());
    assert!(TcpStream::connect((Ipv6Addr::LOCALHOST, port)).is_ok());

    let only = ipv6_only().unwrap();
    let port = only.local_addr().unwrap().port();
    let refused = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn so_reuseport_only_when_asked() {
    assert_eq!(options(&tcp(0).unwrap()).unwrap().reuse_port, Some(false));
    assert_eq!(options(&udp().unwrap()).unwrap().reuse_port, Some(false));
    assert_eq!(options(&shared(0).unwrap()).unwrap().reuse_port, Some(true));
}

#[test]
fn listener_accepts_a_connection() {
    let listener = tcp(0).unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut served, peer) = listener.accept().unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    client.write_all(b"ping").unwrap();
    let mut buffer = [0; 4];
    served.read_exact(&mut buffer).unwrap();
    assert_eq!(&buffer, b"ping");
}

#[test]
fn second_listener_on_a_live_port_fails_with_addr_in_use_naming_the_address() {
    let first = tcp(0).unwrap();
    let port = first.local_addr().unwrap().port();
    let error = tcp(port).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::AddrInUse);
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("cannot bind 127.0.0.1:{port}: address in use")),
        "{message}"
    );
    assert!(
        message.contains("another socket holds this port"),
        "{message}"
    );
    // Control: once the first listener is gone the port binds again.
    drop(first);
    assert!(tcp(port).is_ok());
}

#[test]
fn two_reuse_port_listeners_share_a_port_but_a_default_one_cannot_join() {
    let first = shared(0).unwrap();
    let port = first.local_addr().unwrap().port();
    let _second = shared(port).expect("SO_REUSEPORT on both");
    let error = tcp(port).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::AddrInUse);
}

#[test]
fn builder_applies_the_same_policy() {
    let listener: TcpListener = Builder::new((Ipv4Addr::LOCALHOST, 0)).bind().unwrap();
    assert!(options(&listener).unwrap().reuse_address);
    let socket: UdpSocket = Builder::new((Ipv4Addr::LOCALHOST, 0)).bind().unwrap();
    assert!(!options(&socket).unwrap().reuse_address);
    let shared: TcpListener = Builder::new((Ipv4Addr::LOCALHOST, 0))
        .reuse_port(true)
        .bind()
        .unwrap();
    assert_eq!(options(&shared).unwrap().reuse_port, Some(true));
    let only: TcpListener = Builder::new((Ipv6Addr::UNSPECIFIED, 0))
        .only_v6(true)
        .bind()
        .unwrap();
    assert_eq!(options(&only).unwrap().only_v6, Some(true));
}

#[test]
fn builder_runs_configure_before_bind_and_reports_its_error() {
    let socket: Socket = Builder::new((Ipv4Addr::LOCALHOST, 0))
        .configure(|socket| socket.set_keepalive(true))
        .nonblocking(true)
        .bind()
        .unwrap();
    assert!(socket.keepalive().unwrap());
    assert_eq!(socket.accept().unwrap_err().kind(), ErrorKind::WouldBlock);

    let error = Builder::new((Ipv4Addr::LOCALHOST, 0))
        .configure(|_| {
            Err(std::io::Error::new(
                ErrorKind::PermissionDenied,
                "not allowed",
            ))
        })
        .bind::<TcpListener>()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::PermissionDenied);
    assert_eq!(
        error.to_string(),
        "cannot configure the socket for 127.0.0.1:0: not allowed"
    );
}

#[test]
fn builder_rejects_bad_options_with_invalid_input() {
    let only_v6_on_ipv4 = Builder::new((Ipv4Addr::LOCALHOST, 0))
        .only_v6(true)
        .bind::<TcpListener>()
        .unwrap_err();
    assert_eq!(only_v6_on_ipv4.kind(), ErrorKind::InvalidInput);
    assert!(only_v6_on_ipv4.to_string().contains("127.0.0.1:0"));

    let no_backlog = Builder::new((Ipv4Addr::LOCALHOST, 0))
        .backlog(0)
        .bind::<TcpListener>()
        .unwrap_err();
    assert_eq!(no_backlog.kind(), ErrorKind::InvalidInput);
    assert!(no_backlog
        .to_string()
        .contains("backlog must be at least 1"));
}
