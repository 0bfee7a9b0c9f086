//! The supervisor (Linux): as PID 1 of a PID namespace, and asked for with
//! `RESTARTABLE_SUPERVISE=1`. Each behaviour beside its control, the same
//! server without the supervisor. The server is `src/bin/supervised.rs`.
//! The PID-1 tests need root (`unshare --pid`).

#![cfg(target_os = "linux")]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use restartable_tests::skip;

const SERVER: &str = env!("CARGO_BIN_EXE_supervised");

/// A port nothing listens on.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[allow(unsafe_code)]
fn is_root() -> bool {
    // SAFETY: geteuid only reads.
    unsafe { libc::geteuid() == 0 }
}

/// The server, perhaps under `unshare --pid --fork --mount-proc`, its
/// standard output read line by line, its standard error kept in a file.
struct Server {
    child: Child,
    lines: Receiver<String>,
    log: PathBuf,
    port: u16,
}

impl Server {
    fn start(as_pid_1: bool, mode: &str, vars: &[(&str, &str)]) -> Server {
        Server::start_on(free_port(), as_pid_1, mode, vars, None)
    }

    /// With SIGCHLD and SIGTERM blocked in the server's signal mask.
    #[allow(unsafe_code)]
    fn start_blocked(vars: &[(&str, &str)]) -> Server {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(SERVER);
        // SAFETY: between fork and exec only sigprocmask, which is
        // async-signal-safe, on a set built on the stack.
        unsafe {
            command.pre_exec(|| {
                let mut set: libc::sigset_t = std::mem::zeroed();
                let set_ptr = std::ptr::addr_of_mut!(set);
                libc::sigemptyset(set_ptr);
                libc::sigaddset(set_ptr, libc::SIGCHLD);
                libc::sigaddset(set_ptr, libc::SIGTERM);
                libc::sigprocmask(libc::SIG_BLOCK, set_ptr, std::ptr::null_mut());
                Ok(())
            });
        }
        Server::spawn(command, free_port(), "serve", vars)
    }

    /// On `port`; with `passed`, under bash, which makes it descriptor 3
    /// and sets `LISTEN_PID` to its own pid before it execs the server (or
    /// `unshare`).
    fn start_on(
        port: u16,
        as_pid_1: bool,
        mode: &str,
        vars: &[(&str, &str)],
        passed: Option<&TcpListener>,
    ) -> Server {
        let mut command = Command::new("bash");
        let mut script = String::new();
        if let Some(passed) = passed {
            let fd = passed.as_raw_fd();
            inheritable(fd);
            if fd != 3 {
                script = format!("exec 3<&{fd} {fd}<&-; ");
            }
            script.push_str("export LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=http; ");
        }
        script.push_str("exec \"$@\"");
        command.args(["-c", &script, "bash"]);
        if as_pid_1 {
            command.args(["unshare", "--pid", "--fork", "--mount-proc"]);
        }
        command.arg(SERVER);
        let server = Server::spawn(command, port, mode, vars);
        if let Some(passed) = passed {
            close_on_exec(passed.as_raw_fd());
        }
        server
    }

    /// Starts `command` (the server, perhaps under a wrapper) on `port`.
    fn spawn(mut command: Command, port: u16, mode: &str, vars: &[(&str, &str)]) -> Server {
        let log = std::env::temp_dir().join(format!(
            "restartable-supervisor-{}-{port}.log",
            std::process::id()
        ));
        command
            .args([port.to_string(), mode.to_owned()])
            .env_remove("NOTIFY_SOCKET")
            .env_remove("RESTARTABLE_SUPERVISE")
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&log).unwrap());
        let mut child = command.spawn().expect("the server starts");
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Server {
            child,
            lines,
            log,
            port,
        }
    }

    /// The next `serving …` line: `(pid, generation)` as the server sees
    /// itself.
    fn serving(&self) -> (u32, u32) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the server did not say it serves:\n{}", self.log()));
            if let Some(rest) = line.strip_prefix("serving ") {
                return parse_answer(rest).unwrap();
            }
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The host pid of the process the server runs as: under `unshare`,
    /// the child of `unshare` (PID 1 of the namespace).
    fn top(&self, as_pid_1: bool) -> u32 {
        if !as_pid_1 {
            return self.child.id();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(&pid) = children(self.child.id()).first() {
                return pid;
            }
            assert!(Instant::now() < deadline, "unshare started no process");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits up to `within` for the server's end.
    fn ended_within(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let top = children(self.child.id());
        for pid in top {
            signal(pid, libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.log);
    }
}

#[allow(unsafe_code)]
fn inheritable(fd: i32) {
    // SAFETY: F_SETFD on a descriptor this test owns changes a flag only.
    unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
}

#[allow(unsafe_code)]
fn close_on_exec(fd: i32) {
    // SAFETY: as above.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
}

/// `pid=<pid> generation=<n>`.
fn parse_answer(text: &str) -> Option<(u32, u32)> {
    let mut pid = None;
    let mut generation = None;
    for field in text.split_whitespace() {
        if let Some(value) = field.strip_prefix("pid=") {
            pid = value.parse().ok();
        }
        if let Some(value) = field.strip_prefix("generation=") {
            generation = value.parse().ok();
        }
    }
    Some((pid?, generation?))
}

/// `GET /`: the answer, or the error's kind.
fn get(port: u16) -> Result<(u32, u32), std::io::ErrorKind> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.kind())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .map_err(|e| e.kind())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(|e| e.kind())?;
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    parse_answer(body).ok_or(std::io::ErrorKind::InvalidData)
}

