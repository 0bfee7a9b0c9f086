//! A load client that classifies every connection attempt and request, for
//! the zero-downtime upgrade check (`tests/src/bin/upgrade_load.rs`,
//! `scripts/upgrade-check.sh`).
//!
//! Each worker thread sends `GET /` again and again until the duration has
//! passed, either on a new connection each time (`Connection: close`) or on
//! one connection reused until the server closes it. Every attempt ends in
//! exactly one of the outcomes of [`Tally`]; a response's body
//! `pid=<pid> generation=<n>` is recorded per generation, with the times of
//! its first and last response.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// The server.
    pub addr: SocketAddr,
    /// How long to keep sending.
    pub duration: Duration,
    /// Concurrent workers, one connection each at a time.
    pub workers: usize,
    /// Reuse a connection until the server closes it (else one per request).
    pub keep_alive: bool,
    /// Limit for connect, and for each read and write.
    pub timeout: Duration,
    /// Stop earlier, once this file exists (looked for every 10 ms).
    pub until: Option<PathBuf>,
}

/// The responses of one server process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Generation {
    /// Full 200 responses.
    pub ok: u64,
    /// Milliseconds from the start to its first and last response.
    pub first_ms: u64,
    /// See `first_ms`.
    pub last_ms: u64,
    /// Responses to the first request of a connection (a connection the
    /// process accepted; in keep-alive mode the others are on connections
    /// accepted earlier).
    pub new_ok: u64,
    /// Milliseconds to its first and last response on a new connection.
    pub first_new_ms: Option<u64>,
    /// See `first_new_ms`.
    pub last_new_ms: Option<u64>,
}

/// What every attempt came to. Each request attempt is counted once in
/// `ok`, `bad_status`, `refused`, `reset`, `eof`, `timeout`, `other`,
/// `drain_eof` or `reused_reset`; `drain_header` counts connections ended
/// by a response that is also counted in `ok`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Requests sent, or attempted (a connect that failed counts one).
    pub attempts: u64,
    /// A full response with status 200.
    pub ok: u64,
    /// A full response with another status.
    pub bad_status: u64,
    /// connect failed with ECONNREFUSED.
    pub refused: u64,
    /// ECONNRESET, EPIPE or ECONNABORTED, on a new connection or after part
    /// of the response.
    pub reset: u64,
    /// The connection ended before a full response, on a new connection or
    /// after part of the response.
    pub eof: u64,
    /// No progress within the timeout (connect, write or read).
    pub timeout: u64,
    /// Any other error (its first messages are kept in `errors`).
    pub other: u64,
    /// Keep-alive: a connection that had at least one full response ended
    /// (EOF) before any byte of the next response. The server closed it as
    /// idle; the request is sent again on a new connection, as HTTP/1.1
    /// clients do for an idempotent request.
    pub drain_eof: u64,
    /// Keep-alive: a response said `Connection: close` (the response is in
    /// `ok` too); the next request goes on a new connection.
    pub drain_header: u64,
    /// Keep-alive: like `drain_eof` but reset (the server closed the idle
    /// connection as the request reached it). Not in `reset`.
    pub reused_reset: u64,
    /// Responses per `(generation, pid)`; `(None, None)` for a body without
    /// them.
    pub generations: BTreeMap<(Option<u64>, Option<u32>), Generation>,
    /// The first few messages of `other`.
    pub errors: Vec<String>,
}

impl Tally {
    /// Connections the server ended while keep-alive: `drain_eof +
    /// drain_header`.
    #[must_use]
    pub fn drain_closed(&self) -> u64 {
        self.drain_eof + self.drain_header
    }

    /// Failed attempts: every outcome but `ok` and the drain ones.
    #[must_use]
    pub fn failed(&self) -> u64 {
        self.bad_status + self.refused + self.reset + self.eof + self.timeout + self.other
    }

