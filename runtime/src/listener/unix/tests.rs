//! What happens between `bind` and the mode step, made deterministic: the
//! crate-private `after_bind` hook of `bind_with` runs right after `bind`
//! created the file, where a local attacker who can rename entries in the
//! directory would swap it, and where the mode the file was created with can
//! be seen before anything changes it. Production passes an empty closure.

use std::env;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::addr::ListenAddr;
use crate::convert::SocketKind;
use crate::spec::UnixSpec;

fn spec(path: &Path, mode: Option<u32>) -> UnixSpec<'static> {
    UnixSpec {
        addr: Some(ListenAddr::Path(path.to_owned())),
        path_env: None,
        mode,
        backlog: Some(8),
        nonblocking: false,
        configure: None,
        inherit: None,
        retry: None,
    }
}

/// A fresh directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = env::temp_dir().join(format!("restartable-unit-{test}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_symbolic_link_swapped_in_after_bind_is_refused_and_its_target_keeps_its_mode() {
    let dir = scratch("swap-link");
    let path = dir.join("app.sock");
    let target = dir.join("secret");
    fs::write(&target, "data").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();

    // Control: without the swap, the socket gets the mode.
    let socket = spec(&path, Some(0o666))
        .bind_with(SocketKind::Stream, &|_| {})
        .unwrap();
    assert_eq!(mode_of(&path), 0o666);
    drop(socket);
    fs::remove_file(&path).unwrap();

    let result = spec(&path, Some(0o666)).bind_with(SocketKind::Stream, &|bound| {
        fs::remove_file(bound).unwrap();
        symlink(&target, bound).unwrap();
    });
    assert_eq!(mode_of(&target), 0o640, "the link was followed");
    let error = result.map(drop).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("cannot set the mode of {}: ", path.display())),
        "{message}"
    );
    assert!(message.contains("a symbolic link"), "{message}");
    assert_eq!(
        fs::read_link(&path).unwrap(),
        target,
        "the link was removed or changed"
    );
    assert_eq!(fs::read_to_string(&target).unwrap(), "data");
    fs::remove_dir_all(dir).unwrap();
}

/// Another socket of the same user, hard-linked in place of the bound file
/// (a service's private control socket, say): refused, its mode kept.
#[test]
fn another_socket_hard_linked_in_after_bind_is_refused_and_keeps_its_mode() {
    let dir = scratch("swap-hard-link");
    let path = dir.join("app.sock");
    let other = dir.join("private.sock");
    let private = std::os::unix::net::UnixListener::bind(&other).unwrap();
    fs::set_permissions(&other, fs::Permissions::from_mode(0o600)).unwrap();
    let result = spec(&path, Some(0o666)).bind_with(SocketKind::Stream, &|bound| {
        fs::remove_file(bound).unwrap();
        fs::hard_link(&other, bound).unwrap();
    });
    // Before: 0o666 on the private socket.
    assert_eq!(mode_of(&other), 0o600, "the other socket's mode changed");
    let message = result.map(drop).unwrap_err().to_string();
    assert!(message.contains("with 2 names (hard links)"), "{message}");
    drop(private);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_regular_file_swapped_in_after_bind_is_refused_and_left_alone() {
    let dir = scratch("swap-file");
    let path = dir.join("app.sock");
    let result = spec(&path, Some(0o666)).bind_with(SocketKind::Datagram, &|bound| {
        fs::remove_file(bound).unwrap();
        fs::write(bound, "not ours").unwrap();
        fs::set_permissions(bound, fs::Permissions::from_mode(0o600)).unwrap();
    });
    assert_eq!(mode_of(&path), 0o600, "the file's mode changed");
    assert_eq!(fs::read_to_string(&path).unwrap(), "not ours");
    let error = result.map(drop).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("cannot set the mode of {}: ", path.display())),
        "{message}"
    );
    assert!(message.contains("a regular file"), "{message}");
    fs::remove_dir_all(dir).unwrap();
}