/// Asks until the answer satisfies `wanted`, for up to 10 s.
fn get_until(
    port: u16,
    wanted: impl Fn(&Result<(u32, u32), std::io::ErrorKind>) -> bool,
) -> Result<(u32, u32), std::io::ErrorKind> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = get(port);
        if wanted(&answer) || Instant::now() >= deadline {
            return answer;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The children of `pid`.
fn children(pid: u32) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The state letter of `pid` (`Z` for a zombie), if it exists.
fn state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

#[allow(unsafe_code)]
fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill changes no memory of this process.
    unsafe { libc::kill(i32::try_from(pid).unwrap(), signal) };
}

fn needs_root() -> bool {
    if is_root() {
        return true;
    }
    skip("a PID namespace (unshare --pid) needs root");
    false
}

#[test]
fn as_pid_1_an_upgrade_keeps_the_service_and_without_the_supervisor_it_ends_it() {
    if !needs_root() {
        return;
    }
    for supervised in [true, false] {
        let vars: &[(&str, &str)] = if supervised {
            &[]
        } else {
            &[("RESTARTABLE_SUPERVISE", "0")]
        };
        let mut server = Server::start(true, "serve", vars);
        let (pid, generation) = server.serving();
        assert_eq!(generation, 0);
        // The service is PID 1's child with the supervisor; PID 1 itself
        // without.
        assert_eq!(pid, if supervised { 2 } else { 1 }, "{}", server.log());
        let pid_1 = server.top(true);
        signal(pid_1, libc::SIGHUP);
        if supervised {
            let answer = get_until(server.port, |a| matches!(a, Ok((_, 1))));
            assert!(matches!(answer, Ok((_, 1))), "{answer:?}\n{}", server.log());
            // The old service drains (1 s) and exits; the new one serves on.
            thread::sleep(Duration::from_millis(1500));
            assert!(matches!(get(server.port), Ok((_, 1))), "{}", server.log());
            assert!(
                server.child.try_wait().unwrap().is_none(),
                "{}",
                server.log()
            );
            assert!(
                server.log().contains("the service's main process is now"),
                "{}",
                server.log()
            );
        } else {
            // The control: PID 1 exits after the handover, and the kernel
            // kills the new process with every other one of the namespace.
            let status = server.ended_within(Duration::from_secs(10));
            assert!(status.is_some(), "PID 1 did not exit:\n{}", server.log());
            assert_eq!(get(server.port), Err(std::io::ErrorKind::ConnectionRefused));
        }
    }
}

#[test]
fn a_crash_is_followed_at_once_by_a_service_with_the_same_socket() {
    for supervised in [true, false] {
        let vars: &[(&str, &str)] = if supervised {
            &[("RESTARTABLE_SUPERVISE", "1")]
        } else {
            &[]
        };
        let server = Server::start(false, "serve", vars);
        let (pid, _) = server.serving();
        let top = server.top(false);
        if supervised {
            assert_eq!(children(top), vec![pid], "{}", server.log());
        } else {
            assert_eq!(top, pid);
        }
        if supervised {
            // While nothing accepts: the supervisor stopped, the service
            // killed. A connection made now waits in the queue of the
            // socket the supervisor holds, and the next service answers it.
            signal(top, libc::SIGSTOP);
            signal(pid, libc::SIGKILL);
            wait_for(|| state(pid) == Some('Z'));
            let port = server.port;
            let asked = thread::spawn(move || get(port));
            thread::sleep(Duration::from_millis(300));
            signal(top, libc::SIGCONT);
            let (new, generation) = asked
                .join()
                .unwrap()
                .unwrap_or_else(|e| panic!("{e:?}\n{}", server.log()));
            assert_ne!(new, pid);
            assert_eq!(generation, 0);
            assert_eq!(server.serving().0, new);
            assert!(
                server
                    .log()
                    .contains("was killed by signal 9; started again at once"),
                "{}",
                server.log()
            );
        } else {
            // The control: once the process is gone, nothing holds the
            // socket.
            signal(pid, libc::SIGKILL);
            let mut server = server;
            assert!(server.ended_within(Duration::from_secs(10)).is_some());
            assert_eq!(get(server.port), Err(std::io::ErrorKind::ConnectionRefused));
        }
    }
}

