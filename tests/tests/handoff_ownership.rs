//! `inherit`: passed sockets have one owner. The process they are passed
//! to (`LISTEN_PID`, or with the unsafe opt-in when it is unset) takes them
//! once, its children get neither the descriptors nor a second claim, and
//! what is not its to take (a descriptor another consumer took, a file, a
//! number that is not open, malformed variables) is left as it was. Each
//! test runs itself again in a copy of this test binary with the sockets
//! passed (`handoff/mod.rs`).
#![cfg(target_os = "linux")]

mod handoff;

use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::io::AsFd;

use handoff::{
    line, loopback_listener, result_lines, run, run_on_port, scenario, scenario_command,
};
use restartable_tests::in_child;
use restartable_tests::passing::{ListenPid, Passing};

#[test]
fn the_passed_listener_is_taken_once_and_neither_variables_nor_fd_reach_children() {
    if in_child() {
        return scenario();
    }
    let (listener, port) = loopback_listener();
    // Queued in the passed socket before the child exists: only the same
    // socket can accept it.
    let mut client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    let lines = run_on_port(
        "the_passed_listener_is_taken_once_and_neither_variables_nor_fd_reach_children",
        "take",
        listener.as_fd(),
        port,
    );
    // Control: before the call, a grandchild inherits both; a grandchild
    // that runs an `inherit` function then does not take the socket (its
    // process id is not LISTEN_PID), binds, and is told why that failed.
    assert_eq!(line(&lines, "grandchild before"), "fd3=open LISTEN_FDS=1");
    let grandchild = line(&lines, "grandchild takes");
    assert!(
        grandchild.starts_with(&format!("error AddrInUse cannot bind 127.0.0.1:{port}")),
        "{grandchild}"
    );
    assert!(
        grandchild.contains("LISTEN_FDS=1 passes sockets to process")
            && grandchild.contains("(LISTEN_PID), not to this one"),
        "{grandchild}"
    );
    assert_eq!(line(&lines, "first"), format!("port {port}"));
    // The variables are left as they are (changing the environment is not
    // safe while other threads may read it); the descriptor is close-on-exec.
    assert!(
        line(&lines, "variables").contains("LISTEN_FDS=1"),
        "{lines:?}"
    );
    assert_eq!(line(&lines, "grandchild after"), "fd3=closed LISTEN_FDS=1");
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
fn without_listen_pid_the_sockets_are_taken_only_after_the_unsafe_opt_in() {
    if in_child() {
        return scenario();
    }
    let (listener, port) = loopback_listener();
    let _client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    // As `systemfd --no-pid` passes them: not taken, and the error of the
    // bind that then fails says what was passed and how to take it.
    let lines = run(
        "without_listen_pid_the_sockets_are_taken_only_after_the_unsafe_opt_in",
        "unset",
        &[listener.as_fd()],
        None,
        &ListenPid::Unset,
        &[("EXPECTED_PORT", port.to_string())],
    );
    for which in ["first", "grandchild takes"] {
        let error = line(&lines, which);
        assert!(
            error.starts_with(&format!("error AddrInUse cannot bind 127.0.0.1:{port}")),
            "{error}"
        );
        assert!(
            error.contains(
                "LISTEN_FDS=1 passes sockets with LISTEN_PID unset (as `systemfd --no-pid` does)"
            ) && error.contains("restartable::handoff::accept_unset_listen_pid()"),
            "{error}"
        );
    }
    // With the opt-in the process takes them; its child still does not.
    let lines = run(
        "without_listen_pid_the_sockets_are_taken_only_after_the_unsafe_opt_in",
        "take-unset",
        &[listener.as_fd()],
        None,
        &ListenPid::Unset,
        &[("EXPECTED_PORT", port.to_string())],
    );
    assert_eq!(line(&lines, "accepted"), "Ok(1)");
    assert_eq!(line(&lines, "first"), format!("port {port}"));
    assert!(
        line(&lines, "grandchild takes").starts_with("error AddrInUse"),
        "{lines:?}"
    );
}

#[test]
fn sockets_for_another_process_are_left_alone_and_the_function_binds() {
    if in_child() {
        return scenario();
    }
    let (listener, port) = loopback_listener();
    let lines = run(
        "sockets_for_another_process_are_left_alone_and_the_function_binds",
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
fn listen_fds_first_fd_is_honoured_and_the_descriptors_below_are_left_alone() {
    if in_child() {
        return scenario();
    }
    let (listener, port) = loopback_listener();
    // The child serves one queued connection.
    let _client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    // As systemfd places the socket when fd 3 is open already: at fd 4, with
    // LISTEN_FDS_FIRST_FD=4; fd 3 is /dev/null, the program's own.
    let mut passing = Passing::from_fd(
        &scenario_command(
            "listen_fds_first_fd_is_honoured_and_the_descriptors_below_are_left_alone",
            "take",
        ),
        &[listener.as_fd()],
        None,
        &ListenPid::Own,
        4,
    )
    .unwrap();
    passing.command().env("EXPECTED_PORT", port.to_string());
    let lines = result_lines(&passing.run());
    println!("{lines:?}");
    assert_eq!(line(&lines, "first"), format!("port {port}"));
    // fd 3 is still inheritable: it was not marked close-on-exec.
    assert_eq!(line(&lines, "grandchild after"), "fd3=open LISTEN_FDS=1");
}

/// A descriptor that is already close-on-exec was taken by something else
/// in this process (libsystemd's `sd_listen_fds(0)` marks it so): a second
/// owner would close it twice.
#[test]
fn a_descriptor_already_taken_in_the_process_is_left_alone() {
    if in_child() {
        return scenario();
    }
    let (listener, port) = loopback_listener();
    let lines = run_on_port(
        "a_descriptor_already_taken_in_the_process_is_left_alone",
        "cloexec",
        listener.as_fd(),
        port,
    );
    // Before: `first port PORT` — fd 3 owned twice.
    let first = line(&lines, "first");
    assert!(
        first.starts_with(&format!("error AddrInUse cannot bind 127.0.0.1:{port}"))
            && first.contains(
                "a descriptor was passed to this process and left alone (fd 3, unnamed is \
                 close-on-exec, so something else in this process already took it"
            ),
        "{first}"
    );
    assert_eq!(line(&lines, "fd3"), "open");
}

/// systemd's `OpenFile=` passes files the same way: only sockets are
/// wrapped.
#[test]
fn a_passed_file_is_not_a_socket_and_is_left_open() {
    if in_child() {
        return scenario();
    }
    let file = fs::File::open("/dev/null").unwrap();
    let lines = run(
        "a_passed_file_is_not_a_socket_and_is_left_open",
        "file",
        &[file.as_fd()],
        Some("http"),
        &ListenPid::Own,
        &[],
    );
    // Before: `http error InvalidInput the socket passed as fd 3
    // (LISTEN_FDNAMES "http") is a descriptor that cannot be used`.
    assert!(line(&lines, "http").starts_with("port "), "{lines:?}");
    let only = line(&lines, "only passed");
    assert!(
        only.starts_with("error NotFound no socket named \"http\" was passed")
            && only.contains("fd 3 named \"http\" is not a socket"),
        "{only}"
    );
    assert_eq!(line(&lines, "fd3"), "open");
}

#[test]
fn malformed_variables_are_invalid_input_naming_the_variable_and_stay_set() {
    if in_child() {
        return scenario();
    }
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
        let lines = run(
            "malformed_variables_are_invalid_input_naming_the_variable_and_stay_set",
            "errors",
            &[listener.as_fd()],
            names,
            &pid,
            &extra,
        );
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
    if in_child() {
        return scenario();
    }
    // LISTEN_FDS says one socket, but nothing is at fd 3.
    let lines = run(
        "a_passed_descriptor_that_is_not_open_is_an_error_naming_it",
        "errors",
        &[],
        None,
        &ListenPid::Own,
        &[("LISTEN_FDS", "1".into())],
    );
    let next = line(&lines, "next");
    assert!(
        next.starts_with("error InvalidInput fd 3 is not open, but LISTEN_FDS=1 says"),
        "{next}"
    );
    assert_eq!(line(&lines, "fd3"), "closed");
}