    fn merge(&mut self, other: Tally) {
        self.attempts += other.attempts;
        self.ok += other.ok;
        self.bad_status += other.bad_status;
        self.refused += other.refused;
        self.reset += other.reset;
        self.eof += other.eof;
        self.timeout += other.timeout;
        self.other += other.other;
        self.drain_eof += other.drain_eof;
        self.drain_header += other.drain_header;
        self.reused_reset += other.reused_reset;
        for (key, theirs) in other.generations {
            let ours = self.generations.entry(key).or_insert_with(|| Generation {
                first_ms: theirs.first_ms,
                ..Generation::default()
            });
            ours.ok += theirs.ok;
            ours.first_ms = ours.first_ms.min(theirs.first_ms);
            ours.last_ms = ours.last_ms.max(theirs.last_ms);
            ours.new_ok += theirs.new_ok;
            ours.first_new_ms = min_some(ours.first_new_ms, theirs.first_new_ms);
            ours.last_new_ms = ours.last_new_ms.max(theirs.last_new_ms);
        }
        for error in other.errors {
            if self.errors.len() < 5 {
                self.errors.push(error);
            }
        }
    }

    fn record(&mut self, response: &Response, at_ms: u64, new_connection: bool) {
        if response.status != 200 {
            self.bad_status += 1;
            return;
        }
        self.ok += 1;
        let entry = self
            .generations
            .entry((response.generation, response.pid))
            .or_insert_with(|| Generation {
                first_ms: at_ms,
                ..Generation::default()
            });
        entry.ok += 1;
        entry.last_ms = at_ms;
        if new_connection {
            entry.new_ok += 1;
            entry.first_new_ms.get_or_insert(at_ms);
            entry.last_new_ms = Some(at_ms);
        }
    }

    /// The report: a line per generation, then one `summary` line.
    #[must_use]
    pub fn report(&self, config: &Config, start_unix_ms: u128, elapsed: Duration) -> String {
        let mut out = String::new();
        let show = |value: Option<u64>| value.map_or_else(|| "-".to_owned(), |v| v.to_string());
        for ((generation, pid), g) in &self.generations {
            let _ = writeln!(
                out,
                "generation {} pid={} ok={} first_ms={} last_ms={} new_ok={} first_new_ms={} last_new_ms={}",
                show(*generation),
                show(pid.map(u64::from)),
                g.ok,
                g.first_ms,
                g.last_ms,
                g.new_ok,
                show(g.first_new_ms),
                show(g.last_new_ms),
            );
        }
        for error in &self.errors {
            let _ = writeln!(out, "error {error}");
        }
        let generations: Vec<String> = self
            .generations
            .keys()
            .map(|(generation, _)| show(*generation))
            .collect();
        let _ =
            writeln!(
            out,
            "summary mode={} workers={} start_unix_ms={start_unix_ms} duration_ms={} attempts={} \
             ok={} bad_status={} refused={} reset={} eof={} timeout={} other={} failed={} \
             drain_closed={} drain_eof={} drain_header={} reused_reset={} generations={}",
            if config.keep_alive { "keep-alive" } else { "new-connection" },
            config.workers,
            elapsed.as_millis(),
            self.attempts,
            self.ok,
            self.bad_status,
            self.refused,
            self.reset,
            self.eof,
            self.timeout,
            self.other,
            self.failed(),
            self.drain_closed(),
            self.drain_eof,
            self.drain_header,
            self.reused_reset,
            if generations.is_empty() { "-".to_owned() } else { generations.join(",") },
        );
        out
    }
}

