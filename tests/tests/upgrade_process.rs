//! The upgrade in a program with other libraries: a child process that is
//! never signalled once reaped (SIGCHLD ignored by another library too), one
//! setup per process, nothing but the passed sockets inheritable in the new
//! process, a new process that starts with every signal at its default,
//! a service manager's socket that is gone, and a signal handler replaced
//! behind the crate's back.
#![cfg(target_os = "linux")]

mod upgrade_server;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use restartable::upgrade::request;
use upgrade_server::{field, free_port, gone, run_role, serve_if_asked, Scratch, Server};

fn write_script(program: &Path, script: &str) {
    let _ = std::fs::remove_file(program);
    std::fs::write(program, script).unwrap();
    std::fs::set_permissions(program, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The system calls that signal or reap a process, of process `pid` and
/// its threads and children, while `during` runs: strace's lines.
fn traced(pid: u32, during: impl FnOnce()) -> Vec<String> {
    traced_calls(pid, "kill,tgkill,pidfd_send_signal,wait4,waitid", during)
}

/// Whether strace is there to watch the system calls; when it is not, the
/// test says why it checks nothing (or fails, where everything is
/// required).
fn strace_runs() -> bool {
    let runs = Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !runs {
        restartable_tests::skip("strace is not installed (scripts/test.sh installs it)");
    }
    runs
}

/// The system calls `calls` of process `pid` and its threads and children,
/// while `during` runs: strace's lines.
fn traced_calls(pid: u32, calls: &str, during: impl FnOnce()) -> Vec<String> {
    let out = std::env::temp_dir().join(format!("restartable-strace-{pid}"));
    let mut strace = Command::new("strace")
        .args(["-f", "-qq", "-e", &format!("trace={calls}")])
        .arg("-o")
        .arg(&out)
        .args(["-p", &pid.to_string()])
        .stderr(Stdio::null())
        .spawn()
        .expect("strace runs (apt-get install strace)");
    // Attached once every thread of the process is traced.
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        if status
            .lines()
            .any(|l| l.starts_with("TracerPid:") && l.split_whitespace().nth(1) != Some("0"))
        {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    thread::sleep(Duration::from_millis(200));
    during();
    thread::sleep(Duration::from_millis(300));
    let _ = Command::new("kill")
        .args(["-INT", &strace.id().to_string()])
        .status();
    let _ = strace.wait();
    let lines = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    lines.lines().map(str::to_owned).collect()
}

/// The new process's pid an upgrade error names: `(pid N)`.
fn pid_in(message: &str) -> u32 {
    message
        .split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {message:?}"))
}

/// Checks that no signal went to `child` or its group after a line shows it
/// reaped (by this process, or by the kernel: ECHILD).
fn never_signalled_once_reaped(lines: &[String], child: u32) {
    let reaped = lines.iter().position(|line| {
        (line.contains(&format!("wait4({child},"))
            || line.contains(&format!("waitid(P_PID, {child},")))
            && !line.contains("WNOWAIT")
            && (line.ends_with(&format!("= {child}")) || line.contains("ECHILD"))
            || line.contains(&format!("waitid(P_PID, {child},")) && line.contains("ECHILD")
    });
    let reaped = reaped.unwrap_or_else(|| panic!("{child} never reaped:\n{}", lines.join("\n")));
    let signals = [
        format!("kill({child},"),
        format!("kill(-{child},"),
        format!("tgkill({child},"),
    ];
    for line in &lines[reaped..] {
        assert!(
            !signals.iter().any(|s| line.contains(s.as_str())),
            "signalled after it was reaped: {line}\n{}",
            lines.join("\n")
        );
    }
}

/// A new process that exits at once: its group is killed while it is
/// still unreaped (a zombie keeps its number), then it is reaped, and
/// nothing is sent to its number after that.
#[test]
fn a_reaped_child_is_never_signalled() {
    if serve_if_asked() || !strace_runs() {
        return;
    }
    let test = "a_reaped_child_is_never_signalled";
    let scratch = Scratch::named(test);
    let program = &scratch.0;
    write_script(program, "#!/bin/sh\nexit 3\n");
    let server = Server::start(test, &[("UT_PROGRAM", program.display().to_string())]);
    let mut error = None;
    let lines = traced(server.pid(), || {
        error = Some(request(server.pid()).unwrap_err());
    });
    let error = error.unwrap().to_string();
    assert!(error.contains("exited with status 3"), "{error}");
    never_signalled_once_reaped(&lines, pid_in(&error));
}

/// Between fork and exec the child runs none of the old program's signal
/// handlers: every signal stays blocked in it until it has set every
/// handler back to the default (as strace shows: no change of its signal
/// mask before its last `rt_sigaction`).
#[test]
fn the_child_keeps_signals_blocked_until_its_handlers_are_reset() {
    if serve_if_asked() || !strace_runs() {
        return;
    }
    let server = Server::start(
        "the_child_keeps_signals_blocked_until_its_handlers_are_reset",
        &[],
    );
    let mut upgraded = None;
    let lines = traced_calls(server.pid(), "rt_sigprocmask,rt_sigaction,execve", || {
        upgraded = Some(request(server.pid()).unwrap());
    });
    let child = upgraded.unwrap().pid.to_string();
    // The child's calls before its exec.
    let before_exec: Vec<&String> = lines
        .iter()
        .filter(|line| line.split_whitespace().next() == Some(child.as_str()))
        .take_while(|line| !line.contains("execve("))
        .collect();
    let last_reset = before_exec
        .iter()
        .rposition(|line| line.contains("rt_sigaction("))
        .unwrap_or_else(|| panic!("the child reset no handler:\n{}", lines.join("\n")));
    let first_mask = before_exec
        .iter()
        .position(|line| line.contains("rt_sigprocmask("))
        .unwrap_or_else(|| panic!("the child never unblocked signals:\n{}", lines.join("\n")));
    assert!(
        first_mask > last_reset,
        "the child changed its signal mask before it reset the handlers:\n{}",
        before_exec
            .iter()
            .map(|line| line.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Signals that come while an upgrade is under way are refused, as a
/// request then is: three SIGHUPs during a slow upgrade start one upgrade,
/// not three in a row.
#[test]
fn signals_during_an_upgrade_are_refused_not_queued() {
    if serve_if_asked() {
        return;
    }
    let test = "signals_during_an_upgrade_are_refused_not_queued";
    let scratch = Scratch::named(test);
    let program = &scratch.0;
    write_script(program, "#!/bin/sh\nexec sleep 60\n");
    let server = Server::start(
        test,
        &[
            ("UT_PROGRAM", program.display().to_string()),
            ("UT_READY_TIMEOUT_MS", "1000".to_owned()),
            ("UT_LOG", "1".to_owned()),
        ],
    );
    for _ in 0..3 {
        #[allow(unsafe_code)]
        // SAFETY: sends a signal to the server.
        let sent = unsafe { libc::kill(i32::try_from(server.pid()).unwrap(), libc::SIGHUP) };
        assert_eq!(sent, 0);
        thread::sleep(Duration::from_millis(50));
    }
    let lines = server.lines_for(Duration::from_secs(4));
    let attempts = lines
        .iter()
        .filter(|line| line.starts_with("log INFO upgrade: starting a new process"))
        .count();
    assert_eq!(attempts, 1, "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|line| line.contains("more SIGHUP came during the upgrade; refused")),
        "{lines:?}"
    );
    assert_eq!(server.serving_pid(), Some(server.pid()));
}

/// With SIGCHLD ignored (as another library may set it), the kernel reaps
/// the new process as it ends: nothing is sent to its number then. And a
/// good new process starts with SIGCHLD at its default, not ignored.
#[test]
fn with_sigchld_ignored_a_child_the_kernel_reaped_is_never_signalled() {
    if serve_if_asked() || !strace_runs() {
        return;
    }
    let test = "with_sigchld_ignored_a_child_the_kernel_reaped_is_never_signalled";
    let scratch = Scratch::named(test);
    let program = &scratch.0;
    write_script(program, "#!/bin/sh\nexit 3\n");
    let server = Server::start(
        test,
        &[
            ("UT_PROGRAM", program.display().to_string()),
            ("UT_IGNORE_SIGCHLD", "1".to_owned()),
        ],
    );
    let mut error = None;
    let lines = traced(server.pid(), || {
        error = Some(request(server.pid()).unwrap_err());
    });
    let error = error.unwrap().to_string();
    assert!(
        error.contains("its exit status was collected by another part of this program"),
        "{error}"
    );
    never_signalled_once_reaped(&lines, pid_in(&error));
    // A good program: the new process's ignored signals, read at its start.
    let _ = std::fs::remove_file(program);
    std::os::unix::fs::symlink(std::env::current_exe().unwrap(), program).unwrap();
    let upgraded = request(server.pid()).unwrap();
    let started = server.line(&format!("started pid={}", upgraded.pid));
    let ignored = started.rsplit("ignored=").next().unwrap();
    let mask = u64::from_str_radix(ignored, 16).unwrap();
    assert_eq!(mask & (1 << (libc::SIGCHLD - 1)), 0, "{started}");
}

/// One setup per process: a second `ready` is an error that says why, and
/// one signal starts one upgrade.
#[test]
fn a_second_setup_in_the_process_is_refused() {
    if serve_if_asked() {
        return;
    }
    let server = Server::start(
        "a_second_setup_in_the_process_is_refused",
        &[("UT_TWICE", "1".to_owned())],
    );
    let second = server
        .said("second setup")
        .expect("the second setup said nothing");
    assert!(
        second.starts_with(
            "second setup error AlreadyExists upgrades are set up in this process already"
        ),
        "{second}"
    );
    let sent = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let first = server.line("serving pid=");
    assert_eq!(field(&first, "generation"), Some(1), "{first}");
    // No second new process.
    assert!(server
        .line_within("serving pid=", Duration::from_secs(2))
        .is_none());
}

/// Another copy of this crate in the process (another major version, say)
/// that set up upgrades: its request socket is found among the process's
/// descriptors, and `ready` refuses to set up a second.
#[test]
fn a_setup_of_another_copy_of_the_crate_is_found() {
    if serve_if_asked() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("restartable-copy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = run_role(
        &[],
        "a_setup_of_another_copy_of_the_crate_is_found",
        "server",
        &[
            ("UT_OTHER_COPY", "1".to_owned()),
            ("UT_PORT", free_port().to_string()),
            ("UT_PATH", dir.join("s.sock").display().to_string()),
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.contains(
            "error AlreadyExists upgrades are set up in this process already, by another copy \
             of restartable (its request socket is @restartable/upgrade/"
        ),
        "{output}"
    );
}

/// The new process is started through a wrapper script that leaves a job
/// in the background before it execs the program: the job inherits the
/// listeners (as any program started with them would) but not the lock of
/// the Unix path, which the new process received over the channel.
#[test]
fn a_wrapper_s_background_job_does_not_keep_the_path_s_lock() {
    if serve_if_asked() {
        return;
    }
    let test = "a_wrapper_s_background_job_does_not_keep_the_path_s_lock";
    let scratch = Scratch::named(test);
    let program = &scratch.0;
    write_script(
        program,
        &format!(
            "#!/bin/sh\nsleep 60 >/dev/null 2>&1 &\nexec {} \"$@\"\n",
            std::env::current_exe().unwrap().display()
        ),
    );
    let server = Server::start(test, &[("UT_PROGRAM", program.display().to_string())]);
    let upgraded = request(server.pid()).unwrap();
    assert!(gone(server.pid(), Duration::from_secs(20)));
    let lock = std::fs::File::open(server.dir.join("s.sock.lock")).unwrap();
    assert!(!try_lock(&lock), "the new process does not hold the lock");
    // The new process crashes; its background job lives on.
    let killed = Command::new("kill")
        .args(["-9", &upgraded.pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(gone(upgraded.pid, Duration::from_secs(10)));
    assert!(
        try_lock(&lock),
        "the lock is held after the new process died: its background job kept it"
    );
}

/// Whether `file`'s advisory lock can be had (it is released at once).
#[allow(unsafe_code)]
fn try_lock(file: &std::fs::File) -> bool {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a descriptor `file` owns.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 };
    if locked {
        // SAFETY: as above.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
    }
    locked
}

/// `$NOTIFY_SOCKET` naming a socket that is gone (a stale path), or a vsock
/// address with nobody at the other end: the service starts and serves,
/// and says that the message could not be sent, as `sd_notify(3)` advises.
#[test]
fn a_service_manager_socket_that_is_gone_does_not_stop_the_service() {
    if serve_if_asked() {
        return;
    }
    let test = "a_service_manager_socket_that_is_gone_does_not_stop_the_service";
    for notify in ["/run/restartable-test-gone/notify", "vsock:2:9"] {
        let server = Server::start(
            test,
            &[
                ("NOTIFY_SOCKET", notify.to_owned()),
                ("UT_LOG", "1".to_owned()),
            ],
        );
        let said = server
            .said("log WARN cannot send \"READY=1\"")
            .unwrap_or_else(|| panic!("{notify}: nothing said"));
        assert!(said.ends_with("; the service runs on"), "{said}");
        assert_eq!(server.serving_pid(), Some(server.pid()), "{notify}");
    }
}

/// A library that installs its own SIGHUP handler with plain `signal(2)`
/// after `ready` turns upgrades by signal off: that is said, within 2 s.
#[test]
fn a_signal_handler_replaced_later_is_said() {
    if serve_if_asked() {
        return;
    }
    let server = Server::start(
        "a_signal_handler_replaced_later_is_said",
        &[
            ("UT_REPLACE_HANDLER", "1".to_owned()),
            ("UT_LOG", "1".to_owned()),
        ],
    );
    let said = server.line_within(
        "log ERROR upgrade: SIGHUP no longer reaches restartable",
        Duration::from_secs(6),
    );
    assert!(said.is_some(), "the replaced handler was not noticed");
}
