//! `inherit` under the real supervisors: systemd-socket-activate (TCP, a
//! Unix-domain socket, named sockets, a datagram socket) and systemfd (a
//! socket at fd 4 behind an open fd 3, SO_REUSEPORT, `--no-pid`). Each test
//! runs itself again in a copy of this test binary that the supervisor
//! starts with the sockets it made (`handoff/mod.rs`); without the tool on
//! `PATH` it says so and checks nothing, unless `RESTARTABLE_REQUIRE_ALL` is
//! set (.ci/run), where that fails.
#![cfg(target_os = "linux")]

mod handoff;

use std::env;
use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::process::Command;

use handoff::{line, result_lines, scenario, scenario_command};
use restartable_examples::crash;
use restartable_tests::{in_child, through};

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

/// Runs the test `test` again in a copy started by a real supervisor, to run
/// `scenario`: `tool` with `args`, then `--` and the copy. The copy's
/// variables go in with `-E` for systemd-socket-activate (it passes only a
/// few variables on), through the environment for systemfd. `trigger` runs
/// once the supervisor is started (systemd-socket-activate starts the copy
/// at the first connection or datagram). The copy is killed after 20 s.
fn run_under(
    test: &str,
    tool: &std::path::Path,
    args: &[String],
    scenario: &str,
    vars: &[(&str, String)],
    trigger: impl FnOnce(),
) -> Vec<String> {
    let mut copy = scenario_command(test, scenario);
    copy.envs(vars.iter().map(|(name, value)| (name, value)));
    let mut args = args.to_vec();
    if tool.ends_with("systemd-socket-activate") {
        for (name, value) in copy.get_envs() {
            if let Some(value) = value {
                args.push("-E".into());
                args.push(format!(
                    "{}={}",
                    name.to_string_lossy(),
                    value.to_string_lossy()
                ));
            }
        }
    }
    args.push("--".into());
    let mut command = through(tool, &args, &copy);
    command
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
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines = result_lines(&stdout);
    println!(
        "{scenario} under {}:\n  {}",
        tool.display(),
        lines.join("\n  ")
    );
    assert!(
        stdout.contains("1 passed"),
        "the copy under {} did not pass its test:\n{stdout}",
        tool.display()
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
    if in_child() {
        return scenario();
    }
    let Some(tool) = supervisor("systemd-socket-activate") else {
        return;
    };
    let port = crash::fresh_port().unwrap();
    let served = std::sync::Mutex::new(Vec::new());
    let lines = run_under(
        "systemd_socket_activate_a_listener_is_taken_by_listen_pid_and_serves",
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
    if in_child() {
        return scenario();
    }
    let Some(tool) = supervisor("systemd-socket-activate") else {
        return;
    };
    let dir = env::temp_dir().join(format!("restartable-activate-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.sock");
    let served = std::sync::Mutex::new(Vec::new());
    let lines = run_under(
        "systemd_socket_activate_a_unix_socket_is_taken_at_its_path_and_serves",
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
    if in_child() {
        return scenario();
    }
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
    let lines = run_under(
        "systemd_socket_activate_named_sockets_are_taken_by_name_in_either_order",
        &tool,
        &args,
        "web-admin",
        &vars,
        || {
            wait_until_held(web, false);
            drop(TcpStream::connect((Ipv4Addr::LOCALHOST, web)));
        },
    );
    assert_eq!(line(&lines, "admin"), format!("port {admin}"));
    assert_eq!(line(&lines, "web"), format!("port {web}"));
}

#[test]
fn systemd_socket_activate_datagram_socket_loses_so_reuseaddr_and_is_no_tcp_listener() {
    if in_child() {
        return scenario();
    }
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
        run_under(
            "systemd_socket_activate_datagram_socket_loses_so_reuseaddr_and_is_no_tcp_listener",
            &tool,
            &args,
            scenario,
            &vars,
            || {
                wait_until_held(port, true);
                let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
                client
                    .send_to(b"wake", (Ipv4Addr::LOCALHOST, port))
                    .unwrap();
            },
        )
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
    if in_child() {
        return scenario();
    }
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
        "systemfd_started_with_fd_3_open_passes_the_socket_as_fd_4_and_it_is_taken_there",
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
    if in_child() {
        return scenario();
    }
    let Some(tool) = supervisor("systemfd") else {
        return;
    };
    // systemfd sets LISTEN_PID to the program it starts (here this binary),
    // SO_REUSEADDR and SO_REUSEPORT, and a backlog of 1.
    let port = crash::fresh_port().unwrap();
    let lines = run_under(
        "systemfd_sockets_are_refused_for_so_reuseport_and_without_pid_need_the_opt_in",
        &tool,
        &["-s".into(), format!("http::{port}")],
        "reuse-port",
        &[("EXPECTED_PORT", port.to_string())],
        || {},
    );
    assert!(
        line(&lines, "plain").contains("with SO_REUSEPORT set (systemfd sets it,"),
        "{lines:?}"
    );
    assert_eq!(line(&lines, "shared"), format!("port {port}"));
    assert_eq!(line(&lines, "backlog before"), "1");
    assert_eq!(line(&lines, "backlog after"), "1024");

    // --no-pid: LISTEN_PID unset; left alone without the opt-in.
    let port = crash::fresh_port().unwrap();
    let args = ["--no-pid".into(), "-s".into(), format!("http::{port}")];
    let vars = [("EXPECTED_PORT", port.to_string())];
    let lines = run_under(
        "systemfd_sockets_are_refused_for_so_reuseport_and_without_pid_need_the_opt_in",
        &tool,
        &args,
        "unset",
        &vars,
        || {},
    );
    assert!(
        line(&lines, "first").contains("LISTEN_FDS=1 passes sockets with LISTEN_PID unset"),
        "{lines:?}"
    );
    let lines = run_under(
        "systemfd_sockets_are_refused_for_so_reuseport_and_without_pid_need_the_opt_in",
        &tool,
        &args,
        "take-unset",
        &vars,
        || {},
    );
    assert_eq!(line(&lines, "accepted"), "Ok(1)");
    assert!(
        line(&lines, "first").contains("with SO_REUSEPORT set (systemfd sets it,"),
        "{lines:?}"
    );
}
