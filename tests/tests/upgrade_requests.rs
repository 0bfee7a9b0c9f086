//! Upgrade requests from other processes, as another local user would try
//! them: who may ask (in a user namespace too), a request socket nobody can
//! take first, a flood of refused requests, a service out of descriptors, a
//! request line that never ends, and a service that is stopped. These run
//! other users (`setpriv`) and namespaces (`unshare`, `nsenter`): root only.
#![cfg(target_os = "linux")]

mod upgrade_server;

use std::io::Write;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use restartable::upgrade::request;
use upgrade_server::{
    connect_abstract, field, is_root, run_role, run_role_as, serve_if_asked, start_role_as, Server,
};

/// A user nobody maps, and that owns nothing here.
const STRANGER: u32 = 4321;

/// `nobody`: the overflow uid, as the kernel shows an unmapped user.
const NOBODY: u32 = 65_534;

fn needs_root() -> bool {
    if is_root() {
        return false;
    }
    restartable_tests::skip("other users and namespaces need root");
    true
}

/// The request socket's name of the server's first generation.
fn name_of(server: &Server) -> String {
    Server::request_socket_name(server.pid()).expect("the server listens for requests")
}

/// In a user namespace where the service runs as 65534 (the overflow uid),
/// a host user the namespace cannot map shows as 65534 too: the service
/// must not take it for itself. From inside the namespace, its own user
/// asks.
#[test]
fn an_unmapped_user_shown_as_the_service_s_own_uid_is_refused() {
    if serve_if_asked() || needs_root() {
        return;
    }
    let test = "an_unmapped_user_shown_as_the_service_s_own_uid_is_refused";
    let server = Server::start_wrapped(
        &["unshare", "--user", "--map-user=65534", "--"],
        test,
        &[("UT_LOG", "1".to_owned())],
    );
    let old = server.pid();
    let name = name_of(&server);
    let stranger = run_role_as(STRANGER, test, "connect", &[("UT_NAME", name.clone())]);
    assert!(
        stranger.contains(
            "answer error PermissionDenied this process's user namespace cannot tell your user"
        ),
        "{stranger}"
    );
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        server.serving_pid(),
        Some(old),
        "the stranger's request upgraded it"
    );
    // Control: the service's own user, inside its user namespace, asks.
    let pid = old.to_string();
    let inside = run_role(
        &[
            "nsenter",
            "--user",
            "--target",
            &pid,
            "--preserve-credentials",
            "--",
        ],
        test,
        "connect",
        &[("UT_NAME", name)],
    );
    assert!(
        inside.contains("answer started ready_timeout_ms="),
        "{inside}"
    );
    let serving = server.line("serving pid=");
    assert_eq!(field(&serving, "generation"), Some(1), "{serving}");
}

/// A service that runs as `nobody` on the host (`User=nobody`), asked by
/// `nobody` on the host: the overflow uid is its own user there, and the
/// requester is in its user namespace.
#[test]
fn nobody_asks_a_service_that_runs_as_nobody() {
    if serve_if_asked() || needs_root() {
        return;
    }
    let test = "nobody_asks_a_service_that_runs_as_nobody";
    let server = Server::start_wrapped(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
        ],
        test,
        &[],
    );
    let asked = run_role_as(
        NOBODY,
        test,
        "request",
        &[("UT_PID", server.pid().to_string())],
    );
    assert!(asked.contains("upgraded pid="), "{asked}");
    assert!(asked.contains(" generation=1"), "{asked}");
    // Control: another user asks the process that serves now, and is
    // refused (it cannot even read the process's descriptors to find the
    // socket), and directly at the socket, by who it is.
    let now = field(&asked, "pid").expect("the new pid");
    let refused = run_role_as(STRANGER, test, "request", &[("UT_PID", now.to_string())]);
    assert!(refused.contains("failed PermissionDenied"), "{refused}");
    let name = Server::request_socket_name(now).expect("the new process listens");
    let direct = run_role_as(STRANGER, test, "connect", &[("UT_NAME", name)]);
    assert!(
        direct.contains("answer error PermissionDenied only this process's user or root may ask"),
        "{direct}"
    );
}

