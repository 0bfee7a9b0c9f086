//! Unix-domain listeners (`path`, `abstract_name`): after `kill -9` the
//! socket file stays behind and std's bind fails with "address in use"
//! (the control); restartable removes it because nothing is bound to it,
//! and never removes anything else: a live socket, a file, a directory, a
//! symbolic link. Two instances started at the same instant: one binds, the
//! other is refused, none is orphaned. The lock on `<path>.lock` is held for
//! the process's life: a live instance's file is kept even when it refuses
//! connections, a rebind in one process reuses it, and a lock file that is
//! not a regular file of the service's user is refused at once. A stale
//! socket file of another user is left alone.
#![cfg(target_os = "linux")]

use std::env;
use std::fs;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use restartable::restartable_listener;
use restartable_tests::{command, in_child, run, Running};

#[path = "snapshots/mod.rs"]
mod snapshots;
use snapshots::{unix_abstract, unix_datagram_env};

#[restartable_listener(path = path)]
fn listener(path: &Path) -> io::Result<UnixListener> {}

#[restartable_listener(path = path, retry = "3s")]
fn patient(path: &Path) -> io::Result<UnixListener> {}

#[restartable_listener(path = path, mode = 0o660)]
fn group_only(path: &Path) -> io::Result<UnixListener> {}

#[restartable_listener(abstract_name = name)]
fn abstract_listener(name: &str) -> io::Result<UnixListener> {}

#[restartable_listener(path_env = "RESTARTABLE_TEST_SOCKET")]
fn from_env() -> io::Result<UnixListener> {}

#[restartable_listener(path = path)]
async fn tokio_listener(path: &Path) -> io::Result<tokio::net::UnixListener> {}

/// In a copy of this test binary that a test started: the path it works
/// on, and when a racing copy binds (nanoseconds since the epoch).
const PATH: &str = "RESTARTABLE_UNIX_PATH";
const START_AT: &str = "RESTARTABLE_UNIX_START_AT";

/// A fresh directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = env::temp_dir().join(format!("restartable-unix-{test}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// In a copy: the path its test gave it.
fn given_path() -> PathBuf {
    PathBuf::from(env::var(PATH).unwrap())
}

/// In a copy: binds the path, says `ready`, accepts clients and keeps them
/// until killed.
fn hold(path: &Path) {
    let listener = listener(path).unwrap();
    println!("ready");
    let mut clients = Vec::new();
    loop {
        clients.push(listener.accept().unwrap());
    }
}

/// In a copy: [`hold`] with a datagram socket.
fn hold_datagram(path: &Path) {
    let socket = unix_datagram_env::socket(path).unwrap();
    println!("ready");
    let mut buffer = [0; 64];
    loop {
        socket.recv(&mut buffer).unwrap();
    }
}

/// In a copy: binds at `START_AT` with `bind` and, when it wins, serves one
/// `ping` with its pid, then returns.
fn race_once(path: &Path, bind: fn(&Path) -> io::Result<UnixListener>) {
    let start: u128 = env::var(START_AT).unwrap().parse().unwrap();
    while SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        < start
    {
        std::hint::spin_loop();
    }
    match bind(path) {
        Ok(listener) => {
            println!("won");
            serve_one_ping(&listener);
        }
        Err(error) => println!("lost {:?} {error}", error.kind()),
    }
}

/// `flock(LOCK_EX | LOCK_NB)` on `file`, as another program holding the lock
/// would; it must succeed.
fn lock_exclusively(file: &fs::File) {
    use std::os::unix::io::AsRawFd;
    #[allow(unsafe_code)]
    // SAFETY: flock on a descriptor `file` owns; no memory is passed.
    let result = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(result, 0, "flock: {}", io::Error::last_os_error());
}

/// Whether this test runs as root (needed to make files of another user).
fn is_root() -> bool {
    #[allow(unsafe_code)]
    // SAFETY: geteuid has no memory effects and cannot fail.
    let uid = unsafe { libc::geteuid() };
    uid == 0
}

/// In a copy: says what `listener(path)` gives, as `outcome ok` or
/// `outcome KIND MESSAGE`.
fn say_outcome(path: &Path) {
    match listener(path) {
        Ok(_) => println!("outcome ok"),
        Err(error) => println!("outcome {:?} {error}", error.kind()),
    }
}

