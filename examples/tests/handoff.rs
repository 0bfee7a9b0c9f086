//! `inherit`: sockets passed the way systemd passes them. Each case runs this
//! test binary again as a child, with real sockets as descriptors 3, 4, …
//! and the variables set (see `restartable_examples::handoff::Passing`); the
//! child calls annotated functions and prints `result …` lines, which the
//! parent checks.
#![cfg(target_os = "linux")]

use std::env;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::io::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Command;

use restartable::restartable_listener;
use restartable::socket2::{Domain, SockRef, Socket, Type};
use restartable_examples::crash::{self, Listener};
use restartable_examples::handoff::{self, ListenPid, Mode, Passing};

const SCENARIO: &str = "RESTARTABLE_HANDOFF_SCENARIO";
const SERVER: &str = "RESTARTABLE_HANDOFF_SERVER";

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

/// A child process of this one, this test binary again, calls `next_on`
/// with the variables and descriptors it inherited.
fn grandchild_takes(port: u16) {
    let status = child_command("grandchild")
        .env("EXPECTED_PORT", port.to_string())
        .status()
        .unwrap();
    assert!(status.success());
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

/// The child side: runs the scenario named in `SCENARIO`.
#[test]
fn child() {
    let Ok(scenario) = env::var(SCENARIO) else {
        return;
    };
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

fn child_command(scenario: &str) -> Command {
    let mut command = Command::new(env::current_exe().unwrap());
    command
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, scenario);
    command
}

/// Runs `scenario` in a child with `sockets` passed; its `result` lines by
/// their first words (up to the value).
fn run(
    scenario: &str,
    sockets: &[BorrowedFd<'_>],
    names: Option<&str>,
    pid: &ListenPid,
    env: &[(&str, String)],
) -> Vec<String> {
    let mut passing = Passing::new(&child_command(scenario), sockets, names, pid).unwrap();
    for (name, value) in env {
        passing.command().env(name, value);
    }
    let stdout = passing.stdout().unwrap();
    let lines: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.find("result ").map(|at| line[at + 7..].to_owned()))
        .collect();
    println!("{scenario}:\n  {}", lines.join("\n  "));
    lines
}

fn line<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    lines
        .iter()
        .find_map(|line| line.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line `{prefix}…` in {lines:?}"))
        .trim()
}

fn loopback_listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

#[test]
fn the_passed_listener_is_taken_once_and_neither_variables_nor_fd_reach_children() {
    let (listener, port) = loopback_listener();
    // Queued in the passed socket before the child exists: only the same
    // socket can accept it.
    let mut client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    let lines = run_on_port("take", listener.as_fd(), port);
    // Control: before the call, a grandchild inherits both; a grandchild
    // that runs an `inherit` function then does not take the socket (its
    // process id is not LISTEN_PID), binds, and is told why that failed.
    assert_eq!(line(&lines, "grandchild before"), "fd3=open LISTEN_FDS=1");
    let grandchild = line(&lines, "grandchild takes");
    assert!(
        grandchild.starts_with(&format!("error AddrInUse cannot bind 127.0.0.1:{port}")),
        "{grandchild}"
    );
    assert!(
        grandchild.contains("LISTEN_FDS=1 passes sockets to process")
            && grandchild.contains("(LISTEN_PID), not to this one"),
        "{grandchild}"
    );
    assert_eq!(line(&lines, "first"), format!("port {port}"));
    // The variables are left as they are (changing the environment is not
    // safe while other threads may read it); the descriptor is close-on-exec.
    assert!(
        line(&lines, "variables").contains("LISTEN_FDS=1"),
        "{lines:?}"
    );
    assert_eq!(line(&lines, "grandchild after"), "fd3=closed LISTEN_FDS=1");
    let mut byte = [0];
    client.read_exact(&mut byte).unwrap();
    assert_eq!(&byte, b"x");
    // The one passed socket is taken: the next call binds as usual.
    let second = line(&lines, "second");
    assert!(
        second.starts_with("port ") && second != format!("port {port}"),
        "{second}"
    );
}

#[test]
fn without_listen_pid_the_sockets_are_taken_only_after_the_unsafe_opt_in() {
    let (listener, port) = loopback_listener();
    let _client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    // As `systemfd --no-pid` passes them: not taken, and the error of the
    // bind that then fails says what was passed and how to take it.
    let lines = run(
        "unset",
        &[listener.as_fd()],
        None,
        &ListenPid::Unset,
        &[("EXPECTED_PORT", port.to_string())],
    );
    for which in ["first", "grandchild takes"] {
        let error = line(&lines, which);
        assert!(
            error.starts_with(&format!("error AddrInUse cannot bind 127.0.0.1:{port}")),
            "{error}"
        );
        assert!(
            error.contains(
                "LISTEN_FDS=1 passes sockets with LISTEN_PID unset (as `systemfd --no-pid` does)"
            ) && error.contains("restartable::handoff::accept_unset_listen_pid()"),
            "{error}"
        );
    }
    // With the opt-in the process takes them; its child still does not.
    let lines = run(
        "take-unset",
        &[listener.as_fd()],
        None,
        &ListenPid::Unset,
        &[("EXPECTED_PORT", port.to_string())],
    );
    assert_eq!(line(&lines, "accepted"), "Ok(1)");
    assert_eq!(line(&lines, "first"), format!("port {port}"));
    assert!(
        line(&lines, "grandchild takes").starts_with("error AddrInUse"),
        "{lines:?}"
    );
}

#[test]
fn sockets_for_another_process_are_left_alone_and_the_function_binds() {
    let (listener, port) = loopback_listener();
    let lines = run(
        "names",
        &[listener.as_fd()],
        Some("http"),
        &ListenPid::Value("1".into()),
        &[],
    );
    let http = line(&lines, "http");
    assert!(
        http.starts_with("port ") && http != format!("port {port}"),
        "{http}"
    );
}

#[test]
fn named_sockets_go_to_the_functions_that_name_them_in_any_order() {
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let (tcp, tcp_port) = loopback_listener();
    // dns is fd 3, http fd 4; the child asks for http first.
    let lines = run(
        "names",
        &[udp.as_fd(), tcp.as_fd()],
        Some("dns:http"),
        &ListenPid::Own,
        &[],
    );
    assert_eq!(line(&lines, "http "), format!("port {tcp_port}"));
    assert_eq!(line(&lines, "dns"), format!("port {udp_port}"));
    let again = line(&lines, "http again");
    assert!(
        again.starts_with("port ") && again != format!("port {tcp_port}"),
        "{again}"
    );
}

/// Runs `scenario` with one socket passed to the child's own pid, on `port`.
fn run_on_port(scenario: &str, socket: BorrowedFd<'_>, port: u16) -> Vec<String> {
    run(
        scenario,
        &[socket],
        None,
        &ListenPid::Own,
        &[("EXPECTED_PORT", port.to_string())],
    )
}

/// Runs the `errors` scenario with one socket passed under the name `http`
/// and returns its lines.
fn rejected(socket: BorrowedFd<'_>) -> Vec<String> {
    run("errors", &[socket], Some("http"), &ListenPid::Own, &[])
}

fn assert_rejected_without_leak(lines: &[String], message: &str) {
    let next = line(lines, "next");
    assert!(
        next.starts_with(
            "error InvalidInput the socket passed as fd 3 (LISTEN_FDNAMES \"http\") is "
        ),
        "{next}"
    );
    assert!(next.contains(message), "{next} ∌ {message}");
    let fds = line(lines, "fds before");
    let (before, after) = fds.split_once(" after ").unwrap();
    assert_eq!(before, after, "descriptors leaked over 101 rejections");
    // The rejected socket is not ours to close.
    assert_eq!(line(lines, "fd3"), "open");
}

#[test]
fn a_udp_socket_for_a_tcp_listener_is_refused_naming_the_fd() {
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    assert_rejected_without_leak(
        &rejected(udp.as_fd()),
        "a datagram (UDP) socket; expected a listening TCP socket (on any address: \
         inherit = \"http\" takes the socket of that name wherever the supervisor bound it)",
    );
}

#[test]
fn a_tcp_socket_that_does_not_listen_is_refused() {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    assert_rejected_without_leak(&rejected(socket.as_fd()), "that does not listen");
}

#[test]
fn a_unix_socket_is_refused_by_name_for_an_ip_function() {
    let path = env::temp_dir().join(format!("restartable-handoff-{}.sock", std::process::id()));
    let _ = fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let lines = rejected(listener.as_fd());
    let _ = fs::remove_file(&path);
    assert_rejected_without_leak(
        &lines,
        &format!("a Unix-domain socket on {}", path.display()),
    );
}

/// `inherit = "name"`: the unit places the socket, so a named socket is
/// taken whatever its address, the README's `port = 8080` included; the
/// port is the fallback only when nothing is passed.
#[test]
fn a_named_socket_is_taken_wherever_the_supervisor_bound_it() {
    let (listener, port) = loopback_listener();
    let lines = run(
        "readme",
        &[listener.as_fd()],
        Some("http"),
        &ListenPid::Own,
        &[],
    );
    // Before: `error InvalidInput the socket passed as fd 3 (LISTEN_FDNAMES
    // "http") is bound to 127.0.0.1:PORT, another port; expected a listening
    // TCP socket on 0.0.0.0:8080`.
    assert_eq!(line(&lines, "readme"), format!("port {port}"));
    let (v6, v6_port) = {
        let listener = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    };
    let lines = run(
        "only-passed",
        &[v6.as_fd()],
        Some("http"),
        &ListenPid::Own,
        &[],
    );
    assert_eq!(line(&lines, "only passed"), format!("port {v6_port}"));
}

/// Without an address the function binds nothing: nothing passed is an
/// error saying so, never a default address.
#[test]
fn a_function_without_an_address_binds_nothing_when_nothing_is_passed() {
    let mut command = child_command("only-passed");
    for name in [
        "LISTEN_PID",
        "LISTEN_FDS",
        "LISTEN_FDNAMES",
        "LISTEN_FDS_FIRST_FD",
    ] {
        command.env_remove(name);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let only = stdout
        .lines()
        .find_map(|line| line.split_once("result only passed "))
        .map_or_else(
            || panic!("no result in {stdout}"),
            |(_, rest)| rest.to_owned(),
        );
    assert_eq!(
        only,
        "error NotFound no socket named \"http\" was passed to this process, and the \
         function gives no address to bind instead (LISTEN_FDS is unset); pass the socket \
         (a socket unit with FileDescriptorName=http), or give the function an address to \
         bind when none is passed"
    );
    // A socket passed under another name is not taken either.
    let (listener, _) = loopback_listener();
    let lines = run(
        "only-passed",
        &[listener.as_fd()],
        Some("web"),
        &ListenPid::Own,
        &[],
    );
    let only = line(&lines, "only passed");
    assert!(
        only.starts_with("error NotFound no socket named \"http\" was passed")
            && only.contains("(fd 3 named \"web\"): inherit = \"http\" names none of them"),
        "{only}"
    );
}

/// `inherit = true` takes the passed socket on its own address and leaves
/// the others to the functions they are for, whatever the order of calls.
#[test]
fn inherit_true_leaves_sockets_on_other_addresses_whatever_the_order_of_calls() {
    let (listener, port) = loopback_listener();
    // A port that no one can bind on the wildcard while this is held, so
    // 127.0.0.2:other is free for the child.
    let holder = TcpListener::bind((Ipv4Addr::new(127, 0, 0, 3), 0)).unwrap();
    let other = holder.local_addr().unwrap().port();
    for order in ["ab", "ba"] {
        let lines = run(
            "order",
            &[listener.as_fd()],
            None,
            &ListenPid::Own,
            &[
                ("EXPECTED_PORT", port.to_string()),
                ("OTHER_PORT", other.to_string()),
                ("ORDER", order.to_owned()),
            ],
        );
        // Before, in the order "ba": `b error InvalidInput the socket passed
        // as fd 3 (LISTEN_FDS) is bound to 127.0.0.1:PORT, another port`.
        assert_eq!(line(&lines, "a"), format!("port {port}"), "{order}");
        assert_eq!(line(&lines, "b"), format!("port {other}"), "{order}");
    }
}

/// On the function's port, so selected, and on another host: refused.
#[test]
fn an_ipv6_listener_on_the_port_of_an_ipv4_function_is_refused() {
    let listener = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let lines = run_on_port("host", listener.as_fd(), port);
    assert_eq!(
        line(&lines, "any host"),
        format!(
            "error InvalidInput the socket passed as fd 3 (LISTEN_FDS) is bound to \
             [::1]:{port}, and the function binds 0.0.0.0; expected a listening TCP socket \
             on 0.0.0.0:{port}"
        )
    );
}

/// A descriptor that is already close-on-exec was taken by something else
/// in this process (libsystemd's `sd_listen_fds(0)` marks it so): a second
/// owner would close it twice.
#[test]
fn a_descriptor_already_taken_in_the_process_is_left_alone() {
    let (listener, port) = loopback_listener();
    let lines = run_on_port("cloexec", listener.as_fd(), port);
    // Before: `first port PORT` — fd 3 owned twice.
    let first = line(&lines, "first");
    assert!(
        first.starts_with(&format!("error AddrInUse cannot bind 127.0.0.1:{port}"))
            && first.contains(
                "a descriptor was passed to this process and left alone (fd 3, unnamed is \
                 close-on-exec, so something else in this process already took it"
            ),
        "{first}"
    );
    assert_eq!(line(&lines, "fd3"), "open");
}

/// systemd's `OpenFile=` passes files the same way: only sockets are
/// wrapped.
#[test]
fn a_passed_file_is_not_a_socket_and_is_left_open() {
    let file = fs::File::open("/dev/null").unwrap();
    let lines = run("file", &[file.as_fd()], Some("http"), &ListenPid::Own, &[]);
    // Before: `http error InvalidInput the socket passed as fd 3
    // (LISTEN_FDNAMES "http") is a descriptor that cannot be used`.
    assert!(line(&lines, "http").starts_with("port "), "{lines:?}");
    let only = line(&lines, "only passed");
    assert!(
        only.starts_with("error NotFound no socket named \"http\" was passed")
            && only.contains("fd 3 named \"http\" is not a socket"),
        "{only}"
    );
    assert_eq!(line(&lines, "fd3"), "open");
}

/// A passed IPv6-only socket does not fit a function that binds dual
/// stack by default: IPv4 clients would be refused.
#[test]
fn a_passed_ipv6_only_socket_does_not_fit_a_dual_stack_function() {
    for only_v6 in [true, false] {
        let socket = Socket::new(Domain::IPV6, Type::STREAM, None).unwrap();
        socket.set_only_v6(only_v6).unwrap();
        socket
            .bind(&std::net::SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)).into())
            .unwrap();
        socket.listen(16).unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        let lines = run_on_port("dual-stack", socket.as_fd(), port);
        let dual = line(&lines, "dual");
        if only_v6 {
            // Before: `port PORT`.
            assert!(
                dual.contains("with IPV6_V6ONLY=1, and the function binds dual-stack"),
                "{dual}"
            );
        } else {
            assert_eq!(dual, format!("port {port}"));
        }
    }
}

