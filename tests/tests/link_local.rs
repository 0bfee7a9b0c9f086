//! A link-local IPv6 address is bound with its scope id: the address goes
//! from the attribute (or the builder) to `bind` whole. Run for real in a
//! network namespace this test makes (as root, with `ip`): the loopback
//! interface (index 1 in a new namespace) and one end of a veth pair get
//! link-local addresses. Where that is not allowed, the test says why and
//! checks nothing.
#![cfg(target_os = "linux")]

use std::io::{self, Read, Write};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, TcpListener, TcpStream};
use std::process::Command;

use restartable::socket2::{Domain, Socket, Type};
use restartable_tests::{command, in_child, run, through};

#[path = "snapshots/mod.rs"]
mod snapshots;
use snapshots::link_local;

const ON_LOOPBACK: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const ON_VETH: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);

fn ip(args: &[&str]) -> io::Result<()> {
    let output = Command::new("ip").args(args).output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// A namespace that is deleted when dropped.
struct Namespace(String);

impl Namespace {
    fn new() -> io::Result<Namespace> {
        let name = format!("restartable-ll-{}", std::process::id());
        ip(&["netns", "add", &name])?;
        let namespace = Namespace(name);
        let n = namespace.0.as_str();
        ip(&["-n", n, "link", "set", "lo", "up"])?;
        ip(&["-n", n, "addr", "add", "fe80::1/64", "dev", "lo", "nodad"])?;
        ip(&[
            "-n", n, "link", "add", "ll0", "type", "veth", "peer", "name", "ll1",
        ])?;
        ip(&["-n", n, "addr", "add", "fe80::2/64", "dev", "ll0", "nodad"])?;
        ip(&["-n", n, "link", "set", "ll0", "up"])?;
        ip(&["-n", n, "link", "set", "ll1", "up"])?;
        Ok(namespace)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.0]);
    }
}

#[test]
fn link_local_addresses_are_bound_with_their_scope_id() {
    if in_child() {
        return inside_the_namespace();
    }
    let namespace = match Namespace::new() {
        Ok(namespace) => namespace,
        Err(error) => {
            restartable_tests::skip(&format!("cannot make a network namespace here ({error})"));
            return;
        }
    };
    let stdout = run(&mut through(
        "ip",
        &["netns", "exec", &namespace.0],
        // For the builder's port_env inside: given to that process, not
        // set in this one.
        command("link_local_addresses_are_bound_with_their_scope_id")
            .env("RESTARTABLE_LL_PORT", "0"),
    ));
    println!("{stdout}");
    assert!(stdout.contains("inside: all checked"), "{stdout}");
}

fn index_of(interface: &str) -> u32 {
    std::fs::read_to_string(format!("/sys/class/net/{interface}/ifindex"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn serves(listener: &TcpListener) {
    let addr = listener.local_addr().unwrap();
    let mut client = TcpStream::connect(addr).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    server.write_all(b"!").unwrap();
    let mut byte = [0];
    client.read_exact(&mut byte).unwrap();
    assert_eq!(&byte, b"!");
}

fn inside_the_namespace() {
    let veth = index_of("ll0");
    assert_eq!(
        index_of("lo"),
        1,
        "the snapshot names scope 1, the loopback"
    );

    // Control: the same address without its scope id, as it was bound when
    // the address was split into host and port and rebuilt.
    let socket = Socket::new(Domain::IPV6, Type::STREAM, None).unwrap();
    let split = SocketAddr::new(ON_VETH.into(), 0);
    let error = socket.bind(&split.into()).unwrap_err();
    assert_eq!(error.raw_os_error(), Some(22), "EINVAL without a scope id");

    // The attribute: `addr = "[fe80::1%1]:0"`, and a capturing closure.
    let listener = link_local::listener(7).unwrap();
    match listener.local_addr().unwrap() {
        SocketAddr::V6(local) => {
            assert_eq!((*local.ip(), local.scope_id()), (ON_LOOPBACK, 1));
        }
        other @ SocketAddr::V4(_) => panic!("{other}"),
    }
    assert_eq!(
        restartable::socket2::SockRef::from(&listener)
            .ttl_v4()
            .unwrap(),
        7
    );
    serves(&listener);

    // The builder, with the port from the environment: only the port is
    // replaced.
    let scoped = SocketAddrV6::new(ON_VETH, 0, 0, veth);
    let listener: TcpListener = restartable::Builder::new(scoped)
        .port_env("RESTARTABLE_LL_PORT")
        .bind()
        .unwrap();
    match listener.local_addr().unwrap() {
        SocketAddr::V6(local) => assert_eq!((*local.ip(), local.scope_id()), (ON_VETH, veth)),
        other @ SocketAddr::V4(_) => panic!("{other}"),
    }
    serves(&listener);
    println!("inside: all checked (veth index {veth})");
}
