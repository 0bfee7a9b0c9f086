//! Sockets passed as systemd passes them, to a copy of a test binary: the
//! sockets as descriptors 3, 4, … (or from `LISTEN_FDS_FIRST_FD` on), with
//! `LISTEN_FDS`, `LISTEN_FDNAMES` and `LISTEN_PID` set as the test asks,
//! including the ways other supervisors and broken setups set them.

use std::io;
use std::os::unix::io::{AsRawFd, BorrowedFd};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use restartable::socket2::{SockRef, Socket};

use crate::copy::through;

/// What `LISTEN_PID` says to the started process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenPid {
    /// Its own process id, as systemd sets it.
    Own,
    /// Not set, as `systemfd --no-pid` leaves it.
    Unset,
    /// This text, for tests of other and malformed values.
    Value(String),
}

/// A command that starts a program with `sockets` as descriptors 3, 4, …
/// and the socket activation variables; [`Passing::run`] runs it.
#[derive(Debug)]
pub struct Passing {
    command: Command,
    /// Copies of the sockets that a child inherits (not close-on-exec),
    /// closed in this process once the child has started.
    inheritable: Vec<Socket>,
}

/// Starting processes with inheritable descriptors is done one at a time,
/// so that no other child started meanwhile inherits them.
static SPAWNING: Mutex<()> = Mutex::new(());

impl Passing {
    /// Prepares `target` (its program, arguments and variables; a copy from
    /// [`crate::command`]) with `sockets` passed, `names` (when given) as
    /// `LISTEN_FDNAMES`, and `LISTEN_PID` as `pid` says. `bash` moves the
    /// descriptors to 3, 4, … and sets `LISTEN_PID` to its own process id,
    /// which `exec` hands on to the program.
    ///
    /// # Errors
    ///
    /// When a socket cannot be copied.
    pub fn new(
        target: &Command,
        sockets: &[BorrowedFd<'_>],
        names: Option<&str>,
        pid: &ListenPid,
    ) -> io::Result<Passing> {
        Passing::from_fd(target, sockets, names, pid, 3)
    }

    /// [`Passing::new`] with the sockets from descriptor `first` on, as
    /// `systemfd` places them when lower numbers are taken: the numbers from
    /// 3 up to `first` are open on `/dev/null`, and `LISTEN_FDS_FIRST_FD`
    /// says where the sockets start.
    ///
    /// # Errors
    ///
    /// When a socket cannot be copied.
    pub fn from_fd(
        target: &Command,
        sockets: &[BorrowedFd<'_>],
        names: Option<&str>,
        pid: &ListenPid,
        first: usize,
    ) -> io::Result<Passing> {
        let mut inheritable = Vec::new();
        for socket in sockets {
            let copy = SockRef::from(socket).try_clone()?;
            copy.set_cloexec(false)?;
            inheritable.push(copy);
        }
        // Through high numbers first, so that no source is overwritten
        // before it is copied.
        let mut lines: Vec<String> = inheritable
            .iter()
            .enumerate()
            .map(|(index, socket)| {
                format!("exec {}<&{} || exit 97", 100 + index, socket.as_raw_fd())
            })
            .collect();
        lines.extend((3..first).map(|fd| format!("exec {fd}</dev/null || exit 97")));
        lines.extend((0..inheritable.len()).map(|index| {
            format!(
                "exec {}<&{} {}<&- || exit 97",
                first + index,
                100 + index,
                100 + index
            )
        }));
        let mut script = lines.join("\n");
        script.push('\n');
        if *pid == ListenPid::Own {
            script.push_str("export LISTEN_PID=$$\n");
        }
        script.push_str("exec \"$@\"\n");
        let mut command = through("bash", &["-c", &script, "bash"], target);
        command.env("LISTEN_FDS", sockets.len().to_string());
        command
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES");
        if let Some(names) = names {
            command.env("LISTEN_FDNAMES", names);
        }
        if first == 3 {
            command.env_remove("LISTEN_FDS_FIRST_FD");
        } else {
            command.env("LISTEN_FDS_FIRST_FD", first.to_string());
        }
        if let ListenPid::Value(value) = pid {
            command.env("LISTEN_PID", value);
        }
        Ok(Passing {
            command,
            inheritable,
        })
    }

    /// The command, to set more variables on it.
    pub fn command(&mut self) -> &mut Command {
        &mut self.command
    }

    /// Runs it to the end and returns what it printed on stdout. A copy
    /// still running after 30 s is killed, so that a case that hangs fails
    /// instead of hanging.
    ///
    /// # Panics
    ///
    /// When it cannot be started, or when the copy of the test binary did
    /// not pass its one test (as [`crate::run`]; a copy killed after 30 s
    /// did not).
    #[must_use]
    pub fn run(mut self) -> String {
        let child = {
            let _one_at_a_time = SPAWNING.lock().unwrap_or_else(PoisonError::into_inner);
            let child = self
                .command
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn();
            drop(self.inheritable);
            child.expect("bash starts")
        };
        let pid = child.id();
        let done = Arc::new(AtomicBool::new(false));
        let watchdog = {
            let done = Arc::clone(&done);
            thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(30);
                while !done.load(Ordering::Acquire) && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(20));
                }
                if !done.load(Ordering::Acquire) {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
            })
        };
        let output = child.wait_with_output();
        done.store(true, Ordering::Release);
        let _ = watchdog.join();
        let output = output.expect("the copy is waited for");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "the copy of the test binary did not pass its test ({}): {:?}\n{stdout}\n{}",
            output.status,
            self.command,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }
}
