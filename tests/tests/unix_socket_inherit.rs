//! `mode` on a Unix-domain socket passed by a supervisor (`inherit`): the
//! passed socket's file gets the mode, as a bound one does, without
//! following a symbolic link. Each case runs the test again in a copy of
//! this test binary with the socket as descriptor 3 and
//! `LISTEN_FDS`/`LISTEN_PID` set, as systemd does it. One test per binary:
//! no other child can inherit the socket.
#![cfg(target_os = "linux")]

use std::env;
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use restartable::restartable_listener;
use restartable::socket2::SockRef;
use restartable_tests::{command, in_child, run, through};

const PATH: &str = "RESTARTABLE_INHERIT_PATH";

#[restartable_listener(path = path, mode = 0o660, inherit = true)]
fn passed(path: &Path) -> io::Result<UnixListener> {}

/// Whether this test runs as root (needed to run a child as another user).
fn is_root() -> bool {
    #[allow(unsafe_code)]
    // SAFETY: geteuid has no memory effects and cannot fail.
    let uid = unsafe { libc::geteuid() };
    uid == 0
}

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

/// In the copy: takes the passed socket and says what became of the mode.
fn take_the_passed_socket() {
    let path = PathBuf::from(env::var_os(PATH).unwrap());
    match passed(&path) {
        Ok(listener) => println!(
            "outcome taken fd {} mode {:o}",
            listener.as_raw_fd(),
            mode_of(&path)
        ),
        Err(error) => {
            // A socket whose mode cannot be set stays on record, untaken:
            // asked again, the same error, not a bind of a new socket.
            let again = match passed(&path) {
                Ok(_) => "taken".to_owned(),
                Err(again) if again.to_string() == error.to_string() => "the same".to_owned(),
                Err(again) => format!("{:?} {again}", again.kind()),
            };
            println!("outcome {:?} {error}; again: {again}", error.kind());
        }
    }
}

/// Runs the test again in a copy with `listener` as descriptor 3, as
/// systemd passes it: `bash` moves a copy of the socket that is not
/// close-on-exec to 3 and sets `LISTEN_PID` to its own pid, which `exec`
/// keeps. `user`: the copy runs as that user (and group).
fn run_with_passed(listener: &UnixListener, path: &Path, user: Option<u32>) -> String {
    let copy = listener.try_clone().unwrap();
    SockRef::from(&copy).set_cloexec(false).unwrap();
    let script = format!(
        "exec 3<&{fd} {fd}<&- || exit 97\nexport LISTEN_PID=$$\nexec \"$@\"\n",
        fd = copy.as_raw_fd()
    );
    let mut command = through(
        "bash",
        &["-c", &script, "bash"],
        command("a_passed_socket_s_file_gets_the_mode_and_a_link_there_is_refused")
            .env(PATH, path)
            .env("LISTEN_FDS", "1")
            .env_remove("LISTEN_FDNAMES")
            .env_remove("LISTEN_FDS_FIRST_FD"),
    );
    if let Some(user) = user {
        use std::os::unix::process::CommandExt;
        command.uid(user).gid(user);
    }
    let stdout = run(&mut command);
    drop(copy);
    stdout
        .lines()
        .find_map(|line| line.find("outcome ").map(|at| line[at..].to_owned()))
        .unwrap_or_else(|| panic!("the child said nothing: {stdout}"))
}

#[test]
fn a_passed_socket_s_file_gets_the_mode_and_a_link_there_is_refused() {
    if in_child() {
        return take_the_passed_socket();
    }
    let dir = env::temp_dir().join(format!("restartable-inherit-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.sock");
    let listener = UnixListener::bind(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();

    assert_eq!(
        run_with_passed(&listener, &path, None),
        "outcome taken fd 3 mode 660"
    );
    assert_eq!(mode_of(&path), 0o660);

    if is_root() {
        // A service of another user, given root's socket: already as asked
        // is fine; another mode it may not change is an error saying where
        // to set it.
        assert_eq!(
            run_with_passed(&listener, &path, Some(65534)),
            "outcome taken fd 3 mode 660"
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
        let said = run_with_passed(&listener, &path, Some(65534));
        assert_eq!(
            said,
            format!(
                "outcome PermissionDenied the socket passed as fd 3 (LISTEN_FDS) cannot be \
                 used: cannot set the mode of {}: the passed socket's file belongs to uid 0, and \
                 this process (uid 65534) may not change its mode (Operation not permitted (os \
                 error 1)); set the mode where the socket is made (SocketMode= in a systemd \
                 .socket unit), or leave out `mode`; again: the same",
                path.display()
            )
        );
        assert_eq!(mode_of(&path), 0o666);
    } else {
        restartable_tests::skip("the cases of a service of another user need root");
    }

    // The socket's file replaced by a link to another file: the socket is
    // still the one passed for this path, but its mode cannot be set
    // without following the link, so it is an error and the link's target
    // keeps its mode.
    let target = dir.join("other");
    fs::write(&target, "data").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
    fs::remove_file(&path).unwrap();
    symlink(&target, &path).unwrap();
    let said = run_with_passed(&listener, &path, None);
    assert_eq!(mode_of(&target), 0o600, "the link was followed: {said}");
    assert!(
        said.starts_with(&format!(
            "outcome AlreadyExists the socket passed as fd 3 (LISTEN_FDS) cannot be used: \
             cannot set the mode of {}: a symbolic link",
            path.display()
        )) && said.ends_with("; again: the same"),
        "{said}"
    );
    fs::remove_dir_all(dir).unwrap();
}
