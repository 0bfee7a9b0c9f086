//! A test that needs another process (a holder of a port, a service of
//! another user, a process given passed sockets or variables) runs itself
//! there: the same `#[test]` function, in a copy of the test binary that
//! runs that one test alone. In the copy [`in_child`] is true and the test
//! does the work; in the test's own process it starts the copy and checks
//! what the copy reports. So every test checks something, and no test exists
//! only to be the other process's entry point.
//!
//! ```text
//! #[test]
//! fn the_variable_gives_the_port() {
//!     if in_child() {
//!         // The copy: the variable is in its environment.
//!         println!("bound {:?}", listener().map(|l| l.local_addr()));
//!         return;
//!     }
//!     let stdout = child("the_variable_gives_the_port", &[("PORT", "0")]);
//!     assert!(stdout.contains("bound Ok("), "{stdout}");
//! }
//! ```
//!
//! Variables reach the copy through its environment ([`Command::env`]),
//! never through `set_var` in this multi-threaded process. [`child`] runs a
//! copy to its end; [`command`] gives the command to change first (more
//! variables, another user, [`through`] another program such as `setpriv`
//! or a supervisor that passes sockets), which [`run`] runs to its end or
//! [`Running::start`] starts beside the test.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// Set in a copy of a test binary that [`command`] made.
const IN_CHILD: &str = "RESTARTABLE_TEST_IN_CHILD";

/// Whether this process is a copy of a test binary started by [`command`]
/// (or [`child`], [`alone`]): the test runs its body there, with the
/// variables the command gave it.
#[must_use]
pub fn in_child() -> bool {
    std::env::var_os(IN_CHILD).is_some()
}

/// The command that runs the test `name` of this test binary again, alone,
/// in a copy where [`in_child`] is true: the binary with `--exact NAME
/// --nocapture --test-threads=1`. A test in a module is named with its path
/// (`tests::name`).
///
/// # Panics
///
/// When the path of the test binary cannot be had.
#[must_use]
pub fn command(name: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(IN_CHILD, "1");
    command
}

/// `command` started by another program: `program` with `args`, then
/// `command`'s program and arguments, with `command`'s variables (those it
/// sets and those it removes). For a program that runs the rest of its
/// arguments as a command: `setpriv … --`, `ip netns exec NAME`, `sh -c
/// 'umask 0 && exec "$0" "$@"'`, a supervisor that passes sockets.
#[must_use]
pub fn through<S: AsRef<OsStr>>(
    program: impl AsRef<OsStr>,
    args: &[S],
    command: &Command,
) -> Command {
    let mut outer = Command::new(program);
    outer
        .args(args)
        .arg(command.get_program())
        .args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => outer.env(name, value),
            None => outer.env_remove(name),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        outer.current_dir(dir);
    }
    outer
}

/// Runs `command`, a copy from [`command`] (perhaps [`through`] another
/// program), to its end and returns its standard output.
///
/// # Panics
///
/// When it cannot be started, when its test fails (its output is in the
/// message), or when it ran no test: a name that is not the test's.
pub fn run(command: &mut Command) -> String {
    let output = command.output().expect("a copy of the test binary starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the copy of the test binary failed ({}): {command:?}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the copy ran no test: {command:?}\n{stdout}"
    );
    stdout
}

/// This test binary again, to run the test `name` alone with `vars` in its
/// environment, to its end: [`run`] of [`command`] with the variables. The
/// test's body runs where [`in_child`] is true.
///
/// # Panics
///
/// As [`run`].
#[must_use]
pub fn child(name: &str, vars: &[(&str, &str)]) -> String {
    run(command(name).envs(vars.iter().copied()))
}

/// For a test that must run alone in its process (no other test's threads
/// or forked children beside it): `true` in the copy of this binary that
/// runs it; elsewhere it runs that copy, fails with it, and gives `false`.
///
/// # Panics
///
/// As [`child`].
#[must_use]
pub fn alone(name: &str) -> bool {
    if in_child() {
        return true;
    }
    let _ = child(name, &[]);
    false
}

/// A copy that runs beside the test (it holds a port, serves, waits), with
/// its standard output piped to the test, killed and waited for when
/// dropped, so that a test that fails leaves no process behind. Its standard
/// input is a pipe that stays open until then: a copy that reads it to its
/// end lives no longer than the test's process, even one killed.
#[derive(Debug)]
pub struct Running {
    child: Child,
    stdout: BufReader<ChildStdout>,
    _stdin: ChildStdin,
}

impl Running {
    /// Starts `command`, a copy from [`command`] (perhaps [`through`]
    /// another program).
    ///
    /// # Panics
    ///
    /// When it cannot be started.
    pub fn start(command: &mut Command) -> Running {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("a copy of the test binary starts");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let stdin = child.stdin.take().expect("piped");
        Running {
            child,
            stdout,
            _stdin: stdin,
        }
    }

    /// Its process id.
    #[must_use]
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Its standard output, to read what it says.
    pub fn stdout(&mut self) -> &mut BufReader<ChildStdout> {
        &mut self.stdout
    }

    /// What follows `word` on the first line it prints that has it, the
    /// lines before it skipped (the test harness's among them).
    ///
    /// # Panics
    ///
    /// When its output ends first.
    pub fn after(&mut self, word: &str) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let read = self.stdout.read_line(&mut line).unwrap_or(0);
            assert!(read > 0, "the copy ended without saying {word:?}");
            if let Some((_, rest)) = line.split_once(word) {
                return rest.trim_end().to_owned();
            }
        }
    }

    /// Waits for its end and returns the rest of its standard output (after
    /// what was read with [`Running::after`] or [`Running::stdout`]).
    ///
    /// # Panics
    ///
    /// As [`run`]: when its test fails or it ran no test.
    #[must_use]
    pub fn finish(mut self) -> String {
        let mut rest = String::new();
        let _ = self.stdout.read_to_string(&mut rest);
        let status = self.child.wait().expect("the copy is waited for");
        assert!(
            status.success(),
            "the copy of the test binary failed ({status}):\n{rest}"
        );
        assert!(rest.contains("1 passed"), "the copy ran no test:\n{rest}");
        rest
    }

    /// Kills it with SIGKILL (`TerminateProcess` on Windows) and waits for
    /// it.
    ///
    /// # Panics
    ///
    /// When it cannot be killed or waited for.
    pub fn kill(&mut self) {
        self.child.kill().expect("the copy is killed");
        self.child.wait().expect("the copy is waited for");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
