//! A crash-restart refuses no connection when a supervisor holds the
//! socket: the same server (its listener from
//! `#[restartable_listener(port = …, inherit = true)]`) is killed with
//! SIGKILL and started again while clients connect in a loop, once with the
//! socket held by this process and passed to each server as systemd does
//! (`LISTEN_FDS`), once binding the port itself. Prints what the clients
//! saw, side by side, and exits non-zero if the handoff refused any
//! connection. Linux only.
//!
//! ```text
//! cargo run --release --example handoff [-- --rounds N]
//! ```

use std::env;
use std::io;
use std::process::{self, Command};

use restartable_examples::crash::{self, Listener};
use restartable_examples::handoff::{self, Mode, Tally};

const CLIENTS: usize = 4;

/// One row of the side-by-side table: a cell from a tally.
type Cell = fn(&Tally) -> String;

fn server_command(listener: Listener, port: u16) -> Command {
    let mut command = Command::new(env::current_exe().expect("the example's own path"));
    command.args(["--serve", &listener.to_string(), &port.to_string()]);
    command
}

fn run(mode: Mode, rounds: u32) -> io::Result<Tally> {
    let mut total = Tally::default();
    let mut probes_refused = 0;
    for _ in 0..rounds {
        let tally =
            handoff::kill_and_restart(mode, crash::fresh_port()?, CLIENTS, &server_command)?;
        total.served += tally.served;
        total.refused += tally.refused;
        total.broken += tally.broken;
        total.gap += tally.gap;
        probes_refused += u32::from(tally.probe_refused);
    }
    total.gap /= rounds;
    total.probe_refused = probes_refused > 0;
    println!("  {mode:?}: {rounds} restarts, probes refused {probes_refused}");
    Ok(total)
}

fn main() -> io::Result<()> {
    let args: Vec<String> = env::args().skip(1).collect();
    crash::serve_when_asked(&args)?;
    let rounds = crash::count_option(&args, "--rounds", 5, "handoff [--rounds N]")?;
    println!("{rounds} kill -9 and restart cycles each, {CLIENTS} clients connecting in a loop:");
    let handoff = run(Mode::Handoff, rounds)?;
    let rebind = run(Mode::Rebind, rounds)?;
    let rows: [(&str, Cell); 5] = [
        ("connections served", |t| t.served.to_string()),
        ("connections refused", |t| t.refused.to_string()),
        ("accepted, then lost at the kill", |t| t.broken.to_string()),
        ("a connect between kill and restart", |t| {
            if t.probe_refused {
                "refused".into()
            } else {
                "queued, then served".into()
            }
        }),
        ("kill to ready (mean)", |t| {
            format!("{:.1} ms", t.gap.as_secs_f64() * 1000.0)
        }),
    ];
    println!();
    let (left, right) = (
        "handoff (supervisor holds the socket)",
        "rebind (server binds the port)",
    );
    println!("{:<36}{left:<42}{right}", "");
    for (name, cell) in rows {
        println!("{:<36}{:<42}{}", name, cell(&handoff), cell(&rebind));
    }
    if handoff.refused > 0 || handoff.probe_refused {
        eprintln!("the handoff refused connections");
        process::exit(1);
    }
    Ok(())
}
