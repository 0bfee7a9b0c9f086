//! What a listener costs, made three ways: with `#[restartable_listener]`,
//! with the minimal hand-written socket2 code that sets the same option, and
//! with `std::net::TcpListener::bind`. Used by scripts/bench.sh.
//!
//! ```text
//! cargo run --release --example listener_cost -- syscalls macro|socket2|std
//! cargo run --release --example listener_cost -- time [ROUNDS] [PER_ROUND]
//! cargo run --release --example listener_cost -- failed [COUNT]
//! ```
//!
//! `syscalls` makes one listener between two marker calls (a `stat` of a
//! path that does not exist) so that strace output can be cut to it. `time`
//! runs bind+listen+close loops, the three ways interleaved in one process,
//! and prints the median time per listener and its ratio to hand-written.
//! `failed` binds a port that a listener of this process holds, COUNT times
//! (10,000 by default), and prints the time per failed bind: the error alone,
//! and the error with its message formatted.

use std::env;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process;
use std::time::Instant;

use restartable::restartable_listener;
use restartable::socket2::{Domain, Socket, Type};

#[restartable_listener(host = "127.0.0.1", port = 0)]
fn with_macro() -> io::Result<TcpListener> {}

fn hand_written() -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

fn with_std() -> io::Result<TcpListener> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
}

/// A way to make a listener.
type Make = fn() -> io::Result<TcpListener>;

const WAYS: [(&str, Make); 3] = [
    ("macro", with_macro),
    ("socket2", hand_written),
    ("std", with_std),
];

fn marker(name: &str) {
    // A syscall strace shows with its argument, and nothing else makes.
    let _ = std::fs::metadata(format!("/restartable-bench-{name}"));
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn time(rounds: usize, per_round: u32) -> io::Result<()> {
    let mut samples = vec![Vec::with_capacity(rounds); WAYS.len()];
    for round in 0..rounds {
        // Rotate the order so that no way always runs first or last.
        for offset in 0..WAYS.len() {
            let way = (round + offset) % WAYS.len();
            let make = WAYS[way].1;
            let start = Instant::now();
            for _ in 0..per_round {
                drop(make()?);
            }
            samples[way].push(start.elapsed().as_secs_f64() * 1e9 / f64::from(per_round));
        }
    }
    let medians: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
    let hand_written = medians[1];
    println!("{rounds} rounds x {per_round} listeners each, interleaved; median per listener (bind+listen+close)");
    println!("{:<10}{:>12}{:>12}", "way", "ns", "ratio");
    for ((name, _), median) in WAYS.iter().zip(&medians) {
        println!("{name:<10}{median:>12.0}{:>12.3}", median / hand_written);
    }
    Ok(())
}

#[restartable_listener(host = "127.0.0.1", port = port)]
fn on_port(port: u16) -> io::Result<TcpListener> {}

fn failed(count: u32) -> io::Result<()> {
    let held = with_macro()?;
    let port = held.local_addr()?.port();
    let mut message_bytes = 0;
    for (label, format) in [("error only", false), ("error + to_string()", true)] {
        let start = Instant::now();
        for _ in 0..count {
            let error = on_port(port).expect_err("the port is held");
            if format {
                message_bytes += error.to_string().len();
            }
        }
        let micros = start.elapsed().as_secs_f64() * 1e6 / f64::from(count);
        println!("{count} failed binds, {label}: {micros:.1} µs each");
    }
    println!("(message bytes: {message_bytes})");
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["syscalls", way] => {
            let Some((_, make)) = WAYS.iter().find(|(name, _)| name == way) else {
                eprintln!("expected macro, socket2 or std");
                process::exit(2);
            };
            marker("start");
            let listener = make()?;
            marker("end");
            drop(listener);
            Ok(())
        }
        ["time", rest @ ..] => {
            let rounds = rest.first().map_or(Ok(31), |n| n.parse()).unwrap_or(31);
            let per_round = rest.get(1).map_or(Ok(2000), |n| n.parse()).unwrap_or(2000);
            time(rounds, per_round)
        }
        ["failed", rest @ ..] => failed(
            rest.first()
                .map_or(Ok(10_000), |n| n.parse())
                .unwrap_or(10_000),
        ),
        _ => {
            eprintln!(
                "usage: listener_cost syscalls macro|socket2|std | time [ROUNDS] [PER_ROUND] \
                 | failed [COUNT]"
            );
            process::exit(2);
        }
    }
}
