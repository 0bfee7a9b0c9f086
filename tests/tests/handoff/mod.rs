//! `inherit`: sockets passed the way systemd passes them, what the tests in
//! `handoff_*.rs` share. Each test runs itself again in a copy of its test
//! binary ([`scenario_command`]), with real sockets as descriptors 3, 4, …
//! and the variables set (`restartable_tests::passing::Passing`, [`run`]),
//! or under a real supervisor; in the copy it runs the scenario that
//! `SCENARIO` names ([`scenario`]), which calls annotated functions and
//! prints `result …` lines that the test checks.
// Each test file uses part of what is here.
#![allow(dead_code)]

use std::env;
use std::fs;
use std::io::{self, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::io::BorrowedFd;
use std::os::unix::net::UnixListener;
use std::process::Command;

use restartable::restartable_listener;
use restartable::socket2::{Domain, SockRef, Socket, Type};
use restartable_tests::passing::{ListenPid, Passing};

/// In a copy: the scenario it runs.
pub const SCENARIO: &str = "RESTARTABLE_HANDOFF_SCENARIO";

#[restartable_listener(host = "127.0.0.1", port = port, inherit = true)]
fn next_on(port: u16) -> io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = 0, inherit = true)]
fn next() -> io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = 0, inherit = "http")]
fn http() -> io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = 0, inherit = "dns")]
fn dns() -> io::Result<UdpSocket> {}

#[restartable_listener(host = "127.0.0.1", port = port, inherit = "http")]
fn http_on(port: u16) -> io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = port, inherit = true)]
fn datagrams_on(port: u16) -> io::Result<UdpSocket> {}

#[restartable_listener(host = "127.0.0.1", port = port, inherit = "web")]
fn web_on(port: u16) -> io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = port, inherit = "admin")]
fn admin_on(port: u16) -> io::Result<TcpListener> {}

/// The default host, 0.0.0.0.
#[restartable_listener(port = port, inherit = true)]
fn any_host_on(port: u16) -> io::Result<TcpListener> {}

#[restartable_listener(path = path, inherit = true)]
fn unix_on(path: &std::path::Path) -> io::Result<UnixListener> {}

#[restartable_listener(host = "127.0.0.1", port = port, inherit = true, reuse_port = true)]
fn shared_on(port: u16) -> io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = 0, inherit = "http", reuse_port = true)]
fn shared_http() -> io::Result<TcpListener> {}

/// Another host than the passed sockets' 127.0.0.1.
#[restartable_listener(host = "127.0.0.2", port = port, inherit = true)]
fn second_host_on(port: u16) -> io::Result<TcpListener> {}

/// The README's example: the socket the unit names "http", wherever the
/// unit binds it; 0.0.0.0:8080 only when none is passed.
#[restartable_listener(port = 8080, inherit = "http")]
fn readme_http() -> io::Result<TcpListener> {}

/// Only the passed socket: no address to bind when none is passed.
#[restartable_listener(inherit = "http")]
fn only_passed() -> io::Result<TcpListener> {}

#[restartable_listener(host = "::", port = port, inherit = true)]
fn dual_stack_on(port: u16) -> io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = port, inherit = true, backlog = 64)]
fn backlog_64_on(port: u16) -> io::Result<TcpListener> {}

fn say(line: impl AsRef<str>) {
    println!("result {}", line.as_ref());
    let _ = io::stdout().flush();
}

fn outcome<T>(result: &io::Result<T>, port: impl Fn(&T) -> u16) -> String {
    match result {
        Ok(socket) => format!("port {}", port(socket)),
        Err(error) => format!("error {:?} {error}", error.kind()),
    }
}

fn tcp_port(listener: &TcpListener) -> u16 {
    listener.local_addr().unwrap().port()
}

fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

fn variables() -> String {
    ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]
        .map(|name| {
            format!(
                "{name}={}",
                env::var(name).unwrap_or_else(|_| "unset".into())
            )
        })
        .join(" ")
}

