//! The web framework examples of restartable (`axum.rs`, `actix.rs`,
//! `hyper.rs`, `smol.rs`), in a package of their own so that the other examples build
//! without a framework. `bash scripts/examples-check.sh` runs each.
//!
//! The upgrade examples (`axum_upgrade.rs`, `hyper_upgrade.rs`,
//! `actix_upgrade.rs`) drain on the helpers below, which a server copies
//! (this package is not published): each is a few lines, tied to one
//! framework's version. Why a drain needs them, and the figures
//! (`scripts/frameworks-upgrade-check.sh`): `docs::zero_downtime`,
//! section "Frameworks". A replaced process must
//!
//! 1. stop accepting at once ([`Running::accept_until_replaced`], or
//!    actix-web's `ServerHandle::pause`): the new process accepts from the
//!    same queue;
//! 2. answer every request from then on with `Connection: close`
//!    ([`close_if_replaced`]), so that a keep-alive client ends the
//!    connection itself, after a response;
//! 3. only [`CLOSE_WINDOW`] later begin the framework's graceful shutdown
//!    ([`drain_begins`]), which closes every connection that has no
//!    request in progress.

use std::io;
use std::net::SocketAddr;
use std::process;
use std::time::Duration;

use restartable::upgrade::{self, Running, UntilReplaced};

/// How long after the takeover a replaced process answers requests with
/// `Connection: close` before the framework's graceful shutdown closes the
/// connections that have none in progress.
///
/// A graceful shutdown in hyper (axum's too) closes a connection at once
/// unless a request on it is being answered, and a request the client has
/// already sent but hyper has not read yet is no request in progress: it
/// is lost (hyperium/hyper#2730). During the window each busy keep-alive
/// connection gets its next response with `Connection: close` and is ended
/// by the client; a connection accepted just before the takeover gets its
/// request read. 250 ms is many round trips on a busy connection and
/// keeps the drain short; a connection idle for the whole window is
/// closed as idle, which HTTP/1.1 clients retry (RFC 9112, section 9.3.1).
pub const CLOSE_WINDOW: Duration = Duration::from_millis(250);

/// Ready [`CLOSE_WINDOW`] after this process was replaced: the signal for
/// a framework's graceful shutdown (`axum::serve(..).with_graceful_shutdown`,
/// hyper's `Connection::graceful_shutdown`, actix-web's `stop(true)`).
pub async fn drain_begins(running: Running) {
    running.replaced().await;
    tokio::time::sleep(CLOSE_WINDOW).await;
}

