//! `inherit`: the options of a passed socket. Whatever the supervisor left
//! (a short or long backlog, `O_NONBLOCK`, SO_REUSEADDR on a UDP socket,
//! SO_REUSEPORT) is made what the function asks for, or refused with the
//! reason. Each test runs itself again in a copy of this test binary with
//! the socket passed (`handoff/mod.rs`).
#![cfg(target_os = "linux")]

mod handoff;

use std::env;
use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::io::AsFd;

use handoff::{line, loopback_listener, run, run_on_port, scenario};
use restartable::socket2::{Domain, Socket, Type};
use restartable_tests::in_child;
use restartable_tests::passing::ListenPid;

/// A backlog below 1 is refused for a passed socket too, not applied to it.
#[test]
fn a_backlog_below_one_is_refused_for_a_passed_socket_too() {
    if in_child() {
        return scenario();
    }
    let (listener, _) = loopback_listener();
    let lines = run(
        "a_backlog_below_one_is_refused_for_a_passed_socket_too",
        "backlog-zero",
        &[listener.as_fd()],
        Some("http"),
        &ListenPid::Own,
        &[],
    );
    // Before: `zero port PORT`, the passed listener set to listen(0).
    assert_eq!(
        line(&lines, "zero"),
        "error InvalidInput cannot listen on a passed socket: backlog must be at least 1, got 0"
    );
}

/// A passed Unix-domain listener's queue, as systemfd makes it (1), is
/// raised to the default; the OS tells its length through `sock_diag`.
#[test]
fn a_passed_unix_listener_s_short_backlog_is_raised() {
    if in_child() {
        return scenario();
    }
    let dir = env::temp_dir().join(format!("restartable-unix-backlog-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.sock");
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
    socket
        .bind(&restartable::socket2::SockAddr::unix(&path).unwrap())
        .unwrap();
    socket.listen(1).unwrap();
    let lines = run(
        "a_passed_unix_listener_s_short_backlog_is_raised",
        "unix-backlog",
        &[socket.as_fd()],
        None,
        &ListenPid::Own,
        &[("SOCKET_PATH", path.display().to_string())],
    );
    assert_eq!(line(&lines, "taken"), "ok");
    // Before: 1, the supervisor's.
    assert_eq!(line(&lines, "backlog after"), "1024");
    fs::remove_dir_all(dir).unwrap();
}

/// systemd's `Backlog=4096` stays; systemfd's 1 is raised (below); a
/// `backlog` the function gives is applied either way.
#[test]
fn a_passed_listener_s_backlog_is_never_lowered_unless_given() {
    if in_child() {
        return scenario();
    }
    for (given, expected) in [(false, "4096"), (true, "64")] {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket
            .bind(&std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .unwrap();
        socket.listen(4096).unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        let mut env = vec![("EXPECTED_PORT", port.to_string())];
        if given {
            env.push(("BACKLOG", "64".to_owned()));
        }
        let lines = run(
            "a_passed_listener_s_backlog_is_never_lowered_unless_given",
            "backlog",
            &[socket.as_fd()],
            None,
            &ListenPid::Own,
            &env,
        );
        assert_eq!(line(&lines, "taken"), format!("port {port}"));
        // Before, without `backlog`: 1024.
        assert_eq!(line(&lines, "backlog after"), expected);
    }
}

#[test]
fn a_passed_socket_left_nonblocking_by_the_supervisor_is_made_blocking() {
    if in_child() {
        return scenario();
    }
    let (listener, port) = loopback_listener();
    // O_NONBLOCK is on the file description the supervisor shares.
    listener.set_nonblocking(true).unwrap();
    let lines = run_on_port(
        "a_passed_socket_left_nonblocking_by_the_supervisor_is_made_blocking",
        "blocking",
        listener.as_fd(),
        port,
    );
    // Without the fix: `accept error WouldBlock` at once.
    let accept = line(&lines, "accept");
    assert!(
        accept.starts_with("waited") && accept != "waited 0 ms",
        "{accept}"
    );
}

#[test]
fn a_passed_udp_socket_with_so_reuseaddr_is_not_shared_once_taken() {
    if in_child() {
        return scenario();
    }
    // As `systemd-socket-activate --datagram` makes it.
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket
        .bind(&std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    let lines = run_on_port(
        "a_passed_udp_socket_with_so_reuseaddr_is_not_shared_once_taken",
        "udp-reuse",
        socket.as_fd(),
        port,
    );
    // Control: as passed, another socket with SO_REUSEADDR shares the port.
    assert_eq!(line(&lines, "second before"), "bound");
    assert_eq!(line(&lines, "SO_REUSEADDR"), "0");
    assert_eq!(line(&lines, "second after"), "AddrInUse");
}

#[test]
fn a_passed_listener_with_so_reuseport_is_refused_unless_reuse_port_and_gets_the_backlog() {
    if in_child() {
        return scenario();
    }
    // As systemfd makes it: SO_REUSEADDR, SO_REUSEPORT, backlog 1.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket.set_reuse_port(true).unwrap();
    socket
        .bind(&std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    socket.listen(1).unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    let lines = run_on_port(
        "a_passed_listener_with_so_reuseport_is_refused_unless_reuse_port_and_gets_the_backlog",
        "reuse-port",
        socket.as_fd(),
        port,
    );
    let plain = line(&lines, "plain");
    assert!(
        plain.starts_with("error InvalidInput the socket passed as fd 3 (LISTEN_FDS) is a socket")
            && plain.contains("with SO_REUSEPORT set (systemfd sets it,")
            && plain.contains("ask for reuse_port = true"),
        "{plain}"
    );
    assert_eq!(line(&lines, "shared"), format!("port {port}"));
    // `ss` shows the backlog of a listener as its Send-Q.
    assert_eq!(line(&lines, "backlog before"), "1");
    assert_eq!(line(&lines, "backlog after"), "1024");
}

/// Selected by name, as by address: a socket with SO_REUSEPORT is taken
/// only by a function that asks for `reuse_port`.
#[test]
fn a_named_listener_with_so_reuseport_is_refused_unless_reuse_port() {
    if in_child() {
        return scenario();
    }
    // As a socket unit with ReusePort=yes and FileDescriptorName=http
    // makes it; the control, without ReusePort=, is taken by each.
    for reuse_port in [false, true] {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket.set_reuse_address(true).unwrap();
        socket.set_reuse_port(reuse_port).unwrap();
        socket
            .bind(&std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .unwrap();
        socket.listen(16).unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        let lines = run(
            "a_named_listener_with_so_reuseport_is_refused_unless_reuse_port",
            "reuse-port-named",
            &[socket.as_fd()],
            Some("http"),
            &ListenPid::Own,
            &[],
        );
        if !reuse_port {
            assert_eq!(line(&lines, "plain"), format!("port {port}"));
            continue;
        }
        for which in ["plain", "no address"] {
            let refused = line(&lines, which);
            assert!(
                refused.starts_with(&format!(
                    "error InvalidInput the socket passed as fd 3 (LISTEN_FDNAMES \"http\") is \
                     a socket on 127.0.0.1:{port} with SO_REUSEPORT set"
                )) && refused.contains("ask for reuse_port = true"),
                "{refused}"
            );
        }
        assert_eq!(line(&lines, "shared"), format!("port {port}"));
    }
}
