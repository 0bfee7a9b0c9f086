//! The expansion snapshots in `expand/` are the code the attribute generates.
//! Compiled here against the runtime, each one must make what its input asked
//! for (the snapshot test in restartable-macros keeps them equal to the
//! macro's real output).
#![cfg(target_os = "linux")]

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use restartable_tests::{options, Options};

#[path = "snapshots/mod.rs"]
mod snapshots;
use snapshots::{
    addr_socket2, associated_fn, ipv6_only, not_exclusive, port_env_params, quick_start,
    udp_loopback,
};

mod reuse_port {
    include!("../expand/reuse_port.expanded.rs");
}

#[test]
fn quick_start_compiles_to_a_tcp_listener_constructor() {
    // Binding port 8080 here could collide with anything on the machine;
    // the type is the point: the expanded function is a constructor of
    // `io::Result<TcpListener>`.
    let _: fn() -> std::io::Result<std::net::TcpListener> = quick_start::listener;
}

#[test]
fn udp_socket_gets_no_reuse_option() {
    let socket = udp_loopback::socket().unwrap();
    assert_eq!(
        options(&socket).unwrap(),
        Options {
            reuse_address: false,
            reuse_port: Some(false),
            only_v6: None
        }
    );
}

#[test]
fn ipv6_wildcard_is_ipv6_only_when_asked() {
    let listener = ipv6_only::listener().unwrap();
    assert_eq!(listener.local_addr().unwrap().ip(), Ipv6Addr::UNSPECIFIED);
    let got = options(&listener).unwrap();
    assert!(got.reuse_address);
    assert_eq!(got.only_v6, Some(true));
}

#[test]
fn parameters_give_host_and_port() {
    // The snapshot reads PORT; only run when the environment leaves it unset.
    if std::env::var_os("PORT").is_some() {
        restartable_tests::skip("PORT is set in this environment, and the snapshot reads it");
        return;
    }
    let listener = port_env_params::listener(IpAddr::V4(Ipv4Addr::LOCALHOST), 0).unwrap();
    assert_eq!(listener.local_addr().unwrap().ip(), Ipv4Addr::LOCALHOST);
    assert!(options(&listener).unwrap().reuse_address);
}

#[test]
fn socket2_listener_is_nonblocking_and_configured() {
    let listener = addr_socket2::listener().unwrap();
    assert!(listener.keepalive().unwrap(), "configure ran");
    let error = listener.accept().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::WouldBlock, "nonblocking was set");
    let got = options(&listener).unwrap();
    assert!(got.reuse_address);
    // Linux marks a socket bound to a specific IPv6 address (not the
    // wildcard, not v4-mapped) IPv6-only at bind, whatever was set before.
    assert_eq!(got.only_v6, Some(true));
}

#[test]
fn reuse_port_lets_two_listeners_share_a_port() {
    let first = reuse_port::listener(0).unwrap();
    let port = first.local_addr().unwrap().port();
    let second = reuse_port::listener(port).unwrap();
    assert_eq!(options(&second).unwrap().reuse_port, Some(true));
}

#[test]
fn not_exclusive_changes_nothing_on_unix() {
    let socket = not_exclusive::socket().unwrap();
    assert!(!options(&socket).unwrap().reuse_address);
    let listener = not_exclusive::listener(0).unwrap();
    assert!(options(&listener).unwrap().reuse_address);
}

#[test]
fn associated_function_takes_its_address_from_a_constant() {
    let listener = associated_fn::Server::listener().unwrap();
    assert_eq!(listener.local_addr().unwrap().ip(), Ipv4Addr::LOCALHOST);
}

fn quick_start_expansion() -> &'static str {
    include_str!("../expand/quick_start.expanded.rs")
        .split_once("\n\n")
        .expect("a header, then the code")
        .1
        .trim_end()
}

#[test]
fn the_design_page_shows_the_current_quick_start_expansion() {
    // The page of restartable::docs that the README's quick start links for
    // its expansion.
    let page = include_str!("../../runtime/docs/design.md");
    assert!(
        page.contains(quick_start_expansion()),
        "runtime/docs/design.md should show this expansion of the quick start:\n{}",
        quick_start_expansion()
    );
}

#[test]
fn the_crate_docs_are_the_readme() {
    let lib = include_str!("../../runtime/src/lib.rs");
    assert!(lib.contains("#![doc = include_str!(\"../README.md\")]"));
    assert_eq!(
        include_str!("../../runtime/README.md"),
        include_str!("../../README.md"),
        "runtime/README.md must be the README, unchanged"
    );
}