/// Marks `headers` with `Connection: close` once this process is replaced
/// (hyper, and axum on it, then close the connection after the response).
pub fn close_if_replaced(running: &Running, headers: &mut http::HeaderMap) {
    if running.is_replaced() {
        headers.insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
}

/// axum 0.8: a listener that stops accepting once replaced, and the
/// `Connection: close` middleware.
pub mod axum {
    use super::{io, Running, SocketAddr, UntilReplaced};

    /// `axum::serve`'s listener: accepts until the process is replaced,
    /// then waits (the graceful shutdown ends `serve`).
    ///
    /// A newtype, so that it can implement axum's trait here; in the
    /// runtime crate it would tie `restartable` to one axum series.
    #[derive(Debug)]
    pub struct Listener {
        accepting: UntilReplaced<tokio::net::TcpListener>,
        local_addr: SocketAddr,
    }

    impl Listener {
        /// `listener`, until `running` is replaced.
        ///
        /// # Errors
        ///
        /// The listener's address that cannot be read.
        pub fn new(running: &Running, listener: tokio::net::TcpListener) -> io::Result<Listener> {
            Ok(Listener {
                local_addr: listener.local_addr()?,
                accepting: running.accept_until_replaced(listener),
            })
        }
    }

    impl ::axum::serve::Listener for Listener {
        type Io = tokio::net::TcpStream;
        type Addr = SocketAddr;

        async fn accept(&mut self) -> (Self::Io, Self::Addr) {
            loop {
                match self.accepting.accept().await {
                    Some(Ok(accepted)) => return accepted,
                    // As axum's own listener does: a full descriptor table
                    // (EMFILE) would otherwise spin.
                    Some(Err(error)) => {
                        eprintln!("accept: {error}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                    None => std::future::pending().await,
                }
            }
        }

        fn local_addr(&self) -> io::Result<Self::Addr> {
            Ok(self.local_addr)
        }
    }

    /// `Connection: close` on every response once replaced:
    /// `.layer(axum::middleware::map_response_with_state(running,
    /// close_once_replaced))`.
    // axum's middleware functions are async.
    #[allow(clippy::unused_async)]
    pub async fn close_once_replaced(
        ::axum::extract::State(running): ::axum::extract::State<Running>,
        mut response: ::axum::response::Response,
    ) -> ::axum::response::Response {
        super::close_if_replaced(&running, response.headers_mut());
        response
    }
}

/// actix-web 4: the `Connection: close` of a replaced process.
pub mod actix {
    use super::Running;

    /// Marks `response` to close its connection once replaced (actix-web
    /// writes its `Connection` header from the connection type: one set in
    /// the header map is not sent).
    pub fn close_if_replaced<B>(running: &Running, response: &mut actix_web::HttpResponse<B>) {
        if running.is_replaced() {
            response
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
        }
    }
}

/// The flags every upgrade example takes: the contract of
/// `examples/upgrade.rs`.
#[derive(Debug)]
pub struct Options {
    /// `--listen ADDR` (127.0.0.1:8080).
    pub listen: SocketAddr,
    /// `--ready-timeout SECS` (5).
    pub ready_timeout: Duration,
    /// `--drain-timeout SECS` (5).
    pub drain_timeout: Duration,
    /// `--plain-drain`: the recipe without the helpers (the axum example),
    /// which loses requests: the control of the load check.
    pub plain_drain: bool,
}

impl Options {
    /// The command line; `--upgrade PID` asks process PID to upgrade,
    /// prints the outcome and exits (0, or 1 with the reason).
    #[must_use]
    pub fn from_args(name: &str) -> Options {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let usage = || -> ! {
            eprintln!(
                "usage: {name} --listen ADDR [--ready-timeout SECS] \
                 [--drain-timeout SECS] [--plain-drain]\n       {name} --upgrade PID"
            );
            process::exit(2);
        };
        if let [flag, pid] = args.as_slice() {
            if flag == "--upgrade" {
                let Ok(pid) = pid.parse::<u32>() else { usage() };
                match upgrade::request(pid) {
                    Ok(upgraded) => {
                        println!("upgraded: {upgraded}");
                        process::exit(0);
                    }
                    Err(error) => {
                        eprintln!("error: {error}");
                        process::exit(1);
                    }
                }
            }
        }
        let mut options = Options {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            ready_timeout: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(5),
            plain_drain: false,
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            if flag == "--plain-drain" {
                options.plain_drain = true;
                continue;
            }
            let Some(value) = args.next() else { usage() };
            let seconds = || value.parse::<f64>().ok().map(Duration::from_secs_f64);
            match flag.as_str() {
                "--listen" => options.listen = value.parse().unwrap_or_else(|_| usage()),
                "--ready-timeout" => options.ready_timeout = seconds().unwrap_or_else(|| usage()),
                "--drain-timeout" => options.drain_timeout = seconds().unwrap_or_else(|| usage()),
                _ => usage(),
            }
        }
        options
    }
}

/// `GET /`'s body: `pid=<pid> generation=<n>`, as `examples/upgrade.rs`
/// answers.
#[must_use]
pub fn identity(running: &Running) -> String {
    format!(
        "pid={} generation={}\n",
        process::id(),
        running.generation()
    )
}

/// The serving line the load checks wait for, on stdout.
pub fn print_serving(running: &Running, addr: SocketAddr) {
    use std::io::Write as _;
    println!(
        "serving pid={} generation={} tcp={addr}",
        process::id(),
        running.generation()
    );
    let _ = io::stdout().flush();
}

/// The crate's `log` records (each step of an upgrade), on stderr.
pub fn log_to_stderr() {
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
    if log::set_logger(&Stderr).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}