/// What a copy running the test `test`, which calls [`say_outcome`], says;
/// `Err` when it has said nothing after `limit` (it is killed then, so that
/// a bind that blocks for ever fails the test instead of hanging it).
fn outcome_within(
    test: &str,
    path: &Path,
    user: Option<u32>,
    limit: Duration,
) -> Result<String, String> {
    use std::os::unix::process::CommandExt;
    let mut command = command(test);
    command.env(PATH, path).stdout(Stdio::piped());
    if let Some(user) = user {
        command.uid(user).gid(user);
    }
    let mut child = command.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (send, receive) = std::sync::mpsc::channel();
    let reader = thread::spawn(move || {
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(at) = line.find("outcome ") {
                let _ = send.send(line[at..].trim_end().to_owned());
                return;
            }
            line.clear();
        }
    });
    let started = Instant::now();
    let said = receive.recv_timeout(limit);
    let took = started.elapsed();
    let _ = child.kill();
    child.wait().unwrap();
    reader.join().unwrap();
    match said {
        Ok(said) => {
            println!("the child answered in {took:?}");
            Ok(said)
        }
        Err(_) => Err(format!(
            "the child's bind was still blocked after {limit:?}"
        )),
    }
}

/// Answers the first connection that says `ping` with this process's id;
/// a connection that closes without a word (another instance's probe) is
/// skipped.
fn serve_one_ping(listener: &UnixListener) {
    for _ in 0..8 {
        let (stream, _) = listener.accept().unwrap();
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line).unwrap();
        if line.trim() == "ping" {
            writeln!(&stream, "{}", std::process::id()).unwrap();
            return;
        }
    }
}

/// The race the lock prevents, made visible: probe, remove a socket file
/// that refuses, bind, listen, with nothing held between the steps and
/// pauses that widen the gaps.
fn naive_listener(path: &Path) -> io::Result<UnixListener> {
    match UnixListener::bind(path) {
        Err(error) if error.kind() == ErrorKind::AddrInUse => {
            if UnixStream::connect(path).is_ok() {
                return Err(error);
            }
            thread::sleep(Duration::from_millis(20));
            let _ = fs::remove_file(path);
            let listener = UnixListener::bind(path)?;
            thread::sleep(Duration::from_millis(20));
            Ok(listener)
        }
        other => other,
    }
}

/// A copy running the test `test`, with `path` and `start_at` given.
fn spawn_child(test: &str, path: &Path, start_at: Option<u128>) -> Running {
    let mut command = command(test);
    command.env(PATH, path);
    if let Some(start_at) = start_at {
        command.env(START_AT, start_at.to_string());
    }
    Running::start(&mut command)
}

/// The copy's next line that is its own (not the test harness's).
fn said(copy: &mut Running) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            copy.stdout().read_line(&mut line).unwrap() > 0,
            "the child said nothing"
        );
        if let Some(own) = own_words(&line) {
            return own;
        }
    }
}

/// The first line of a copy's output that is its own.
fn said_in(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(own_words)
        .unwrap_or_else(|| panic!("the child said nothing: {stdout}"))
}

/// What a copy said on `line`, from its first word on, if the line is its
/// own (not the test harness's).
fn own_words(line: &str) -> Option<String> {
    let text = line.trim();
    // The earliest word: "lost AddrInUse Address already in use"
    // contains "ready" too.
    let first = ["ready", "won", "lost ", "outcome "]
        .iter()
        .filter_map(|word| text.find(word))
        .min()?;
    Some(text[first..].to_owned())
}

/// A copy running the test `test`, which holds `path` ([`hold`], or
/// [`hold_datagram`] when `datagram`), killed with SIGKILL while clients
/// are connected: the socket file stays behind.
fn crash_holding(test: &str, path: &Path, datagram: bool) {
    let mut copy = spawn_child(test, path, None);
    assert_eq!(said(&mut copy), "ready");
    let clients: Vec<UnixStream> = if datagram {
        let sender = UnixDatagram::unbound().unwrap();
        sender.send_to(b"hello", path).unwrap();
        Vec::new()
    } else {
        (0..3).map(|_| UnixStream::connect(path).unwrap()).collect()
    };
    thread::sleep(Duration::from_millis(50));
    copy.kill();
    drop(clients);
    assert!(
        fs::symlink_metadata(path).is_ok(),
        "the crash left no socket file"
    );
}

