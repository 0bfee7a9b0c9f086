//! The crash-restart with real processes: a server whose listener comes from
//! the attribute is killed with SIGKILL while its side of 100 connections is
//! in TIME_WAIT, and binds again at once. The control, the same server with
//! a naive listener, must fail with `AddrInUse`; if it does not, no TIME_WAIT
//! was produced and the test proves nothing, so it fails. The machinery is
//! the crash-restart example's (`restartable_examples::crash`); the server
//! is this test run again in a copy of its binary.
#![cfg(target_os = "linux")]

use std::env;
use std::process::Command;

use restartable_examples::crash::{self, Listener, Start};
use restartable_tests::in_child;

/// In the copy that is the server: `LISTENER PORT`.
const CHILD: &str = "RESTARTABLE_CRASH_TEST_SERVER";
const CLIENTS: usize = 100;

/// The server process: the test below run again, `crash::serve` with
/// `listener` on `port`.
fn server_command(listener: Listener, port: u16) -> Command {
    let mut command = restartable_tests::command(
        "killed_server_binds_again_at_once_and_the_naive_control_cannot",
    );
    command.env(CHILD, format!("{listener} {port}"));
    command
}

#[test]
fn killed_server_binds_again_at_once_and_the_naive_control_cannot() {
    if in_child() {
        let spec = env::var(CHILD).unwrap();
        let (listener, port) = spec.split_once(' ').expect("LISTENER PORT");
        crash::serve(listener.parse().unwrap(), port.parse().unwrap());
    }
    let restartable = crash::crash_and_restart(
        Listener::Restartable,
        crash::fresh_port().unwrap(),
        CLIENTS,
        &server_command,
    )
    .unwrap();
    let naive = crash::crash_and_restart(
        Listener::Naive,
        crash::fresh_port().unwrap(),
        CLIENTS,
        &server_command,
    )
    .unwrap();
    println!("{restartable:?}\n{naive:?}");

    // The control first: without the policy the restart must fail, with the
    // server's connections in TIME_WAIT.
    assert!(
        naive.time_wait.count >= CLIENTS,
        "only {} TIME_WAIT connections: the crash left too few to prove anything",
        naive.time_wait.count
    );
    assert!(
        matches!(&naive.restart, Start::BindError { kind, .. } if kind == "AddrInUse"),
        "the naive server came back: {:?}; the test would prove nothing",
        naive.restart
    );

    assert!(restartable.time_wait.count >= CLIENTS);
    assert!(restartable.options.contains("SO_REUSEADDR=1"));
    assert!(
        matches!(restartable.restart, Start::Ready { .. }),
        "the restartable server did not bind again: {:?}",
        restartable.restart
    );
    assert!(
        restartable.time_to_ready.is_some(),
        "the restarted server bound but accepted nothing"
    );
}