/// In a copy of this test with umask 0 (so that only the runtime can narrow
/// the mode), which prints the mode the file had when `bind` created it, the
/// mode after the listener is made, and a control: a plain bind's file.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn the_file_has_the_narrowed_mode_at_the_instant_bind_creates_it() {
    use std::sync::Mutex;
    /// In the copy: the directory it binds in.
    const CHILD_DIR: &str = "RESTARTABLE_UNIT_MODE_DIR";
    if crate::test_copy::in_child() {
        let dir = PathBuf::from(env::var_os(CHILD_DIR).unwrap());
        let path = dir.join("app.sock");
        let at_bind = Mutex::new(None);
        let _socket = spec(&path, Some(0o600))
            .bind_with(SocketKind::Stream, &|bound| {
                *at_bind.lock().unwrap() = Some(mode_of(bound));
            })
            .unwrap();
        let plain = dir.join("plain.sock");
        let _plain = std::os::unix::net::UnixListener::bind(&plain).unwrap();
        println!(
            "modes at-bind={:o} after={:o} plain={:o}",
            at_bind.lock().unwrap().unwrap(),
            mode_of(&path),
            mode_of(&plain)
        );
        return;
    }
    let dir = scratch("mode-at-bind");
    // `sh` sets the umask before exec: no umask call in this
    // multi-threaded test process.
    let output = crate::test_copy::command(
        &["sh", "-c", "umask 0 && exec \"$0\" \"$@\""],
        "listener::unix::tests::the_file_has_the_narrowed_mode_at_the_instant_bind_creates_it",
    )
    .env(CHILD_DIR, &dir)
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let line = stdout
        .lines()
        .find_map(|line| line.find("modes ").map(|at| &line[at..]))
        .unwrap_or_else(|| panic!("the child said nothing: {stdout}"));
    // The control (a plain bind under umask 0: 777) shows what the file
    // would be without fchmod before bind.
    assert_eq!(line, "modes at-bind=600 after=600 plain=777");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn one_lock_file_named_two_ways_is_one_lock_held_once_and_closed_on_exec() {
    let dir = scratch("lock-key");
    let path = dir.join("app.sock");
    drop(
        spec(&path, None)
            .bind_with(SocketKind::Stream, &|_| {})
            .unwrap(),
    );
    // The same lock file through another name: the descriptor recorded for
    // it is used; a second open would find the file locked (by the first).
    symlink(&dir, dir.join("alias")).unwrap();
    let same = dir.join("alias").join("app.sock");
    let _socket = spec(&same, None)
        .bind_with(SocketKind::Stream, &|_| {})
        .unwrap();
    let held: Vec<_> = crate::process::locks::all()
        .into_iter()
        .filter(|held| held.path().starts_with(&dir))
        .collect();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].path(), dir.join("app.sock.lock"));
    // Close-on-exec: an exec'd program does not inherit the lock.
    assert_eq!(
        crate::sys::passed_fd(held[0].fd().as_raw_fd()).unwrap(),
        crate::sys::PassedFd::CloseOnExec
    );
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn binds_of_one_path_in_one_process_take_turns() {
    let dir = scratch("turns");
    let path = dir.join("app.sock");
    // Each bind pauses between `bind` and `listen`: without turns, a second
    // thread would find the first one's file refusing connections, call
    // it stale, remove it and bind its own (two listeners, one orphaned).
    let pause = |_: &Path| std::thread::sleep(std::time::Duration::from_millis(20));
    let results: Vec<_> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| spec(&path, None).bind_with(SocketKind::Stream, &pause)))
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let mut bound = 0;
    for result in results {
        match result {
            Ok(_) => bound += 1,
            Err(error) => assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse, "{error}"),
        }
    }
    assert_eq!(bound, 1);
    fs::remove_dir_all(dir).unwrap();
}