#[test]
fn after_kill_9_the_stale_socket_file_is_replaced_at_once() {
    if in_child() {
        return hold(&given_path());
    }
    let dir = scratch("crash");
    let path = dir.join("app.sock");
    crash_holding(
        "after_kill_9_the_stale_socket_file_is_replaced_at_once",
        &path,
        false,
    );

    // Control: std's bind (and so Go's, tokio's) fails on the stale file.
    let error = UnixListener::bind(&path).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::AddrInUse, "{error}");

    let started = Instant::now();
    let listener = listener(&path).unwrap();
    let took = started.elapsed();
    println!("restart after kill -9: bound in {took:?}");
    let mut client = UnixStream::connect(&path).unwrap();
    client.write_all(b"after the crash").unwrap();
    drop(client);
    let (mut served, _) = listener.accept().unwrap();
    let mut text = String::new();
    served.read_to_string(&mut text).unwrap();
    assert_eq!(text, "after the crash");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_datagram_socket_s_stale_file_is_replaced_and_a_live_one_kept() {
    if in_child() {
        return hold_datagram(&given_path());
    }
    let dir = scratch("datagram");
    let path = dir.join("app.sock");
    crash_holding(
        "a_datagram_socket_s_stale_file_is_replaced_and_a_live_one_kept",
        &path,
        true,
    );
    let error = UnixDatagram::bind(&path).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::AddrInUse, "control: {error}");

    let socket = unix_datagram_env::socket(&path).unwrap();
    let sender = UnixDatagram::unbound().unwrap();
    sender.send_to(b"after the crash", &path).unwrap();
    let mut buffer = [0; 64];
    let got = socket.recv(&mut buffer).unwrap();
    assert_eq!(&buffer[..got], b"after the crash");

    let error = unix_datagram_env::socket(&path).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::AddrInUse, "{error}");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains(&format!(
            "a datagram socket of process {} (",
            std::process::id()
        )),
        "{message}"
    );
    // The live socket still receives, and got no datagram from the probe.
    sender.send_to(b"still here", &path).unwrap();
    let got = socket.recv(&mut buffer).unwrap();
    assert_eq!(&buffer[..got], b"still here");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_live_listener_is_never_removed_and_the_error_names_path_and_holder() {
    if in_child() {
        return hold(&given_path());
    }
    let dir = scratch("live");
    let path = dir.join("app.sock");
    let mut copy = spawn_child(
        "a_live_listener_is_never_removed_and_the_error_names_path_and_holder",
        &path,
        None,
    );
    assert_eq!(said(&mut copy), "ready");

    let started = Instant::now();
    let error = listener(&path).unwrap_err();
    println!("refused in {:?}", started.elapsed());
    assert_eq!(error.kind(), ErrorKind::AddrInUse, "{error}");
    let message = error.to_string();
    assert!(message.starts_with(&lock_held(&path)), "{message}");
    // The holder is named, or on a loaded machine said not found in time;
    // never another process.
    assert!(
        message.contains(&format!("a listening socket of process {} (", copy.id()))
            || message.contains("a listening socket holds it; its process was not found within"),
        "{message}"
    );
    // The holder still accepts through the path.
    let mut client = UnixStream::connect(&path).unwrap();
    client.write_all(b"still served").unwrap();
    copy.kill();
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_first_listener_still_accepts_after_a_second_instance_was_refused() {
    let dir = scratch("first");
    let path = dir.join("app.sock");
    let first = listener(&path).unwrap();
    assert_eq!(listener(&path).unwrap_err().kind(), ErrorKind::AddrInUse);
    let mut client = UnixStream::connect(&path).unwrap();
    client.write_all(b"hello\n").unwrap();
    // The probe of the refused instance is one connection that closed at
    // once without data; the client's comes after it.
    let mut empty = 0;
    loop {
        let (stream, _) = first.accept().unwrap();
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        if line == "hello\n" {
            break;
        }
        empty += 1;
        assert!(empty <= 1, "more than one empty connection");
    }
    assert_eq!(empty, 1, "the probe's connection");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn files_directories_and_symbolic_links_are_never_touched() {
    let dir = scratch("others");
    let live_path = dir.join("live.sock");
    let live = UnixListener::bind(&live_path).unwrap();
    let stale_path = dir.join("stale.sock");
    drop(UnixListener::bind(&stale_path).unwrap());

    let file = dir.join("file");
    fs::write(&file, "data").unwrap();
    let directory = dir.join("directory");
    fs::create_dir(&directory).unwrap();
    let to_live = dir.join("to-live");
    symlink(&live_path, &to_live).unwrap();
    let to_stale = dir.join("to-stale");
    symlink(&stale_path, &to_stale).unwrap();

    for (path, what) in [
        (&file, "a regular file".to_owned()),
        (&directory, "a directory".to_owned()),
        (
            &to_live,
            format!("a symbolic link (to {})", live_path.display()),
        ),
        (
            &to_stale,
            format!("a symbolic link (to {})", stale_path.display()),
        ),
    ] {
        let error = listener(path).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AlreadyExists, "{error}");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("cannot bind {}: {what}", path.display())),
            "{message}"
        );
        assert!(
            message.ends_with("is at this path, not a socket; it was left alone"),
            "{message}"
        );
    }
    assert_eq!(fs::read_to_string(&file).unwrap(), "data");
    assert!(directory.is_dir());
    assert_eq!(fs::read_link(&to_live).unwrap(), live_path);
    assert_eq!(fs::read_link(&to_stale).unwrap(), stale_path);
    assert!(
        fs::symlink_metadata(&stale_path).is_ok(),
        "the link's target was removed"
    );
    // The live socket behind the link still accepts.
    UnixStream::connect(&live_path).unwrap();
    live.accept().unwrap();
    fs::remove_dir_all(dir).unwrap();
}

