//! The control for the zero-downtime upgrade check
//! (`scripts/upgrade-check.sh`): an "upgrade" by SO_REUSEPORT overlap, as
//! done without passing the socket. Each process binds its own socket with
//! `restartable::Builder::reuse_port(true)`; the script starts the next one
//! while this one still listens, then creates the file `TRIGGER`, and this one
//! stops accepting, keeps its listener open `LINGER_MS` more (the kernel keeps
//! queueing part of the new connections on it, as on a busy server), closes
//! it, and exits once its connections are done (at most 5 s).
//!
//! ```text
//! upgrade_control PORT GENERATION TRIGGER [LINGER_MS]
//! ```
//!
//! It answers `GET` on keep-alive connections with `pid=<pid>
//! generation=<n>`, prints `serving pid=<pid> generation=<n>` once it
//! listens, and `closed queued=<n>` when it closes its listener with `n`
//! connections in its queue (on Linux read from `/proc/net/tcp`).

use std::env;
use std::io::{self, BufRead, BufReader, ErrorKind, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let (port, generation, trigger, linger) = match args.as_slice() {
        [port, generation, trigger, rest @ ..] if rest.len() <= 1 => {
            match (port.parse::<u16>(), generation.parse::<u64>()) {
                (Ok(port), Ok(generation)) => {
                    let linger = rest.first().map_or(Some(200), |v| v.parse().ok());
                    (
                        port,
                        generation,
                        trigger.clone(),
                        linger.unwrap_or_else(|| usage()),
                    )
                }
                _ => usage(),
            }
        }
        _ => usage(),
    };
    let listener: TcpListener = match restartable::Builder::new((Ipv4Addr::LOCALHOST, port))
        .reuse_port(true)
        .nonblocking(true)
        .bind()
    {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: {error}");
            process::exit(3);
        }
    };
    let body = format!("pid={} generation={generation}\n", process::id());
    println!("serving pid={} generation={generation}", process::id());
    let _ = io::stdout().flush();
    let draining = Arc::new(AtomicBool::new(false));
    let active = Arc::new(AtomicUsize::new(0));
    let trigger = Path::new(&trigger);
    while !trigger.exists() {
        match listener.accept() {
            Ok((stream, _)) => {
                let (body, draining, active) = (body.clone(), draining.clone(), active.clone());
                active.fetch_add(1, Ordering::SeqCst);
                thread::spawn(move || {
                    serve(stream, &body, &draining);
                    active.fetch_sub(1, Ordering::SeqCst);
                });
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(1));
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
    draining.store(true, Ordering::SeqCst);
    thread::sleep(Duration::from_millis(linger));
    println!("closed queued={}", queued(port));
    drop(listener);
    let deadline = Instant::now() + Duration::from_secs(5);
    while active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
}

fn usage() -> ! {
    eprintln!("usage: upgrade_control PORT GENERATION TRIGGER [LINGER_MS]");
    process::exit(2);
}

/// Answers requests until the client closes or asks to close, or, once
/// draining, after the next response (with `Connection: close`) or when
/// idle.
fn serve(stream: TcpStream, body: &str, draining: &AtomicBool) {
    let Ok(reading) = stream.try_clone() else {
        return;
    };
    let _ = stream.set_nonblocking(false);
    let _ = reading.set_read_timeout(Some(Duration::from_millis(50)));
    let mut reader = BufReader::new(reading);
    let mut writer = stream;
    let mut line = String::new();
    loop {
        let (mut started, mut asked_close) = (false, false);
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => return,
                Ok(_) if line == "\r\n" || line == "\n" => break,
                Ok(_) => {
                    started = true;
                    asked_close |= line.eq_ignore_ascii_case("connection: close\r\n");
                }
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    if !started && line.is_empty() && draining.load(Ordering::SeqCst) {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
        let close = asked_close || draining.load(Ordering::SeqCst);
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n{}\r\n{body}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" },
        );
        if writer.write_all(response.as_bytes()).is_err() || close {
            return;
        }
    }
}

/// The connections waiting in this process's listening socket's queue: the
/// receive queue of the listening entry of `/proc/net/tcp` on `port` whose
/// inode is one of this process's descriptors.
fn queued(port: u16) -> String {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return "-".to_owned();
    };
    let mine: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| std::fs::read_link(entry.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            target
                .strip_prefix("socket:[")
                .and_then(|rest| rest.strip_suffix(']'))
                .map(str::to_owned)
        })
        .collect();
    let local = format!(":{port:04X}");
    for fields in table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
    {
        if fields.len() > 9
            && fields[1].ends_with(&local)
            && fields[3] == "0A"
            && mine.iter().any(|inode| inode == fields[9])
        {
            if let Some((_, rx)) = fields[4].split_once(':') {
                return u64::from_str_radix(rx, 16)
                    .map_or_else(|_| "-".to_owned(), |n| n.to_string());
            }
        }
    }
    "-".to_owned()
}
