//! `port_env` and `addr_env`: the variable wins when set; a value that is
//! not a port or an address is an `InvalidInput` error naming the variable
//! and the value; unset, the fallback is used. Each case with a variable
//! runs in a copy of this test binary that gets the variable through its
//! environment (no `set_var` in a multi-threaded test binary). Ports are
//! held by this process while a child uses them: nothing is bound, dropped
//! and bound again.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, TcpListener};

use restartable::{restartable_listener, Builder};
use restartable_tests::{child, in_child};

#[restartable_listener(host = "127.0.0.1", port = port, port_env = "RESTARTABLE_TEST_PORT_SET")]
fn from_set_variable(port: u16) -> std::io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = 0, port_env = "RESTARTABLE_TEST_PORT_UNSET")]
fn with_fallback() -> std::io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port_env = "RESTARTABLE_TEST_PORT_ONLY")]
fn without_fallback() -> std::io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = 0, port_env = "RESTARTABLE_TEST_PORT_BAD")]
fn from_bad_variable() -> std::io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = 0, addr_env = "RESTARTABLE_TEST_ADDR")]
fn from_addr_variable() -> std::io::Result<TcpListener> {}

#[restartable_listener(addr_env = "RESTARTABLE_TEST_ADDR_ONLY")]
fn addr_variable_only() -> std::io::Result<std::net::UdpSocket> {}

/// A listener this process holds, and its port.
fn held() -> (TcpListener, u16) {
    let holder = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = holder.local_addr().unwrap().port();
    (holder, port)
}

/// What a result is, as a child prints it: `port N` or `KIND message`.
fn outcome<T>(result: std::io::Result<T>, port: impl Fn(&T) -> u16) -> String {
    match result {
        Ok(socket) => format!("port {}", port(&socket)),
        Err(error) => format!("{:?} {error}", error.kind()),
    }
}

fn tcp_port(listener: &TcpListener) -> u16 {
    listener.local_addr().unwrap().port()
}

/// The `child: ` lines a copy of this binary printed for test `name`.
fn said(name: &str, vars: &[(&str, &str)]) -> Vec<String> {
    child(name, vars)
        .lines()
        .filter_map(|line| line.split_once("child: ").map(|(_, said)| said.to_owned()))
        .collect()
}

fn variable(name: &str) -> u16 {
    std::env::var(name).unwrap().parse().unwrap()
}

#[test]
fn a_set_variable_gives_the_port() {
    if in_child() {
        let fallback = variable("FALLBACK_PORT");
        println!("child: {}", outcome(from_set_variable(fallback), tcp_port));
        return;
    }
    let (_holder, held_port) = held();
    let held_text = held_port.to_string();
    // The variable names the held port: the bind goes there, and fails.
    let to_held = said(
        "a_set_variable_gives_the_port",
        &[
            ("RESTARTABLE_TEST_PORT_SET", &held_text),
            ("FALLBACK_PORT", "0"),
        ],
    );
    assert!(
        to_held[0].starts_with(&format!("AddrInUse cannot bind 127.0.0.1:{held_port}")),
        "{to_held:?}"
    );
    // The variable says 0 and the fallback is the held port: the variable
    // wins, and the bind succeeds elsewhere.
    let from_variable = said(
        "a_set_variable_gives_the_port",
        &[
            ("RESTARTABLE_TEST_PORT_SET", "0"),
            ("FALLBACK_PORT", &held_text),
        ],
    );
    assert!(
        from_variable[0].starts_with("port ") && from_variable[0] != format!("port {held_port}"),
        "{from_variable:?}"
    );
    // Control, here where the variable is unset: the fallback, held.
    let error = from_set_variable(held_port).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::AddrInUse, "{error}");
}

#[test]
fn an_unset_variable_falls_back_to_port() {
    assert!(with_fallback().is_ok());
}

#[test]
fn an_unset_variable_without_fallback_is_invalid_input() {
    let error = without_fallback().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        error.to_string(),
        "environment variable RESTARTABLE_TEST_PORT_ONLY is not set and no fallback `port` was given"
    );
}

#[test]
fn values_that_are_not_ports_are_invalid_input_naming_variable_and_value() {
    if in_child() {
        println!("child: {}", outcome(from_bad_variable(), tcp_port));
        let error = Builder::new((Ipv4Addr::LOCALHOST, 0))
            .port_env("RESTARTABLE_TEST_PORT_BAD")
            .bind::<TcpListener>()
            .unwrap_err();
        println!("child: {:?} {error}", error.kind());
        return;
    }
    for bad in ["abc", "70000", "-1", "", " 80", "80 ", "seventy"] {
        let lines = said(
            "values_that_are_not_ports_are_invalid_input_naming_variable_and_value",
            &[("RESTARTABLE_TEST_PORT_BAD", bad)],
        );
        let expected = format!(
            "InvalidInput environment variable RESTARTABLE_TEST_PORT_BAD={bad:?} is not a port \
             number (expected 0 to 65535)"
        );
        // The attribute and the builder read it the same way.
        assert_eq!(lines, [expected.clone(), expected], "{bad:?}");
    }
}