/// Rounds of two instances (copies running the test `test`, which calls
/// [`race_once`]) started at the same instant, on the stale file of the
/// round before: how many rounds had one winner, and how many had two (one
/// of them orphaned: bound to a file the other removed).
fn race(test: &str, path: &Path, rounds: usize, stagger: Duration) -> (usize, usize) {
    let (mut single, mut orphaned) = (0, 0);
    for round in 0..rounds {
        let start =
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_millis(40);
        let starts = [start, start + stagger];
        let mut copies: Vec<_> = starts
            .iter()
            .map(|at| spawn_child(test, path, Some(at.as_nanos())))
            .collect();
        let outcomes: Vec<String> = copies.iter_mut().map(said).collect();
        let winners: Vec<u32> = copies
            .iter()
            .zip(&outcomes)
            .filter(|(_, said)| *said == "won")
            .map(|(copy, _)| copy.id())
            .collect();
        for said in outcomes.iter().filter(|said| *said != "won") {
            assert!(said.starts_with("lost AddrInUse "), "round {round}: {said}");
        }
        // The one reached through the path answers with its pid.
        let mut answered = None;
        if !winners.is_empty() {
            let mut stream = UnixStream::connect(path).unwrap();
            stream.write_all(b"ping\n").unwrap();
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            answered = line.trim().parse::<u32>().ok();
        }
        match winners.len() {
            1 => {
                assert_eq!(
                    answered,
                    Some(winners[0]),
                    "round {round}: the winner is not at the path"
                );
                single += 1;
            }
            2 => orphaned += 1,
            _ => panic!("round {round}: nobody bound: {outcomes:?}"),
        }
        for copy in &mut copies {
            copy.kill();
        }
    }
    (single, orphaned)
}

#[test]
fn of_two_instances_started_at_once_exactly_one_binds_and_none_is_orphaned() {
    if in_child() {
        return race_once(&given_path(), listener);
    }
    let dir = scratch("race");
    let path = dir.join("app.sock");
    drop(UnixListener::bind(&path).unwrap()); // a stale file to start with
    let started = Instant::now();
    let (single, orphaned) = race(
        "of_two_instances_started_at_once_exactly_one_binds_and_none_is_orphaned",
        &path,
        200,
        Duration::ZERO,
    );
    println!(
        "200 rounds in {:?}: {single} with one winner, {orphaned} with an orphan",
        started.elapsed()
    );
    assert_eq!((single, orphaned), (200, 0));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn control_without_the_lock_two_instances_both_bind_and_one_is_orphaned() {
    if in_child() {
        return race_once(&given_path(), naive_listener);
    }
    let dir = scratch("naive");
    let path = dir.join("app.sock");
    drop(UnixListener::bind(&path).unwrap());
    let (single, orphaned) = race(
        "control_without_the_lock_two_instances_both_bind_and_one_is_orphaned",
        &path,
        10,
        Duration::from_millis(5),
    );
    println!("naive: {single} rounds with one winner, {orphaned} with an orphan");
    assert!(orphaned > 0, "the race did not show in 10 rounds");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_abstract_name_in_use_is_refused_and_nothing_is_on_disk() {
    let name = format!("restartable-test-{}", std::process::id());
    let first = abstract_listener(&name).unwrap();
    let local = first.local_addr().unwrap();
    assert!(local.as_pathname().is_none());
    assert_eq!(local.as_abstract_name(), Some(name.as_bytes()));

    let error = abstract_listener(&name).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::AddrInUse, "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("cannot bind @{name}: address in use")),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "a listening socket of process {} (",
            std::process::id()
        )),
        "{message}"
    );
    for file in [name.clone(), format!("{name}.lock")] {
        assert!(fs::symlink_metadata(&file).is_err(), "{file} was made");
    }
    // The expansion snapshot, `abstract_name = "app"` with `inherit`.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let socket = runtime.block_on(unix_abstract::listener()).unwrap();
    assert_eq!(
        socket.local_addr().unwrap().as_abstract_namespace(),
        Some(&b"restartable-example"[..])
    );
}

