//! `inherit`: which passed socket a function takes. `inherit = "name"` the
//! socket of that name wherever it is bound, `inherit = true` the first that
//! fits the function's address and kind; one that does not fit is refused
//! with an error naming its descriptor, and a function without an address
//! binds nothing when nothing is passed. Each test runs itself again in a
//! copy of this test binary with the sockets passed (`handoff/mod.rs`).
#![cfg(target_os = "linux")]

mod handoff;

use std::env;
use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, UdpSocket};
use std::os::unix::io::{AsFd, BorrowedFd};
use std::os::unix::net::UnixListener;

use handoff::{line, loopback_listener, run, run_on_port, scenario, scenario_command};
use restartable::socket2::{Domain, Socket, Type};
use restartable_tests::in_child;
use restartable_tests::passing::ListenPid;

/// Runs the test `test` again with the `errors` scenario with one socket passed under the name `http`
/// and returns its lines.
fn rejected(test: &str, socket: BorrowedFd<'_>) -> Vec<String> {
    run(
        test,
        "errors",
        &[socket],
        Some("http"),
        &ListenPid::Own,
        &[],
    )
}

fn assert_rejected_without_leak(lines: &[String], message: &str) {
    let next = line(lines, "next");
    assert!(
        next.starts_with(
            "error InvalidInput the socket passed as fd 3 (LISTEN_FDNAMES \"http\") is "
        ),
        "{next}"
    );
    assert!(next.contains(message), "{next} ∌ {message}");
    let fds = line(lines, "fds before");
    let (before, after) = fds.split_once(" after ").unwrap();
    assert_eq!(before, after, "descriptors leaked over 101 rejections");
    // The rejected socket is not ours to close.
    assert_eq!(line(lines, "fd3"), "open");
}

#[test]
fn named_sockets_go_to_the_functions_that_name_them_in_any_order() {
    if in_child() {
        return scenario();
    }
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let (tcp, tcp_port) = loopback_listener();
    // dns is fd 3, http fd 4; the child asks for http first.
    let lines = run(
        "named_sockets_go_to_the_functions_that_name_them_in_any_order",
        "names",
        &[udp.as_fd(), tcp.as_fd()],
        Some("dns:http"),
        &ListenPid::Own,
        &[],
    );
    assert_eq!(line(&lines, "http "), format!("port {tcp_port}"));
    assert_eq!(line(&lines, "dns"), format!("port {udp_port}"));
    let again = line(&lines, "http again");
    assert!(
        again.starts_with("port ") && again != format!("port {tcp_port}"),
        "{again}"
    );
}

/// `inherit = "name"`: the unit places the socket, so a named socket is
/// taken whatever its address, the README's `port = 8080` included; the
/// port is the fallback only when nothing is passed.
#[test]
fn a_named_socket_is_taken_wherever_the_supervisor_bound_it() {
    if in_child() {
        return scenario();
    }
    let (listener, port) = loopback_listener();
    let lines = run(
        "a_named_socket_is_taken_wherever_the_supervisor_bound_it",
        "readme",
        &[listener.as_fd()],
        Some("http"),
        &ListenPid::Own,
        &[],
    );
    // Before: `error InvalidInput the socket passed as fd 3 (LISTEN_FDNAMES
    // "http") is bound to 127.0.0.1:PORT, another port; expected a listening
    // TCP socket on 0.0.0.0:8080`.
    assert_eq!(line(&lines, "readme"), format!("port {port}"));
    let (v6, v6_port) = {
        let listener = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    };
    let lines = run(
        "a_named_socket_is_taken_wherever_the_supervisor_bound_it",
        "only-passed",
        &[v6.as_fd()],
        Some("http"),
        &ListenPid::Own,
        &[],
    );
    assert_eq!(line(&lines, "only passed"), format!("port {v6_port}"));
}

