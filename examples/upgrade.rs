//! An HTTP/1.1 server that upgrades to a new binary without refusing or
//! resetting a connection (`restartable::upgrade`).
//!
//! ```text
//! cargo run --release --example upgrade -- --listen 127.0.0.1:8080 [--unix PATH]
//!     [--ready-timeout SECS] [--drain-timeout SECS]
//! cargo run --release --example upgrade -- --upgrade PID
//! ```
//!
//! `GET /` answers `pid=<pid> generation=<n>`: 0 in a process started by
//! hand, one more in each process an upgrade starts. SIGHUP, or
//! `upgrade --upgrade PID` (which waits and exits 0 or 1 with the reason),
//! starts the binary at the path this one was started from with the same
//! arguments and hands it the listeners; once it is ready this one stops
//! accepting, answers the requests in flight with `Connection: close`,
//! closes idle connections and exits (at the latest after
//! `--drain-timeout`, 5 s by default). A new process not ready within
//! `--ready-timeout` (5 s) is killed, and this one keeps serving.
//!
//! Under systemd (`NOTIFY_SOCKET` set) the listeners also go to the fd
//! store as `http` and `unix`, and `READY=1` is sent: see examples/systemd/.
//! As a container's entrypoint (PID 1 of its PID namespace) it splits into
//! the crate's supervisor and the server, with no flag: SIGHUP to PID 1
//! upgrades, a crashed server is started again at once with the same
//! sockets, SIGTERM stops it (`restartable::supervisor`).
//! On Windows there is no SIGHUP and no `--unix`: `upgrade --upgrade PID`
//! asks over the process's named pipe, and a new binary is put in place
//! by renaming the running one first.
//! What happens is logged to stderr (the `log` feature).

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
#[cfg(unix)]
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use restartable::upgrade::{self, Upgrade};
use restartable::Builder;
#[cfg(unix)]
use restartable::UnixBuilder;

struct Options {
    listen: SocketAddr,
    unix: Option<PathBuf>,
    ready_timeout: Duration,
    drain_timeout: Duration,
}

fn main() {
    if log::set_logger(&Stderr).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, pid] = args.as_slice() {
        if flag == "--upgrade" {
            let Ok(pid) = pid.parse::<u32>() else { usage() };
            match upgrade::request(pid) {
                Ok(upgraded) => println!("upgraded: {upgraded}"),
                Err(error) => {
                    eprintln!("error: {error}");
                    process::exit(1);
                }
            }
            return;
        }
    }
    let options = parse(&args);
    if let Err(error) = serve(&options) {
        eprintln!("error: {error}");
        process::exit(1);
    }
}

fn parse(args: &[String]) -> Options {
    let mut options = Options {
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        unix: None,
        ready_timeout: Duration::from_secs(5),
        drain_timeout: Duration::from_secs(5),
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else { usage() };
        let seconds = || value.parse::<f64>().ok().map(Duration::from_secs_f64);
        match flag.as_str() {
            "--listen" => options.listen = value.parse().unwrap_or_else(|_| usage()),
            "--unix" if cfg!(unix) => options.unix = Some(PathBuf::from(value)),
            "--ready-timeout" => options.ready_timeout = seconds().unwrap_or_else(|| usage()),
            "--drain-timeout" => options.drain_timeout = seconds().unwrap_or_else(|| usage()),
            _ => usage(),
        }
    }
    options
}

fn usage() -> ! {
    eprintln!(
        "usage: upgrade --listen ADDR [--unix PATH] [--ready-timeout SECS] [--drain-timeout SECS]\n       \
         upgrade --upgrade PID"
    );
    process::exit(2);
}

