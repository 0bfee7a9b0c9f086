//! Upgrade requests from other processes (Windows): a named pipe,
//! `\\.\pipe\restartable-upgrade-<pid>`, made first by the service
//! (`FILE_FLAG_FIRST_PIPE_INSTANCE`; up to 4 instances, a client each), for
//! its own user alone (an access list with the user's SID and SYSTEM),
//! local clients only. The lines are the same as on Linux
//! (`super::answer`), and bounded in time the same way. On paper: Wine
//! enforces neither the access list nor the first instance (seen here).

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::os::windows::io::{AsHandle, OwnedHandle};
use std::thread;
use std::time::Duration;

use super::answer::{
    read_line, Answer, ANSWER_TIMEOUT, MOST_ANSWER_BYTES, MOST_REQUEST_BYTES, REQUEST, START_MARGIN,
};
use super::{Running, Upgraded};
use crate::sys::process as sys;

/// The name of process `pid`'s request pipe.
fn name(pid: u32) -> String {
    format!(r"\\.\pipe\restartable-upgrade-{pid}")
}

/// Makes this process's request pipe.
pub(crate) fn bind() -> io::Result<OwnedHandle> {
    let name = name(std::process::id());
    sys::named_pipe_server(&name, true).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot make the upgrade request pipe {name}: {error}"),
        )
    })
}

/// Answers requests for the life of the process, each on a thread of its
/// own (up to 4 at once): one runs the upgrade, one that comes meanwhile is
/// told that an upgrade is under way (`WouldBlock`), as on Linux.
pub(crate) fn serve(first: OwnedHandle, running: &Running) {
    let name = name(std::process::id());
    let mut pipe = first;
    let mut failures = 0u32;
    loop {
        if let Err(error) = sys::await_client(&pipe) {
            failures += 1;
            if failures == 1 || failures % 100 == 0 {
                crate::event!(
                    warn,
                    "upgrade: the request pipe failed ({failures} times): {error}"
                );
            }
            thread::sleep(Duration::from_millis(100).saturating_mul(failures.min(10)));
            continue;
        }
        failures = 0;
        // Answered on a thread of its own; then the next instance, for the
        // next client (with 4 connected, once one is done: each is bounded
        // in time).
        handle_on_thread(pipe, running);
        pipe = first_free(&name);
    }
}

