//! The server the upgrade tests upgrade, and what they drive it with.
//!
//! A test runs itself again in a copy of its binary as the server
//! ([`Server::start`], through `restartable_tests::command`): the copy runs
//! the same test function, whose first line, [`serve_if_asked`], turns it
//! into the server (it never returns there).
//! The server serves `pid=<pid> generation=<n>` on TCP, UDP and a Unix
//! path, and is upgraded to another copy of the same binary (the same
//! test, so the same server), which prints its lines to the same output.
//! Variables named `UT_*` change what it does.

#![allow(dead_code)]

use std::env;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use restartable::restartable_listener;
use restartable::upgrade::Upgrade;
use restartable_tests::{command, through, Running};

/// Which role a copy of a test binary plays.
const ROLE: &str = "RESTARTABLE_UPGRADE_TEST";

#[restartable_listener(host = "127.0.0.1", port = port, inherit = "http")]
fn http(port: u16) -> io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = port, inherit = "dns")]
fn dns(port: u16) -> io::Result<UdpSocket> {}

#[restartable_listener(path = path, inherit = "unix")]
fn unix(path: &Path) -> io::Result<UnixListener> {}

/// No `inherit`: cannot take its socket back.
#[restartable_listener(host = "127.0.0.1", port = port)]
fn plain(port: u16) -> io::Result<TcpListener> {}

fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.is_empty())
}

/// In a copy started by [`Server::start`] or [`run_role`], plays the role
/// it was started for and ends the process; elsewhere returns `false`.
/// Every test of an upgrade test binary calls it first.
#[must_use]
pub fn serve_if_asked() -> bool {
    let code = match var(ROLE).as_deref() {
        Some("server") => match server() {
            Ok(()) => 0,
            Err(error) => {
                println!("error {:?} {error}", error.kind());
                3
            }
        },
        Some("connect") => connect(),
        Some("flood") => flood(),
        Some("request") => request_role(),
        Some("squat") => squat(),
        _ => return false,
    };
    let _ = io::stdout().flush();
    std::process::exit(code);
}

/// The descriptors from 3 on that this process started with and that are
/// inheritable.
fn inheritable() -> io::Result<Vec<i32>> {
    let mut inheritable = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let fd: i32 = entry?.file_name().to_string_lossy().parse().unwrap_or(-1);
        #[allow(unsafe_code)]
        // SAFETY: F_GETFD reads a flag; any number is fine to ask about.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if fd >= 3 && flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
            inheritable.push(fd);
        }
    }
    inheritable.sort_unstable();
    Ok(inheritable)
}

/// The signals this process ignores, from /proc/self/status.
fn ignored_signals() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("SigIgn:").map(|v| v.trim().to_owned()))
        })
        .unwrap_or_default()
}

/// Log records as lines on stdout, `log LEVEL message`, for the tests to
/// read.
struct Lines;

impl log::Log for Lines {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        println!("log {} {}", record.level(), record.args());
    }

    fn flush(&self) {}
}

