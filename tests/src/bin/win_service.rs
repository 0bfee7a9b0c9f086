//! The Windows server of scripts/windows-supervisor-check.sh, and its
//! tools, run under Wine (or on Windows).
//!
//! ```text
//! win_service serve PORT      under the supervisor (Supervisor::start)
//! win_service exit3 PORT      under the supervisor; exits 3 before it listens
//! win_service alone PORT      no supervisor: the crate's bind, retried 60 s
//! win_service plain PORT      no supervisor: std's TcpListener::bind
//! win_service replay PORT     as serve, and then sends the supervisor the
//!                             record of its listener twice more, by hand
//!                             (a second library writing to the pipe)
//! win_service upgradable PORT under the supervisor, with upgrades
//!                             (restartable::upgrade): `GET /` answers
//!                             `pid=<pid> generation=<n>`
//! win_service ask PID         restartable::upgrade::request(PID)
//! win_service once PORT       no supervisor: binds with inherit = "http",
//!                             prints `bound ADDR` (or the error), exits
//! win_service kill PID        TerminateProcess(PID, 1), as `taskkill /F`
//! win_service hold PID N SECONDS
//!                             opens N connections to process PID's upgrade
//!                             request pipe, writes nothing, holds them
//! win_service hijack PORT SECONDS
//!                             binds 127.0.0.1:PORT with SO_REUSEADDR in a loop
//! ```
//!
//! The servers answer `GET /` with `pid=<pid> generation=0` (the process id
//! is Windows's) and close the connection; they print `serving pid=<pid>`
//! once they listen. Ctrl-C or Ctrl-Break: stop accepting, wait 300 ms,
//! exit 0. `WIN_SERVICE_START_DELAY_MS=N`: the servers wait N ms before
//! they take or bind their socket (connections meanwhile wait in the queue
//! of a socket a supervisor holds). `hijack` prints `hijack attempts=N bound=M first_error=E`.

#[cfg(windows)]
fn main() {
    windows::main();
}

#[cfg(not(windows))]
fn main() {
    eprintln!("win_service runs on Windows only");
    std::process::exit(2);
}

#[cfg(windows)]
mod windows {
    use std::io::{self, Read, Write};
    use std::net::{SocketAddr, TcpListener};
    use std::process;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread;
    use std::time::{Duration, Instant};

    use restartable::socket2::{Domain, Socket, Type};
    use restartable::supervisor::Supervisor;
    use restartable::Builder;
    use std::os::windows::io::AsRawSocket;

    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
    use windows_sys::Win32::Networking::WinSock::{WSADuplicateSocketW, WSAPROTOCOL_INFOW};
    use windows_sys::Win32::Storage::FileSystem::WriteFile;
    use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
    use windows_sys::Win32::System::Threading::{OpenProcess, TerminateProcess, PROCESS_TERMINATE};

    pub fn main() {
        if log::set_logger(&Stderr).is_ok() {
            log::set_max_level(log::LevelFilter::Info);
        }
        let args: Vec<String> = std::env::args().skip(1).collect();
        let number = |i: usize| args.get(i).and_then(|v| v.parse::<u32>().ok());
        let result = match (args.first().map(String::as_str), number(1), number(2)) {
            (Some("once"), Some(port), None) if port <= 65535 => once(port as u16),
            (Some("upgradable"), Some(port), None) if port <= 65535 => upgradable(port as u16),
            (Some("ask"), Some(pid), None) => match restartable::upgrade::request(pid) {
                Ok(upgraded) => {
                    println!("upgraded: {upgraded}");
                    Ok(())
                }
                Err(error) => Err(error),
            },
            (Some("serve" | "exit3" | "alone" | "plain" | "replay"), Some(port), None)
                if port <= 65535 =>
            {
                serve(&args[0], port as u16)
            }
            (Some("kill"), Some(pid), None) => kill(pid),
            (Some("hold"), Some(pid), Some(count)) => hold(pid, count, number(3).unwrap_or(10)),
            (Some("hijack"), Some(port), Some(seconds)) if port <= 65535 => {
                hijack(port as u16, seconds);
                Ok(())
            }
            _ => {
                eprintln!("usage: win_service serve|exit3|alone|plain|replay|once|upgradable PORT | ask PID | kill PID | hold PID N SECONDS | hijack PORT SECONDS");
                process::exit(2);
            }
        };
        if let Err(error) = result {
            println!("error {:?} {error}", error.kind());
            process::exit(1);
        }
    }

    static STOP: AtomicBool = AtomicBool::new(false);

    #[allow(unsafe_code)]
    unsafe extern "system" fn on_stop(_event: u32) -> windows_sys::core::BOOL {
        STOP.store(true, Ordering::SeqCst);
        1
    }

