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

/// Set in the copy of this test binary that binds from `addr_env`, so that
/// the variable is given to that process alone (no `set_var` here).
#[cfg(target_os = "linux")]
const SCOPED_CHILD: &str = "RESTARTABLE_TEST_SCOPED_CHILD";
#[cfg(target_os = "linux")]
const SCOPED_ADDR: &str = "RESTARTABLE_TEST_ADDR_SCOPED";

#[cfg(target_os = "linux")]
#[restartable_listener(addr_env = "RESTARTABLE_TEST_ADDR_SCOPED")]
fn from_scoped_variable() -> std::io::Result<TcpListener> {}

/// What the child made of `value`: `bound <address>` or the error.
#[cfg(target_os = "linux")]
fn bind_in_child(value: &str) -> String {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "addr_env_takes_a_scope_id_by_interface_name",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SCOPED_CHILD, "1")
        .env(SCOPED_ADDR, value)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    stdout
        .lines()
        .find_map(|line| line.split_once("child: ").map(|(_, said)| said.to_owned()))
        .unwrap_or_else(|| panic!("the child said nothing: {stdout}"))
}

#[cfg(target_os = "linux")]
#[test]
fn addr_env_takes_a_scope_id_by_interface_name() {
    if std::env::var_os(SCOPED_CHILD).is_some() {
        match from_scoped_variable() {
            Ok(listener) => println!("child: bound {}", listener.local_addr().unwrap()),
            Err(error) => println!("child: {error}"),
        }
        return;
    }
    let loopback: u32 = std::fs::read_to_string("/sys/class/net/lo/ifindex")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // ::1 takes a scope id and binds (Linux uses it for link-local
    // addresses only); the parse is checked in tests/listen_addr.rs.
    // Control: the numeric scope id.
    let numeric = bind_in_child(&format!("[::1%{loopback}]:0"));
    assert!(numeric.starts_with("bound [::1]:"), "{numeric}");
    let named = bind_in_child("[::1%lo]:0");
    assert!(named.starts_with("bound [::1]:"), "{named}");
    let unknown = bind_in_child("[::1%restartable-no]:0");
    assert_eq!(
        unknown,
        format!(
            "environment variable {SCOPED_ADDR}=\"[::1%restartable-no]:0\" is not a usable \
             socket address: no network interface is named \"restartable-no\" (the scope id of \
             an IPv6 address is an interface's name or index)"
        )
    );
}
