//! A load client for the zero-downtime upgrade check
//! (`scripts/upgrade-check.sh`) that classifies every connection attempt
//! and request, where wrk and oha only count errors.
//!
//! ```text
//! cargo run --release -p restartable-tests --bin upgrade_load -- --connect 127.0.0.1:PORT
//!     [--duration SECS] [--workers N] [--new-connection | --keep-alive]
//!     [--timeout SECS] [--until FILE]
//! ```
//!
//! Defaults: 5 s, 4 workers, `--new-connection`, 2 s; `--until FILE` ends
//! it earlier, once FILE exists. It prints a line per server generation
//! (`generation N pid=P ok=.. first_ms=.. last_ms=.. new_ok=..
//! first_new_ms=.. last_new_ms=..`, milliseconds from the start) and then
//! one line `summary mode=.. start_unix_ms=.. ok=.. refused=.. reset=..
//! eof=.. timeout=.. other=.. failed=.. drain_closed=.. ...`; see
//! `restartable_tests::upgrade_load::Tally` for what each counts. It
//! exits 0 whatever it counted: the caller decides what must hold.

use std::env;
use std::net::SocketAddr;
use std::process;
use std::time::Duration;

use restartable_tests::upgrade_load::{run, Config};

fn main() {
    let mut config = Config {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        duration: Duration::from_secs(5),
        workers: 4,
        keep_alive: false,
        timeout: Duration::from_secs(2),
        until: None,
    };
    let mut connect = None;
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--connect" => connect = args.next().and_then(|v| v.parse().ok()),
            "--duration" => config.duration = seconds(args.next()),
            "--timeout" => config.timeout = seconds(args.next()),
            "--workers" => {
                config.workers = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage());
            }
            "--until" => config.until = Some(args.next().unwrap_or_else(|| usage()).into()),
            "--keep-alive" => config.keep_alive = true,
            "--new-connection" => config.keep_alive = false,
            _ => usage(),
        }
    }
    config.addr = connect.unwrap_or_else(|| usage());
    if config.workers == 0 {
        usage();
    }
    let (tally, start_unix_ms, elapsed) = run(&config);
    print!("{}", tally.report(&config, start_unix_ms, elapsed));
}

fn seconds(value: Option<String>) -> Duration {
    value
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
        .map_or_else(|| usage(), Duration::from_secs_f64)
}

fn usage() -> ! {
    eprintln!(
        "usage: upgrade_load --connect ADDR [--duration SECS] [--workers N] \
         [--new-connection | --keep-alive] [--timeout SECS] [--until FILE]"
    );
    process::exit(2);
}
