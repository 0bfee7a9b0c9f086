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

#[restartable_listener(host = "127.0.0.1", port = 0, addr_env = "RESTARTABLE_TEST_ADDR")]
fn from_addr_variable() -> std::io::Result<TcpListener> {}

#[restartable_listener(addr_env = "RESTARTABLE_TEST_ADDR_ONLY")]
fn addr_variable_only() -> std::io::Result<std::net::UdpSocket> {}

#[test]
fn addr_env_gives_the_whole_address_and_names_itself_when_bad() {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Unset: the fallback, 127.0.0.1 and any port.
    let fallback = from_addr_variable().unwrap();
    assert_eq!(fallback.local_addr().unwrap().ip(), Ipv4Addr::LOCALHOST);
    drop(fallback);
    set("RESTARTABLE_TEST_ADDR", &format!("127.0.0.1:{port}"));
    let listener = from_addr_variable().unwrap();
    assert_eq!(
        listener.local_addr().unwrap(),
        (Ipv4Addr::LOCALHOST, port).into()
    );
    for (value, hint) in [
        ("localhost:80", "(host names are not resolved)"),
        ("127.0.0.1", "; it has no port"),
        (
            "/run/app.sock",
            "; a Unix-domain socket's path is given with `path_env`",
        ),
        ("", "(host names are not resolved)"),
    ] {
        set("RESTARTABLE_TEST_ADDR", value);
        let error = from_addr_variable().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
        assert_eq!(
            error.to_string(),
            format!(
                "environment variable RESTARTABLE_TEST_ADDR={value:?} is not a socket address \
                 such as 127.0.0.1:8080 or [::1]:8080{}{hint}",
                if hint.starts_with('(') { " " } else { "" }
            )
        );
    }
    // No fallback: unset is an error that says so.
    let error = addr_variable_only().unwrap_err();
    assert_eq!(
        error.to_string(),
        "environment variable RESTARTABLE_TEST_ADDR_ONLY is not set and no fallback `addr` or \
         `port` was given"
    );
    set("RESTARTABLE_TEST_ADDR_ONLY", "[::1]:0");
    let socket = addr_variable_only().unwrap();
    assert_eq!(
        socket.local_addr().unwrap().ip(),
        std::net::Ipv6Addr::LOCALHOST
    );
    // The builder: the same.
    set(
        "RESTARTABLE_TEST_ADDR_BUILDER",
        &format!("127.0.0.1:{port}"),
    );
    drop(listener);
    let built: TcpListener = Builder::new((Ipv4Addr::UNSPECIFIED, 1))
        .addr_env("RESTARTABLE_TEST_ADDR_BUILDER")
        .bind()
        .unwrap();
    assert_eq!(
        built.local_addr().unwrap(),
        (Ipv4Addr::LOCALHOST, port).into()
    );
}