/// In a copy: under umask 0, the mode of a plain bind's file, of one made
/// by a socket narrowed with fchmod before bind, and of the listener's.
fn report_modes_under_umask_0(path: &Path) {
    #[allow(unsafe_code)]
    // SAFETY: umask has no memory effects; this copy runs one test thread.
    unsafe {
        libc::umask(0)
    };
    let mode_after_bind = |narrow: bool| {
        let path = path.with_extension(if narrow { "narrow" } else { "plain" });
        let socket = restartable::socket2::Socket::new(
            restartable::socket2::Domain::UNIX,
            restartable::socket2::Type::STREAM,
            None,
        )
        .unwrap();
        if narrow {
            use std::os::unix::io::AsRawFd;
            #[allow(unsafe_code)]
            // SAFETY: fchmod on a descriptor `socket` owns.
            let result = unsafe { libc::fchmod(socket.as_raw_fd(), 0o600) };
            assert_eq!(result, 0);
        }
        socket
            .bind(&restartable::socket2::SockAddr::unix(&path).unwrap())
            .unwrap();
        fs::symlink_metadata(&path).unwrap().permissions().mode() & 0o777
    };
    let _listener = group_only(path).unwrap();
    let mode = fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777;
    println!(
        "ready {:o} {:o} {mode:o}",
        mode_after_bind(false),
        mode_after_bind(true)
    );
}

#[test]
fn mode_is_set_exactly_whatever_the_umask() {
    if in_child() {
        return report_modes_under_umask_0(&given_path());
    }
    let dir = scratch("mode");
    let path = dir.join("app.sock");
    let _listener = group_only(&path).unwrap();
    let mode = fs::symlink_metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660, "{mode:o}");

    // With umask 0 a plain bind makes the file 777 before any chmod could
    // narrow it (the control); fchmod on the socket before bind, as the
    // runtime does on Linux, makes it 600 from the start.
    let stdout =
        run(command("mode_is_set_exactly_whatever_the_umask").env(PATH, dir.join("umask.sock")));
    assert_eq!(said_in(&stdout), "ready 777 600 660");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_path_over_the_limit_or_a_bad_variable_is_invalid_input_naming_it() {
    if in_child() {
        match from_env() {
            Ok(listener) => println!(
                "outcome ok @{}",
                String::from_utf8_lossy(listener.local_addr().unwrap().as_abstract_name().unwrap())
            ),
            Err(error) => println!("outcome {:?} {error}", error.kind()),
        }
        return;
    }
    let long = Path::new("/tmp").join("x".repeat(120));
    let error = listener(&long).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
    assert!(
        error.to_string().contains(
            "is 125 bytes long, and a Unix-domain socket's path is at most 107 bytes on this OS"
        ),
        "{error}"
    );
    // path_env, read in a child (this process has other threads, and
    // setenv beside them is not sound): `@name` is an abstract name, a path
    // is checked the same way.
    let name = format!("restartable-env-{}", std::process::id());
    assert_eq!(
        from_env_in_child(Some(format!("@{name}").as_ref())),
        format!("outcome ok @{name}")
    );
    let said = from_env_in_child(Some(long.as_os_str()));
    assert!(
        said.starts_with(
            "outcome InvalidInput environment variable RESTARTABLE_TEST_SOCKET=\"/tmp/xxx"
        ),
        "{said}"
    );
    assert_eq!(
        from_env_in_child(None),
        "outcome InvalidInput environment variable RESTARTABLE_TEST_SOCKET is not set and no \
         fallback `path` was given"
    );
}

/// What `from_env()` gives in a copy with `RESTARTABLE_TEST_SOCKET` set to
/// `value` (or unset).
fn from_env_in_child(value: Option<&std::ffi::OsStr>) -> String {
    let mut command = command("a_path_over_the_limit_or_a_bad_variable_is_invalid_input_naming_it");
    match value {
        Some(value) => command.env("RESTARTABLE_TEST_SOCKET", value),
        None => command.env_remove("RESTARTABLE_TEST_SOCKET"),
    };
    said_in(&run(&mut command))
}

