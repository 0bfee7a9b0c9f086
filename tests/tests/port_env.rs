//! `port_env`: the variable wins when set; a value that is not a port is an
//! `InvalidInput` error naming the variable and the value; unset, the
//! fallback `port` is used. Each test has a variable of its own, so the
//! tests can run in parallel.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, TcpListener};

use restartable::{restartable_listener, Builder};

#[restartable_listener(host = "127.0.0.1", port = 0, port_env = "RESTARTABLE_TEST_PORT_SET")]
fn from_set_variable() -> std::io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = 0, port_env = "RESTARTABLE_TEST_PORT_UNSET")]
fn with_fallback() -> std::io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port_env = "RESTARTABLE_TEST_PORT_ONLY")]
fn without_fallback() -> std::io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = 0, port_env = "RESTARTABLE_TEST_PORT_BAD")]
fn from_bad_variable() -> std::io::Result<TcpListener> {}

fn set(name: &str, value: &str) {
    // Each test owns its variable; nothing else reads it.
    std::env::set_var(name, value);
}

#[test]
fn a_set_variable_gives_the_port() {
    // A free port: bind it, note it, release it.
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    set("RESTARTABLE_TEST_PORT_SET", &port.to_string());
    let listener = from_set_variable().unwrap();
    assert_eq!(listener.local_addr().unwrap().port(), port);
}

#[test]
fn an_unset_variable_falls_back_to_port() {
    std::env::remove_var("RESTARTABLE_TEST_PORT_UNSET");
    assert!(with_fallback().is_ok());
}

#[test]
fn an_unset_variable_without_fallback_is_invalid_input() {
    std::env::remove_var("RESTARTABLE_TEST_PORT_ONLY");
    let error = without_fallback().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        error.to_string(),
        "environment variable RESTARTABLE_TEST_PORT_ONLY is not set and no fallback `port` was given"
    );
}

#[test]
fn values_that_are_not_ports_are_invalid_input_naming_variable_and_value() {
    for bad in ["abc", "70000", "-1", "", " 80", "80 "] {
        set("RESTARTABLE_TEST_PORT_BAD", bad);
        let error = from_bad_variable().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{bad:?}");
        assert_eq!(
            error.to_string(),
            format!(
                "environment variable RESTARTABLE_TEST_PORT_BAD={bad:?} is not a port number (expected 0 to 65535)"
            )
        );
    }
}

#[test]
fn the_builder_reads_the_variable_the_same_way() {
    std::env::set_var("RESTARTABLE_TEST_PORT_BUILDER", "seventy");
    let error = Builder::new((Ipv4Addr::LOCALHOST, 0))
        .port_env("RESTARTABLE_TEST_PORT_BUILDER")
        .bind::<TcpListener>()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(error
        .to_string()
        .contains("RESTARTABLE_TEST_PORT_BUILDER=\"seventy\""));
}