#[test]
fn addr_env_gives_the_whole_address_and_names_itself_when_bad() {
    if in_child() {
        println!("child: {}", outcome(from_addr_variable(), tcp_port));
        let udp = addr_variable_only();
        println!(
            "child: {}",
            match udp {
                Ok(socket) => format!("ip {}", socket.local_addr().unwrap().ip()),
                Err(error) => format!("{:?} {error}", error.kind()),
            }
        );
        let built = Builder::new((Ipv4Addr::UNSPECIFIED, 1))
            .addr_env("RESTARTABLE_TEST_ADDR")
            .bind::<TcpListener>();
        println!("child: {}", outcome(built, tcp_port));
        return;
    }
    let name = "addr_env_gives_the_whole_address_and_names_itself_when_bad";
    // Unset, here: the fallback, 127.0.0.1 and any port; and no fallback
    // is an error that says so.
    let fallback = from_addr_variable().unwrap();
    assert_eq!(fallback.local_addr().unwrap().ip(), Ipv4Addr::LOCALHOST);
    let error = addr_variable_only().unwrap_err();
    assert_eq!(
        error.to_string(),
        "environment variable RESTARTABLE_TEST_ADDR_ONLY is not set and no fallback `addr` or \
         `port` was given"
    );
    // The whole address from the variable, for the attribute and the
    // builder: the held port, so the bind fails there and names it.
    let (_holder, port) = held();
    let lines = said(
        name,
        &[
            ("RESTARTABLE_TEST_ADDR", &format!("127.0.0.1:{port}")),
            ("RESTARTABLE_TEST_ADDR_ONLY", "[::1]:0"),
        ],
    );
    let in_use = format!("AddrInUse cannot bind 127.0.0.1:{port}");
    assert!(lines[0].starts_with(&in_use), "{lines:?}");
    assert_eq!(lines[1], "ip ::1");
    assert!(lines[2].starts_with(&in_use), "{lines:?}");
    for (value, hint) in [
        ("localhost:80", "(host names are not resolved)"),
        ("127.0.0.1", "; it has no port"),
        (
            "/run/app.sock",
            "; a Unix-domain socket's path is given with `path_env`",
        ),
        ("", "(host names are not resolved)"),
    ] {
        let lines = said(name, &[("RESTARTABLE_TEST_ADDR", value)]);
        let expected = format!(
            "InvalidInput environment variable RESTARTABLE_TEST_ADDR={value:?} is not a socket \
             address such as 127.0.0.1:8080 or [::1]:8080{}{hint}",
            if hint.starts_with('(') { " " } else { "" }
        );
        assert_eq!(lines[0], expected);
        assert_eq!(lines[2], expected);
    }
}

#[cfg(target_os = "linux")]
const SCOPED_ADDR: &str = "RESTARTABLE_TEST_ADDR_SCOPED";

#[cfg(target_os = "linux")]
#[restartable_listener(addr_env = "RESTARTABLE_TEST_ADDR_SCOPED")]
fn from_scoped_variable() -> std::io::Result<TcpListener> {}

#[cfg(target_os = "linux")]
#[test]
fn addr_env_takes_a_scope_id_by_interface_name() {
    if in_child() {
        match from_scoped_variable() {
            Ok(listener) => println!("child: bound {}", listener.local_addr().unwrap()),
            Err(error) => println!("child: {error}"),
        }
        return;
    }
    let bind_in_child = |value: &str| {
        said(
            "addr_env_takes_a_scope_id_by_interface_name",
            &[(SCOPED_ADDR, value)],
        )
        .remove(0)
    };
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

/// The builder refuses what the attribute refuses at compile time
/// (`addr_env` with `port_env`: `tests/ui/args/addr_env_with_port_env.rs`).
#[test]
fn the_builder_refuses_addr_env_with_port_env_as_the_attribute_does() {
    let error = Builder::new((Ipv4Addr::LOCALHOST, 0))
        .addr_env("RESTARTABLE_TEST_BOTH_ADDR")
        .port_env("RESTARTABLE_TEST_BOTH_PORT")
        .bind::<TcpListener>()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        error.to_string(),
        "port_env(\"RESTARTABLE_TEST_BOTH_PORT\") cannot be used with \
         addr_env(\"RESTARTABLE_TEST_BOTH_ADDR\"), whose variable gives host and port; use one \
         of them"
    );
}