/// A backlog below 1 is refused for a passed socket too, not applied to it.
#[test]
fn a_backlog_below_one_is_refused_for_a_passed_socket_too() {
    let (listener, _) = loopback_listener();
    let lines = run(
        "backlog-zero",
        &[listener.as_fd()],
        Some("http"),
        &ListenPid::Own,
        &[],
    );
    // Before: `zero port PORT`, the passed listener set to listen(0).
    assert_eq!(
        line(&lines, "zero"),
        "error InvalidInput cannot listen on a passed socket: backlog must be at least 1, got 0"
    );
}

/// A passed Unix-domain listener's queue, as systemfd makes it (1), is
/// raised to the default; the OS tells its length through `sock_diag`.
#[test]
fn a_passed_unix_listener_s_short_backlog_is_raised() {
    let dir = env::temp_dir().join(format!("restartable-unix-backlog-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.sock");
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
    socket
        .bind(&restartable::socket2::SockAddr::unix(&path).unwrap())
        .unwrap();
    socket.listen(1).unwrap();
    let lines = run(
        "unix-backlog",
        &[socket.as_fd()],
        None,
        &ListenPid::Own,
        &[("SOCKET_PATH", path.display().to_string())],
    );
    assert_eq!(line(&lines, "taken"), "ok");
    // Before: 1, the supervisor's.
    assert_eq!(line(&lines, "backlog after"), "1024");
    fs::remove_dir_all(dir).unwrap();
}

/// systemd's `Backlog=4096` stays; systemfd's 1 is raised (below); a
/// `backlog` the function gives is applied either way.
#[test]
fn a_passed_listener_s_backlog_is_never_lowered_unless_given() {
    for (given, expected) in [(false, "4096"), (true, "64")] {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket
            .bind(&std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .unwrap();
        socket.listen(4096).unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        let mut env = vec![("EXPECTED_PORT", port.to_string())];
        if given {
            env.push(("BACKLOG", "64".to_owned()));
        }
        let lines = run("backlog", &[socket.as_fd()], None, &ListenPid::Own, &env);
        assert_eq!(line(&lines, "taken"), format!("port {port}"));
        // Before, without `backlog`: 1024.
        assert_eq!(line(&lines, "backlog after"), expected);
    }
}

#[test]
fn malformed_variables_are_invalid_input_naming_the_variable_and_stay_set() {
    let (listener, _) = loopback_listener();
    let cases: [(&str, &str, &str); 3] = [
        ("LISTEN_FDS", "two", "environment variable LISTEN_FDS=\"two\" is not a number of passed sockets"),
        ("LISTEN_PID", "me", "environment variable LISTEN_PID=\"me\" is not a process id"),
        ("LISTEN_FDNAMES", "a:b", "environment variable LISTEN_FDNAMES=\"a:b\" has 2 names, but LISTEN_FDS=1 passes 1 sockets"),
    ];
    for (name, value, message) in cases {
        let pid = if name == "LISTEN_PID" {
            ListenPid::Value(value.into())
        } else {
            ListenPid::Own
        };
        let names = (name == "LISTEN_FDNAMES").then_some(value);
        let mut extra = Vec::new();
        if name == "LISTEN_FDS" {
            extra.push((name, value.to_owned()));
        }
        let lines = run("errors", &[listener.as_fd()], names, &pid, &extra);
        let next = line(&lines, "next");
        assert!(
            next.starts_with(&format!("error InvalidInput {message}")),
            "{next}"
        );
        let fds = line(&lines, "fds before");
        let (before, after) = fds.split_once(" after ").unwrap();
        assert_eq!(before, after);
        assert!(line(&lines, "variables").contains(&format!("{name}={value}")));
    }
}

#[test]
fn a_passed_descriptor_that_is_not_open_is_an_error_naming_it() {
    // LISTEN_FDS says one socket, but nothing is at fd 3.
    let lines = run(
        "errors",
        &[],
        None,
        &ListenPid::Own,
        &[("LISTEN_FDS", "1".into())],
    );
    let next = line(&lines, "next");
    assert!(
        next.starts_with("error InvalidInput fd 3 is not open, but LISTEN_FDS=1 says"),
        "{next}"
    );
    assert_eq!(line(&lines, "fd3"), "closed");
}

#[test]
fn listen_fds_first_fd_is_honoured_and_the_descriptors_below_are_left_alone() {
    let (listener, port) = loopback_listener();
    // The child serves one queued connection.
    let _client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    // As systemfd places the socket when fd 3 is open already: at fd 4, with
    // LISTEN_FDS_FIRST_FD=4; fd 3 is /dev/null, the program's own.
    let mut passing = Passing::from_fd(
        &child_command("take"),
        &[listener.as_fd()],
        None,
        &ListenPid::Own,
        4,
    )
    .unwrap();
    passing.command().env("EXPECTED_PORT", port.to_string());
    let stdout = passing.stdout().unwrap();
    let lines: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.find("result ").map(|at| line[at + 7..].to_owned()))
        .collect();
    println!("{lines:?}");
    assert_eq!(line(&lines, "first"), format!("port {port}"));
    // fd 3 is still inheritable: it was not marked close-on-exec.
    assert_eq!(line(&lines, "grandchild after"), "fd3=open LISTEN_FDS=1");
}

#[test]
fn inherit_true_takes_the_first_socket_that_fits_not_the_first_passed() {
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let (tcp, tcp_port) = loopback_listener();
    // fd 3 is the UDP socket, fd 4 the listener; neither is named.
    let lines = run(
        "fit",
        &[udp.as_fd(), tcp.as_fd()],
        None,
        &ListenPid::Own,
        &[
            ("TCP_PORT", tcp_port.to_string()),
            ("UDP_PORT", udp_port.to_string()),
        ],
    );
    assert_eq!(line(&lines, "tcp"), format!("port {tcp_port}"));
    assert_eq!(line(&lines, "udp"), format!("port {udp_port}"));
}

#[test]
fn a_socket_on_the_function_s_port_and_another_host_is_refused() {
    let (listener, port) = loopback_listener();
    let lines = run_on_port("host", listener.as_fd(), port);
    assert_eq!(
        line(&lines, "any host"),
        format!(
            "error InvalidInput the socket passed as fd 3 (LISTEN_FDS) is bound to \
             127.0.0.1:{port}, and the function binds 0.0.0.0; expected a listening TCP socket \
             on 0.0.0.0:{port}"
        )
    );
}

#[test]
fn a_name_that_matches_nothing_says_what_was_passed_and_how_to_take_it() {
    let (listener, port) = loopback_listener();
    // No LISTEN_FDNAMES, as systemfd passes sockets: `inherit = "http"`
    // finds nothing, binds, and the port is held by the passed socket.
    let lines = run_on_port("unnamed", listener.as_fd(), port);
    let http = line(&lines, "http");
    assert!(
        http.starts_with(&format!("error AddrInUse cannot bind 127.0.0.1:{port}")),
        "{http}"
    );
    assert!(
        http.contains(
            "a socket was passed to this process and not taken (fd 3, unnamed): inherit = \"http\" \
             takes a named socket, and the supervisor named none (LISTEN_FDNAMES is unset, as \
             systemfd leaves it); use inherit = true"
        ),
        "{http}"
    );
    // With names, the message lists them.
    let lines = run(
        "unnamed",
        &[listener.as_fd()],
        Some("web"),
        &ListenPid::Own,
        &[("EXPECTED_PORT", port.to_string())],
    );
    assert!(
        line(&lines, "http").contains(
            "(fd 3 named \"web\"): inherit = \"http\" names none of them; use one of their names, \
             or inherit = true"
        ),
        "{lines:?}"
    );
}

#[test]
fn a_passed_socket_left_nonblocking_by_the_supervisor_is_made_blocking() {
    let (listener, port) = loopback_listener();
    // O_NONBLOCK is on the file description the supervisor shares.
    listener.set_nonblocking(true).unwrap();
    let lines = run_on_port("blocking", listener.as_fd(), port);
    // Without the fix: `accept error WouldBlock` at once.
    let accept = line(&lines, "accept");
    assert!(
        accept.starts_with("waited") && accept != "waited 0 ms",
        "{accept}"
    );
}

#[test]
fn a_passed_udp_socket_with_so_reuseaddr_is_not_shared_once_taken() {
    // As `systemd-socket-activate --datagram` makes it.
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket
        .bind(&std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    let lines = run_on_port("udp-reuse", socket.as_fd(), port);
    // Control: as passed, another socket with SO_REUSEADDR shares the port.
    assert_eq!(line(&lines, "second before"), "bound");
    assert_eq!(line(&lines, "SO_REUSEADDR"), "0");
    assert_eq!(line(&lines, "second after"), "AddrInUse");
}

#[test]
fn a_passed_listener_with_so_reuseport_is_refused_unless_reuse_port_and_gets_the_backlog() {
    // As systemfd makes it: SO_REUSEADDR, SO_REUSEPORT, backlog 1.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket.set_reuse_port(true).unwrap();
    socket
        .bind(&std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    socket.listen(1).unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    let lines = run_on_port("reuse-port", socket.as_fd(), port);
    let plain = line(&lines, "plain");
    assert!(
        plain.starts_with("error InvalidInput the socket passed as fd 3 (LISTEN_FDS) is a socket")
            && plain.contains("with SO_REUSEPORT set (systemfd sets it)")
            && plain.contains("ask for reuse_port = true"),
        "{plain}"
    );
    assert_eq!(line(&lines, "shared"), format!("port {port}"));
    // `ss` shows the backlog of a listener as its Send-Q.
    assert_eq!(line(&lines, "backlog before"), "1");
    assert_eq!(line(&lines, "backlog after"), "1024");
}

/// A supervisor program on `PATH`, or why the test checks nothing.
fn supervisor(program: &str) -> Option<std::path::PathBuf> {
    let found = env::var_os("PATH").and_then(|path| {
        env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        // .ci/run sets it: there every tool is required.
        assert!(
            env::var_os("RESTARTABLE_REQUIRE_ALL").is_none(),
            "RESTARTABLE_REQUIRE_ALL is set, and {program} is not on PATH"
        );
        println!("skipped: {program} is not on PATH (scripts/test.sh installs it)");
    }
    found
}

/// Runs `scenario` in a child started by a real supervisor: `tool` with
/// `args`, then `--` and this test binary. The scenario's variables go in
/// with `-E` for systemd-socket-activate (it passes only a few variables
/// on), through the environment for systemfd. `trigger` runs once the
/// supervisor is started (systemd-socket-activate starts the child at the
/// first connection or datagram). The child is killed after 20 s.
fn run_under(
    tool: &std::path::Path,
    args: &[String],
    scenario: &str,
    vars: &[(&str, String)],
    trigger: impl FnOnce(),
) -> Vec<String> {
    let mut command = Command::new(tool);
    command.args(args);
    let mut all = vec![(SCENARIO, scenario.to_owned())];
    all.extend(vars.iter().map(|(name, value)| (*name, value.clone())));
    if tool.ends_with("systemd-socket-activate") {
        for (name, value) in &all {
            command.arg("-E").arg(format!("{name}={value}"));
        }
    } else {
        command.envs(all.iter().map(|(name, value)| (name, value)));
    }
    command
        .arg("--")
        .arg(env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let child = command.spawn().unwrap();
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(20));
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    });
    trigger();
    let output = child.wait_with_output().unwrap();
    drop(watchdog);
    let lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.find("result ").map(|at| line[at + 7..].to_owned()))
        .collect();
    println!(
        "{scenario} under {}:\n  {}",
        tool.display(),
        lines.join("\n  ")
    );
    lines
}

/// Waits until something holds `port` (TCP or UDP), for at most 10 s.
fn wait_until_held(port: u16, datagram: bool) {
    for _ in 0..1000 {
        let held = if datagram {
            UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_err()
        } else {
            TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err()
        };
        if held {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("nothing bound port {port}");
}

#[test]
fn systemd_socket_activate_a_listener_is_taken_by_listen_pid_and_serves() {
    let Some(tool) = supervisor("systemd-socket-activate") else {
        return;
    };
    let port = crash::fresh_port().unwrap();
    let served = std::sync::Mutex::new(Vec::new());
    let lines = run_under(
        &tool,
        &["-l".into(), format!("127.0.0.1:{port}")],
        "take",
        &[("EXPECTED_PORT", port.to_string())],
        || {
            wait_until_held(port, false);
            // This connection starts the server, which accepts it on the
            // passed socket.
            let mut client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
            let mut byte = [0];
            client.read_exact(&mut byte).unwrap();
            served.lock().unwrap().push(byte[0]);
        },
    );
    assert_eq!(served.into_inner().unwrap(), b"x");
    // The tool execs the server under its own pid and sets LISTEN_PID to it.
    assert_eq!(line(&lines, "first"), format!("port {port}"));
    assert!(
        line(&lines, "grandchild takes").contains("(LISTEN_PID), not to this one"),
        "{lines:?}"
    );
}

#[test]
fn systemd_socket_activate_a_unix_socket_is_taken_at_its_path_and_serves() {
    let Some(tool) = supervisor("systemd-socket-activate") else {
        return;
    };
    let dir = env::temp_dir().join(format!("restartable-activate-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.sock");
    let served = std::sync::Mutex::new(Vec::new());
    let lines = run_under(
        &tool,
        &["-l".into(), path.display().to_string()],
        "unix",
        &[("SOCKET_PATH", path.display().to_string())],
        || {
            for _ in 0..1000 {
                if path.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            // This connection starts the server, which accepts it on the
            // passed socket.
            let mut client = UnixStream::connect(&path).unwrap();
            let mut byte = [0];
            client.read_exact(&mut byte).unwrap();
            served.lock().unwrap().push(byte[0]);
        },
    );
    assert_eq!(served.into_inner().unwrap(), b"x");
    assert_eq!(
        line(&lines, "other path"),
        format!("bound {}", path.with_extension("other").display())
    );
    assert_eq!(line(&lines, "path"), path.display().to_string());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn systemd_socket_activate_named_sockets_are_taken_by_name_in_either_order() {
    let Some(tool) = supervisor("systemd-socket-activate") else {
        return;
    };
    let (web, admin) = (crash::fresh_port().unwrap(), crash::fresh_port().unwrap());
    let args = [
        "-l".into(),
        format!("127.0.0.1:{web}"),
        "-l".into(),
        format!("127.0.0.1:{admin}"),
        "--fdname=web:admin".into(),
    ];
    let vars = [
        ("WEB_PORT", web.to_string()),
        ("ADMIN_PORT", admin.to_string()),
    ];
    let lines = run_under(&tool, &args, "web-admin", &vars, || {
        wait_until_held(web, false);
        drop(TcpStream::connect((Ipv4Addr::LOCALHOST, web)));
    });
    assert_eq!(line(&lines, "admin"), format!("port {admin}"));
    assert_eq!(line(&lines, "web"), format!("port {web}"));
}

#[test]
fn systemd_socket_activate_datagram_socket_loses_so_reuseaddr_and_is_no_tcp_listener() {
    let Some(tool) = supervisor("systemd-socket-activate") else {
        return;
    };
    // The first datagram starts the server.
    let activated = |scenario: &str| {
        let port = crash::fresh_port().unwrap();
        let args = [
            "-l".into(),
            format!("127.0.0.1:{port}"),
            "--datagram".into(),
        ];
        let vars = [("EXPECTED_PORT", port.to_string())];
        run_under(&tool, &args, scenario, &vars, || {
            wait_until_held(port, true);
            let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            client
                .send_to(b"wake", (Ipv4Addr::LOCALHOST, port))
                .unwrap();
        })
    };
    let lines = activated("udp-reuse");
    // Control: as the tool passes it, another socket with SO_REUSEADDR
    // binds the same port (and would get the datagrams).
    assert_eq!(line(&lines, "second before"), "bound");
    assert_eq!(line(&lines, "SO_REUSEADDR"), "0");
    assert_eq!(line(&lines, "second after"), "AddrInUse");

    let lines = activated("take");
    assert!(
        line(&lines, "first").starts_with(
            "error InvalidInput the socket passed as fd 3 (LISTEN_FDS) is a datagram (UDP) \
             socket; expected a listening TCP socket on 127.0.0.1:"
        ),
        "{lines:?}"
    );
}

#[test]
fn systemfd_started_with_fd_3_open_passes_the_socket_as_fd_4_and_it_is_taken_there() {
    let Some(tool) = supervisor("systemfd") else {
        return;
    };
    let port = crash::fresh_port().unwrap();
    // systemfd's parent has fd 3 open (not close-on-exec): systemfd keeps
    // it, places the socket at fd 4 and says so in LISTEN_FDS_FIRST_FD.
    let args = [
        "-c".into(),
        "exec 3</dev/null; exec \"$@\"".into(),
        "bash".into(),
        tool.display().to_string(),
        "-s".into(),
        format!("http::{port}"),
    ];
    let bash = std::path::Path::new("/bin/bash");
    let lines = run_under(
        bash,
        &args,
        "first-fd",
        &[("EXPECTED_PORT", port.to_string())],
        || {},
    );
    assert_eq!(line(&lines, "first fd"), "4");
    assert_eq!(line(&lines, "shared"), format!("port {port}"));
    // fd 3, the program's own, is left as it was: still inheritable.
    assert_eq!(line(&lines, "grandchild after"), "fd3=open LISTEN_FDS=1");
}

#[test]
fn systemfd_sockets_are_refused_for_so_reuseport_and_without_pid_need_the_opt_in() {
    let Some(tool) = supervisor("systemfd") else {
        return;
    };
    // systemfd sets LISTEN_PID to the program it starts (here this binary),
    // SO_REUSEADDR and SO_REUSEPORT, and a backlog of 1.
    let port = crash::fresh_port().unwrap();
    let lines = run_under(
        &tool,
        &["-s".into(), format!("http::{port}")],
        "reuse-port",
        &[("EXPECTED_PORT", port.to_string())],
        || {},
    );
    assert!(
        line(&lines, "plain").contains("with SO_REUSEPORT set (systemfd sets it)"),
        "{lines:?}"
    );
    assert_eq!(line(&lines, "shared"), format!("port {port}"));
    assert_eq!(line(&lines, "backlog before"), "1");
    assert_eq!(line(&lines, "backlog after"), "1024");

    // --no-pid: LISTEN_PID unset; left alone without the opt-in.
    let port = crash::fresh_port().unwrap();
    let args = ["--no-pid".into(), "-s".into(), format!("http::{port}")];
    let vars = [("EXPECTED_PORT", port.to_string())];
    let lines = run_under(&tool, &args, "unset", &vars, || {});
    assert!(
        line(&lines, "first").contains("LISTEN_FDS=1 passes sockets with LISTEN_PID unset"),
        "{lines:?}"
    );
    let lines = run_under(&tool, &args, "take-unset", &vars, || {});
    assert_eq!(line(&lines, "accepted"), "Ok(1)");
    assert!(
        line(&lines, "first").contains("with SO_REUSEPORT set (systemfd sets it)"),
        "{lines:?}"
    );
}

/// The server of the kill-and-restart: `crash::serve` with its listener.
#[test]
fn server() {
    if let Ok(spec) = env::var(SERVER) {
        let (listener, port) = spec.split_once(' ').unwrap();
        crash::serve(listener.parse().unwrap(), port.parse().unwrap());
    }
}

fn server_command(listener: Listener, port: u16) -> Command {
    let mut command = Command::new(env::current_exe().unwrap());
    command
        .args(["--exact", "server", "--nocapture", "--test-threads=1"])
        .env(SERVER, format!("{listener} {port}"));
    command
}

#[test]
fn a_kill_and_restart_refuses_no_connection_with_handoff_and_some_without() {
    let handoff = handoff::kill_and_restart(
        Mode::Handoff,
        crash::fresh_port().unwrap(),
        4,
        &server_command,
    )
    .unwrap();
    let rebind = handoff::kill_and_restart(
        Mode::Rebind,
        crash::fresh_port().unwrap(),
        4,
        &server_command,
    )
    .unwrap();
    println!("handoff {handoff:?}\nrebind {rebind:?}");
    // Control: rebinding leaves a moment without a listener.
    assert!(
        rebind.probe_refused,
        "the connect between kill and restart was not refused: {rebind:?}"
    );
    assert!(rebind.refused > 0);
    assert!(!handoff.probe_refused);
    assert_eq!(handoff.refused, 0, "{handoff:?}");
    assert!(handoff.served > 0);
}
