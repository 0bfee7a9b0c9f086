//! Errors keep their kind, name the address, and keep the OS error: as the
//! source, and as a code through `restartable::os_error`. The same tests run
//! on Linux and, under Wine, on Windows.
#![cfg(any(target_os = "linux", windows))]

use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, TcpListener};

use restartable::restartable_listener;

/// EADDRINUSE on Linux; WSAEADDRINUSE on Windows.
#[cfg(target_os = "linux")]
const ADDRESS_IN_USE: i32 = 98;
#[cfg(windows)]
const ADDRESS_IN_USE: i32 = 10048;

#[restartable_listener(host = "127.0.0.1", port = port)]
fn tcp(port: u16) -> io::Result<TcpListener> {}

#[test]
fn an_address_in_use_names_the_address_and_keeps_the_kind() {
    // Held by a std listener: on Windows it has no SO_EXCLUSIVEADDRUSE, so
    // our exclusive bind gets WSAEADDRINUSE, not WSAEACCES.
    let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = held.local_addr().unwrap().port();
    let error = tcp(port).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::AddrInUse);
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "cannot bind 127.0.0.1:{port}: address in use: another socket holds this port (os error {ADDRESS_IN_USE})"
        )),
        "{message}"
    );
}

#[test]
fn the_os_error_is_kept_as_the_source_and_by_os_error() {
    let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = held.local_addr().unwrap().port();
    let error = tcp(port).unwrap_err();
    // The message names the address, so the io::Error itself is a custom
    // one: its raw_os_error is None (why callers need more).
    assert_eq!(error.raw_os_error(), None);
    assert_eq!(restartable::os_error(&error), Some(ADDRESS_IN_USE));
    let source = std::error::Error::source(&error).expect("the OS error as source");
    let source = source.downcast_ref::<io::Error>().expect("an io::Error");
    assert_eq!(source.raw_os_error(), Some(ADDRESS_IN_USE));
    assert_eq!(source.kind(), ErrorKind::AddrInUse);
    // Errors that are not the OS's have none.
    let plain = io::Error::new(ErrorKind::InvalidInput, "no");
    assert_eq!(restartable::os_error(&plain), None);
    assert_eq!(
        restartable::os_error(&io::Error::from_raw_os_error(13)),
        Some(13)
    );
}

#[test]
fn the_debug_form_reads_as_the_message_does() {
    // What `fn main() -> io::Result<()>` prints on an error.
    let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = held.local_addr().unwrap().port();
    let error = tcp(port).unwrap_err();
    let debug = format!("{error:?}");
    assert_eq!(
        debug,
        format!(
            "Custom {{ kind: AddrInUse, error: {:?} }}",
            error.to_string()
        ),
    );
    assert!(!debug.contains("Failure"), "{debug}");
    #[cfg(target_os = "linux")]
    assert!(
        debug.contains(&format!(
            "a listening socket of process {} (",
            std::process::id()
        )),
        "the holder: {debug}"
    );
}

/// The builder refuses what the attribute refuses at compile time
/// (`reuse_port = true` with `exclusive = false`).
#[test]
fn the_builder_refuses_reuse_port_with_exclusive_false_as_the_attribute_does() {
    let error = restartable::Builder::new((Ipv4Addr::LOCALHOST, 0))
        .reuse_port(true)
        .exclusive(false)
        .bind::<TcpListener>()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(
        error
            .to_string()
            .starts_with("exclusive(false) has no effect with reuse_port(true)"),
        "{error}"
    );
}

/// Values the attribute refuses at compile time are refused by the builder
/// at bind, with the same rule: a variable name, the name of a passed
/// socket, the length of `retry`.
#[test]
fn the_builder_checks_names_and_durations_as_the_attribute_does() {
    let ip = || restartable::Builder::new((Ipv4Addr::LOCALHOST, 0));
    let cases = [
        (
            ip().port_env("9PORT").bind::<TcpListener>(),
            "port_env(\"9PORT\") is not an environment variable name",
        ),
        (
            ip().addr_env("MY-ADDR").bind::<TcpListener>(),
            "addr_env(\"MY-ADDR\") is not an environment variable name",
        ),
        (
            ip().inherit_named("web:admin").bind::<TcpListener>(),
            "inherit_named(\"web:admin\") is not the name of a passed socket: `:` separates",
        ),
        (
            ip().retry(std::time::Duration::from_secs(3601))
                .bind::<TcpListener>(),
            "retry(3601s) is not a duration from 1ms to 1h",
        ),
    ];
    for (result, message) in cases {
        let error = result.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
        assert!(
            error.to_string().starts_with(message),
            "{error} ∌ {message}"
        );
    }
    #[cfg(unix)]
    {
        let error = restartable::UnixBuilder::new("app.sock")
            .path_env("APP SOCKET")
            .bind::<std::os::unix::net::UnixListener>()
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("path_env(\"APP SOCKET\") is not an environment variable name"),
            "{error}"
        );
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let error = restartable::UnixBuilder::abstract_name("")
            .bind::<std::os::unix::net::UnixListener>()
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            error.to_string(),
            "cannot bind @: the abstract name is empty"
        );
    }
}