/// Another user binds the names the service's request socket would have
/// had if it were predictable (`restartable/upgrade/<pid>` for the next
/// pids), before the service starts, and a name with the right start once
/// it runs: the service still listens, and `request` reaches it.
#[test]
fn another_user_cannot_take_the_request_socket_s_name_first() {
    if serve_if_asked() || needs_root() {
        return;
    }
    let test = "another_user_cannot_take_the_request_socket_s_name_first";
    let read = |path: &str| -> u32 {
        std::fs::read_to_string(path)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let (last, most) = (
        read("/proc/sys/kernel/ns_last_pid"),
        read("/proc/sys/kernel/pid_max"),
    );
    // The next 400 pids, as the kernel hands them out: after pid_max it
    // starts again above 300 (RESERVED_PIDS).
    let next: Vec<u32> = (1..=400)
        .map(|i| {
            let pid = last + i;
            if pid < most {
                pid
            } else {
                pid - most + 301
            }
        })
        .collect();
    let names: Vec<String> = next
        .iter()
        .map(|pid| format!("restartable/upgrade/{pid}"))
        .collect();
    let mut squatter = start_role_as(STRANGER, test, "squat", &[("UT_NAMES", names.join("\n"))]);
    println!("names taken: {}", squatter.after("squatting "));
    let server = Server::start(test, &[]);
    let old = server.pid();
    assert!(
        next.contains(&old),
        "the server's pid {old} is not among the names taken; the test proves nothing"
    );
    // And a name with the start of the service's own, taken once it runs.
    let mut impostor = start_role_as(
        STRANGER,
        test,
        "squat",
        &[(
            "UT_NAMES",
            format!("restartable/upgrade/{old}/{}", "0".repeat(32)),
        )],
    );
    assert_eq!(impostor.after("squatting "), "1");
    let upgraded = request(old).unwrap();
    assert_eq!(upgraded.generation, 1);
    drop((squatter, impostor));
}

/// 2,000 requests of another user: each is refused, no upgrade happens, and
/// the refusals are logged a few times, not 2,000.
#[test]
fn refusals_are_cheap_and_logged_a_few_times() {
    if serve_if_asked() || needs_root() {
        return;
    }
    let test = "refusals_are_cheap_and_logged_a_few_times";
    let server = Server::start(test, &[("UT_LOG", "1".to_owned())]);
    let old = server.pid();
    let flood = run_role_as(
        STRANGER,
        test,
        "flood",
        &[
            ("UT_NAME", name_of(&server)),
            ("UT_COUNT", "2000".to_owned()),
        ],
    );
    assert!(
        flood.contains(
            "answers 2000 first error PermissionDenied only this process's user or root may ask"
        ),
        "{flood}"
    );
    let refusals = server
        .lines_for(Duration::from_millis(500))
        .iter()
        .filter(|line| line.starts_with("log WARN upgrade: refused"))
        .count();
    assert!((1..=2).contains(&refusals), "{refusals} refusals logged");
    assert_eq!(server.serving_pid(), Some(old));
}

/// CPU time a thread of process `pid` whose name starts with `name` has
/// used, in clock ticks.
fn thread_ticks(pid: u32, name: &str) -> u64 {
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end().starts_with(name) {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap();
            let fields: Vec<&str> = stat
                .rsplit(')')
                .next()
                .unwrap()
                .split_whitespace()
                .collect();
            // utime and stime, fields 14 and 15 of stat (11 and 12 here).
            return fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        }
    }
    panic!("no thread {name} in process {pid}");
}

/// Out of descriptors (EMFILE), the request socket's accept fails as long
/// as connections wait: the thread backs off instead of spinning.
#[test]
fn out_of_descriptors_the_request_thread_backs_off() {
    if serve_if_asked() || needs_root() {
        return;
    }
    let test = "out_of_descriptors_the_request_thread_backs_off";
    let server = Server::start(test, &[("UT_LOG", "1".to_owned())]);
    let pid = server.pid();
    let name = name_of(&server);
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    #[allow(unsafe_code)]
    // SAFETY: prlimit writes the current limit into `limit`.
    let read = unsafe {
        libc::prlimit(
            pid.try_into().unwrap(),
            libc::RLIMIT_NOFILE,
            std::ptr::null(),
            std::ptr::addr_of_mut!(limit),
        )
    };
    assert_eq!(read, 0, "{}", std::io::Error::last_os_error());
    // No descriptor to spare: every accept fails with EMFILE.
    limit.rlim_cur = open as libc::rlim_t;
    #[allow(unsafe_code)]
    // SAFETY: prlimit reads `limit` and changes another process's limit.
    let set = unsafe {
        libc::prlimit(
            pid.try_into().unwrap(),
            libc::RLIMIT_NOFILE,
            std::ptr::addr_of!(limit),
            std::ptr::null_mut(),
        )
    };
    assert_eq!(set, 0, "{}", std::io::Error::last_os_error());
    let waiting: Vec<_> = (0..8)
        .map(|_| connect_abstract(name.as_bytes()).unwrap())
        .collect();
    thread::sleep(Duration::from_millis(300));
    let before = thread_ticks(pid, "restartable-con");
    thread::sleep(Duration::from_secs(2));
    let used = thread_ticks(pid, "restartable-con") - before;
    println!("the request thread used {used} ticks in 2 s");
    // A thread that spins uses up to 200 ticks (100 per second), and at
    // least about 40 on a machine busy with other work (seen on the code
    // that spun: 40 to 126); one that backs off, well under 1.
    assert!(used < 10, "{used} ticks in 2 s: the thread spins");
    drop(waiting);
}

/// A request line that never ends: the service reads a few bytes and
/// closes the connection, and its memory does not grow.
#[test]
fn a_request_line_is_read_only_so_far() {
    if serve_if_asked() || needs_root() {
        return;
    }
    let test = "a_request_line_is_read_only_so_far";
    let server = Server::start(test, &[]);
    let stream = connect_abstract(name_of(&server).as_bytes()).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let mut written = 0usize;
    while written < 64 << 20 {
        match (&stream).write(&chunk) {
            Ok(n) => written += n,
            Err(_) => break,
        }
    }
    println!("{written} bytes written before the service closed the connection");
    assert!(written < 4 << 20, "{written} bytes taken without a newline");
    assert_eq!(server.serving_pid(), Some(server.pid()));
}

/// A stopped service (SIGSTOP) does not keep `request` waiting forever: it
/// fails with `TimedOut` after 5 s.
#[test]
fn a_stopped_service_times_the_request_out() {
    if serve_if_asked() {
        return;
    }
    let server = Server::start("a_stopped_service_times_the_request_out", &[]);
    let pid = server.pid();
    let signal = |name: &str| {
        let sent = std::process::Command::new("kill")
            .args([name, &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    signal("-STOP");
    let (send, outcome) = mpsc::channel();
    let started = Instant::now();
    thread::spawn(move || {
        let _ = send.send(request(pid));
    });
    let outcome = outcome.recv_timeout(Duration::from_secs(20));
    signal("-CONT");
    let error = outcome
        .expect("request() still waits 20 s after it asked a stopped process")
        .unwrap_err();
    println!("told after {:?}: {error}", started.elapsed());
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut, "{error}");
    assert!(
        error.to_string().contains("did not answer in time"),
        "{error}"
    );
}