    fn serve(mode: &str, port: u16) -> io::Result<()> {
        if matches!(mode, "serve" | "exit3" | "replay") {
            Supervisor::new().start()?;
        }
        #[allow(unsafe_code)]
        // SAFETY: the handler only stores to an atomic.
        unsafe {
            SetConsoleCtrlHandler(Some(on_stop), 1);
        }
        if mode == "exit3" {
            process::exit(3);
        }
        if let Some(delay) = std::env::var("WIN_SERVICE_START_DELAY_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
        {
            thread::sleep(Duration::from_millis(delay));
        }
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener: TcpListener = match mode {
            "plain" => TcpListener::bind(addr)?,
            "alone" => Builder::new(addr).retry(Duration::from_secs(60)).bind()?,
            _ => Builder::new(addr).inherit_named("http").bind()?,
        };
        if mode == "replay" {
            replay(&listener)?;
        }
        listener.set_nonblocking(true)?;
        let body = format!("pid={} generation=0\n", process::id());
        println!("serving pid={}", process::id());
        let _ = io::stdout().flush();
        serve_http(&listener, &body, || STOP.load(Ordering::SeqCst))?;
        drop(listener);
        thread::sleep(Duration::from_millis(300));
        println!("stopped pid={}", process::id());
        let _ = io::stdout().flush();
        process::exit(0);
    }

    /// Answers `GET` on the nonblocking `listener` with `body`, a thread per
    /// connection, until `done` says so.
    fn serve_http(listener: &TcpListener, body: &str, done: impl Fn() -> bool) -> io::Result<()> {
        while !done() {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let body = body.to_owned();
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

    /// What other code in the service could do: describe the listener for
    /// the supervisor and write that record to the store pipe twice, so
    /// that the second description names the handle the first one made.
    fn replay(listener: &TcpListener) -> io::Result<()> {
        let value = std::env::var("RESTARTABLE_SOCKETS").map_err(io::Error::other)?;
        let field = |key: &str| {
            value
                .split(',')
                .find_map(|f| f.strip_prefix(key))
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or_else(|| io::Error::other(format!("no {key} in {value}")))
        };
        let (parent, store) = (field("parent=")?, field("store=")?);
        #[allow(unsafe_code)]
        // SAFETY: a zeroed plain C struct the call fills; the socket is
        // open; the pipe handle is only written to, never closed.
        unsafe {
            let mut info: WSAPROTOCOL_INFOW = std::mem::zeroed();
            if WSADuplicateSocketW(listener.as_raw_socket() as usize, parent as u32, &mut info) != 0
            {
                return Err(io::Error::last_os_error());
            }
            let bytes = std::slice::from_raw_parts(
                (&info as *const WSAPROTOCOL_INFOW).cast::<u8>(),
                size_of::<WSAPROTOCOL_INFOW>(),
            );
            let mut record = b"RSK1".to_vec();
            record.extend_from_slice(&4u16.to_le_bytes());
            record.extend_from_slice(b"http");
            record.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            record.extend_from_slice(bytes);
            for _ in 0..2 {
                let mut written = 0u32;
                if WriteFile(
                    store as HANDLE,
                    record.as_ptr(),
                    record.len() as u32,
                    &mut written,
                    std::ptr::null_mut(),
                ) == 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        println!("replayed the record twice");
        Ok(())
    }

    /// The supervisor, and upgrades of the service under it.
    fn upgradable(port: u16) -> io::Result<()> {
        Supervisor::new().start()?;
        #[allow(unsafe_code)]
        // SAFETY: the handler only stores to an atomic.
        unsafe {
            SetConsoleCtrlHandler(Some(on_stop), 1);
        }
        let setup = restartable::upgrade::Upgrade::new()
            .ready_timeout(Duration::from_secs(10))
            .drain_timeout(Duration::from_secs(1));
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
        serve_http(&listener, &body, || {
            running.is_replaced() || STOP.load(Ordering::SeqCst)
        })?;
        drop(listener);
        thread::sleep(Duration::from_millis(300));
        Ok(())
    }

    fn once(port: u16) -> io::Result<()> {
        let listener: TcpListener = Builder::new(SocketAddr::from(([127, 0, 0, 1], port)))
            .inherit_named("http")
            .bind()?;
        println!("bound {}", listener.local_addr()?);
        Ok(())
    }

    /// Clients of the request pipe that say nothing: each must be dropped
    /// by the service in time, or they hold every instance of its pipe.
    fn hold(pid: u32, count: u32, seconds: u32) -> io::Result<()> {
        let name = format!(r"\\.\pipe\restartable-upgrade-{pid}");
        let mut held = Vec::new();
        for _ in 0..count {
            // The service makes the next instance once a client connected.
            let end = Instant::now() + Duration::from_secs(3);
            let opened = loop {
                match std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&name)
                {
                    Ok(file) => break Ok(file),
                    Err(error) if Instant::now() >= end => break Err(error),
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
            };
            match opened {
                Ok(file) => held.push(file),
                Err(error) => {
                    println!("hold: opened {} of {count}: {error}", held.len());
                    break;
                }
            }
        }
        println!("holding {} connections", held.len());
        let _ = io::stdout().flush();
        thread::sleep(Duration::from_secs(u64::from(seconds)));
        Ok(())
    }

    fn kill(pid: u32) -> io::Result<()> {
        #[allow(unsafe_code)]
        // SAFETY: the process handle is opened, used and closed here.
        unsafe {
            let process = OpenProcess(PROCESS_TERMINATE, 0, pid);
            if process.is_null() {
                return Err(io::Error::last_os_error());
            }
            let ok = TerminateProcess(process, 1);
            let error = io::Error::last_os_error();
            CloseHandle(process);
            if ok == 0 {
                return Err(error);
            }
        }
        println!("killed pid={pid}");
        Ok(())
    }

    /// Another program's attempt to take the port: SO_REUSEADDR, bind,
    /// again and again, for `seconds`.
    fn hijack(port: u16, seconds: u32) {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let end = Instant::now() + Duration::from_secs(u64::from(seconds));
        let (mut attempts, mut bound) = (0u64, 0u64);
        let mut first_error = None;
        while Instant::now() < end {
            attempts += 1;
            let result = Socket::new(Domain::IPV4, Type::STREAM, None).and_then(|socket| {
                socket.set_reuse_address(true)?;
                socket.bind(&addr.into())
            });
            match result {
                Ok(()) => bound += 1,
                Err(error) => {
                    first_error.get_or_insert_with(|| error.raw_os_error().unwrap_or(0));
                }
            }
            thread::sleep(Duration::from_millis(2));
        }
        println!(
            "hijack attempts={attempts} bound={bound} first_error={}",
            first_error.unwrap_or(0)
        );
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