fn serve(options: &Options) -> io::Result<()> {
    // First: the path of this binary is resolved now, and the listeners
    // made from here on are passed on.
    let setup = Upgrade::new()
        .ready_timeout(options.ready_timeout)
        .drain_timeout(options.drain_timeout);
    // Nonblocking, so that the accept loop sees the takeover at once. (The
    // flag is shared with the other process's copy of the socket, which is
    // this same program.)
    let tcp: TcpListener = Builder::new(options.listen)
        .inherit_named("http")
        .nonblocking(true)
        .bind()?;
    #[cfg(unix)]
    let unix: Option<UnixListener> = match &options.unix {
        Some(path) => Some(
            UnixBuilder::new(path)
                .inherit_named("unix")
                .mode(0o660)
                .nonblocking(true)
                .bind()?,
        ),
        None => None,
    };
    // Windows: no Unix-domain listener (`--unix` is refused above).
    #[cfg(windows)]
    let unix: Option<TcpListener> = None;
    let running = setup.ready()?;
    let generation = running.generation();
    println!(
        "serving pid={} generation={generation} tcp={}{}",
        process::id(),
        tcp.local_addr()?,
        options
            .unix
            .as_ref()
            .map(|p| format!(" unix={}", p.display()))
            .unwrap_or_default()
    );
    let _ = io::stdout().flush();

    let draining = Arc::new(AtomicBool::new(false));
    let open = Arc::new(AtomicUsize::new(0));
    let body: Arc<str> = format!("pid={} generation={generation}\n", process::id()).into();
    while !running.is_replaced() {
        let mut idle = true;
        match tcp.accept() {
            Ok((stream, _)) => {
                idle = false;
                let _ = stream.set_nonblocking(false);
                spawn(stream, &draining, &open, &body);
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(error),
        }
        if let Some(unix) = &unix {
            match unix.accept() {
                Ok((stream, _)) => {
                    idle = false;
                    let _ = stream.set_nonblocking(false);
                    spawn(stream, &draining, &open, &body);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        }
        if idle {
            thread::sleep(Duration::from_millis(1));
        }
    }
    // Replaced: the new process accepts from here on. Stop, and drain.
    drop(tcp);
    drop(unix);
    draining.store(true, Ordering::SeqCst);
    eprintln!(
        "draining: {} connections open; exiting when they are closed, or after {:?}",
        open.load(Ordering::SeqCst),
        running.drain_timeout()
    );
    while open.load(Ordering::SeqCst) > 0 {
        thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

trait Connection: io::Read + Write + Send + Sized + 'static {
    fn try_clone(&self) -> io::Result<Self>;
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Connection for std::net::TcpStream {
    fn try_clone(&self) -> io::Result<Self> {
        std::net::TcpStream::try_clone(self)
    }
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        std::net::TcpStream::set_read_timeout(self, timeout)
    }
}

#[cfg(unix)]
impl Connection for std::os::unix::net::UnixStream {
    fn try_clone(&self) -> io::Result<Self> {
        std::os::unix::net::UnixStream::try_clone(self)
    }
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout)
    }
}

fn spawn<C: Connection>(
    stream: C,
    draining: &Arc<AtomicBool>,
    open: &Arc<AtomicUsize>,
    body: &Arc<str>,
) {
    let (draining, open, body) = (draining.clone(), open.clone(), body.clone());
    open.fetch_add(1, Ordering::SeqCst);
    thread::spawn(move || {
        let _ = handle(stream, &draining, &body);
        open.fetch_sub(1, Ordering::SeqCst);
    });
}

/// Read timeouts (50 ms each) an idle connection waits while draining
/// before it is closed.
const IDLE_TIMEOUTS_BEFORE_CLOSE: u32 = 5;

/// Answers each request on the connection; while draining, the next
/// response says `Connection: close`, and a connection idle for 250 ms is
/// closed.
fn handle<C: Connection>(stream: C, draining: &AtomicBool, body: &str) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut idle_while_draining = 0;
    loop {
        // The request line and headers, up to the empty line.
        let mut lines = 0;
        let mut client_closes = false;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => return Ok(()),
                Ok(_) if line == "\r\n" || line == "\n" => break,
                Ok(_) => {
                    lines += 1;
                    client_closes |= line.to_ascii_lowercase().starts_with("connection:")
                        && line.to_ascii_lowercase().contains("close");
                }
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    // Idle between requests, while draining: closed once
                    // idle for 250 ms of the drain. A client that sends a
                    // request meanwhile gets its answer, with `Connection:
                    // close`; closing at the first idle moment could cross
                    // a request already on its way (a reset, or a read
                    // error for the client).
                    if lines == 0 && reader.buffer().is_empty() && draining.load(Ordering::SeqCst) {
                        idle_while_draining += 1;
                        if idle_while_draining >= IDLE_TIMEOUTS_BEFORE_CLOSE {
                            return Ok(());
                        }
                    }
                }
                Err(error) => return Err(error),
            }
        }
        let close = client_closes || draining.load(Ordering::SeqCst);
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n{}\r\n{body}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        writer.write_all(response.as_bytes())?;
        if close {
            return Ok(());
        }
    }
}

/// The `log` records, on stderr.
struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        eprintln!("[{} {}] {}", process::id(), record.level(), record.args());
    }
    fn flush(&self) {}
}
