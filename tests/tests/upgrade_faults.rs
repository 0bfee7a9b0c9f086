//! Upgrades to a new binary that fails: it exits, hangs, leaves a child
//! behind, crashes in the middle of the handover, is not executable, or is
//! missing. Each time the initiator is told why, the old process serves on,
//! nothing the attempt started is left holding the listener, and the next
//! upgrade, to a good binary, succeeds.
#![cfg(target_os = "linux")]

mod upgrade_server;

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use restartable::upgrade::request;
use upgrade_server::{field, gone, holders, listener_inode, serve_if_asked, Scratch, Server};

/// The ready timeout the server is given: long enough for a good binary on
/// a loaded machine, short enough for the hanging faults.
const READY_TIMEOUT_MS: u64 = 3000;

/// The channel's descriptor, from `RESTARTABLE_UPGRADE=v=2,fd=N,...`.
const CHANNEL_FD: &str = r"fd=${RESTARTABLE_UPGRADE#*fd=}; fd=${fd%%,*}";

/// Puts `script` (a shell script) at `program`, executable.
fn write_script(program: &Path, script: &str) {
    let _ = std::fs::remove_file(program);
    std::fs::write(program, script).unwrap();
    std::fs::set_permissions(program, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The good binary at `program`: this test binary, by a symbolic link.
fn put_good(program: &Path) {
    let _ = std::fs::remove_file(program);
    std::os::unix::fs::symlink(std::env::current_exe().unwrap(), program).unwrap();
}

/// Starts a server whose upgrades start `program`, lets `fault` put the
/// faulty binary there, asks for an upgrade, and checks what every fault
/// must give; returns the error the initiator got.
fn fault(test: &str, fault: impl FnOnce(&Path)) -> io::Error {
    let scratch = Scratch::named(test);
    let program = scratch.0.as_path();
    let server = Server::start(
        test,
        &[
            ("UT_PROGRAM", program.display().to_string()),
            ("UT_READY_TIMEOUT_MS", READY_TIMEOUT_MS.to_string()),
        ],
    );
    let old = server.pid();
    let inode = listener_inode(server.port).expect("the server listens");
    fault(program);
    let asked = Instant::now();
    let error = request(old).expect_err("the upgrade to a faulty binary failed");
    println!(
        "told after {:?}: {:?} {error}",
        asked.elapsed(),
        error.kind()
    );
    // The old process serves on, on every listener.
    for (what, answer) in [
        ("tcp", server.tcp()),
        ("udp", server.udp()),
        ("unix", server.unix()),
    ] {
        let answer = answer.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(field(&answer, "pid"), Some(old), "{what}: {answer}");
        assert_eq!(field(&answer, "generation"), Some(0), "{what}: {answer}");
    }
    // Nothing the attempt started still holds the listener: the rollback
    // killed its process group and reaped it (a child it left, killed too,
    // is gone a moment later).
    let killed = Instant::now();
    let mut left = holders(inode, &[old]);
    while !left.is_empty() && killed.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(10));
        left = holders(inode, &[old]);
    }
    assert!(
        left.is_empty(),
        "processes still hold the listener: {left:?}"
    );
    // The next upgrade, to a good binary, succeeds.
    put_good(program);
    let upgraded = request(old).unwrap();
    assert_eq!(upgraded.generation, 1);
    // The old process answers what it accepted until it ends.
    assert!(
        gone(old, Duration::from_secs(20)),
        "the old process still runs"
    );
    let answer = server.tcp();
    assert_eq!(
        answer.as_ref().ok().and_then(|a| field(a, "pid")),
        Some(upgraded.pid),
        "{answer:?} {:?}",
        server.lines_for(Duration::from_millis(100))
    );
    error
}

#[test]
fn a_new_binary_that_exits_before_it_is_ready_is_rolled_back() {
    if serve_if_asked() {
        return;
    }
    let error = fault(
        "a_new_binary_that_exits_before_it_is_ready_is_rolled_back",
        |program| write_script(program, "#!/bin/sh\nexit 3\n"),
    );
    assert_eq!(error.kind(), io::ErrorKind::Other);
    let message = error.to_string();
    assert!(
        message.starts_with("upgrade failed: the new process (pid ")
            && message.ends_with(") exited with status 3 before it was ready"),
        "{message}"
    );
}