fn server() -> io::Result<()> {
    // Before anything else, as a program's first lines would be.
    let started = format!(
        "started pid={} listen_pid={} inheritable={:?} ignored={}",
        std::process::id(),
        var("LISTEN_PID").unwrap_or_default(),
        inheritable()?,
        ignored_signals()
    );
    println!("{started}");
    if var("UT_LOG").is_some() && log::set_logger(&Lines).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    let mut setup = Upgrade::new();
    if setup.generation() == 0 {
        // An inheritable descriptor the old process has (as a library that
        // forgot close-on-exec would leave): it must not reach the new one.
        let mut pipe = [0; 2];
        #[allow(unsafe_code)]
        // SAFETY: pipe writes two descriptors into the array; they are
        // left open for the life of the process on purpose.
        let made = unsafe { libc::pipe(pipe.as_mut_ptr()) };
        assert_eq!(made, 0);
        if var("UT_IGNORE_SIGCHLD").is_some() {
            // As another library may: children are reaped as they end.
            #[allow(unsafe_code)]
            // SAFETY: sets a signal's disposition to SIG_IGN; no handler.
            unsafe {
                libc::signal(libc::SIGCHLD, libc::SIG_IGN);
            }
        }
    }
    let ready_timeout = var("UT_READY_TIMEOUT_MS").map_or(10_000, |ms| ms.parse().unwrap());
    setup = setup.ready_timeout(Duration::from_millis(ready_timeout));
    if let Some(program) = var("UT_PROGRAM") {
        setup = setup.program(program);
    }
    let port: u16 = var("UT_PORT").unwrap().parse().unwrap();
    let tcp = http(port)?;
    let udp = dns(port)?;
    let path = PathBuf::from(var("UT_PATH").unwrap());
    let local = unix(&path)?;
    let _plain = match var("UT_PLAIN_PORT") {
        Some(p) => Some(plain(p.parse().unwrap())?),
        None => None,
    };
    if setup.generation() > 0 {
        if let Some(ms) = var("UT_READY_DELAY_MS") {
            thread::sleep(Duration::from_millis(ms.parse().unwrap()));
        }
    }
    let generation = setup.generation();
    // What another copy of the crate in this process would have bound: a
    // request socket of this process's.
    let _other_copy = match var("UT_OTHER_COPY") {
        Some(_) => Some(bind_abstract(&format!(
            "restartable/upgrade/{}/{}",
            std::process::id(),
            "f".repeat(32)
        ))?),
        None => None,
    };
    let running = setup.ready()?;
    if var("UT_TWICE").is_some() {
        match Upgrade::new().ready() {
            Ok(_) => println!("second setup ok"),
            Err(error) => println!("second setup error {:?} {error}", error.kind()),
        }
    }
    if var("UT_REPLACE_HANDLER").is_some() {
        extern "C" fn nothing(_: libc::c_int) {}
        #[allow(unsafe_code)]
        // SAFETY: installs a handler that does nothing, as a library that
        // uses plain signal(2) would.
        unsafe {
            libc::signal(libc::SIGHUP, nothing as *const () as libc::sighandler_t);
        }
    }
    let answer = format!("pid={} generation={generation}\n", std::process::id());
    println!("serving {}", answer.trim());
    let _ = io::stdout().flush();
    let a = answer.clone();
    thread::spawn(move || {
        for mut stream in tcp.incoming().flatten() {
            let _ = stream.write_all(a.as_bytes());
        }
    });
    let a = answer.clone();
    thread::spawn(move || {
        let mut buffer = [0u8; 16];
        while let Ok((_, from)) = udp.recv_from(&mut buffer) {
            let _ = udp.send_to(a.as_bytes(), from);
        }
    });
    thread::spawn(move || {
        for mut stream in local.incoming().flatten() {
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    running.replaced().wait();
    Ok(())
}

/// Connects to the abstract name `UT_NAME`, sends `upgrade`, and prints
/// `answer <line>` (or `failed <error>`): another user's raw client.
fn connect() -> i32 {
    let name = var("UT_NAME").unwrap();
    let outcome = (|| -> io::Result<String> {
        let stream = connect_abstract(name.as_bytes())?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        // A refusal may come, and the connection close, before the request
        // is written: the answer is read either way.
        let _ = (&stream).write_all(b"upgrade\n");
        let mut answer = String::new();
        BufReader::new(&stream).read_line(&mut answer)?;
        Ok(answer)
    })();
    match outcome {
        Ok(answer) => println!("answer {}", answer.trim_end()),
        Err(error) => println!("failed {error}"),
    }
    0
}

/// Connects `UT_COUNT` times to the abstract name `UT_NAME`, each time
/// sending `upgrade` and reading the answer; prints `answers N first
/// <line>`.
fn flood() -> i32 {
    let name = var("UT_NAME").unwrap();
    let count: usize = var("UT_COUNT").unwrap().parse().unwrap();
    let mut answers = 0;
    let mut first = None;
    for _ in 0..count {
        let Ok(stream) = connect_abstract(name.as_bytes()) else {
            continue;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = (&stream).write_all(b"upgrade\n");
        let mut answer = String::new();
        if BufReader::new(&stream).read_line(&mut answer).is_ok() && !answer.is_empty() {
            answers += 1;
            first.get_or_insert(answer);
        }
    }
    println!(
        "answers {answers} first {}",
        first.unwrap_or_default().trim_end()
    );
    0
}

/// Asks process `UT_PID` to upgrade with `restartable::upgrade::request`;
/// prints `upgraded pid=P generation=G` or `failed KIND message`.
fn request_role() -> i32 {
    let pid: u32 = var("UT_PID").unwrap().parse().unwrap();
    match restartable::upgrade::request(pid) {
        Ok(upgraded) => println!("upgraded {upgraded}"),
        Err(error) => println!("failed {:?} {error}", error.kind()),
    }
    0
}

/// A connected stream to the abstract Unix socket `name`.
///
/// # Errors
///
/// When the connect fails.
pub fn connect_abstract(name: &[u8]) -> io::Result<UnixStream> {
    use restartable::socket2::{Domain, SockAddr, Socket, Type};
    use std::os::unix::ffi::OsStrExt;
    let mut bytes = vec![0u8];
    bytes.extend_from_slice(name);
    let addr = SockAddr::unix(std::ffi::OsStr::from_bytes(&bytes))?;
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.connect(&addr)?;
    Ok(UnixStream::from(std::os::unix::io::OwnedFd::from(socket)))
}

/// A listening Unix socket bound to the abstract name `name`.
fn bind_abstract(name: &str) -> io::Result<restartable::socket2::Socket> {
    use restartable::socket2::{Domain, SockAddr, Socket, Type};
    use std::os::unix::ffi::OsStrExt;
    let mut bytes = vec![0u8];
    bytes.extend_from_slice(name.as_bytes());
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.bind(&SockAddr::unix(std::ffi::OsStr::from_bytes(&bytes))?)?;
    socket.listen(1)?;
    Ok(socket)
}

/// Binds the abstract names `UT_NAMES` (separated by newlines), listens on
/// them, prints `squatting N`, and keeps them until killed.
fn squat() -> i32 {
    let held: Vec<_> = var("UT_NAMES")
        .unwrap()
        .lines()
        .filter_map(|name| bind_abstract(name).ok())
        .collect();
    println!("squatting {}", held.len());
    let _ = io::stdout().flush();
    loop {
        thread::sleep(Duration::from_mins(1));
    }
}

/// A server: the first generation is this test's child; later ones print
/// to the same output, and are all killed when this is dropped.
pub struct Server {
    child: Child,
    lines: Receiver<String>,
    /// Every line printed so far.
    history: Arc<Mutex<Vec<String>>>,
    pids: Arc<Mutex<Vec<u32>>>,
    /// The port of its TCP and UDP listeners.
    pub port: u16,
    /// The path of its Unix-domain listener.
    pub path: PathBuf,
    /// A directory of its own, removed when it is dropped.
    pub dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Every generation: those that said they started, and any other
        // process of this server (its path is in its environment).
        let mut pids = self.pids.lock().unwrap().clone();
        pids.extend(processes_with(&format!("UT_PATH={}", self.path.display())));
        for pid in pids {
            let _ = Command::new("kill")
                .args(["-9", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The processes whose environment has the entry `entry`.
fn processes_with(entry: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|e| e == entry.as_bytes()))
        })
        .collect()
}

/// The 32-bit FNV-1a hash of `bytes`: a short name for a test.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, &byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// The value of `key=` in an answer such as `pid=12 generation=1`.
#[must_use]
pub fn field(answer: &str, key: &str) -> Option<u32> {
    answer
        .split_whitespace()
        .find_map(|part| part.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// A port nothing listens on: bound and closed by the kernel's choice.
///
/// # Panics
///
/// When no port can be bound.
#[must_use]
pub fn free_port() -> u16 {
    let socket = TcpListener::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

/// The command that runs `test` of this binary again, alone, in a copy,
/// without the service manager's socket this one may have.
#[must_use]
pub fn this_test(test: &str) -> Command {
    let mut copy = command(test);
    copy.env_remove("NOTIFY_SOCKET");
    copy
}

impl Server {
    /// Starts the server in test `test` of this binary, with `vars`.
    #[must_use]
    pub fn start(test: &str, vars: &[(&str, String)]) -> Server {
        Server::start_wrapped(&[], test, vars)
    }

    /// Starts the server under `wrapper` (a command that execs the rest,
    /// such as `unshare --user --map-user=65534 --`).
    ///
    /// # Panics
    ///
    /// When it cannot be started or does not say it serves within 20 s.
    #[must_use]
    pub fn start_wrapped(wrapper: &[&str], test: &str, vars: &[(&str, String)]) -> Server {
        // Short (a Unix socket's path has at most 107 bytes), and one per
        // test: the tests of a binary run at the same time.
        let dir = env::temp_dir().join(format!(
            "ru-{:08x}-{}",
            fnv1a(test.as_bytes()),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // World-writable and searchable: a server in a user namespace, or a
        // client of another user, must reach it.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let path = dir.join("s.sock");
        let port = free_port();
        let copy = this_test(test);
        let mut command = match wrapper.split_first() {
            Some((program, args)) => through(program, args, &copy),
            None => copy,
        };
        command
            .env(ROLE, "server")
            .env("UT_PORT", port.to_string())
            .env("UT_PATH", &path)
            .stdout(Stdio::piped());
        for (name, value) in vars {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        let pids = Arc::new(Mutex::new(vec![child.id()]));
        let seen = pids.clone();
        let history = Arc::new(Mutex::new(Vec::new()));
        let kept = history.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // The test harness's "test NAME ... " comes before the first
                // line a copy prints.
                let line = match line.find("started pid=") {
                    Some(at) => line[at..].to_owned(),
                    None => line,
                };
                if let Some(pid) = line.strip_prefix("started ").and_then(|l| field(l, "pid")) {
                    seen.lock().unwrap().push(pid);
                }
                kept.lock().unwrap().push(line.clone());
                let _ = send.send(line);
            }
        });
        let server = Server {
            child,
            lines,
            history,
            pids,
            port,
            path,
            dir,
        };
        let _ = server.line("serving");
        server
    }

    /// The first generation's process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the first generation to end; its exit status.
    ///
    /// # Panics
    ///
    /// When it cannot be waited for.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }

    /// The next line any generation prints that starts with `prefix`.
    ///
    /// # Panics
    ///
    /// After 20 s without one, or on a line that starts with `error`.
    #[must_use]
    pub fn line(&self, prefix: &str) -> String {
        self.line_within(prefix, Duration::from_secs(20))
            .unwrap_or_else(|| panic!("no line {prefix:?} from the server"))
    }

    /// The next line that starts with `prefix`, if one comes within
    /// `within` (lines before it are skipped).
    ///
    /// # Panics
    ///
    /// On a line that starts with `error` while looking for another.
    #[must_use]
    pub fn line_within(&self, prefix: &str, within: Duration) -> Option<String> {
        let end = Instant::now() + within;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).ok()?;
            if line.starts_with(prefix) {
                return Some(line);
            }
            assert!(
                prefix.starts_with("error") || !line.starts_with("error"),
                "{line}"
            );
        }
    }

    /// The first line printed so far, by any generation, that starts with
    /// `prefix` (whether or not [`line`](Self::line) skipped it).
    #[must_use]
    pub fn said(&self, prefix: &str) -> Option<String> {
        self.history
            .lock()
            .unwrap()
            .iter()
            .find(|line| line.starts_with(prefix))
            .cloned()
    }

    /// Every line printed so far and within `within` more.
    #[must_use]
    pub fn lines_for(&self, within: Duration) -> Vec<String> {
        let end = Instant::now() + within;
        let mut lines = Vec::new();
        while let Ok(line) = self
            .lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            lines.push(line);
        }
        lines
    }

    /// What the TCP listener answers.
    ///
    /// # Errors
    ///
    /// When the connection fails.
    pub fn tcp(&self) -> io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    }

    /// What the UDP socket answers.
    ///
    /// # Errors
    ///
    /// When no answer comes within 5 s.
    pub fn udp(&self) -> io::Result<String> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_secs(5)))?;
        socket.send_to(b"?", ("127.0.0.1", self.port))?;
        let mut buffer = [0u8; 64];
        let n = socket.recv(&mut buffer)?;
        Ok(String::from_utf8_lossy(&buffer[..n]).into_owned())
    }

    /// What the Unix-domain listener answers.
    ///
    /// # Errors
    ///
    /// When the connection fails.
    pub fn unix(&self) -> io::Result<String> {
        let mut stream = UnixStream::connect(&self.path)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    }

    /// The pid the TCP listener's answer names.
    #[must_use]
    pub fn serving_pid(&self) -> Option<u32> {
        self.tcp().ok().and_then(|answer| field(&answer, "pid"))
    }

    /// The abstract name of the request socket of process `pid` (a listening
    /// Unix socket named `restartable/upgrade/<pid>` or
    /// `restartable/upgrade/<pid>/…`), read from /proc/net/unix.
    #[must_use]
    pub fn request_socket_name(pid: u32) -> Option<String> {
        let table = std::fs::read_to_string("/proc/net/unix").ok()?;
        let exact = format!("@restartable/upgrade/{pid}");
        table.lines().find_map(|line| {
            let name = line.split_whitespace().nth(7)?;
            (name == exact || name.starts_with(&format!("{exact}/"))).then(|| name[1..].to_owned())
        })
    }
}