#[test]
fn retry_waits_for_a_live_socket_to_go() {
    let dir = scratch("retry");
    let path = dir.join("app.sock");
    let held = UnixListener::bind(&path).unwrap();
    let release = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        drop(held);
    });
    let started = Instant::now();
    let _listener = patient(&path).unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    release.join().unwrap();
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn tokio_takes_the_path_too() {
    let dir = scratch("tokio");
    let path = dir.join("app.sock");
    drop(UnixListener::bind(&path).unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio_listener(&path).await.unwrap();
        let client = tokio::net::UnixStream::connect(&path).await.unwrap();
        let (_served, _) = listener.accept().await.unwrap();
        drop(client);
    });
    // Outside a runtime: an error, not tokio's panic.
    let outside = thread::spawn(move || {
        let path = dir.join("outside.sock");
        let error = async_io::block_on(tokio_listener(&path)).unwrap_err();
        fs::remove_dir_all(dir).unwrap();
        error
    })
    .join()
    .unwrap();
    assert!(
        outside.to_string().contains("inside a tokio runtime"),
        "{outside}"
    );
}

#[test]
fn the_builder_does_the_same_at_run_time() {
    let dir = scratch("builder");
    let path = dir.join("app.sock");
    drop(UnixListener::bind(&path).unwrap()); // stale
    assert_eq!(
        UnixListener::bind(&path).unwrap_err().kind(),
        ErrorKind::AddrInUse,
        "control"
    );
    let listener: UnixListener = restartable::UnixBuilder::new(&path)
        .mode(0o600)
        .backlog(8)
        .bind()
        .unwrap();
    let mode = fs::symlink_metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    UnixStream::connect(&path).unwrap();
    listener.accept().unwrap();
    let error = restartable::UnixBuilder::new(&path)
        .bind::<UnixDatagram>()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::AddrInUse, "{error}");

    let name = format!("restartable-builder-{}", std::process::id());
    let named: UnixListener = restartable::UnixBuilder::abstract_name(name.clone())
        .bind()
        .unwrap();
    assert_eq!(
        named.local_addr().unwrap().as_abstract_name(),
        Some(name.as_bytes())
    );
    let error = restartable::UnixBuilder::abstract_name(name)
        .mode(0o600)
        .bind::<UnixListener>()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
    assert!(
        error
            .to_string()
            .ends_with("an abstract name has no file, so no mode"),
        "{error}"
    );
    fs::remove_dir_all(dir).unwrap();
}

/// The start of the error when another process holds the path's lock.
fn lock_held(path: &Path) -> String {
    format!(
        "cannot bind {}: address in use: another process holds the lock on {}.lock, which a \
         restartable listener keeps for as long as its process runs",
        path.display(),
        path.display()
    )
}

