//! The server of tests/tests/supervisor.rs: an HTTP/1.1 server with
//! upgrades, which a supervisor can run (as PID 1, or asked).
//!
//! ```text
//! supervised PORT [MODE]
//! ```
//!
//! `GET /` answers `pid=<pid> generation=<n>` and closes the connection.
//! It prints `serving pid=<pid> generation=<n>` once ready; the runtime's
//! log records go to stderr. MODE: `serve` (the default); `exit3`: exit
//! with status 3 before it is ready; `orphan`: leave a process behind that
//! exits 0.2 s later (`sh -c 'sleep 0.2 &'`), then serve; `graceful`:
//! serve, and on SIGTERM stop accepting, wait 300 ms and exit 0. Linux
//! only.

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("supervised runs on Linux only");
    std::process::exit(2);
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{self, Read, Write};
    use std::net::{SocketAddr, TcpListener};
    use std::process;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread;
    use std::time::Duration;

    use restartable::upgrade::Upgrade;
    use restartable::Builder;

    pub fn main() {
        if log::set_logger(&Stderr).is_ok() {
            log::set_max_level(log::LevelFilter::Info);
        }
        let args: Vec<String> = std::env::args().skip(1).collect();
        let (port, mode) = match args.as_slice() {
            [port] => (port.parse::<u16>().ok(), "serve"),
            [port, mode] => (port.parse::<u16>().ok(), mode.as_str()),
            _ => (None, ""),
        };
        let Some(port) = port else {
            eprintln!("usage: supervised PORT [serve|exit3|orphan]");
            process::exit(2);
        };
        if let Err(error) = serve(port, mode) {
            println!("error {:?} {error}", error.kind());
            process::exit(1);
        }
    }

    /// SIGTERM came (`graceful`).
    static TERMINATED: AtomicBool = AtomicBool::new(false);

    extern "C" fn terminated(_: libc::c_int) {
        TERMINATED.store(true, Ordering::SeqCst);
    }

    fn serve(port: u16, mode: &str) -> io::Result<()> {
        if mode == "graceful" {
            // First: a stop may come at any moment after the exec.
            #[allow(unsafe_code)]
            // SAFETY: the handler only stores to an atomic, which is
            // async-signal-safe.
            unsafe {
                libc::signal(libc::SIGTERM, terminated as *const () as libc::sighandler_t)
            };
        }
        let setup = Upgrade::new()
            .ready_timeout(Duration::from_secs(10))
            .drain_timeout(Duration::from_secs(1));
        if mode == "exit3" {
            process::exit(3);
        }
        if mode == "orphan" {
            process::Command::new("sh")
                .args(["-c", "sleep 0.2 &"])
                .status()?;
        }
        let listener: TcpListener = Builder::new(SocketAddr::from(([127, 0, 0, 1], port)))
            .inherit_named("http")
            .nonblocking(true)
            .bind()?;
        let running = setup.ready()?;
        let body = format!(
            "pid={} generation={}\n",
            process::id(),
            running.generation()
        );
        println!("serving {}", body.trim_end());
        let _ = io::stdout().flush();
        while !running.is_replaced() {
            if TERMINATED.load(Ordering::SeqCst) {
                drop(listener);
                thread::sleep(Duration::from_millis(300));
                process::exit(0);
            }
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let body = body.clone();
                    thread::spawn(move || {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                        let mut request = [0u8; 1024];
                        let _ = stream.read(&mut request);
                        let _ = write!(
                            stream,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                    });
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(1));
                }
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

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
}
