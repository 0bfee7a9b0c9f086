//! The old process's side of an upgrade on Windows: start the new process
//! in a job with the listeners and the channel, wait for its `R`, let it
//! outlive this process, send `C`; or end it with everything it started.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::{AsHandle, OwnedHandle};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::channel::RESTARTABLE_UPGRADE;
use super::{Upgrade, Upgraded};
use crate::pass::kept;
use crate::pass::wire::{command_line, environment_block, UpgradeVars, Vars, RESTARTABLE_SOCKETS};
use crate::sys::process::{self as sys, Job, Spawned};

/// How often the new process's exit is looked at while waiting.
const POLL: Duration = Duration::from_millis(10);

/// The new process, started: what rolls it back.
struct Started {
    process: Spawned,
    job: Job,
}

/// Runs the upgrade: `started` is told the new process's id once it runs.
pub(crate) fn run(setup: &Upgrade, started: impl FnOnce(u32)) -> io::Result<Upgraded> {
    let program = setup.program.clone().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "the program's path is not known; set it with Upgrade::program",
        )
    })?;
    if !program.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("cannot start {}: no such file", program.display()),
        ));
    }
    let generation = setup.generation + 1;
    let (take_read, take_write) = sys::pipe()?;
    let (ready_read, ready_write) = sys::pipe()?;
    let (commit_read, commit_write) = sys::pipe()?;
    // Under the supervisor: the new process passes its listeners to it too,
    // on this process's store pipe.
    let keeper = crate::pass::keeper()?;
    let me = std::process::id();
    let sockets = Vars {
        parent: me,
        take: Some(sys::handle_value(&take_read)),
        store: keeper.as_ref().map(|(_, pipe)| sys::handle_value(pipe)),
        keeper: keeper.as_ref().map(|(pid, _)| *pid),
    };
    let channel = UpgradeVars {
        parent: me,
        generation,
        ready: sys::handle_value(&ready_write),
        commit: sys::handle_value(&commit_read),
    };
    let wide = |text: &std::ffi::OsStr| text.encode_wide().collect::<Vec<u16>>();
    let environment = environment_block(
        std::env::vars_os().map(|(name, value)| (wide(&name), wide(&value))),
        &[
            (
                wide(RESTARTABLE_SOCKETS.as_ref()),
                wide(sockets.format().as_ref()),
            ),
            (
                wide(RESTARTABLE_UPGRADE.as_ref()),
                wide(channel.format().as_ref()),
            ),
        ],
    )?;
    let args: Vec<Vec<u16>> = setup.args.iter().skip(1).map(|arg| wide(arg)).collect();
    let line = command_line(&wide(program.as_os_str()), &args)?;
    let job = Job::new()?;
    let mut inherited = vec![
        take_read.as_handle(),
        ready_write.as_handle(),
        commit_read.as_handle(),
    ];
    if let Some((_, store)) = &keeper {
        inherited.push(store.as_handle());
    }
    for end in &inherited {
        sys::set_inheritable(*end, true)?;
    }
    let spawned = sys::spawn(&program, &line, &environment, &inherited, &job);
    drop(inherited);
    drop((take_read, ready_write, commit_read, keeper));
    let mut process = spawned.map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot start {}: {error}", program.display()),
        )
    })?;
    let pid = process.pid;
    started(pid);
    process.resume()?;
    let mut new = Started { process, job };
    pass(pid, take_write);
    // The commit pipe stays open until a failed attempt is ended: a new
    // process that sent R and saw the pipe close would carry on serving.
    let outcome = await_ready(&new, ready_read, setup.ready_timeout)
        .and_then(|()| commit(&new, &commit_write));
    let result = match outcome {
        Ok(()) => Ok(Upgraded { pid, generation }),
        Err(error) => Err(roll_back(&mut new, &error)),
    };
    drop(commit_write);
    result
}

/// The kept listeners, for the new process (`pass::send_sockets`).
fn pass(pid: u32, pipe: OwnedHandle) {
    kept::with(|kept| {
        crate::pass::send_sockets(
            "upgrade",
            pid,
            kept.iter().map(|k| (Some(k.name.clone()), &k.socket)),
            pipe,
        );
    });
}

/// Waits for the new process's `R`, up to `timeout`, while it runs.
fn await_ready(new: &Started, pipe: OwnedHandle, timeout: Duration) -> io::Result<()> {
    let (told, ready) = mpsc::channel();
    thread::Builder::new()
        .name("restartable-upgrade-ready".into())
        .spawn(move || {
            let mut byte = [0u8; 1];
            let _ = told.send(File::from(pipe).read(&mut byte).map(|n| (n, byte[0])));
        })?;
    let deadline = Instant::now() + timeout;
    loop {
        match ready.recv_timeout(POLL) {
            Ok(Ok((1, b'R'))) => return Ok(()),
            Ok(Ok((1, byte))) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the new process sent {byte:#04x}; expected R"),
                ))
            }
            Ok(Ok(_)) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(match new.process.wait(Duration::from_secs(1))? {
                    Some(code) => exited(code),
                    None => {
                        io::Error::other("the new process closed the channel before it was ready")
                    }
                })
            }
            Ok(Err(error)) => return Err(error),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Some(code) = new.process.wait(Duration::ZERO)? {
            return Err(exited(code));
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the new process was not ready within {timeout:?}"),
            ));
        }
    }
}

fn exited(code: u32) -> io::Error {
    io::Error::other(format!(
        "the new process exited with status {code:#X} before it was ready"
    ))
}

/// The new process is ready: it must still run; then it is let out of
/// the job's end (it outlives this process) and told `C`.
fn commit(new: &Started, pipe: &OwnedHandle) -> io::Result<()> {
    if let Some(code) = new.process.wait(Duration::ZERO)? {
        return Err(io::Error::other(format!(
            "the new process exited with status {code:#X} once it was ready"
        )));
    }
    new.job.release()?;
    File::from(pipe.try_clone()?).write_all(b"C")?;
    // Under the supervisor, it follows the new process from now on (after
    // C, so that no failure needs taking back; the supervisor gives an
    // exited service's successor 500 ms to be named). A supervisor that
    // cannot be told is gone, and its job with everything in it.
    if let Err(error) = crate::pass::send_main(new.process.pid) {
        crate::event!(
            error,
            "upgrade: cannot tell the supervisor that pid {} serves now: {error}",
            new.process.pid
        );
    }
    Ok(())
}

/// Ends the new process and what it started; the error for the initiator.
fn roll_back(new: &mut Started, error: &io::Error) -> io::Error {
    let _ = new.job.terminate(1);
    let _ = new.process.wait(Duration::from_secs(5));
    io::Error::new(
        error.kind(),
        format!(
            "the upgrade failed: {error}; the new process (pid {}) was ended with what it \
             started, and this one serves on",
            new.process.pid
        ),
    )
}
