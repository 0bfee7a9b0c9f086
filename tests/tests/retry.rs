//! `retry`: while the port is in use, bind is tried again until the
//! deadline. Each test holds the port with a listening socket of its own
//! (which refuses our bind even with SO_REUSEADDR), and each has a control:
//! without `retry`, the same bind fails at once.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::thread;
use std::time::{Duration, Instant};

use restartable::{restartable_listener, Builder};

#[restartable_listener(host = "127.0.0.1", port = port, retry = "3s")]
fn retrying(port: u16) -> std::io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = port, retry = "300ms")]
fn retrying_briefly(port: u16) -> std::io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = port)]
fn not_retrying(port: u16) -> std::io::Result<TcpListener> {}

#[restartable_listener(host = host, port = 0, only_v6 = true, retry = "3s")]
fn only_v6_on(host: Ipv4Addr) -> std::io::Result<TcpListener> {}

/// A listener on a free loopback port, as the old instance would hold it.
fn hold() -> (TcpListener, u16) {
    let holder = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = holder.local_addr().unwrap().port();
    (holder, port)
}

#[test]
fn a_port_released_during_the_retry_is_bound() {
    let (holder, port) = hold();
    let control = not_retrying(port).unwrap_err();
    assert_eq!(control.kind(), ErrorKind::AddrInUse, "{control}");

    let hold_for = Duration::from_millis(400);
    let started = Instant::now();
    let releaser = thread::spawn(move || {
        thread::sleep(hold_for);
        drop(holder);
    });
    let listener = retrying(port).unwrap();
    let waited = started.elapsed();
    releaser.join().unwrap();
    assert_eq!(listener.local_addr().unwrap().port(), port);
    assert!(
        waited >= hold_for,
        "bound after {waited:?}, before the release"
    );
    // The pause is capped at 200 ms, so the bind follows the release soon.
    assert!(
        waited < hold_for + Duration::from_millis(1500),
        "bound {waited:?} after the start, long after the release"
    );
    println!("held {hold_for:?}, bound after {waited:?}");
}

#[test]
fn a_port_never_released_fails_at_the_deadline_saying_how_long_it_tried() {
    let (_holder, port) = hold();
    let started = Instant::now();
    let error = retrying_briefly(port).unwrap_err();
    let waited = started.elapsed();
    assert_eq!(error.kind(), ErrorKind::AddrInUse, "{error}");
    assert!(
        waited >= Duration::from_millis(300),
        "gave up after {waited:?}"
    );
    assert!(waited < Duration::from_secs(2), "gave up after {waited:?}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("cannot bind 127.0.0.1:{port}: address in use")),
        "{message}"
    );
    assert!(
        message.contains("; still in use after retrying for 0."),
        "{message}"
    );
    assert!(message.ends_with(" attempts)"), "{message}");
    println!("{message}");

    // Control: without retry the same bind fails at once and says nothing
    // of retrying.
    let started = Instant::now();
    let control = not_retrying(port).unwrap_err();
    assert_eq!(control.kind(), ErrorKind::AddrInUse);
    assert!(started.elapsed() < Duration::from_millis(300));
    assert!(!control.to_string().contains("retrying"), "{control}");
}

#[test]
fn other_errors_are_not_retried() {
    let started = Instant::now();
    let error = only_v6_on(Ipv4Addr::LOCALHOST).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_builder_retries_too() {
    let (holder, port) = hold();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let control = Builder::new(addr).bind::<TcpListener>().unwrap_err();
    assert_eq!(control.kind(), ErrorKind::AddrInUse);
    let releaser = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        drop(holder);
    });
    let listener: TcpListener = Builder::new(addr)
        .retry(Duration::from_secs(3))
        .bind()
        .unwrap();
    releaser.join().unwrap();
    assert_eq!(listener.local_addr().unwrap(), addr);
}
