//! Soak: kill -9 and restart a server made by `#[restartable_listener]` many
//! times with clients connected in every cycle, and count what went wrong.
//! Linux only. Run by scripts/soak.sh.
//!
//! ```text
//! cargo run --release -p restartable-tests --bin soak -- [--cycles N] [--seconds S]
//! ```
//!
//! Each cycle starts the server, waits for its first accepted connection
//! (the restart time), has two clients finish a request (so the server's
//! side ends in TIME_WAIT) and leaves two more connected, then kills the
//! server with SIGKILL. Reported: bind failures (must be 0), the restart
//! time distribution, and this process's open file descriptors around
//! 10,000 in-process bind/close cycles and 10,000 failed binds (must not
//! grow).

#[cfg(target_os = "linux")]
fn main() -> std::io::Result<()> {
    linux::main()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("soak runs on Linux only");
    std::process::exit(2);
}

/// The program, on Linux only, as the examples' crash-restart machinery
/// it uses (`restartable_examples::crash`).
#[cfg(target_os = "linux")]
mod linux {
    use std::env;
    use std::fs;
    use std::io::{self, Read};
    use std::net::{Ipv4Addr, TcpStream};
    use std::process::{self, Command};
    use std::time::{Duration, Instant};

    use restartable_examples::crash::{self, Listener, ServerProcess, Start};

    fn server_command(port: u16) -> Command {
        let mut command = Command::new(env::current_exe().expect("the program's own path"));
        command.args(["--serve", &port.to_string()]);
        command
    }

    fn open_fds() -> io::Result<usize> {
        Ok(fs::read_dir("/proc/self/fd")?.count())
    }

    fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
        sorted[index]
    }

    fn ms(duration: Duration) -> String {
        format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
    }

    /// One kill-and-restart cycle; the restart time, or why there was none.
    fn cycle(port: u16) -> Result<Duration, String> {
        let started = Instant::now();
        let mut server = ServerProcess::spawn(server_command(port)).map_err(|e| e.to_string())?;
        match server
            .start(Duration::from_secs(5))
            .map_err(|e| e.to_string())?
        {
            Start::Ready { .. } => {}
            Start::BindError { kind, message } => {
                return Err(format!("bind failed: {kind} {message}"))
            }
        }
        let ready = crash::accepting_at(port, started + Duration::from_secs(5))
            .ok_or("bound but accepted nothing")?
            .duration_since(started);
        for _ in 0..2 {
            let mut finished =
                TcpStream::connect((Ipv4Addr::LOCALHOST, port)).map_err(|e| e.to_string())?;
            let mut sink = Vec::new();
            finished.read_to_end(&mut sink).map_err(|e| e.to_string())?;
        }
        let in_flight: Vec<TcpStream> = (0..2)
            .filter_map(|_| TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok())
            .collect();
        server.kill().map_err(|e| e.to_string())?;
        drop(in_flight);
        Ok(ready)
    }

    fn fd_check(port: u16) -> io::Result<(usize, usize, usize)> {
        let before = open_fds()?;
        for _ in 0..10_000 {
            drop(crash::restartable(0)?);
        }
        let after_binds = open_fds()?;
        let holder = crash::restartable(port)?;
        let mut failures = 0;
        for _ in 0..10_000 {
            if crash::restartable(port).is_err() {
                failures += 1;
            }
        }
        drop(holder);
        let after_failures = open_fds()?;
        if failures != 10_000 {
            return Err(io::Error::other(format!(
                "only {failures} of 10,000 binds on a held port failed"
            )));
        }
        Ok((before, after_binds, after_failures))
    }

    pub fn main() -> io::Result<()> {
        let args: Vec<String> = env::args().skip(1).collect();
        if let [flag, port] = args.as_slice() {
            if flag == "--serve" {
                let port = port
                    .parse()
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad port"))?;
                crash::serve(Listener::Restartable, port);
            }
        }
        let mut cycles = 1000;
        let mut seconds = 300;
        for pair in args.chunks(2) {
            match pair {
                [flag, value] if flag == "--cycles" => cycles = value.parse().unwrap_or(cycles),
                [flag, value] if flag == "--seconds" => seconds = value.parse().unwrap_or(seconds),
                _ => {
                    eprintln!("usage: soak [--cycles N] [--seconds S]");
                    process::exit(2);
                }
            }
        }

        let port = crash::fresh_port()?;
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut times = Vec::with_capacity(cycles);
        let mut failures = Vec::new();
        let started = Instant::now();
        for n in 0..cycles {
            if Instant::now() > deadline {
                println!("stopped at the {seconds} s bound after {n} cycles");
                break;
            }
            match cycle(port) {
                Ok(ready) => times.push(ready),
                Err(why) => failures.push(format!("cycle {n}: {why}")),
            }
        }
        let elapsed = started.elapsed();
        times.sort();
        let time_wait = crash::time_wait(port)?;
        println!(
            "{} kill -9/restart cycles on 127.0.0.1:{port} in {:.1} s, 4 clients each",
            times.len() + failures.len(),
            elapsed.as_secs_f64()
        );
        println!("bind failures: {}", failures.len());
        for failure in failures.iter().take(5) {
            println!("  {failure}");
        }
        if let (Some(min), Some(max)) = (times.first(), times.last()) {
            println!(
                "restart to first accepted connection: min {} / median {} / p99 {} / max {}",
                ms(*min),
                ms(percentile(&times, 0.5)),
                ms(percentile(&times, 0.99)),
                ms(*max)
            );
        }
        println!(
            "server-side TIME_WAIT on the port at the end: {}",
            time_wait.count
        );

        let (before, after_binds, after_failures) = fd_check(crash::fresh_port()?)?;
        println!(
            "open fds in this process: {before} before, {after_binds} after 10,000 bind/close, \
             {after_failures} after 10,000 failed binds"
        );

        if !failures.is_empty()
            || before != after_binds
            || before != after_failures
            || times.is_empty()
        {
            eprintln!("soak failed");
            process::exit(1);
        }
        Ok(())
    }
}