/// Waits up to 10 s for `done`.
fn wait_for(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "waited 10 s in vain");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_new_main_process_is_followed_when_the_old_one_exited_before_its_message_was_read() {
    // The supervisor stopped while the old process hands over, says
    // MAINPID=<new> and exits: the new process is the supervisor's orphan
    // by the time the message is read. Before, the message was ignored,
    // the old process's exit 0 taken for the service's end, and the
    // supervisor exited (as PID 1: with everything).
    let mut server = Server::start(false, "serve", &[("RESTARTABLE_SUPERVISE", "1")]);
    let (old, _) = server.serving();
    let supervisor = server.top(false);
    signal(supervisor, libc::SIGSTOP);
    signal(old, libc::SIGHUP);
    let answer = get_until(server.port, |a| matches!(a, Ok((_, 1))));
    wait_for(|| state(old) == Some('Z'));
    signal(supervisor, libc::SIGCONT);
    assert!(matches!(answer, Ok((_, 1))), "{answer:?}\n{}", server.log());
    assert!(
        server.ended_within(Duration::from_millis(500)).is_none(),
        "the supervisor exited:\n{}",
        server.log()
    );
    assert!(matches!(get(server.port), Ok((_, 1))), "{}", server.log());
    assert!(
        server.log().contains("the service's main process is now"),
        "{}",
        server.log()
    );
}

#[test]
fn a_stop_reaches_the_new_main_process_when_an_upgrade_moves_it_after_the_stop() {
    // SIGHUP, then SIGTERM at once: the old process may commit the upgrade
    // after the stop was passed to it. Before, the new main process never
    // got the stop, was killed at the drain deadline, and the status was
    // 137; a SIGHUP after the stop also started upgrades while stopping.
    for _ in 0..3 {
        let mut server = Server::start(false, "graceful", &[("RESTARTABLE_SUPERVISE", "1")]);
        server.serving();
        let supervisor = server.top(false);
        signal(supervisor, libc::SIGHUP);
        thread::sleep(Duration::from_millis(2));
        signal(supervisor, libc::SIGTERM);
        signal(supervisor, libc::SIGHUP);
        let status = server
            .ended_within(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("still running:\n{}", server.log()));
        assert_eq!(status.code(), Some(0), "{}", server.log());
    }
}

#[test]
fn signals_blocked_by_whoever_started_the_supervisor_still_reach_it() {
    // Started with SIGCHLD and SIGTERM blocked (a mask is inherited across
    // exec): before, a crash of the service and a stop went unseen.
    let server = Server::start_blocked(&[("RESTARTABLE_SUPERVISE", "1")]);
    let (pid, _) = server.serving();
    signal(pid, libc::SIGKILL);
    let answer = get_until(server.port, |a| matches!(a, Ok((new, _)) if *new != pid));
    assert!(
        matches!(answer, Ok((new, _)) if new != pid),
        "{answer:?}\n{}",
        server.log()
    );
    let mut server = server;
    signal(server.top(false), libc::SIGTERM);
    assert!(
        server.ended_within(Duration::from_secs(5)).is_some(),
        "{}",
        server.log()
    );
}

