//! `restartable::upgrade`: a child copy of this test binary serves on TCP,
//! UDP and a Unix path, and is upgraded to another copy of itself; the
//! parent asks for the upgrade ([`request`]) and checks who answers.
#![cfg(target_os = "linux")]

use std::env;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use restartable::restartable_listener;
use restartable::upgrade::{request, Upgrade};

const MODE: &str = "RESTARTABLE_UPGRADE_TEST";

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

/// The child: serves until replaced. Prints the inheritable descriptors it
/// started with and its variables first.
fn server() -> io::Result<()> {
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
    println!(
        "started pid={} listen_pid={} inheritable={inheritable:?}",
        std::process::id(),
        var("LISTEN_PID").unwrap_or_default()
    );
    let mut setup = Upgrade::new().ready_timeout(Duration::from_secs(10));
    if setup.generation() == 0 {
        // An inheritable descriptor the old process has (as a library that
        // forgot close-on-exec would leave): it must not reach the new one.
        let mut pipe = [0; 2];
        #[allow(unsafe_code)]
        // SAFETY: pipe writes two descriptors into the array; they are
        // left open for the life of the process on purpose.
        let made = unsafe { libc::pipe(pipe.as_mut_ptr()) };
        assert_eq!(made, 0);
    }
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
    let running = setup.ready()?;
    let answer = format!(
        "pid={} generation={}\n",
        std::process::id(),
        running.generation()
    );
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

fn child_main() -> bool {
    if var(MODE).as_deref() != Some("server") {
        return false;
    }
    if let Err(error) = server() {
        println!("error {:?} {error}", error.kind());
        std::process::exit(3);
    }
    std::process::exit(0);
}

struct Server {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    port: u16,
    path: PathBuf,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Later generations are not our children: ask each by its answer.
        if let Ok(answer) = self.tcp() {
            if let Some(pid) = field(&answer, "pid") {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn field(answer: &str, key: &str) -> Option<u32> {
    answer
        .split_whitespace()
        .find_map(|part| part.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// A port nothing listens on, held by nobody: bound and closed by the
/// kernel's choice just now, in the range the tests of this file use only.
fn free_port() -> u16 {
    let socket = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    drop(socket);
    port
}

impl Server {
    /// The child runs the test `test` of this binary, which serves.
    fn start(test: &str, vars: &[(&str, String)]) -> Server {
        let name = test;
        let dir =
            // Short: a Unix socket's path has at most 107 bytes.
            env::temp_dir().join(format!("ru-{}-{}", &name[..8], std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let port = free_port();
        let mut command = Command::new(env::current_exe().unwrap());
        command
            .arg(test)
            .arg("--exact")
            .arg("--nocapture")
            .env(MODE, "server")
            .env("UT_PORT", port.to_string())
            .env("UT_PATH", &path)
            .env_remove("NOTIFY_SOCKET")
            .stdout(Stdio::piped());
        for (name, value) in vars {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = std::sync::mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        let server = Server {
            child,
            lines,
            port,
            path,
            dir,
        };
        server.line("serving");
        server
    }

    /// The next line of the first generation that starts with `prefix`.
    fn line(&self, prefix: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no line {prefix:?} from the server"));
            if line.starts_with(prefix) {
                return line;
            }
            assert!(!line.starts_with("error"), "{line}");
        }
    }

    fn tcp(&self) -> io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    }

    fn udp(&self) -> io::Result<String> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_secs(5)))?;
        socket.send_to(b"?", ("127.0.0.1", self.port))?;
        let mut buffer = [0u8; 64];
        let n = socket.recv(&mut buffer)?;
        Ok(String::from_utf8_lossy(&buffer[..n]).into_owned())
    }

    fn unix(&self) -> io::Result<String> {
        let mut stream = UnixStream::connect(&self.path)?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    }
}

/// Whether `file`'s advisory lock can be had (it is released at once).
#[allow(unsafe_code)]
fn try_lock(file: &std::fs::File) -> bool {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a descriptor `file` owns.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

fn gone(pid: u32, within: Duration) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            // A zombie (state Z) has exited.
            Ok(stat)
                if stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z') =>
            {
                return true
            }
            Ok(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
    false
}

#[test]
fn an_upgrade_passes_tcp_udp_and_unix_listeners_and_only_them() {
    if child_main() {
        return;
    }
    let mut server = Server::start(
        "an_upgrade_passes_tcp_udp_and_unix_listeners_and_only_them",
        &[],
    );
    let old = server.child.id();
    let before = server.tcp().unwrap();
    assert_eq!(field(&before, "generation"), Some(0), "{before}");
    let upgraded = request(old).unwrap();
    assert_eq!(upgraded.generation, 1);
    // The old process is gone (it may answer a connection or two while it
    // stops: it drains what it accepted), and the Unix socket's file stayed.
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(server.path.exists());
    for (what, answer) in [
        ("tcp", server.tcp()),
        ("udp", server.udp()),
        ("unix", server.unix()),
    ] {
        let answer = answer.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            field(&answer, "pid"),
            Some(upgraded.pid),
            "{what}: {answer}"
        );
        assert_eq!(field(&answer, "generation"), Some(1), "{what}: {answer}");
    }
    // The path's lock went to the new process with the socket: another
    // process cannot take it.
    let lock = std::fs::File::open(server.dir.join("s.sock.lock")).unwrap();
    assert!(!try_lock(&lock), "the lock of the socket's path is free");
    // The new process was given its own pid as LISTEN_PID.
    let started = std::fs::read_to_string(format!("/proc/{}/environ", upgraded.pid)).unwrap();
    let vars: Vec<&str> = started.split('\0').collect();
    assert!(
        vars.contains(&format!("LISTEN_PID={}", upgraded.pid).as_str()),
        "{vars:?}"
    );
    assert!(vars.contains(&"LISTEN_FDS=3"), "{vars:?}");
    assert!(vars.contains(&"LISTEN_FDNAMES=http:dns:unix"), "{vars:?}");
    // And the next generation upgrades too.
    let again = request(upgraded.pid).unwrap();
    assert_eq!(again.generation, 2);
    assert!(gone(upgraded.pid, Duration::from_secs(10)));
    assert_eq!(
        server.tcp().ok().and_then(|a| field(&a, "pid")),
        Some(again.pid)
    );
}

#[test]
fn the_new_process_starts_with_the_passed_descriptors_only() {
    if child_main() {
        return;
    }
    // The new process prints what it started with (it inherits the old
    // one's stdout): the three listeners (3, 4, 5), the ready channel (6)
    // and the lock file of the Unix path (7), and nothing else, though the
    // old process has an inheritable pipe.
    let server = Server::start(
        "the_new_process_starts_with_the_passed_descriptors_only",
        &[],
    );
    let upgraded = request(server.child.id()).unwrap();
    let started = server.line(&format!("started pid={}", upgraded.pid));
    assert_eq!(
        started,
        format!(
            "started pid={} listen_pid={} inheritable=[3, 4, 5, 6, 7]",
            upgraded.pid, upgraded.pid
        )
    );
}

#[test]
fn a_listener_without_inherit_fails_the_upgrade_and_the_old_process_keeps_serving() {
    if child_main() {
        return;
    }
    let plain = free_port();
    let server = Server::start(
        "a_listener_without_inherit_fails_the_upgrade_and_the_old_process_keeps_serving",
        &[("UT_PLAIN_PORT", plain.to_string())],
    );
    let old = server.child.id();
    let error = request(old).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("exited with status 3 before it was ready"),
        "{message}"
    );
    let error_line = server.line("error");
    assert!(error_line.starts_with("error AddrInUse"), "{error_line}");
    // The old process serves on, on every listener.
    for answer in [server.tcp(), server.udp(), server.unix()] {
        assert_eq!(field(&answer.unwrap(), "pid"), Some(old));
    }
    TcpStream::connect(("127.0.0.1", plain)).unwrap();
}

#[test]
fn one_upgrade_at_a_time_and_a_failed_start_leaves_the_next_possible() {
    if child_main() {
        return;
    }
    let link = env::temp_dir().join(format!("restartable-upgrade-bin-{}", std::process::id()));
    let _ = std::fs::remove_file(&link);
    let server = Server::start(
        "one_upgrade_at_a_time_and_a_failed_start_leaves_the_next_possible",
        &[
            ("UT_PROGRAM", link.display().to_string()),
            ("UT_READY_DELAY_MS", "1500".to_owned()),
        ],
    );
    let old = server.child.id();
    // The program is missing: the start fails at once, and says so.
    let error = request(old).unwrap_err().to_string();
    assert!(
        error.contains("cannot start") && error.contains("No such file"),
        "{error}"
    );
    std::os::unix::fs::symlink(env::current_exe().unwrap(), &link).unwrap();
    // Now it starts, and is slow to be ready: a second request meanwhile
    // is refused.
    let first = thread::spawn(move || request(old));
    thread::sleep(Duration::from_millis(500));
    let second = request(old).unwrap_err().to_string();
    assert!(
        second.contains("an upgrade is under way already"),
        "{second}"
    );
    let upgraded = first.join().unwrap().unwrap();
    assert_eq!(upgraded.generation, 1);
    let _ = std::fs::remove_file(&link);
    let mut server = server;
    assert!(server.child.wait().unwrap().success());
    assert_eq!(
        server.tcp().ok().and_then(|a| field(&a, "pid")),
        Some(upgraded.pid)
    );
}

/// What a stand-in for systemd's notification socket receives: each
/// datagram's text and how many descriptors came with it.
#[allow(unsafe_code)]
fn receive(socket: &UnixDatagram) -> io::Result<(String, usize)> {
    use std::os::unix::io::AsRawFd;
    let mut data = [0u8; 512];
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: a zeroed msghdr is valid; the pointers set point at live
    // buffers of the sizes given.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = std::ptr::addr_of_mut!(iov);
    header.msg_iovlen = 1;
    header.msg_control = control.as_mut_ptr().cast();
    header.msg_controllen = size_of_val(&control);
    // SAFETY: as above.
    let n = unsafe {
        libc::recvmsg(
            socket.as_raw_fd(),
            std::ptr::addr_of_mut!(header),
            libc::MSG_CMSG_CLOEXEC,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut fds = 0;
    // SAFETY: the kernel filled the control buffer; CMSG_* walk it.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(std::ptr::addr_of!(header));
        while !cmsg.is_null() {
            if (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let bytes = (*cmsg).cmsg_len - libc::CMSG_LEN(0) as usize;
                fds += bytes / 4;
                for i in 0..bytes / 4 {
                    let fd = libc::CMSG_DATA(cmsg)
                        .add(i * 4)
                        .cast::<i32>()
                        .read_unaligned();
                    libc::close(fd);
                }
            }
            cmsg = libc::CMSG_NXTHDR(std::ptr::addr_of!(header), cmsg);
        }
    }
    #[allow(clippy::cast_sign_loss)]
    Ok((
        String::from_utf8_lossy(&data[..n as usize]).into_owned(),
        fds,
    ))
}

#[test]
fn under_a_service_manager_listeners_are_stored_and_the_main_pid_moves() {
    if child_main() {
        return;
    }
    let dir = env::temp_dir().join(format!("restartable-notify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let notify = dir.join("notify");
    let socket = UnixDatagram::bind(&notify).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let server = Server::start(
        "under_a_service_manager_listeners_are_stored_and_the_main_pid_moves",
        &[("NOTIFY_SOCKET", notify.display().to_string())],
    );
    let old = server.child.id();
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(receive(&socket).unwrap());
    }
    let expected = |pid: u32| {
        vec![
            ("FDSTORE=1\nFDNAME=http".to_owned(), 1),
            ("FDSTORE=1\nFDNAME=dns".to_owned(), 1),
            ("FDSTORE=1\nFDNAME=unix".to_owned(), 1),
            (format!("READY=1\nMAINPID={pid}"), 0),
        ]
    };
    assert_eq!(seen, expected(old));
    let upgraded = request(old).unwrap();
    // The old process moves the main pid first; then the new one, main now,
    // stores the same sockets (systemd keeps one of each) and is ready.
    let mut after = Vec::new();
    for _ in 0..5 {
        after.push(receive(&socket).unwrap());
    }
    assert_eq!(after[0], (format!("MAINPID={}", upgraded.pid), 0));
    assert_eq!(after[1..], expected(upgraded.pid)[..]);
    let _ = std::fs::remove_dir_all(&dir);
}
