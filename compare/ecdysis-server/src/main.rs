//! A minimal HTTP/1.1 server whose upgrades are done by `ecdysis` 1.1.1, with the
//! command line and answers of `examples/upgrade.rs`, for side-by-side measurements:
//!
//! ```text
//! ecdysis-server --listen 127.0.0.1:PORT [--drain-timeout SECS]
//! ```
//!
//! - `GET /` answers 200 `pid=<pid> generation=<n>\n`, keep-alive unless the request
//!   says `Connection: close`.
//! - SIGHUP upgrades (ecdysis re-executes `argv[0]` with the same arguments and hands
//!   the listener over; its ready timeout is fixed at 5 s). SIGTERM / SIGINT stop.
//! - stdout: one line `serving pid=<pid> generation=<n> listen=<addr>` once serving.
//! - stderr: log lines `<pid> <LEVEL> <target>: <message>` (ecdysis's own log lines
//!   included, e.g. `Upgrade failed: child exited unexpectedly`).
//!
//! Generation: ecdysis passes nothing but the listeners to the new process, and runs it
//! with the same arguments and the parent's environment. So every process puts its own
//! generation into its environment (`ECDYSIS_SERVER_GENERATION`, set before any thread
//! other than the runtime's single one exists); a process that ecdysis started as an
//! upgrade (`is_child()`) takes that value + 1, any other starts at 0.
//!
//! After an upgrade (or a stop) the process drains: its listener is closed by ecdysis,
//! idle keep-alive connections are closed (one that has not had its first answer yet gets
//! it), a request in flight is answered with
//! `Connection: close`, and the process exits once none is left or at the drain deadline.

use std::{
    env,
    io::Write as _,
    net::SocketAddr,
    process::ExitCode,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use ecdysis::tokio_ecdysis::{SignalKind, StopOnShutdown, TokioEcdysisBuilder};
use futures::StreamExt as _;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    sync::watch,
};

const GENERATION_VAR: &str = "ECDYSIS_SERVER_GENERATION";

struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let line = format!(
                "{} {} {}: {}\n",
                std::process::id(),
                record.level(),
                record.target(),
                record.args()
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

static LOGGER: StderrLog = StderrLog;

struct Options {
    listen: SocketAddr,
    drain_timeout: Duration,
}

fn parse_args() -> Result<Options, String> {
    let mut listen = None;
    let mut drain_timeout = Duration::from_secs(5);
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--listen" => {
                let v = value("--listen")?;
                listen = Some(v.parse().map_err(|e| format!("--listen {v}: {e}"))?);
            }
            "--drain-timeout" => {
                let v = value("--drain-timeout")?;
                let secs: f64 = v.parse().map_err(|e| format!("--drain-timeout {v}: {e}"))?;
                drain_timeout = Duration::from_secs_f64(secs);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Options {
        listen: listen.ok_or("--listen ADDR is required")?,
        drain_timeout,
    })
}

fn find_header_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Whether the request head asks to close (HTTP/1.0 without keep-alive, or
/// `Connection: close`).
fn wants_close(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let mut lines = text.split("\r\n");
    let http10 = lines.next().is_some_and(|l| l.ends_with("http/1.0"));
    let mut close = http10;
    for line in lines {
        if let Some(v) = line.strip_prefix("connection:") {
            let v = v.trim();
            if v.contains("close") {
                close = true;
            } else if v.contains("keep-alive") {
                close = false;
            }
        }
    }
    close
}

async fn serve_connection(
    mut conn: TcpStream,
    body: Arc<String>,
    mut draining: watch::Receiver<bool>,
) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let mut served = false;
    loop {
        // Answer every complete request already buffered.
        while let Some(end) = find_header_end(&buf) {
            let close = wants_close(&buf[..end]) || *draining.borrow();
            buf.drain(..end);
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{}",
                body.len(),
                if close { "Connection: close\r\n" } else { "" },
                body
            );
            if conn.write_all(response.as_bytes()).await.is_err() || close {
                let _ = conn.shutdown().await;
                return;
            }
            served = true;
        }
        if buf.len() > 64 * 1024 {
            return;
        }
        if *draining.borrow() && buf.is_empty() && served {
            // Idle keep-alive connection during the drain: close it. One accepted but not
            // yet asked anything is owed its first answer (given with Connection: close).
            return;
        }
        tokio::select! {
            read = conn.read(&mut chunk) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            },
            changed = draining.changed(), if !*draining.borrow() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

fn main() -> ExitCode {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
    let options = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // One thread: the environment is written below while no other thread reads it
    // (ecdysis's upgrade threads start later, on SIGHUP).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<(), String> {
    let builder = TokioEcdysisBuilder::new(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let mut builder = builder;
    builder
        .stop_on_signal(SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    builder
        .stop_on_signal(SignalKind::interrupt())
        .map_err(|e| e.to_string())?;

    let generation: u64 = if builder.is_child() {
        env::var(GENERATION_VAR)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |g| g + 1)
    } else {
        0
    };
    // Inherited by the process the next upgrade starts.
    env::set_var(GENERATION_VAR, generation.to_string());

    let pid = std::process::id();
    let body = Arc::new(format!("pid={pid} generation={generation}\n"));

    let mut incoming = builder
        .build_listen_tcp(StopOnShutdown::Yes, options.listen, |socket, addr| {
            socket.set_reuse_address(true)?;
            socket.bind(&addr.into())?;
            socket.listen(1024)?;
            Ok(socket.into())
        })
        .map_err(|e| format!("listen {}: {e}", options.listen))?;

    let (drain_tx, drain_rx) = watch::channel(false);
    let open = Arc::new(AtomicUsize::new(0));
    let accept_open = open.clone();
    let accept_body = body.clone();
    let accept_loop = tokio::spawn(async move {
        while let Some(accepted) = incoming.next().await {
            let Ok(conn) = accepted else { continue };
            let _ = conn.set_nodelay(true);
            let open = accept_open.clone();
            open.fetch_add(1, Ordering::SeqCst);
            let body = accept_body.clone();
            let draining = drain_rx.clone();
            tokio::spawn(async move {
                serve_connection(conn, body, draining).await;
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
        // The stream ends when ecdysis stops it: dropping it closes the listener.
        drop(incoming);
    });

    let (_ecdysis, exit) = builder.ready().map_err(|e| format!("ready: {e}"))?;
    let mut stdout = std::io::stdout();
    let _ = writeln!(
        stdout,
        "serving pid={pid} generation={generation} listen={}",
        options.listen
    );
    let _ = stdout.flush();

    let outcome = exit.await;
    log::info!(target: "ecdysis_server", "leaving: {outcome:?}");
    let _ = accept_loop.await;
    let _ = drain_tx.send(true);
    let deadline = Instant::now() + options.drain_timeout;
    while open.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let left = open.load(Ordering::SeqCst);
    log::info!(target: "ecdysis_server", "drained, {left} connection(s) left, exiting");
    outcome.map(|_| ())
}