/// An instance of the pipe, waiting until one can be made.
fn first_free(name: &str) -> OwnedHandle {
    let mut said = false;
    loop {
        match sys::named_pipe_server(name, false) {
            Ok(pipe) => return pipe,
            Err(error) => {
                if !said {
                    said = true;
                    crate::event!(info, "upgrade: no free request pipe instance yet: {error}");
                }
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Answers the client connected to `connected` on a thread of its own.
fn handle_on_thread(connected: OwnedHandle, running: &Running) {
    let running = running.clone();
    let handled = thread::Builder::new()
        .name("restartable-upgrade-request".into())
        .spawn(move || {
            if let Err(error) = answer(&connected, &running) {
                crate::event!(info, "upgrade: a request ended early: {error}");
            }
            sys::drop_client(&connected);
        });
    if let Err(error) = handled {
        crate::event!(warn, "upgrade: cannot answer a request: {error}");
    }
}

/// Reads the request line and runs the upgrade, saying when it started
/// and how it ended.
fn answer(pipe: &OwnedHandle, running: &Running) -> io::Result<()> {
    let client = sys::pipe_peer(pipe, true).ok();
    let connection = File::from(pipe.try_clone()?);
    // A client that connects and writes nothing is dropped after 5 s.
    let line = sys::with_deadline(pipe.as_handle(), ANSWER_TIMEOUT, || {
        read_line(&mut BufReader::new(&connection), MOST_REQUEST_BYTES)
    });
    let say = |answer: &Answer| {
        let _ = (&connection).write_all(format!("{}\n", answer.encode()).as_bytes());
    };
    match line {
        Ok(line) if line == REQUEST => {}
        Ok(line) => {
            say(&Answer::Error(
                io::ErrorKind::InvalidInput,
                format!("{line:?} is no request; expected {REQUEST:?}"),
            ));
            return Ok(());
        }
        Err(error) => return Err(error),
    }
    crate::event!(
        info,
        "upgrade: requested by process {}",
        client.map_or_else(|| "(unknown)".to_owned(), |pid| pid.to_string())
    );
    let ready_timeout = running.shared.setup.ready_timeout;
    let _ = running.upgrade_with(
        || say(&Answer::Started { ready_timeout }),
        |outcome| {
            say(&match outcome {
                Ok(upgraded) => Answer::Upgraded(*upgraded),
                Err(error) => Answer::Error(error.kind(), error.to_string()),
            });
        },
    );
    Ok(())
}

/// Asks the running process `pid` to upgrade, and waits for the outcome:
/// what a script or another service calls.
///
/// The request pipe is `\\.\pipe\restartable-upgrade-<pid>`; the answer is
/// believed only from process `pid` (the pipe's server). Waits at most 5 s
/// for the pipe to be free and for the process to start the upgrade, then
/// as long as the process's ready timeout allows (plus 10 s for the new
/// process's start), as on Linux.
///
/// # Errors
///
/// - `NotFound`: process `pid` does not listen for requests (no such
///   process, or it did not call [`Upgrade::ready`](super::Upgrade::ready));
/// - `PermissionDenied`: the pipe belongs to another process, or it refused
///   this user (on paper: Wine enforces no access list);
/// - an error of the read, cancelled at a deadline (the process stopped, or
///   hung);
/// - the upgrade's own error, with its kind and the process's reason, as on
///   Unix.
pub fn request(pid: u32) -> io::Result<Upgraded> {
    let name = name(pid);
    let pipe = sys::open_named_pipe(&name, ANSWER_TIMEOUT).map_err(|error| {
        let kind = if error.kind() == io::ErrorKind::NotFound {
            io::ErrorKind::NotFound
        } else {
            error.kind()
        };
        io::Error::new(
            kind,
            format!(
                "cannot ask process {pid} to upgrade: cannot open {name} (it does not listen for \
                 upgrade requests, or is not a restartable service): {error}"
            ),
        )
    })?;
    let server = sys::pipe_peer(&pipe, false)?;
    if server != pid {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("cannot ask process {pid} to upgrade: {name} is held by process {server}"),
        ));
    }
    let connection = File::from(pipe);
    let handle = connection.as_handle();
    sys::with_deadline(handle, ANSWER_TIMEOUT, || {
        (&connection).write_all(format!("{REQUEST}\n").as_bytes())
    })
    .map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot ask process {pid} to upgrade: {error}"),
        )
    })?;
    let mut answers = BufReader::new(&connection);
    let mut answer = sys::with_deadline(handle, ANSWER_TIMEOUT, || next_answer(&mut answers, pid))?;
    if let Answer::Started { ready_timeout } = answer {
        let deadline = ready_timeout.saturating_add(START_MARGIN);
        answer = sys::with_deadline(handle, deadline, || next_answer(&mut answers, pid))?;
    }
    match answer {
        Answer::Upgraded(upgraded) => Ok(upgraded),
        Answer::Error(kind, why) => Err(io::Error::new(kind, why)),
        Answer::Started { .. } => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("process {pid} said twice that the upgrade started"),
        )),
    }
}

fn next_answer(answers: &mut BufReader<&File>, pid: u32) -> io::Result<Answer> {
    let line = read_line(answers, MOST_ANSWER_BYTES).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("asked process {pid} to upgrade: {error}"),
        )
    })?;
    Answer::decode(&line).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("asked process {pid} to upgrade: it answered {line:?}, which is no answer"),
        )
    })
}
