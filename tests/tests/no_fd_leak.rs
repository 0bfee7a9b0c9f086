//! No error path leaves a socket behind: the process's open file descriptors
//! are counted before and after 10,000 failed attempts of each kind. One
//! test in its own binary, so that no other test opens descriptors meanwhile.
#![cfg(target_os = "linux")]

use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, TcpListener};

use restartable::{restartable_listener, Builder};

#[restartable_listener(host = "127.0.0.1", port = port)]
fn listener(port: u16) -> io::Result<TcpListener> {}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn attempts(what: &str, expected: ErrorKind, attempt: impl Fn() -> io::Result<TcpListener>) {
    let before = open_fds();
    for _ in 0..10_000 {
        let error = attempt().expect_err(what);
        assert_eq!(error.kind(), expected, "{what}: {error}");
    }
    let after = open_fds();
    println!("{what}: {before} open fds before 10,000 failures, {after} after");
    assert_eq!(before, after, "{what} leaked descriptors");
}

#[test]
fn failed_binds_leave_no_socket_behind() {
    let holder = listener(0).unwrap();
    let port = holder.local_addr().unwrap().port();
    attempts("bind on a held port", ErrorKind::AddrInUse, || {
        listener(port)
    });
    attempts("configure fails", ErrorKind::PermissionDenied, || {
        Builder::new((Ipv4Addr::LOCALHOST, 0))
            .configure(|_| Err(io::Error::new(ErrorKind::PermissionDenied, "no")))
            .bind()
    });
    attempts("only_v6 on IPv4", ErrorKind::InvalidInput, || {
        Builder::new((Ipv4Addr::LOCALHOST, 0)).only_v6(true).bind()
    });
    attempts("backlog 0", ErrorKind::InvalidInput, || {
        Builder::new((Ipv4Addr::LOCALHOST, 0)).backlog(0).bind()
    });

    // Control: the count does see a socket that is kept.
    let before = open_fds();
    let kept = listener(0).unwrap();
    assert_eq!(open_fds(), before + 1);
    drop(kept);
}
