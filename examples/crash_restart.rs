//! A service killed mid-flight comes back on its port at once.
//!
//! Starts a server as a child process, leaves its side of 200 connections in
//! TIME_WAIT, kills it with SIGKILL and starts it again at once: once with a
//! listener from `#[restartable_listener]`, once with a naive socket2
//! listener that sets no option. Prints both side by side and exits non-zero
//! if the restartable server does not come back. Linux only.
//!
//! ```text
//! cargo run --release --example crash_restart [-- --clients N]
//! ```

use std::env;
use std::io;
use std::process::{self, Command};

use restartable_examples::crash::{self, Listener, Outcome, Start};

/// One row of the side-by-side table: a cell from an outcome.
type Cell = fn(&Outcome) -> String;

fn server_command(listener: Listener, port: u16) -> Command {
    let mut command = Command::new(env::current_exe().expect("the example's own path"));
    command.args(["--serve", &listener.to_string(), &port.to_string()]);
    command
}

fn restart_cell(outcome: &Outcome) -> String {
    match &outcome.restart {
        Start::Ready { .. } => "bound again, accepting".to_owned(),
        Start::BindError { kind, .. } => format!("bind failed: {kind}"),
    }
}

fn ready_cell(outcome: &Outcome) -> String {
    match (outcome.time_to_ready, &outcome.restart) {
        (Some(ready), _) => format!("{:.1} ms", ready.as_secs_f64() * 1000.0),
        (None, Start::BindError { .. }) => format!(
            "never: TIME_WAIT holds the port {:.1} s more",
            outcome.time_wait.longest.as_secs_f64()
        ),
        (None, Start::Ready { .. }) => "bound, but accepted nothing".to_owned(),
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = env::args().skip(1).collect();
    crash::serve_when_asked(&args)?;
    let clients = crash::count_option(&args, "--clients", 200, "crash_restart [--clients N]")?;

    let mut outcomes = Vec::new();
    for listener in [Listener::Restartable, Listener::Naive] {
        let port = crash::fresh_port()?;
        println!(
            "{listener}: server on 127.0.0.1:{port}, {clients} clients, then SIGKILL and restart"
        );
        let outcome = crash::crash_and_restart(listener, port, clients, &server_command)?;
        if let Start::BindError { message, .. } = &outcome.restart {
            println!("{listener}: restarted server says: {message}");
        }
        outcomes.push(outcome);
    }

    let rows: [(&str, Cell); 4] = [
        ("listener options", |o| o.options.clone()),
        ("server TIME_WAIT at kill", |o| {
            o.time_wait.count.to_string()
        }),
        ("restart", restart_cell),
        ("time to ready", ready_cell),
    ];
    println!();
    println!(
        "{:<26}{:<44}naive socket2 (no options)",
        "", "#[restartable_listener]"
    );
    for (name, cell) in rows {
        println!("{name:<26}{:<44}{}", cell(&outcomes[0]), cell(&outcomes[1]));
    }

    let restartable = &outcomes[0];
    if restartable.time_to_ready.is_none() {
        eprintln!("the restartable server did not come back");
        process::exit(1);
    }
    Ok(())
}