/// Runs this binary's test `test` in role `role` as user `uid` (and its
/// group), with `vars`; its output.
///
/// # Panics
///
/// When it cannot be run.
#[must_use]
pub fn run_role_as(uid: u32, test: &str, role: &str, vars: &[(&str, String)]) -> String {
    let mut command = as_user(uid, test);
    command.env(ROLE, role);
    for (name, value) in vars {
        command.env(name, value);
    }
    output_within_a_minute(&mut command)
}

/// The standard output of `command`, run to its end; one that does not end
/// (a server that should have failed to start) is killed after a minute,
/// and what it said is returned.
fn output_within_a_minute(command: &mut Command) -> String {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (done, ended) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut output = Vec::new();
        let _ = stdout.read_to_end(&mut output);
        let _ = done.send(());
        output
    });
    if ended.recv_timeout(Duration::from_mins(1)).is_err() {
        let _ = child.kill();
    }
    let _ = child.wait();
    String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned()
}

/// Starts this binary's test `test` in role `role` as user `uid`, in the
/// background (killed when the returned copy is dropped).
///
/// # Panics
///
/// When it cannot be started.
#[must_use]
pub fn start_role_as(uid: u32, test: &str, role: &str, vars: &[(&str, String)]) -> Running {
    let mut command = as_user(uid, test);
    command.env(ROLE, role);
    for (name, value) in vars {
        command.env(name, value);
    }
    Running::start(&mut command)
}