#[test]
fn a_crash_loop_ends_the_supervisor_with_the_service_s_status() {
    let started = Instant::now();
    let mut server = Server::start(
        false,
        "exit3",
        &[
            ("RESTARTABLE_SUPERVISE", "1"),
            ("RESTARTABLE_START_LIMIT", "4/30"),
        ],
    );
    let status = server
        .ended_within(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the supervisor did not give up:\n{}", server.log()));
    let log = server.log();
    assert_eq!(status.code(), Some(3), "{log}");
    assert!(
        log.contains("a crash loop; it is not started again"),
        "{log}"
    );
    // 4 starts; the back-off between the crashes before the service was
    // ready: 100, 200 and 400 ms.
    assert_eq!(log.matches("exited with status 3").count(), 4, "{log}");
    assert!(
        log.contains("after 400ms (it had not become ready)"),
        "{log}"
    );
    assert!(started.elapsed() >= Duration::from_millis(700), "{log}");
}

#[test]
fn stop_signals_reach_the_service_and_its_status_is_the_supervisor_s() {
    if !needs_root() {
        return;
    }
    for supervised in [true, false] {
        let vars: &[(&str, &str)] = if supervised {
            &[]
        } else {
            &[("RESTARTABLE_SUPERVISE", "0")]
        };
        let mut server = Server::start(true, "serve", vars);
        server.serving();
        let pid_1 = server.top(true);
        signal(pid_1, libc::SIGTERM);
        let status = server.ended_within(Duration::from_secs(3));
        if supervised {
            // unshare reports the signal of its child's status as its own.
            let status = status.unwrap_or_else(|| panic!("still running:\n{}", server.log()));
            assert!(
                status.code() == Some(143) || status.signal() == Some(libc::SIGTERM),
                "{status:?}\n{}",
                server.log()
            );
        } else {
            // The control: a signal PID 1 has no handler for never arrives.
            assert!(status.is_none(), "PID 1 ended on SIGTERM: {status:?}");
        }
    }
}

#[test]
fn orphans_of_the_service_are_reaped() {
    if !needs_root() {
        return;
    }
    for supervised in [true, false] {
        let vars: &[(&str, &str)] = if supervised {
            &[]
        } else {
            &[("RESTARTABLE_SUPERVISE", "0")]
        };
        let server = Server::start(true, "orphan", vars);
        server.serving();
        let pid_1 = server.top(true);
        // The orphan (`sleep 0.2`) has ended by now.
        thread::sleep(Duration::from_millis(800));
        let zombies: Vec<u32> = children(pid_1)
            .into_iter()
            .filter(|&pid| state(pid) == Some('Z'))
            .collect();
        if supervised {
            assert!(zombies.is_empty(), "zombies {zombies:?}\n{}", server.log());
        } else {
            assert_eq!(zombies.len(), 1, "the control left no zombie");
        }
    }
}

#[test]
fn messages_of_other_processes_to_the_supervisor_are_dropped() {
    let server = Server::start(false, "serve", &[("RESTARTABLE_SUPERVISE", "1")]);
    let (pid, _) = server.serving();
    let environ = fs::read(format!("/proc/{pid}/environ")).unwrap();
    let socket = environ
        .split(|&b| b == 0)
        .find_map(|entry| entry.strip_prefix(b"NOTIFY_SOCKET=@"))
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .expect("the service has the supervisor's socket");
    // This process, not the service, claims to be the main one.
    let address = restartable::socket2::SockAddr::unix(format!("\0{socket}")).unwrap();
    let sender = restartable::socket2::Socket::new(
        restartable::socket2::Domain::UNIX,
        restartable::socket2::Type::DGRAM,
        None,
    )
    .unwrap();
    sender
        .send_to(
            format!("MAINPID={}\nREADY=1", std::process::id()).as_bytes(),
            &address,
        )
        .unwrap();
    thread::sleep(Duration::from_millis(200));
    assert!(
        server
            .log()
            .contains("not the service's main process, was dropped"),
        "{}",
        server.log()
    );
    // The service is still the one followed: its crash is noticed.
    signal(pid, libc::SIGKILL);
    let answer = get_until(server.port, |a| matches!(a, Ok((new, _)) if *new != pid));
    assert!(
        matches!(answer, Ok((new, _)) if new != pid),
        "{answer:?}\n{}",
        server.log()
    );
}

#[test]
fn sockets_passed_to_the_supervisor_are_held_and_passed_on() {
    // A socket-activated supervisor: before, it left them to nobody, and
    // the service found its port taken.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = Server::start_on(
        port,
        false,
        "serve",
        &[("RESTARTABLE_SUPERVISE", "1")],
        Some(&listener),
    );
    drop(listener);
    let (pid, _) = server.serving();
    let log = server.log();
    assert!(log.contains("took the passed socket \"http\""), "{log}");
    assert!(log.contains("holds the listener \"http\""), "{log}");
    signal(pid, libc::SIGKILL);
    let answer = get_until(server.port, |a| matches!(a, Ok((new, _)) if *new != pid));
    assert!(
        matches!(answer, Ok((new, _)) if new != pid),
        "{answer:?}\n{}",
        server.log()
    );
}

#[test]
fn a_bad_supervisor_variable_is_an_error_that_names_it() {
    for (name, value) in [
        ("RESTARTABLE_SUPERVISE", "yes"),
        ("RESTARTABLE_START_LIMIT", "five"),
    ] {
        let mut vars = vec![(name, value)];
        if name != "RESTARTABLE_SUPERVISE" {
            vars.push(("RESTARTABLE_SUPERVISE", "1"));
        }
        let mut server = Server::start(false, "serve", &vars);
        let status = server.ended_within(Duration::from_secs(10)).unwrap();
        assert_eq!(status.code(), Some(1));
        let line = server.lines.recv_timeout(Duration::from_secs(1)).unwrap();
        assert!(line.starts_with("error InvalidInput"), "{line}");
        assert!(line.contains(name) && line.contains(value), "{line}");
    }
}