/// Without an address the function binds nothing: nothing passed is an
/// error saying so, never a default address.
#[test]
fn a_function_without_an_address_binds_nothing_when_nothing_is_passed() {
    if in_child() {
        return scenario();
    }
    let mut command = scenario_command(
        "a_function_without_an_address_binds_nothing_when_nothing_is_passed",
        "only-passed",
    );
    for name in [
        "LISTEN_PID",
        "LISTEN_FDS",
        "LISTEN_FDNAMES",
        "LISTEN_FDS_FIRST_FD",
    ] {
        command.env_remove(name);
    }
    let stdout = restartable_tests::run(&mut command);
    let only = stdout
        .lines()
        .find_map(|line| line.split_once("result only passed "))
        .map_or_else(
            || panic!("no result in {stdout}"),
            |(_, rest)| rest.to_owned(),
        );
    assert_eq!(
        only,
        "error NotFound no socket named \"http\" was passed to this process, and the \
         function gives no address to bind instead (LISTEN_FDS is unset); pass the socket \
         (a socket unit with FileDescriptorName=http), or give the function an address to \
         bind when none is passed"
    );
    // A socket passed under another name is not taken either.
    let (listener, _) = loopback_listener();
    let lines = run(
        "a_function_without_an_address_binds_nothing_when_nothing_is_passed",
        "only-passed",
        &[listener.as_fd()],
        Some("web"),
        &ListenPid::Own,
        &[],
    );
    let only = line(&lines, "only passed");
    assert!(
        only.starts_with("error NotFound no socket named \"http\" was passed")
            && only.contains("(fd 3 named \"web\"): inherit = \"http\" names none of them"),
        "{only}"
    );
}

/// `inherit = true` takes the passed socket on its own address and leaves
/// the others to the functions they are for, whatever the order of calls.
#[test]
fn inherit_true_leaves_sockets_on_other_addresses_whatever_the_order_of_calls() {
    if in_child() {
        return scenario();
    }
    let (listener, port) = loopback_listener();
    // A port that no one can bind on the wildcard while this is held, so
    // 127.0.0.2:other is free for the child.
    let holder = TcpListener::bind((Ipv4Addr::new(127, 0, 0, 3), 0)).unwrap();
    let other = holder.local_addr().unwrap().port();
    for order in ["ab", "ba"] {
        let lines = run(
            "inherit_true_leaves_sockets_on_other_addresses_whatever_the_order_of_calls",
            "order",
            &[listener.as_fd()],
            None,
            &ListenPid::Own,
            &[
                ("EXPECTED_PORT", port.to_string()),
                ("OTHER_PORT", other.to_string()),
                ("ORDER", order.to_owned()),
            ],
        );
        // Before, in the order "ba": `b error InvalidInput the socket passed
        // as fd 3 (LISTEN_FDS) is bound to 127.0.0.1:PORT, another port`.
        assert_eq!(line(&lines, "a"), format!("port {port}"), "{order}");
        assert_eq!(line(&lines, "b"), format!("port {other}"), "{order}");
    }
}

#[test]
fn inherit_true_takes_the_first_socket_that_fits_not_the_first_passed() {
    if in_child() {
        return scenario();
    }
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let (tcp, tcp_port) = loopback_listener();
    // fd 3 is the UDP socket, fd 4 the listener; neither is named.
    let lines = run(
        "inherit_true_takes_the_first_socket_that_fits_not_the_first_passed",
        "fit",
        &[udp.as_fd(), tcp.as_fd()],
        None,
        &ListenPid::Own,
        &[
            ("TCP_PORT", tcp_port.to_string()),
            ("UDP_PORT", udp_port.to_string()),
        ],
    );
    assert_eq!(line(&lines, "tcp"), format!("port {tcp_port}"));
    assert_eq!(line(&lines, "udp"), format!("port {udp_port}"));
}

#[test]
fn a_name_that_matches_nothing_says_what_was_passed_and_how_to_take_it() {
    if in_child() {
        return scenario();
    }
    let (listener, port) = loopback_listener();
    // No LISTEN_FDNAMES, as systemfd passes sockets: `inherit = "http"`
    // finds nothing, binds, and the port is held by the passed socket.
    let lines = run_on_port(
        "a_name_that_matches_nothing_says_what_was_passed_and_how_to_take_it",
        "unnamed",
        listener.as_fd(),
        port,
    );
    let http = line(&lines, "http");
    assert!(
        http.starts_with(&format!("error AddrInUse cannot bind 127.0.0.1:{port}")),
        "{http}"
    );
    assert!(
        http.contains(
            "a socket was passed to this process and not taken (fd 3, unnamed): inherit = \"http\" \
             takes a named socket, and the supervisor named none (LISTEN_FDNAMES is unset, as \
             systemfd leaves it); use inherit = true"
        ),
        "{http}"
    );
    // With names, the message lists them.
    let lines = run(
        "a_name_that_matches_nothing_says_what_was_passed_and_how_to_take_it",
        "unnamed",
        &[listener.as_fd()],
        Some("web"),
        &ListenPid::Own,
        &[("EXPECTED_PORT", port.to_string())],
    );
    assert!(
        line(&lines, "http").contains(
            "(fd 3 named \"web\"): inherit = \"http\" names none of them; use one of their names, \
             or inherit = true"
        ),
        "{lines:?}"
    );
}

