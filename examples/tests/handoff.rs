//! `inherit`: sockets passed the way systemd passes them. Each case runs this
//! test binary again as a child, with real sockets as descriptors 3, 4, …
//! and the variables set (see `restartable_examples::handoff::Passing`); the
//! child calls annotated functions and prints `result …` lines, which the
//! parent checks.
#![cfg(target_os = "linux")]

use std::env;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::io::{AsFd, BorrowedFd};
use std::os::unix::net::UnixListener;
use std::process::Command;

use restartable::restartable_listener;
use restartable::socket2::{Domain, Socket, Type};
use restartable_examples::crash::{self, Listener};
use restartable_examples::handoff::{self, ListenPid, Mode, Passing};

const SCENARIO: &str = "RESTARTABLE_HANDOFF_SCENARIO";
const SERVER: &str = "RESTARTABLE_HANDOFF_SERVER";

#[restartable_listener(host = "127.0.0.1", port = port, inherit = true)]
fn next_on(port: u16) -> io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = 0, inherit = true)]
fn next() -> io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = 0, inherit = "http")]
fn http() -> io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = 0, inherit = "dns")]
fn dns() -> io::Result<UdpSocket> {}

fn say(line: impl AsRef<str>) {
    println!("result {}", line.as_ref());
    let _ = io::stdout().flush();
}

fn outcome<T>(result: &io::Result<T>, port: impl Fn(&T) -> u16) -> String {
    match result {
        Ok(socket) => format!("port {}", port(socket)),
        Err(error) => format!("error {:?} {error}", error.kind()),
    }
}

fn tcp_port(listener: &TcpListener) -> u16 {
    listener.local_addr().unwrap().port()
}

fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

fn variables() -> String {
    ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]
        .map(|name| {
            format!(
                "{name}={}",
                env::var(name).unwrap_or_else(|_| "unset".into())
            )
        })
        .join(" ")
}

