//! A service killed mid-flight comes back on its port at once.
//!
//! Starts a server as a child process, leaves its side of 200 connections in
//! TIME_WAIT, kills it with SIGKILL and starts it again at once: once with a
//! listener from `#[restartable_listener]`, once with a naive socket2
//! listener that sets no option. Then the same crash on a Unix-domain
//! socket, whose file the kill leaves behind: with `path = ...` and with
//! std's `UnixListener::bind`. Prints each pair side by side and exits
//! non-zero if a restartable server does not come back. Linux only.
//!
//! ```text
//! cargo run --release --example crash_restart [-- --clients N]
//! ```

use std::env;
use std::io;
use std::process::{self, Command};

use restartable_examples::crash::{self, Listener, Outcome, Start};
use restartable_examples::unix_crash::{self, UnixKind, UnixOutcome};

/// One row of the side-by-side table: a cell from an outcome.
type Cell = fn(&Outcome) -> String;
/// The same for the Unix-domain socket's table.
type UnixCell = fn(&UnixOutcome) -> String;

fn server_command(listener: Listener, port: u16) -> Command {
    let mut command = Command::new(env::current_exe().expect("the example's own path"));
    command.args(["--serve", &listener.to_string(), &port.to_string()]);
    command
}

fn unix_server_command(kind: UnixKind, path: &std::path::Path) -> Command {
    let mut command = Command::new(env::current_exe().expect("the example's own path"));
    command.args(["--serve-unix", &kind.to_string()]).arg(path);
    command
}

fn restart_cell(outcome: &Outcome) -> String {
    start_cell(&outcome.restart)
}

fn start_cell(start: &Start) -> String {
    match start {
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
    unix_crash::serve_when_asked(&args)?;
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

    let unix = unix_table(clients.min(100))?;

    if outcomes[0].time_to_ready.is_none() || unix[0].time_to_ready.is_none() {
        eprintln!("the restartable server did not come back");
        process::exit(1);
    }
    Ok(())
}

/// The same crash on a Unix-domain socket: the file stays after the kill.
fn unix_table(clients: usize) -> io::Result<Vec<UnixOutcome>> {
    let dir = env::temp_dir().join(format!("restartable-crash-{}", process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut outcomes = Vec::new();
    for kind in [UnixKind::Restartable, UnixKind::Std] {
        let path = dir.join(format!("{kind}.sock"));
        println!();
        println!(
            "{kind}: server on {}, {clients} clients, then SIGKILL and restart",
            path.display()
        );
        let outcome = unix_crash::crash_and_restart(kind, &path, clients, &unix_server_command)?;
        if let Start::BindError { message, .. } = &outcome.restart {
            println!("{kind}: restarted server says: {message}");
        }
        outcomes.push(outcome);
    }
    std::fs::remove_dir_all(&dir)?;
    let rows: [(&str, UnixCell); 3] = [
        ("socket file after kill", |o| {
            if o.file_left { "left behind" } else { "gone" }.to_owned()
        }),
        ("restart", |o| start_cell(&o.restart)),
        ("time to ready", |o| match o.time_to_ready {
            Some(ready) => format!("{:.1} ms", ready.as_secs_f64() * 1000.0),
            None => "never: until someone removes the file".to_owned(),
        }),
    ];
    println!();
    println!(
        "{:<26}{:<44}std UnixListener::bind",
        "", "#[restartable_listener(path = ...)]"
    );
    for (name, cell) in rows {
        println!("{name:<26}{:<44}{}", cell(&outcomes[0]), cell(&outcomes[1]));
    }
    Ok(outcomes)
}