fn min_some(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Runs the workers for the configured duration and adds up their tallies.
/// Returns the tally, the start as milliseconds since the Unix epoch, and
/// the time it took.
#[must_use]
pub fn run(config: &Config) -> (Tally, u128, Duration) {
    let start_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    if let Some(until) = config.until.clone() {
        let stop = stop.clone();
        let deadline = start + config.duration;
        thread::spawn(move || {
            while !until.exists() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            stop.store(true, Ordering::Relaxed);
        });
    }
    let workers: Vec<_> = (0..config.workers)
        .map(|_| {
            let (config, stop) = (config.clone(), stop.clone());
            thread::spawn(move || worker(&config, start, &stop))
        })
        .collect();
    let mut tally = Tally::default();
    for worker in workers {
        if let Ok(theirs) = worker.join() {
            tally.merge(theirs);
        }
    }
    (tally, start_unix_ms, start.elapsed())
}

/// One response as far as the classification needs it.
struct Response {
    status: u16,
    close: bool,
    pid: Option<u32>,
    generation: Option<u64>,
}

/// How reading a response failed.
enum Failure {
    /// The connection ended after `read` bytes of the response.
    Eof { read: usize },
    /// An error after `read` bytes.
    Io { error: io::Error, read: usize },
}

fn worker(config: &Config, start: Instant, stop: &AtomicBool) -> Tally {
    let mut tally = Tally::default();
    let deadline = start + config.duration;
    let mut connection: Option<(TcpStream, u64)> = None;
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        tally.attempts += 1;
        let (mut stream, answered) = match connection.take() {
            Some(kept) => kept,
            None => match TcpStream::connect_timeout(&config.addr, config.timeout) {
                Ok(stream) => {
                    let _ = stream.set_read_timeout(Some(config.timeout));
                    let _ = stream.set_write_timeout(Some(config.timeout));
                    let _ = stream.set_nodelay(true);
                    (stream, 0)
                }
                Err(error) => {
                    classify_error(&mut tally, &error, "connect");
                    // Do not spin on a port with nothing listening.
                    thread::sleep(Duration::from_millis(1));
                    continue;
                }
            },
        };
        let request: &[u8] = if config.keep_alive {
            b"GET / HTTP/1.1\r\nHost: upgrade-load\r\n\r\n"
        } else {
            b"GET / HTTP/1.1\r\nHost: upgrade-load\r\nConnection: close\r\n\r\n"
        };
        let result = stream
            .write_all(request)
            .map_err(|error| Failure::Io { error, read: 0 })
            .and_then(|()| read_response(&mut stream));
        let at_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok(response) => {
                tally.record(&response, at_ms, answered == 0);
                if config.keep_alive && !response.close {
                    connection = Some((stream, answered + 1));
                } else {
                    if config.keep_alive {
                        tally.drain_header += 1;
                    }
                    // Let the server close first, as it does after
                    // `Connection: close`: its side ends in TIME_WAIT, and
                    // nothing is left unread here to make ours reset it.
                    let mut rest = [0; 256];
                    while matches!(stream.read(&mut rest), Ok(n) if n > 0) {}
                }
            }
            Err(Failure::Eof { read: 0 }) if answered > 0 => tally.drain_eof += 1,
            Err(Failure::Io { error, read: 0 }) if answered > 0 && is_reset(&error) => {
                tally.reused_reset += 1;
            }
            Err(Failure::Eof { .. }) => tally.eof += 1,
            Err(Failure::Io { error, .. }) => classify_error(&mut tally, &error, "request"),
        }
    }
    if let Some((stream, _)) = connection {
        let _ = stream.shutdown(Shutdown::Both);
    }
    tally
}

fn is_reset(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
    )
}

fn classify_error(tally: &mut Tally, error: &io::Error, step: &str) {
    match error.kind() {
        ErrorKind::ConnectionRefused => tally.refused += 1,
        ErrorKind::WouldBlock | ErrorKind::TimedOut => tally.timeout += 1,
        _ if is_reset(error) => tally.reset += 1,
        _ => {
            tally.other += 1;
            if tally.errors.len() < 5 {
                tally.errors.push(format!("{step}: {error}"));
            }
        }
    }
}

/// Reads one response: the head up to the empty line, then
/// `Content-Length` bytes of body.
fn read_response(stream: &mut TcpStream) -> Result<Response, Failure> {
    let mut buffer = Vec::with_capacity(256);
    let mut chunk = [0; 1024];
    let head_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(Failure::Eof { read: buffer.len() }),
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => {
                return Err(Failure::Io {
                    error,
                    read: buffer.len(),
                })
            }
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let mut length = 0;
    let mut close = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("connection") {
                close |= value.eq_ignore_ascii_case("close");
            }
        }
    }
    while buffer.len() < head_end + length {
        match stream.read(&mut chunk) {
            Ok(0) => return Err(Failure::Eof { read: buffer.len() }),
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => {
                return Err(Failure::Io {
                    error,
                    read: buffer.len(),
                })
            }
        }
    }
    let body = String::from_utf8_lossy(&buffer[head_end..head_end + length]).into_owned();
    let field = |name: &str| {
        body.split_whitespace()
            .find_map(|word| word.strip_prefix(name))
            .map(str::to_owned)
    };
    Ok(Response {
        status,
        close,
        pid: field("pid=").and_then(|v| v.parse().ok()),
        generation: field("generation=").and_then(|v| v.parse().ok()),
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