/// What a child process of this one sees: fd 3 and LISTEN_FDS.
fn grandchild_sees() -> String {
    let output = Command::new("sh")
        .args(["-c", "if [ -e /proc/$$/fd/3 ]; then echo fd3=open; else echo fd3=closed; fi; echo LISTEN_FDS=${LISTEN_FDS:-unset}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The child side: runs the scenario named in `SCENARIO`.
#[test]
fn child() {
    let Ok(scenario) = env::var(SCENARIO) else {
        return;
    };
    match scenario.as_str() {
        "take" => {
            say(format!("grandchild before {}", grandchild_sees()));
            let port: u16 = env::var("EXPECTED_PORT").unwrap().parse().unwrap();
            let listener = next_on(port);
            say(format!("first {}", outcome(&listener, tcp_port)));
            say(format!("variables {}", variables()));
            say(format!("grandchild after {}", grandchild_sees()));
            let Ok(listener) = listener else { return };
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(b"x").unwrap();
            say("served the queued connection");
            say(format!("second {}", outcome(&next(), tcp_port)));
        }
        "names" => {
            say(format!("http {}", outcome(&http(), tcp_port)));
            say(format!(
                "dns {}",
                outcome(&dns(), |s| s.local_addr().unwrap().port())
            ));
            say(format!("http again {}", outcome(&http(), tcp_port)));
        }
        "errors" => {
            let before = open_fds();
            for _ in 0..100 {
                let _ = next();
            }
            say(format!("next {}", outcome(&next(), tcp_port)));
            say(format!("fds before {before} after {}", open_fds()));
            say(format!(
                "fd3 {}",
                if fs::metadata("/proc/self/fd/3").is_ok() {
                    "open"
                } else {
                    "closed"
                }
            ));
            say(format!("variables {}", variables()));
        }
        other => panic!("no scenario {other}"),
    }
}

fn child_command(scenario: &str) -> Command {
    let mut command = Command::new(env::current_exe().unwrap());
    command
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, scenario);
    command
}

/// Runs `scenario` in a child with `sockets` passed; its `result` lines by
/// their first words (up to the value).
fn run(
    scenario: &str,
    sockets: &[BorrowedFd<'_>],
    names: Option<&str>,
    pid: &ListenPid,
    env: &[(&str, String)],
) -> Vec<String> {
    let mut passing = Passing::new(&child_command(scenario), sockets, names, pid).unwrap();
    for (name, value) in env {
        passing.command().env(name, value);
    }
    let stdout = passing.stdout().unwrap();
    let lines: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.find("result ").map(|at| line[at + 7..].to_owned()))
        .collect();
    println!("{scenario}:\n  {}", lines.join("\n  "));
    lines
}

fn line<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    lines
        .iter()
        .find_map(|line| line.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line `{prefix}…` in {lines:?}"))
        .trim()
}

fn loopback_listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

#[test]
fn the_passed_listener_is_taken_once_and_neither_variables_nor_fd_reach_children() {
    let (listener, port) = loopback_listener();
    // Queued in the passed socket before the child exists: only the same
    // socket can accept it.
    let mut client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    let lines = run(
        "take",
        &[listener.as_fd()],
        None,
        &ListenPid::Own,
        &[("EXPECTED_PORT", port.to_string())],
    );
    // Control: before the call, a grandchild inherits both.
    assert_eq!(line(&lines, "grandchild before"), "fd3=open LISTEN_FDS=1");
    assert_eq!(line(&lines, "first"), format!("port {port}"));
    assert_eq!(
        line(&lines, "variables"),
        "LISTEN_PID=unset LISTEN_FDS=unset LISTEN_FDNAMES=unset"
    );
    assert_eq!(
        line(&lines, "grandchild after"),
        "fd3=closed LISTEN_FDS=unset"
    );
    let mut byte = [0];
    client.read_exact(&mut byte).unwrap();
    assert_eq!(&byte, b"x");
    // The one passed socket is taken: the next call binds as usual.
    let second = line(&lines, "second");
    assert!(
        second.starts_with("port ") && second != format!("port {port}"),
        "{second}"
    );
}

#[test]
fn without_listen_pid_the_sockets_are_this_process_s_as_systemfd_no_pid_passes_them() {
    let (listener, port) = loopback_listener();
    let _client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    let lines = run(
        "take",
        &[listener.as_fd()],
        None,
        &ListenPid::Unset,
        &[("EXPECTED_PORT", port.to_string())],
    );
    assert_eq!(line(&lines, "first"), format!("port {port}"));
}

#[test]
fn sockets_for_another_process_are_left_alone_and_the_function_binds() {
    let (listener, port) = loopback_listener();
    let lines = run(
        "names",
        &[listener.as_fd()],
        Some("http"),
        &ListenPid::Value("1".into()),
        &[],
    );
    let http = line(&lines, "http");
    assert!(
        http.starts_with("port ") && http != format!("port {port}"),
        "{http}"
    );
}

#[test]
fn named_sockets_go_to_the_functions_that_name_them_in_any_order() {
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let (tcp, tcp_port) = loopback_listener();
    // dns is fd 3, http fd 4; the child asks for http first.
    let lines = run(
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

/// Runs the `errors` scenario with one passed socket and returns its lines.
fn rejected(socket: BorrowedFd<'_>) -> Vec<String> {
    run("errors", &[socket], None, &ListenPid::Own, &[])
}

fn assert_rejected_without_leak(lines: &[String], message: &str) {
    let next = line(lines, "next");
    assert!(
        next.starts_with("error InvalidInput the socket passed as fd 3 (LISTEN_FDS) is "),
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
fn a_udp_socket_for_a_tcp_listener_is_refused_naming_the_fd() {
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    assert_rejected_without_leak(
        &rejected(udp.as_fd()),
        "a datagram (UDP) socket; expected a listening TCP socket",
    );
}

#[test]
fn a_tcp_socket_that_does_not_listen_is_refused() {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    assert_rejected_without_leak(&rejected(socket.as_fd()), "that does not listen");
}

#[test]
fn an_ipv6_listener_for_an_ipv4_function_is_refused() {
    let listener = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).unwrap();
    assert_rejected_without_leak(
        &rejected(listener.as_fd()),
        "an IPv6 address, and the function binds 127.0.0.1",
    );
}

#[test]
fn a_unix_socket_is_refused() {
    let path = env::temp_dir().join(format!("restartable-handoff-{}.sock", std::process::id()));
    let _ = fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let lines = rejected(listener.as_fd());
    let _ = fs::remove_file(&path);
    assert_rejected_without_leak(&lines, "a Unix domain socket");
}

#[test]
fn a_listener_on_another_port_is_refused() {
    let (listener, port) = loopback_listener();
    let other = port.wrapping_add(1).max(1);
    let lines = run(
        "take",
        &[listener.as_fd()],
        None,
        &ListenPid::Own,
        &[("EXPECTED_PORT", other.to_string())],
    );
    let first = line(&lines, "first");
    assert!(
        first.starts_with(&format!(
            "error InvalidInput the socket passed as fd 3 (LISTEN_FDS) is bound to 127.0.0.1:{port}, another port; expected a listening TCP socket on port {other}"
        )),
        "{first}"
    );
}

#[test]
fn malformed_variables_are_invalid_input_naming_the_variable_and_stay_set() {
    let (listener, _) = loopback_listener();
    let cases: [(&str, &str, &str); 3] = [
        ("LISTEN_FDS", "two", "environment variable LISTEN_FDS=\"two\" is not a number of passed sockets"),
        ("LISTEN_PID", "me", "environment variable LISTEN_PID=\"me\" is not a process id"),
        ("LISTEN_FDNAMES", "a:b", "environment variable LISTEN_FDNAMES=\"a:b\" has 2 names, but LISTEN_FDS=1 passes 1 sockets"),
    ];
    for (name, value, message) in cases {
        let pid = if name == "LISTEN_PID" {
            ListenPid::Value(value.into())
        } else {
            ListenPid::Own
        };
        let names = (name == "LISTEN_FDNAMES").then_some(value);
        let mut extra = Vec::new();
        if name == "LISTEN_FDS" {
            extra.push((name, value.to_owned()));
        }
        let lines = run("errors", &[listener.as_fd()], names, &pid, &extra);
        let next = line(&lines, "next");
        assert!(
            next.starts_with(&format!("error InvalidInput {message}")),
            "{next}"
        );
        let fds = line(&lines, "fds before");
        let (before, after) = fds.split_once(" after ").unwrap();
        assert_eq!(before, after);
        assert!(line(&lines, "variables").contains(&format!("{name}={value}")));
    }
}

#[test]
fn a_passed_descriptor_that_is_not_open_is_an_error_naming_it() {
    // LISTEN_FDS says one socket, but nothing is at fd 3.
    let lines = run(
        "errors",
        &[],
        None,
        &ListenPid::Own,
        &[("LISTEN_FDS", "1".into())],
    );
    let next = line(&lines, "next");
    assert!(
        next.contains("the socket passed as fd 3 (LISTEN_FDS) cannot be used: Bad file descriptor"),
        "{next}"
    );
    assert_eq!(line(&lines, "fd3"), "closed");
}

/// The server of the kill-and-restart: `crash::serve` with its listener.
#[test]
fn server() {
    if let Ok(spec) = env::var(SERVER) {
        let (listener, port) = spec.split_once(' ').unwrap();
        crash::serve(listener.parse().unwrap(), port.parse().unwrap());
    }
}

fn server_command(listener: Listener, port: u16) -> Command {
    let mut command = Command::new(env::current_exe().unwrap());
    command
        .args(["--exact", "server", "--nocapture", "--test-threads=1"])
        .env(SERVER, format!("{listener} {port}"));
    command
}

#[test]
fn a_kill_and_restart_refuses_no_connection_with_handoff_and_some_without() {
    let handoff = handoff::kill_and_restart(
        Mode::Handoff,
        crash::fresh_port().unwrap(),
        4,
        &server_command,
    )
    .unwrap();
    let rebind = handoff::kill_and_restart(
        Mode::Rebind,
        crash::fresh_port().unwrap(),
        4,
        &server_command,
    )
    .unwrap();
    println!("handoff {handoff:?}\nrebind {rebind:?}");
    // Control: rebinding leaves a moment without a listener.
    assert!(
        rebind.probe_refused,
        "the connect between kill and restart was not refused: {rebind:?}"
    );
    assert!(rebind.refused > 0);
    assert!(!handoff.probe_refused);
    assert_eq!(handoff.refused, 0, "{handoff:?}");
    assert!(handoff.served > 0);
}