/// Runs this binary's test `test` in role `role` under `wrapper` (a
/// command that execs the rest, such as `nsenter … --`), with `vars`; its
/// output.
///
/// # Panics
///
/// When it cannot be run.
#[must_use]
pub fn run_role(wrapper: &[&str], test: &str, role: &str, vars: &[(&str, String)]) -> String {
    let copy = this_test(test);
    let mut command = match wrapper.split_first() {
        Some((program, args)) => through(program, args, &copy),
        None => copy,
    };
    command.env(ROLE, role);
    for (name, value) in vars {
        command.env(name, value);
    }
    output_within_a_minute(&mut command)
}

/// `test` of this binary again, run by `setpriv` as user `uid` (and the
/// group of that number), without supplementary groups.
fn as_user(uid: u32, test: &str) -> Command {
    through(
        "setpriv",
        &[
            format!("--reuid={uid}"),
            format!("--regid={uid}"),
            "--clear-groups".to_owned(),
            "--".to_owned(),
        ],
        &this_test(test),
    )
}

/// A file of the test's, removed when this is dropped, whether the test
/// passed or not.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// `name` in the temporary directory, with this process's id.
    #[must_use]
    pub fn named(name: &str) -> Scratch {
        Scratch(env::temp_dir().join(format!("restartable-{}-{name}", std::process::id())))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Whether the test runs as root (needed for other users and namespaces).
#[must_use]
pub fn is_root() -> bool {
    #[allow(unsafe_code)]
    // SAFETY: geteuid has no memory effects and cannot fail.
    let uid = unsafe { libc::geteuid() };
    uid == 0
}

/// Whether process `pid` has ended (gone, or a zombie with no thread
/// left: a process's first thread is a zombie while its other threads
/// still end, and one of those may still accept a connection), waiting up
/// to `within`.
#[must_use]
pub fn gone(pid: u32, within: Duration) -> bool {
    let end = Instant::now() + within;
    loop {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return true;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .map(str::trim)
                .unwrap_or_default()
                .to_owned()
        };
        if field("State:").starts_with('Z') && field("Threads:") == "1" {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The processes other than `except` that hold the socket whose inode is
/// `inode` (from /proc/*/fd).
#[must_use]
pub fn holders(inode: u64, except: &[u32]) -> Vec<u32> {
    let target = format!("socket:[{inode}]");
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if except.contains(&pid) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        if fds.flatten().any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|link| link.as_os_str() == target.as_str())
        }) {
            found.push(pid);
        }
    }
    found
}

/// The inode of the TCP listener on 127.0.0.1:`port`, from /proc/net/tcp.
#[must_use]
pub fn listener_inode(port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // st 0A: listening.
        (fields.get(1) == Some(&local.as_str()) && fields.get(3) == Some(&"0A"))
            .then(|| fields.get(9)?.parse().ok())
            .flatten()
    })
}
