//! What a listener costs, made three ways: with `#[restartable_listener]`,
//! with the minimal hand-written socket2 code that sets the same option, and
//! with `std::net::TcpListener::bind`. Used by scripts/bench.sh.
//!
//! ```text
//! cargo run --release -p restartable-tests --bin listener_cost -- syscalls macro|socket2|std
//! cargo run --release -p restartable-tests --bin listener_cost -- time [ROUNDS] [PER_ROUND]
//! cargo run --release -p restartable-tests --bin listener_cost -- failed [ROUNDS] [PER_ROUND]
//! cargo run --release -p restartable-tests --bin listener_cost -- time-wait [COUNT]
//! ```
//!
//! `syscalls` makes one listener between two marker calls (a `stat` of a
//! path that does not exist) so that strace output can be cut to it. `time`
//! runs bind+listen+close loops, the three ways interleaved in one process,
//! and prints the median time per listener and its ratio to hand-written.
//! `failed` binds a port that a listener holds, with hand-written socket2
//! code (the bare `EADDRINUSE`) and with the attribute (whose error names the
//! holder), interleaved in rounds, and prints the median time per failed
//! bind of each: first with the port held by this process, then by a child
//! process (this program run again as `hold PORT`). `time-wait` makes COUNT
//! (5,000 by default) short connections on loopback that the client closes
//! first, so that COUNT client-side sockets are left in TIME_WAIT for the
//! next minute, and exits.

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

/// The bare failure: what hand-written socket2 code gets on a held port.
fn hand_written_on_port(port: u16) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// The median time in µs of one failed bind on `port`, each way,
/// interleaved: hand-written socket2, then the attribute.
fn failed_binds(port: u16, rounds: usize, per_round: u32) -> io::Result<(f64, f64, String)> {
    let ways: [fn(u16) -> io::Result<TcpListener>; 2] = [hand_written_on_port, on_port];
    let mut samples = [Vec::with_capacity(rounds), Vec::with_capacity(rounds)];
    let mut message = String::new();
    for round in 0..rounds {
        for offset in 0..ways.len() {
            let way = (round + offset) % ways.len();
            let start = Instant::now();
            for _ in 0..per_round {
                let error = ways[way](port).expect_err("the port is held");
                if error.kind() != io::ErrorKind::AddrInUse {
                    return Err(error);
                }
                if way == 1 && message.is_empty() {
                    message = error.to_string();
                }
            }
            samples[way].push(start.elapsed().as_secs_f64() * 1e6 / f64::from(per_round));
        }
    }
    let [socket2, restartable] = &mut samples;
    Ok((median(socket2), median(restartable), message))
}

/// Runs this program again as `hold PORT`, once it says it holds the port.
fn holder_process(port: u16) -> io::Result<process::Child> {
    let mut child = process::Command::new(env::current_exe()?)
        .args(["hold", &port.to_string()])
        .stdin(process::Stdio::piped())
        .stdout(process::Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped");
    io::BufRead::read_line(&mut io::BufReader::new(stdout), &mut line)?;
    if line.trim_end() != "holding" {
        let _ = child.kill();
        return Err(io::Error::other(format!(
            "the holder process said {line:?}"
        )));
    }
    Ok(child)
}

/// `hold PORT`: listens on 127.0.0.1:PORT until its standard input closes.
fn hold(port: u16) -> io::Result<()> {
    let _listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    println!("holding");
    io::Read::read_to_end(&mut io::stdin(), &mut Vec::new())?;
    Ok(())
}

fn failed(rounds: usize, per_round: u32) -> io::Result<()> {
    println!(
        "{rounds} rounds x {per_round} failed binds of a held port each way, interleaved; \
         median per failed bind"
    );
    println!(
        "{:<26}{:>14}{:>18}{:>10}",
        "port held by", "socket2 µs", "restartable µs", "ratio"
    );
    let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let port = held.local_addr()?.port();
    let (socket2, restartable, this_message) = failed_binds(port, rounds, per_round)?;
    println!(
        "{:<26}{socket2:>14.1}{restartable:>18.1}{:>10.1}",
        "this process",
        restartable / socket2
    );
    drop(held);

    let mut child = holder_process(port)?;
    let outcome = failed_binds(port, rounds, per_round);
    // Closing its standard input ends the holder.
    drop(child.stdin.take());
    child.wait()?;
    let (socket2, restartable, other_message) = outcome?;
    println!(
        "{:<26}{socket2:>14.1}{restartable:>18.1}{:>10.1}",
        "another process",
        restartable / socket2
    );
    println!("restartable's error, this process holding: {this_message}");
    println!("restartable's error, another process holding: {other_message}");
    Ok(())
}

/// COUNT connections to a listener on loopback, each closed by the client
/// first, so that the client's side stays in TIME_WAIT.
fn time_wait(count: u32) -> io::Result<()> {
    let server = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = server.local_addr()?;
    for _ in 0..count {
        let client = std::net::TcpStream::connect(addr)?;
        let (mut accepted, _) = server.accept()?;
        drop(client);
        // The server side reads the client's FIN, then closes: its side
        // goes through LAST_ACK to closed, the client's to TIME_WAIT.
        io::Read::read_to_end(&mut accepted, &mut Vec::new())?;
    }
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
        ["failed", rest @ ..] => {
            let rounds = rest.first().map_or(Ok(11), |n| n.parse()).unwrap_or(11);
            let per_round = rest.get(1).map_or(Ok(200), |n| n.parse()).unwrap_or(200);
            failed(rounds, per_round)
        }
        ["time-wait", rest @ ..] => {
            time_wait(rest.first().map_or(Ok(5000), |n| n.parse()).unwrap_or(5000))
        }
        ["hold", port] => {
            let Ok(port) = port.parse() else {
                eprintln!("expected a port number");
                process::exit(2);
            };
            hold(port)
        }
        _ => {
            eprintln!(
                "usage: listener_cost syscalls macro|socket2|std | time [ROUNDS] [PER_ROUND] \
                 | failed [ROUNDS] [PER_ROUND] | time-wait [COUNT]"
            );
            process::exit(2);
        }
    }
}