/// On the function's port, so selected, and on another host: refused.
#[test]
fn an_ipv6_listener_on_the_port_of_an_ipv4_function_is_refused() {
    if in_child() {
        return scenario();
    }
    let listener = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let lines = run_on_port(
        "an_ipv6_listener_on_the_port_of_an_ipv4_function_is_refused",
        "host",
        listener.as_fd(),
        port,
    );
    assert_eq!(
        line(&lines, "any host"),
        format!(
            "error InvalidInput the socket passed as fd 3 (LISTEN_FDS) is bound to \
             [::1]:{port}, and the function binds 0.0.0.0; expected a listening TCP socket \
             on 0.0.0.0:{port}"
        )
    );
}

#[test]
fn a_socket_on_the_function_s_port_and_another_host_is_refused() {
    if in_child() {
        return scenario();
    }
    let (listener, port) = loopback_listener();
    let lines = run_on_port(
        "a_socket_on_the_function_s_port_and_another_host_is_refused",
        "host",
        listener.as_fd(),
        port,
    );
    assert_eq!(
        line(&lines, "any host"),
        format!(
            "error InvalidInput the socket passed as fd 3 (LISTEN_FDS) is bound to \
             127.0.0.1:{port}, and the function binds 0.0.0.0; expected a listening TCP socket \
             on 0.0.0.0:{port}"
        )
    );
}

#[test]
fn a_udp_socket_for_a_tcp_listener_is_refused_naming_the_fd() {
    if in_child() {
        return scenario();
    }
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    assert_rejected_without_leak(
        &rejected(
            "a_udp_socket_for_a_tcp_listener_is_refused_naming_the_fd",
            udp.as_fd(),
        ),
        "a datagram (UDP) socket; expected a listening TCP socket (on any address: \
         inherit = \"http\" takes the socket of that name wherever the supervisor bound it)",
    );
}

#[test]
fn a_tcp_socket_that_does_not_listen_is_refused() {
    if in_child() {
        return scenario();
    }
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    assert_rejected_without_leak(
        &rejected(
            "a_tcp_socket_that_does_not_listen_is_refused",
            socket.as_fd(),
        ),
        "that does not listen",
    );
}

#[test]
fn a_unix_socket_is_refused_by_name_for_an_ip_function() {
    if in_child() {
        return scenario();
    }
    let path = env::temp_dir().join(format!("restartable-handoff-{}.sock", std::process::id()));
    let _ = fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let lines = rejected(
        "a_unix_socket_is_refused_by_name_for_an_ip_function",
        listener.as_fd(),
    );
    let _ = fs::remove_file(&path);
    assert_rejected_without_leak(
        &lines,
        &format!("a Unix-domain socket on {}", path.display()),
    );
}

/// A passed IPv6-only socket does not fit a function that binds dual
/// stack by default: IPv4 clients would be refused.
#[test]
fn a_passed_ipv6_only_socket_does_not_fit_a_dual_stack_function() {
    if in_child() {
        return scenario();
    }
    for only_v6 in [true, false] {
        let socket = Socket::new(Domain::IPV6, Type::STREAM, None).unwrap();
        socket.set_only_v6(only_v6).unwrap();
        socket
            .bind(&std::net::SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)).into())
            .unwrap();
        socket.listen(16).unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        let lines = run_on_port(
            "a_passed_ipv6_only_socket_does_not_fit_a_dual_stack_function",
            "dual-stack",
            socket.as_fd(),
            port,
        );
        let dual = line(&lines, "dual");
        if only_v6 {
            // Before: `port PORT`.
            assert!(
                dual.contains("with IPV6_V6ONLY=1, and the function binds dual-stack"),
                "{dual}"
            );
        } else {
            assert_eq!(dual, format!("port {port}"));
        }
    }
}
