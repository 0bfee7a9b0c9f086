//! A minimal HTTP/1.1 server for systemd socket activation
//! (`scripts/systemd-check.sh` runs it under a real systemd): its listener is
//! the socket systemd passed as `http` (`FileDescriptorName=http`), and it
//! answers `GET /` with `pid=<its process id>`.
//!
//! ```text
//! cargo build --release --example socket_activated
//! target/release/examples/socket_activated [--no-fallback]
//! ```
//!
//! On start it says on stderr (the journal, under systemd) what systemd
//! passed and what it listens on. When the listener cannot be made it prints
//! `error: ` and the error, and exits with status 1.
//!
//! `--no-fallback` selects a listener that names the socket and gives no
//! address, so that nothing is bound when nothing was passed: then the
//! start fails with an error that says so.

use std::env;
// `io` and `TcpListener` are written out in full below, as the README writes
// the listener function.
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process;
use std::thread;

use restartable::restartable_listener;

/// The socket systemd passed as "http", else 0.0.0.0:8080.
#[restartable_listener(port = 8080, inherit = "http")]
fn listener() -> std::io::Result<std::net::TcpListener> {}

/// The socket systemd passed as "http", and no address to bind without it.
#[restartable_listener(inherit = "http")]
fn passed_listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {
    let no_fallback = match env::args().nth(1).as_deref() {
        None => false,
        Some("--no-fallback") => true,
        Some(_) => {
            eprintln!("usage: socket_activated [--no-fallback]");
            process::exit(2);
        }
    };
    eprintln!("started with {}", passed());
    let made = if no_fallback {
        passed_listener()
    } else {
        listener()
    };
    let listener = match made.and_then(|listener| Ok((listener.local_addr()?, listener))) {
        Ok((addr, listener)) => {
            eprintln!("listening on {addr}");
            listener
        }
        Err(e) => {
            eprintln!("error: {e}");
            process::exit(1);
        }
    };
    for stream in listener.incoming().flatten() {
        thread::spawn(move || serve(stream));
    }
}

/// The variables of systemd's socket activation as this process got them,
/// e.g. `LISTEN_PID=7 LISTEN_FDS=1 LISTEN_FDNAMES=http`.
fn passed() -> String {
    let set: Vec<String> = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]
        .iter()
        .filter_map(|name| Some(format!("{name}={}", env::var(name).ok()?)))
        .collect();
    if set.is_empty() {
        "no socket passed (LISTEN_FDS is unset)".to_owned()
    } else {
        set.join(" ")
    }
}

/// Answers one request and closes the connection.
fn serve(stream: TcpStream) {
    let Ok(reading) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(reading);
    let mut writer = stream;
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    // The headers, up to the empty line; no body.
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let (status, body) = if request.starts_with("GET / ") {
        ("200 OK", format!("pid={}\n", process::id()))
    } else {
        ("404 Not Found", "not found\n".to_owned())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = writer.write_all(response.as_bytes());
}