#[test]
fn a_new_binary_that_never_gets_ready_is_killed_at_the_ready_timeout() {
    if serve_if_asked() {
        return;
    }
    let error = fault(
        "a_new_binary_that_never_gets_ready_is_killed_at_the_ready_timeout",
        |program| write_script(program, "#!/bin/sh\nexec sleep 60\n"),
    );
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    assert!(
        error
            .to_string()
            .ends_with("was not ready within 3s; it was killed with what it started"),
        "{error}"
    );
}

/// The script waits for its child, which holds the listeners and the
/// channel it inherited: both are killed with the process group.
#[test]
fn a_new_binary_whose_child_hangs_is_killed_with_its_child() {
    if serve_if_asked() {
        return;
    }
    let error = fault(
        "a_new_binary_whose_child_hangs_is_killed_with_its_child",
        |program| write_script(program, "#!/bin/sh\nsleep 60 &\nwait\n"),
    );
    assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
}

/// The script exits and leaves a child in the background holding the
/// listeners and the channel: the old process waits on the process it
/// started, not on the channel, and kills the child with the group.
#[test]
fn a_new_binary_that_exits_and_leaves_a_child_is_rolled_back_with_the_child() {
    if serve_if_asked() {
        return;
    }
    let started = Instant::now();
    let error = fault(
        "a_new_binary_that_exits_and_leaves_a_child_is_rolled_back_with_the_child",
        |program| {
            write_script(program, "#!/bin/sh\nsleep 60 >/dev/null 2>&1 &\nexit 0\n");
        },
    );
    assert!(
        error
            .to_string()
            .ends_with("exited with status 0 before it was ready"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// The new process says it is ready, then crashes before the old one says
/// go.
#[test]
fn a_new_binary_that_crashes_right_after_ready_is_rolled_back() {
    if serve_if_asked() {
        return;
    }
    let error = fault(
        "a_new_binary_that_crashes_right_after_ready_is_rolled_back",
        |program| {
            write_script(
                program,
                &format!("#!/bin/bash\n{CHANNEL_FD}\nprintf R >&\"$fd\"\nexit 1\n"),
            );
        },
    );
    assert!(error.to_string().starts_with("upgrade failed: "), "{error}");
}

/// The new process says it is ready, receives go, and crashes before it
/// says it took over: the old one has not moved anything yet.
#[test]
fn a_new_binary_that_crashes_between_go_and_taken_is_rolled_back() {
    if serve_if_asked() {
        return;
    }
    let error = fault(
        "a_new_binary_that_crashes_between_go_and_taken_is_rolled_back",
        |program| {
            write_script(
                program,
                &format!(
                    "#!/bin/bash\n{CHANNEL_FD}\nprintf R >&\"$fd\"\nread -r -n1 -u \"$fd\" go\n\
                     exit 1\n"
                ),
            );
        },
    );
    let message = error.to_string();
    assert!(
        message.contains("exited with status 1 before it took over"),
        "{message}"
    );
}

#[test]
fn a_new_binary_that_is_not_executable_is_refused_at_once() {
    if serve_if_asked() {
        return;
    }
    let error = fault(
        "a_new_binary_that_is_not_executable_is_refused_at_once",
        |program| {
            let _ = std::fs::remove_file(program);
            std::fs::copy(std::env::current_exe().unwrap(), program).unwrap();
            std::fs::set_permissions(program, std::fs::Permissions::from_mode(0o644)).unwrap();
        },
    );
    assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
    assert!(error.to_string().contains("cannot start"), "{error}");
}

#[test]
fn a_missing_binary_is_refused_at_once() {
    if serve_if_asked() {
        return;
    }
    let error = fault("a_missing_binary_is_refused_at_once", |program| {
        let _ = std::fs::remove_file(program);
    });
    assert_eq!(error.kind(), io::ErrorKind::NotFound);
    assert!(error.to_string().contains("cannot start"), "{error}");
}
