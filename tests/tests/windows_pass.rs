//! What a process makes of `RESTARTABLE_SOCKETS` that its supervisor did
//! not set for it (Windows; run under Wine by scripts/windows-check.sh).
//! The server is `tests/src/bin/win_service.rs`, `once` mode: a function with
//! `inherit = "http"` and an address, no supervisor.
#![cfg(windows)]

use std::process::{Command, Output};

const VARIABLE: &str = "RESTARTABLE_SOCKETS";

fn once(value: &str) -> Output {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    Command::new(env!("CARGO_BIN_EXE_win_service"))
        .args(["once", &port.to_string()])
        .env(VARIABLE, value)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A process the service starts in turn inherits the variable, not the
/// pipes: its parent is not the supervisor the variable names, so the
/// handle values in it are left alone and the function binds.
#[test]
fn a_variable_for_another_process_is_left_alone() {
    // Process 4 is not this test's child's parent (this test is).
    let output = once("v=1,parent=4,take=8,store=12");
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    assert!(
        String::from_utf8_lossy(&output.stdout).starts_with("bound 127.0.0.1:"),
        "{said}"
    );
    assert!(!said.contains("took the passed socket"), "{said}");
}

/// The variable names this process's parent, but `take` is no pipe of
/// this process: an error that names the variable, not a read of whatever
/// the number is.
#[test]
fn a_take_handle_that_is_no_pipe_is_an_error_naming_the_variable() {
    let value = format!("v=1,parent={},take=4000", std::process::id());
    let output = once(&value);
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("error InvalidInput "), "{said}");
    assert!(
        stdout.contains(VARIABLE) && stdout.contains("take=4000"),
        "{said}"
    );
    assert!(
        stdout.contains(&format!(
            "is not a pipe of this process that process {} made",
            std::process::id()
        )),
        "{said}"
    );
}

/// A value this process's parent set and that cannot be read (another
/// version's) is `InvalidInput`, naming the variable and the value.
#[test]
fn a_malformed_variable_from_the_parent_is_an_error_naming_it() {
    let value = format!("v=2,parent={}", std::process::id());
    let output = once(&value);
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("error InvalidInput "), "{said}");
    assert!(
        stdout.contains(&format!("RESTARTABLE_SOCKETS is {value:?}")),
        "{said}"
    );
}