#[test]
fn a_missing_directory_is_named_with_what_to_do() {
    let dir = scratch("missing");
    let missing = dir.join("demo");
    let path = missing.join("demo.sock");
    let error = listener(&path).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");
    assert_eq!(
        error.to_string(),
        format!(
            "cannot bind {}: the directory {} does not exist; create it first (under systemd, \
             RuntimeDirectory= creates one in /run for the service)",
            path.display(),
            missing.display()
        )
    );
    // Control: once the directory is there, the same call binds.
    fs::create_dir(&missing).unwrap();
    listener(&path).unwrap();
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_fifo_at_the_lock_path_is_refused_at_once_instead_of_blocking() {
    if in_child() {
        return say_outcome(&given_path());
    }
    let dir = scratch("fifo");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let path = dir.join("app.sock");
    let lock = dir.join("app.sock.lock");
    let status = Command::new("mkfifo").arg(&lock).status().unwrap();
    assert!(status.success());
    // A FIFO the binding process may not write: it runs as another user
    // when this test is root (who may write anything), else the FIFO is
    // read-only. Opening it for reading then waits for a writer.
    let user = if is_root() {
        fs::set_permissions(&lock, fs::Permissions::from_mode(0o644)).unwrap();
        Some(65534)
    } else {
        fs::set_permissions(&lock, fs::Permissions::from_mode(0o444)).unwrap();
        None
    };
    let said = outcome_within(
        "a_fifo_at_the_lock_path_is_refused_at_once_instead_of_blocking",
        &path,
        user,
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(
        said,
        format!(
            "outcome AlreadyExists cannot bind {}: the lock file {} is a FIFO, not a regular \
             file; it was left alone",
            path.display(),
            lock.display()
        )
    );
    assert!(fs::symlink_metadata(&lock).unwrap().file_type().is_fifo());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_lock_file_of_another_user_is_refused_at_once_naming_its_owner() {
    if !is_root() {
        restartable_tests::skip("making a file of another user needs root");
        return;
    }
    // A sticky, world-writable directory such as /tmp: another user made
    // the lock file first and holds its lock.
    let dir = scratch("foreign-lock");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).unwrap();
    let path = dir.join("app.sock");
    let lock = dir.join("app.sock.lock");
    fs::write(&lock, "").unwrap();
    std::os::unix::fs::chown(&lock, Some(65534), Some(65534)).unwrap();
    let held = fs::File::open(&lock).unwrap();
    lock_exclusively(&held);

    let started = Instant::now();
    let error = listener(&path).unwrap_err();
    let took = started.elapsed();
    println!("refused in {took:?}");
    assert_eq!(error.kind(), ErrorKind::PermissionDenied, "{error}");
    assert_eq!(
        error.to_string(),
        format!(
            "cannot bind {}: the lock file {} belongs to uid 65534, not to this process's user \
             (uid 0) or root, and its owner could hold the lock for ever; remove it, and keep \
             the socket in a directory only this service's user can write (such as /run/NAME, \
             from RuntimeDirectory= under systemd)",
            path.display(),
            lock.display()
        )
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(fs::symlink_metadata(&path).is_err(), "a socket was bound");

    // Control: the same file, released and given back to this user, is used.
    drop(held);
    std::os::unix::fs::chown(&lock, Some(0), Some(0)).unwrap();
    listener(&path).unwrap();
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_stale_socket_file_of_another_user_is_left_alone_naming_its_owner() {
    if !is_root() {
        restartable_tests::skip("making a file of another user needs root");
        return;
    }
    // A directory others can write, where another user's program left its
    // socket file (nothing is bound to it) and took no lock.
    let dir = scratch("foreign-stale");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).unwrap();
    let path = dir.join("app.sock");
    drop(UnixListener::bind(&path).unwrap());
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    let file = fs::symlink_metadata(&path).unwrap();
    let refused = UnixStream::connect(&path).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused, "{refused}");

    let error = listener(&path).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::PermissionDenied, "{error}");
    assert_eq!(
        error.to_string(),
        format!(
            "cannot bind {}: the socket file there belongs to uid 65534, not to this process's \
             user (uid 0) or root; nothing is bound to it, but another user's file is not \
             removed: remove it if it is not needed, and keep the socket in a directory only \
             this service's user can write (such as /run/NAME, from RuntimeDirectory= under \
             systemd)",
            path.display()
        )
    );
    let now = fs::symlink_metadata(&path).expect("the file was removed");
    assert_eq!((now.dev(), now.ino()), (file.dev(), file.ino()));
    assert_eq!(now.uid(), 65534);

    // Control: the same file, given to this user, is stale and replaced.
    std::os::unix::fs::chown(&path, Some(0), Some(0)).unwrap();
    let _listener = listener(&path).unwrap();
    UnixStream::connect(&path).unwrap();
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_live_instance_s_file_is_never_removed_even_when_it_refuses_connections() {
    if in_child() {
        drop(listener(&given_path()).unwrap());
        println!("ready");
        loop {
            thread::park();
        }
    }
    let dir = scratch("refusing");
    let path = dir.join("app.sock");
    // A live instance whose socket file refuses connections, as a busy
    // listener's does on macOS and the BSDs (a full accept queue answers
    // ECONNREFUSED there): here it closed its listener and runs on.
    let mut copy = spawn_child(
        "a_live_instance_s_file_is_never_removed_even_when_it_refuses_connections",
        &path,
        None,
    );
    assert_eq!(said(&mut copy), "ready");
    let probed = UnixStream::connect(&path).unwrap_err();
    assert_eq!(
        probed.kind(),
        ErrorKind::ConnectionRefused,
        "control: {probed}"
    );
    let file = fs::symlink_metadata(&path).unwrap();

    let started = Instant::now();
    let error = listener(&path).unwrap_err();
    println!("refused in {:?}", started.elapsed());
    assert_eq!(error.kind(), ErrorKind::AddrInUse, "{error}");
    assert!(error.to_string().starts_with(&lock_held(&path)), "{error}");
    let now = fs::symlink_metadata(&path).expect("the live instance's file was removed");
    assert_eq!(
        (now.dev(), now.ino()),
        (file.dev(), file.ino()),
        "the file was replaced"
    );

    // Once the instance is gone, its lock goes with it: the file is stale.
    copy.kill();
    listener(&path).unwrap();
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_lock_held_by_another_program_is_address_in_use_at_once() {
    if in_child() {
        let file = fs::File::open(given_path()).unwrap();
        lock_exclusively(&file);
        println!("ready");
        loop {
            thread::park();
        }
    }
    let dir = scratch("held-lock");
    let path = dir.join("app.sock");
    let lock = dir.join("app.sock.lock");
    fs::write(&lock, "").unwrap();
    let mut copy = spawn_child(
        "a_lock_held_by_another_program_is_address_in_use_at_once",
        &lock,
        None,
    );
    assert_eq!(said(&mut copy), "ready");
    let started = Instant::now();
    let error = listener(&path).unwrap_err();
    let took = started.elapsed();
    println!("refused in {took:?}");
    assert_eq!(error.kind(), ErrorKind::AddrInUse, "{error}");
    assert_eq!(error.to_string(), lock_held(&path));
    copy.kill();
    listener(&path).unwrap();
    fs::remove_dir_all(dir).unwrap();
}

/// Alone in a copy of this test binary, for the reason given below.
#[test]
fn in_one_process_a_path_is_bound_again_after_its_listener_is_dropped() {
    if !restartable_tests::alone(
        "in_one_process_a_path_is_bound_again_after_its_listener_is_dropped",
    ) {
        return;
    }
    let dir = scratch("rebind");
    let path = dir.join("app.sock");
    for round in 0..3 {
        let listener = listener(&path).unwrap_or_else(|e| panic!("round {round}: {e}"));
        UnixStream::connect(&path).unwrap();
        listener.accept().unwrap();
        // Dropped: the file stays behind, stale, as after a crash.
    }
    let datagram = unix_datagram_env::socket(&path).unwrap();
    drop(datagram);
    fs::remove_dir_all(dir).unwrap();
}

/// Runs alone in a copy of this test binary: a process that another test
/// forks in the meantime holds a copy of each round's listener until it
/// execs, which keeps the dropped listener live for the next round (seen:
/// the next round's binds all named that child as the holder).
#[test]
fn threads_binding_one_path_at_once_get_exactly_one_listener() {
    if !restartable_tests::alone("threads_binding_one_path_at_once_get_exactly_one_listener") {
        return;
    }
    let dir = scratch("threads");
    let path = dir.join("app.sock");
    for round in 0..20 {
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (barrier, path) = (barrier.clone(), path.clone());
                thread::spawn(move || {
                    barrier.wait();
                    listener(&path)
                })
            })
            .collect();
        let results: Vec<io::Result<UnixListener>> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        let mut winners = Vec::new();
        let mut losers = Vec::new();
        for result in results {
            match result {
                Ok(listener) => winners.push(listener),
                Err(error) => {
                    assert_eq!(error.kind(), ErrorKind::AddrInUse, "{error}");
                    losers.push(error.to_string());
                }
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {losers:#?}");
        // The winner is the one at the path.
        winners[0].set_nonblocking(true).unwrap();
        let _client = UnixStream::connect(&path).unwrap();
        let mut accepted = 0;
        while winners[0].accept().is_ok() {
            accepted += 1;
        }
        assert!(
            accepted >= 1,
            "round {round}: the winner is not at the path"
        );
    }
    fs::remove_dir_all(dir).unwrap();
}

/// A lock file with a second name is a hard link someone put there (to a
/// file of root's, where hard links are not restricted): refused, and the
/// file it names keeps its mode (before, it was narrowed to 0600).
#[test]
fn a_lock_file_that_is_a_hard_link_is_refused_and_left_alone() {
    let dir = scratch("hard-link-lock");
    let path = dir.join("app.sock");
    let victim = dir.join("victim");
    fs::write(&victim, "data").unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();
    fs::hard_link(&victim, dir.join("app.sock.lock")).unwrap();
    let error = listener(&path).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::AlreadyExists, "{error}");
    assert!(
        error.to_string().contains("has 2 names (hard links)"),
        "{error}"
    );
    assert_eq!(
        fs::metadata(&victim).unwrap().permissions().mode() & 0o777,
        0o644
    );
    fs::remove_dir_all(dir).unwrap();
}
