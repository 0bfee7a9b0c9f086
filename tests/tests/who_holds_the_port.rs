//! On "address in use" the error says which process holds the port, when
//! `/proc` shows it: here a child process (this test binary, run again)
//! holds a TCP port, and this process holds a UDP port.
#![cfg(target_os = "linux")]

use std::env;
use std::io::{self, BufRead, BufReader, ErrorKind};
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use restartable::restartable_listener;

const CHILD: &str = "RESTARTABLE_HOLDER_TEST_PORT";
const UNPRIVILEGED: &str = "RESTARTABLE_HOLDER_TEST_UNPRIVILEGED";

/// Run as `nobody` with `UNPRIVILEGED` set to a port this (root) process
/// holds: prints the error its bind gets.
#[test]
fn unprivileged_binder() {
    if let Ok(port) = env::var(UNPRIVILEGED) {
        let error = tcp(port.parse().unwrap()).unwrap_err();
        println!("error {:?} {error}", error.kind());
    }
}

#[test]
fn another_user_s_holder_is_not_named_and_nothing_false_is_said() {
    // Root sees every process; to see what a user without privileges sees,
    // run this test binary again as `nobody`.
    if !std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"))
    {
        println!("skipped: running as nobody needs root");
        return;
    }
    let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = held.local_addr().unwrap().port();
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env::current_exe().unwrap())
        .args([
            "--exact",
            "unprivileged_binder",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(UNPRIVILEGED, port.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|line| line.find("error ").map(|at| &line[at..]))
        .unwrap_or_else(|| {
            panic!(
                "no error line: {stdout} {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    println!("as nobody: {line}");
    assert!(line.starts_with("error AddrInUse "), "{line}");
    assert!(
        line.ends_with("; a listening socket holds it; its process is not visible to this one"),
        "{line}"
    );
    // Control: this process, which can see its own descriptors, is named.
    let message = tcp(port).unwrap_err().to_string();
    assert!(
        message.contains(&format!(
            "; a listening socket of process {} (",
            std::process::id()
        )),
        "{message}"
    );
}

#[restartable_listener(host = "127.0.0.1", port = port)]
fn tcp(port: u16) -> io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = port)]
fn udp(port: u16) -> io::Result<UdpSocket> {}

/// The holder: when run as a child with `CHILD` set, holds that port for at
/// most 30 s (the parent kills it sooner).
#[test]
fn holder_process() {
    if let Ok(port) = env::var(CHILD) {
        let _listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port.parse().unwrap())).unwrap();
        println!("holding");
        thread::sleep(Duration::from_secs(30));
    }
}

#[test]
fn error_names_the_process_that_holds_the_port() {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env::current_exe().unwrap())
        .args([
            "--exact",
            "holder_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, port.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let holding = stdout
        .lines()
        .map_while(Result::ok)
        .any(|line| line.ends_with("holding"));
    let error = tcp(port).unwrap_err();
    let message = error.to_string();
    child.kill().unwrap();
    child.wait().unwrap();
    // The holder was looked up once, when the error was made: displaying it
    // again, after the holder is gone, does no work and says the same.
    assert_eq!(error.to_string(), message);

    assert!(holding, "the child did not bind the port");
    assert_eq!(error.kind(), ErrorKind::AddrInUse);
    println!("{message}");
    assert!(
        message.contains(&format!("; a listening socket of process {} (", child.id())),
        "{message}"
    );
}

#[test]
fn error_names_this_process_when_it_holds_a_udp_port_itself() {
    let held = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = held.local_addr().unwrap().port();
    let message = udp(port).unwrap_err().to_string();
    println!("{message}");
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    assert!(
        message.ends_with(&format!(
            "; a UDP socket of process {} ({}) holds it",
            std::process::id(),
            comm.trim_end()
        )),
        "{message}"
    );
}
