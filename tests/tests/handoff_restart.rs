//! `inherit` across a crash: a server whose listener comes from
//! `#[restartable_listener(port = …, inherit = true)]` is killed with
//! SIGKILL and started again while clients connect in a loop, once with the
//! socket held by a supervisor and passed to each server
//! (`restartable_examples::handoff`, the supervisor of the handoff
//! example), once binding the port itself (the control). The server is this
//! test run again in a copy of its binary.
#![cfg(target_os = "linux")]

use std::env;
use std::process::Command;

use restartable_examples::crash::{self, Listener};
use restartable_examples::handoff::{self, Mode};
use restartable_tests::in_child;

/// In the copy: the listener and port of `crash::serve`.
const SERVER: &str = "RESTARTABLE_HANDOFF_SERVER";

/// The server: the test below run again, `crash::serve` with `listener`
/// on `port`.
fn server_command(listener: Listener, port: u16) -> Command {
    let mut command = restartable_tests::command(
        "a_kill_and_restart_refuses_no_connection_with_handoff_and_some_without",
    );
    command.env(SERVER, format!("{listener} {port}"));
    command
}

#[test]
fn a_kill_and_restart_refuses_no_connection_with_handoff_and_some_without() {
    if in_child() {
        let spec = env::var(SERVER).unwrap();
        let (listener, port) = spec.split_once(' ').unwrap();
        crash::serve(listener.parse().unwrap(), port.parse().unwrap());
    }
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