/// A child process of this one, this copy again, calls `next_on` with the
/// variables and descriptors it inherited.
fn grandchild_takes(port: u16) {
    let status = again("grandchild")
        .env("EXPECTED_PORT", port.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// In a copy: the same test in another copy (this one's arguments and
/// variables), to run `scenario`.
fn again(scenario: &str) -> Command {
    let mut command = Command::new(env::current_exe().unwrap());
    command.args(env::args_os().skip(1)).env(SCENARIO, scenario);
    command
}

/// The backlog of the TCP listener on `port`, as `ss` shows it (Send-Q).
fn backlog(port: u16) -> String {
    let output = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output();
    match output {
        Ok(output) => String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .nth(2)
            .unwrap_or("none")
            .to_owned(),
        Err(error) => format!("unknown ({error})"),
    }
}

/// The backlog of the Unix-domain listener at `path`, as `ss` shows it
/// (Send-Q).
fn unix_backlog(path: &std::path::Path) -> String {
    let output = Command::new("ss")
        .args(["-xlH", "src", &path.display().to_string()])
        .output();
    match output {
        Ok(output) => String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .nth(3)
            .unwrap_or("none")
            .to_owned(),
        Err(error) => format!("unknown ({error})"),
    }
}

/// A second UDP socket with SO_REUSEADDR on `port`: can it bind?
fn second_udp_binder(port: u16) -> String {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    match socket.bind(&std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into()) {
        Ok(()) => "bound".to_owned(),
        Err(error) => format!("{:?}", error.kind()),
    }
}

/// What a child process of this one sees: fd 3 and LISTEN_FDS.
fn grandchild_sees() -> String {
    let output = Command::new("sh")
        .args(["-c", "if [ -e /proc/$$/fd/3 ]; then echo fd3=open; else echo fd3=closed; fi; echo LISTEN_FDS=${LISTEN_FDS:-unset}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `unix`: a Unix-domain socket passed at `SOCKET_PATH` is refused by a
/// function on another path and taken by the one on its path.
fn unix_scenario() {
    let path = std::path::PathBuf::from(env::var("SOCKET_PATH").unwrap());
    // Another path: the passed socket is left for a function on its path,
    // and this one binds its own.
    match unix_on(&path.with_extension("other")) {
        Ok(listener) => say(format!(
            "other path bound {}",
            listener
                .local_addr()
                .unwrap()
                .as_pathname()
                .unwrap()
                .display()
        )),
        Err(error) => say(format!("other path {:?} {error}", error.kind())),
    }
    match unix_on(&path) {
        Ok(listener) => {
            let local = listener.local_addr().unwrap();
            say(format!("path {}", local.as_pathname().unwrap().display()));
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(b"x").unwrap();
            say("served the queued connection");
        }
        Err(error) => say(format!("path {:?} {error}", error.kind())),
    }
}

/// Descriptor 3 as a socket value, for a scenario that changes its flags
/// the way another consumer of `LISTEN_FDS` would; the caller forgets it.
fn unsafe_fd3() -> Socket {
    use std::os::unix::io::FromRawFd;
    #[allow(unsafe_code)]
    // SAFETY: the supervisor passed fd 3 to this process, and the caller
    // forgets the value instead of closing it, so it never owns it.
    unsafe {
        Socket::from_raw_fd(3)
    }
}

fn fd3_state() -> &'static str {
    if fs::metadata("/proc/self/fd/3").is_ok() {
        "open"
    } else {
        "closed"
    }
}

/// The copy's side of every test: runs the scenario named in `SCENARIO`.
pub fn scenario() {
    let scenario = env::var(SCENARIO).unwrap();
    match scenario.as_str() {
        "take" | "take-unset" | "unset" => {
            let port: u16 = env::var("EXPECTED_PORT").unwrap().parse().unwrap();
            say(format!("grandchild before {}", grandchild_sees()));
            grandchild_takes(port);
            if scenario == "take-unset" {
                #[allow(unsafe_code)]
                // SAFETY: nothing in this test process has opened or closed
                // descriptors at 3 and up: the supervisor put the socket there.
                let count = unsafe { restartable::handoff::accept_unset_listen_pid() };
                say(format!("accepted {count:?}"));
            }
            let listener = next_on(port);
            say(format!("first {}", outcome(&listener, tcp_port)));
            say(format!("variables {}", variables()));
            say(format!("grandchild after {}", grandchild_sees()));
            let Ok(listener) = listener else { return };
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(b"x").unwrap();
            say("served the queued connection");
            say(format!("second {}", outcome(&next(), tcp_port)));
        }
        "unix" => unix_scenario(),
        "grandchild" => {
            let port: u16 = env::var("EXPECTED_PORT").unwrap().parse().unwrap();
            say(format!(
                "grandchild takes {}",
                outcome(&next_on(port), tcp_port)
            ));
        }
        "first-fd" => {
            let port: u16 = env::var("EXPECTED_PORT").unwrap().parse().unwrap();
            let first = env::var("LISTEN_FDS_FIRST_FD").unwrap_or_else(|_| "unset".into());
            say(format!("first fd {first}"));
            say(format!("shared {}", outcome(&shared_on(port), tcp_port)));
            say(format!("grandchild after {}", grandchild_sees()));
        }
        "web-admin" => {
            let web: u16 = env::var("WEB_PORT").unwrap().parse().unwrap();
            let admin: u16 = env::var("ADMIN_PORT").unwrap().parse().unwrap();
            // Asked for in the other order than passed.
            say(format!("admin {}", outcome(&admin_on(admin), tcp_port)));
            say(format!("web {}", outcome(&web_on(web), tcp_port)));
        }
        "fit" => {
            let tcp: u16 = env::var("TCP_PORT").unwrap().parse().unwrap();
            let udp: u16 = env::var("UDP_PORT").unwrap().parse().unwrap();
            say(format!("tcp {}", outcome(&next_on(tcp), tcp_port)));
            say(format!(
                "udp {}",
                outcome(&datagrams_on(udp), |s| s.local_addr().unwrap().port())
            ));
        }
        "host" => {
            let port: u16 = env::var("EXPECTED_PORT").unwrap().parse().unwrap();
            say(format!(
                "any host {}",
                outcome(&any_host_on(port), tcp_port)
            ));
        }
        "unnamed" => {
            let port: u16 = env::var("EXPECTED_PORT").unwrap().parse().unwrap();
            say(format!("http {}", outcome(&http_on(port), tcp_port)));
        }
        "names" => {
            say(format!("http {}", outcome(&http(), tcp_port)));
            say(format!(
                "dns {}",
                outcome(&dns(), |s| s.local_addr().unwrap().port())
            ));
            say(format!("http again {}", outcome(&http(), tcp_port)));
        }
        "errors" => {
            let before = open_fds();
            for _ in 0..100 {
                let _ = http();
            }
            say(format!("next {}", outcome(&http(), tcp_port)));
            say(format!("fds before {before} after {}", open_fds()));
            say(format!(
                "fd3 {}",
                if fs::metadata("/proc/self/fd/3").is_ok() {
                    "open"
                } else {
                    "closed"
                }
            ));
            say(format!("variables {}", variables()));
        }
        other => policy_scenario(other),
    }
}

/// The scenarios about the options of a passed socket.
fn policy_scenario(scenario: &str) {
    match scenario {
        "blocking" => {
            let port: u16 = env::var("EXPECTED_PORT").unwrap().parse().unwrap();
            let listener = next_on(port).unwrap();
            let client = std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(300));
                TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap()
            });
            let started = std::time::Instant::now();
            match listener.accept() {
                Ok(_) => say(format!(
                    "accept waited {} ms",
                    started.elapsed().as_millis() / 100 * 100
                )),
                Err(error) => say(format!("accept error {:?}", error.kind())),
            }
            drop(client.join());
        }
        "udp-reuse" => {
            let port: u16 = env::var("EXPECTED_PORT").unwrap().parse().unwrap();
            say(format!("second before {}", second_udp_binder(port)));
            let socket = datagrams_on(port).unwrap();
            let reuse = SockRef::from(&socket).reuse_address().unwrap();
            say(format!("SO_REUSEADDR {}", u8::from(reuse)));
            say(format!("second after {}", second_udp_binder(port)));
        }
        "reuse-port-named" => {
            say(format!("plain {}", outcome(&http(), tcp_port)));
            say(format!("no address {}", outcome(&only_passed(), tcp_port)));
            say(format!("shared {}", outcome(&shared_http(), tcp_port)));
        }
        "reuse-port" => {
            let port: u16 = env::var("EXPECTED_PORT").unwrap().parse().unwrap();
            say(format!("backlog before {}", backlog(port)));
            say(format!("plain {}", outcome(&next_on(port), tcp_port)));
            let shared = shared_on(port);
            say(format!("shared {}", outcome(&shared, tcp_port)));
            say(format!("backlog after {}", backlog(port)));
        }
        other => rule_scenario(other),
    }
}

/// The scenarios about which passed socket a function takes.
fn rule_scenario(scenario: &str) {
    match scenario {
        "order" => {
            let passed: u16 = env::var("EXPECTED_PORT").unwrap().parse().unwrap();
            let other: u16 = env::var("OTHER_PORT").unwrap().parse().unwrap();
            let order = env::var("ORDER").unwrap();
            for which in order.chars() {
                match which {
                    'a' => say(format!("a {}", outcome(&next_on(passed), tcp_port))),
                    _ => say(format!("b {}", outcome(&second_host_on(other), tcp_port))),
                }
            }
        }
        "readme" => {
            let listener = readme_http();
            say(format!("readme {}", outcome(&listener, tcp_port)));
            say(format!("only passed {}", outcome(&only_passed(), tcp_port)));
        }
        "only-passed" => say(format!("only passed {}", outcome(&only_passed(), tcp_port))),
        "backlog-zero" => {
            let built = restartable::Builder::new((Ipv4Addr::LOCALHOST, 0))
                .backlog(0)
                .inherit_named("http")
                .bind::<TcpListener>();
            say(format!("zero {}", outcome(&built, tcp_port)));
        }
        "cloexec" => {
            let port: u16 = env::var("EXPECTED_PORT").unwrap().parse().unwrap();
            // As libsystemd's sd_listen_fds(0) leaves a descriptor it took.
            let fd3 = unsafe_fd3();
            fd3.set_cloexec(true).unwrap();
            say(format!("first {}", outcome(&next_on(port), tcp_port)));
            say(format!("fd3 {}", fd3_state()));
            std::mem::forget(fd3);
        }
        "file" => {
            say(format!("http {}", outcome(&http(), tcp_port)));
            say(format!("only passed {}", outcome(&only_passed(), tcp_port)));
            say(format!("fd3 {}", fd3_state()));
        }
        "unix-backlog" => {
            let path = std::path::PathBuf::from(env::var("SOCKET_PATH").unwrap());
            let listener = unix_on(&path);
            say(format!(
                "taken {}",
                match &listener {
                    Ok(_) => "ok".to_owned(),
                    Err(error) => format!("error {error}"),
                }
            ));
            say(format!("backlog after {}", unix_backlog(&path)));
        }
        "dual-stack" => {
            let port: u16 = env::var("EXPECTED_PORT").unwrap().parse().unwrap();
            say(format!("dual {}", outcome(&dual_stack_on(port), tcp_port)));
        }
        "backlog" => {
            let port: u16 = env::var("EXPECTED_PORT").unwrap().parse().unwrap();
            let listener = if env::var("BACKLOG").is_ok() {
                backlog_64_on(port)
            } else {
                next_on(port)
            };
            say(format!("taken {}", outcome(&listener, tcp_port)));
            say(format!("backlog after {}", backlog(port)));
        }
        other => panic!("no scenario {other}"),
    }
}

/// The copy of this test binary that runs the test `test`, to run
/// `scenario`.
pub fn scenario_command(test: &str, scenario: &str) -> Command {
    let mut command = restartable_tests::command(test);
    command.env(SCENARIO, scenario);
    command
}

/// Runs the test `test` again in a copy, to run `scenario` with `sockets`
/// passed; its `result` lines by their first words (up to the value).
pub fn run(
    test: &str,
    scenario: &str,
    sockets: &[BorrowedFd<'_>],
    names: Option<&str>,
    pid: &ListenPid,
    env: &[(&str, String)],
) -> Vec<String> {
    let mut passing = Passing::new(&scenario_command(test, scenario), sockets, names, pid).unwrap();
    for (name, value) in env {
        passing.command().env(name, value);
    }
    let lines = result_lines(&passing.run());
    println!("{scenario}:\n  {}", lines.join("\n  "));
    lines
}

/// The `result` lines of a copy's output, without the word `result`.
pub fn result_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|line| line.find("result ").map(|at| line[at + 7..].to_owned()))
        .collect()
}

/// Runs `scenario` with one socket passed to the copy's own pid, on `port`.
pub fn run_on_port(test: &str, scenario: &str, socket: BorrowedFd<'_>, port: u16) -> Vec<String> {
    run(
        test,
        scenario,
        &[socket],
        None,
        &ListenPid::Own,
        &[("EXPECTED_PORT", port.to_string())],
    )
}

pub fn line<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    lines
        .iter()
        .find_map(|line| line.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line `{prefix}…` in {lines:?}"))
        .trim()
}

pub fn loopback_listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}
