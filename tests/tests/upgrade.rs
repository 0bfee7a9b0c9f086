//! `restartable::upgrade`: a child copy of this test binary serves on TCP,
//! UDP and a Unix path, and is upgraded to another copy of itself; the
//! test asks for the upgrade ([`request`]) and checks who answers.
#![cfg(target_os = "linux")]

use std::env;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::thread;
use std::time::Duration;

mod upgrade_server;

use restartable::upgrade::request;
use upgrade_server::{field, free_port, gone, serve_if_asked, Server};

/// Whether `file`'s advisory lock can be had (it is released at once).
#[allow(unsafe_code)]
fn try_lock(file: &std::fs::File) -> bool {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a descriptor `file` owns.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[test]
fn an_upgrade_passes_tcp_udp_and_unix_listeners_and_only_them() {
    if serve_if_asked() {
        return;
    }
    let mut server = Server::start(
        "an_upgrade_passes_tcp_udp_and_unix_listeners_and_only_them",
        &[],
    );
    let old = server.pid();
    let before = server.tcp().unwrap();
    assert_eq!(field(&before, "generation"), Some(0), "{before}");
    let upgraded = request(old).unwrap();
    assert_eq!(upgraded.generation, 1);
    // The old process is gone (it may answer a connection or two while it
    // stops: it drains what it accepted), and the Unix socket's file stayed.
    let status = server.wait();
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
    assert_eq!(server.serving_pid(), Some(again.pid));
}

/// The new process prints what it started with (it inherits the old one's
/// stdout), before anything of the crate runs: the three listeners
/// (3, 4, 5) and the ready channel (6), nothing else, though the old
/// process has an inheritable pipe and holds the lock file of its Unix
/// path (which goes over the channel, never inheritable).
#[test]
fn the_new_process_starts_with_the_passed_descriptors_only() {
    if serve_if_asked() {
        return;
    }
    let server = Server::start(
        "the_new_process_starts_with_the_passed_descriptors_only",
        &[],
    );
    let upgraded = request(server.pid()).unwrap();
    let started = server.line(&format!("started pid={}", upgraded.pid));
    assert!(
        started.starts_with(&format!(
            "started pid={} listen_pid={} inheritable=[3, 4, 5, 6] ",
            upgraded.pid, upgraded.pid
        )),
        "{started}"
    );
}

#[test]
fn a_listener_without_inherit_fails_the_upgrade_and_the_old_process_keeps_serving() {
    if serve_if_asked() {
        return;
    }
    let plain = free_port();
    let server = Server::start(
        "a_listener_without_inherit_fails_the_upgrade_and_the_old_process_keeps_serving",
        &[("UT_PLAIN_PORT", plain.to_string())],
    );
    let old = server.pid();
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
    std::net::TcpStream::connect(("127.0.0.1", plain)).unwrap();
}

#[test]
fn one_upgrade_at_a_time_and_a_failed_start_leaves_the_next_possible() {
    if serve_if_asked() {
        return;
    }
    let link = env::temp_dir().join(format!("restartable-upgrade-bin-{}", std::process::id()));
    let _ = std::fs::remove_file(&link);
    let mut server = Server::start(
        "one_upgrade_at_a_time_and_a_failed_start_leaves_the_next_possible",
        &[
            ("UT_PROGRAM", link.display().to_string()),
            ("UT_READY_DELAY_MS", "1500".to_owned()),
        ],
    );
    let old = server.pid();
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
    assert!(server.wait().success());
    assert_eq!(server.serving_pid(), Some(upgraded.pid));
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

/// A datagram socket standing in for systemd's, in a directory of its own.
fn notify_socket(name: &str) -> (UnixDatagram, std::path::PathBuf) {
    let dir = env::temp_dir().join(format!("restartable-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    (socket, path)
}

#[test]
fn under_a_service_manager_listeners_are_stored_and_the_main_pid_moves() {
    if serve_if_asked() {
        return;
    }
    let (socket, notify) = notify_socket("notify");
    let server = Server::start(
        "under_a_service_manager_listeners_are_stored_and_the_main_pid_moves",
        &[("NOTIFY_SOCKET", notify.display().to_string())],
    );
    let old = server.pid();
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
    // The old process moves the main pid once the new one took over; then
    // the new one, main now, stores the same sockets (systemd keeps one of
    // each) and is ready.
    let mut after = Vec::new();
    for _ in 0..5 {
        after.push(receive(&socket).unwrap());
    }
    assert_eq!(after[0], (format!("MAINPID={}", upgraded.pid), 0));
    assert_eq!(after[1..], expected(upgraded.pid)[..]);
    let _ = std::fs::remove_dir_all(notify.parent().unwrap());
}

/// The main pid moves when the new process has taken over, not before: a
/// SIGHUP sent to it the moment it became the main process (as `systemctl
/// reload` sends `kill -HUP $MAINPID`) finds its handler in place and
/// queues the next upgrade, instead of ending the process that just took
/// over (the default action).
#[test]
fn a_signal_to_the_new_main_process_at_once_does_not_end_it() {
    if serve_if_asked() {
        return;
    }
    let (socket, notify) = notify_socket("hup");
    let server = Server::start(
        "a_signal_to_the_new_main_process_at_once_does_not_end_it",
        &[("NOTIFY_SOCKET", notify.display().to_string())],
    );
    for _ in 0..4 {
        receive(&socket).unwrap();
    }
    let old = server.pid();
    let asked = thread::spawn(move || request(old));
    let (moved, _) = receive(&socket).unwrap();
    let new: u32 = moved
        .strip_prefix("MAINPID=")
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("{moved:?}"));
    // At once: kill(2) from here, not a kill command started first.
    #[allow(unsafe_code)]
    // SAFETY: sends a signal to the process systemd would now track.
    let sent = unsafe { libc::kill(i32::try_from(new).unwrap(), libc::SIGHUP) };
    assert_eq!(sent, 0, "{}", io::Error::last_os_error());
    let upgraded = asked.join().unwrap().unwrap();
    assert_eq!(upgraded.pid, new);
    // The signal started the next upgrade: generation 2 serves, and the
    // process that took over was not ended by the signal before.
    let line = server.line("serving pid=");
    let line = if field(&line, "generation") == Some(1) {
        server.line("serving pid=")
    } else {
        line
    };
    assert_eq!(field(&line, "generation"), Some(2), "{line}");
    assert!(!server
        .lines_for(Duration::from_millis(200))
        .iter()
        .any(|l| l.starts_with("error")),);
    let _ = std::fs::remove_dir_all(notify.parent().unwrap());
}
