//! The transaction between the old process and the new one.
//!
//! The old process starts the new one with the listeners at fds 3, 4, …
//! and, after them, one end of a socket pair: the ready channel, named by
//! `RESTARTABLE_UPGRADE=fd=N,generation=G,pid=P` (P the new process's own
//! id, as `LISTEN_PID`, so that a process it starts in turn does not take
//! the channel). On the channel:
//!
//! 1. the new process writes `R` when it is ready;
//! 2. the old one moves systemd's main pid to it (`MAINPID=`, when under
//!    systemd), then writes `G`;
//! 3. the new one writes `T`: it is the service now. The old one stops.
//!
//! Until `T`, the old one can still roll back: a new process that exits,
//! closes the channel, or is not ready in time is killed with its process
//! group (it runs in one of its own, so whatever it started goes too), and
//! the main pid is moved back. The old process waits on the child process
//! itself, not on the channel's end of file: a process the new one
//! started cannot keep the upgrade waiting.

use std::env;
use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::os::unix::net::UnixStream;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{kept, notify, Upgrade, Upgraded};
use crate::handoff::vars::{LISTEN_FDNAMES, LISTEN_FDS, LISTEN_FDS_FIRST_FD, LISTEN_PID};
use crate::sys::upgrade::{self as sys, Exec};
use crate::sys::{passed_fd, PassedFd};

pub(crate) const RESTARTABLE_UPGRADE: &str = "RESTARTABLE_UPGRADE";

/// How often the old process looks whether the new one has ended.
const POLL: Duration = Duration::from_millis(10);

/// What `RESTARTABLE_UPGRADE` says, when it is for this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Channel {
    fd: i32,
    generation: u32,
}

fn parse(value: &str, own_pid: u32) -> Option<Channel> {
    let (mut fd, mut generation, mut pid) = (None, None, None);
    for part in value.split(',') {
        let (key, value) = part.split_once('=')?;
        match key {
            "fd" => fd = value.parse::<i32>().ok().filter(|&fd| fd >= 3),
            "generation" => generation = value.parse::<u32>().ok(),
            "pid" => pid = value.parse::<u32>().ok(),
            _ => {}
        }
    }
    (pid? == own_pid).then_some(Channel {
        fd: fd?,
        generation: generation?,
    })
}

/// The channel named for this process, read once.
fn channel() -> Option<Channel> {
    static CHANNEL: OnceLock<Option<Channel>> = OnceLock::new();
    *CHANNEL.get_or_init(|| {
        env::var(RESTARTABLE_UPGRADE)
            .ok()
            .and_then(|value| parse(&value, sys::own_pid()))
    })
}

/// This process's generation: 0 unless an upgrade started it, else one
/// more than the process that started it.
#[must_use]
pub fn generation() -> u32 {
    channel().map_or(0, |channel| channel.generation)
}

/// In a process an upgrade started: says ready to the old process and
/// waits until it moved the service here (`R`, `G`, `T`). Elsewhere
/// nothing. When the old process is gone, this one carries on: it has the
/// sockets.
pub(crate) fn tell_old_process(timeout: Duration) -> io::Result<()> {
    // Taken once: a second `ready` finds it taken.
    static TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let Some(channel) = channel() else {
        return Ok(());
    };
    if TAKEN.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return Ok(());
    }
    if passed_fd(channel.fd)? != PassedFd::Socket {
        crate::event!(
            warn,
            "upgrade: {RESTARTABLE_UPGRADE} names fd {} for this process, which is not an \
             inheritable socket; the old process was not told",
            channel.fd
        );
        return Ok(());
    }
    #[allow(unsafe_code)]
    // SAFETY: the variable names this process (its pid is this process's,
    // written by the old process after fork, as LISTEN_PID is), and the
    // descriptor is an open socket without FD_CLOEXEC: inherited, so not
    // owned by anything in this process yet; `TAKEN` makes this the only
    // place that wraps it, once.
    let stream = unsafe { UnixStream::from_raw_fd(channel.fd) };
    let _ = socket2::SockRef::from(&stream).set_cloexec(true);
    let mut stream = stream;
    stream.set_read_timeout(Some(timeout.max(Duration::from_secs(1))))?;
    let outcome = (|| {
        stream.write_all(b"R")?;
        let mut reply = [0u8; 1];
        stream.read_exact(&mut reply)?;
        if reply != *b"G" {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected reply {reply:?}"),
            ));
        }
        stream.write_all(b"T")
    })();
    match outcome {
        Ok(()) => crate::event!(
            info,
            "upgrade: this process (generation {}) took over",
            channel.generation
        ),
        Err(error) => crate::event!(
            warn,
            "upgrade: the old process did not complete the handover ({error}); this process \
             carries on with the sockets it was given"
        ),
    }
    Ok(())
}

/// The old process's side: start the new one, wait for it, roll back on
/// any failure. `started` learns the new process's id.
pub(crate) fn run(setup: &Upgrade, started: impl FnOnce(u32)) -> io::Result<Upgraded> {
    let generation = generation() + 1;
    let (ours, theirs) = UnixStream::pair()?;
    let listeners = kept::fds();
    let mut fds: Vec<i32> = listeners.iter().map(|(_, fd)| *fd).collect();
    fds.push(theirs.as_raw_fd());
    let ready_fd = 2 + fds.len();
    let names = listeners
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(":");
    let mut env: Vec<(OsString, OsString)> = env::vars_os()
        .filter(|(name, _)| {
            ![
                LISTEN_PID,
                LISTEN_FDS,
                LISTEN_FDNAMES,
                LISTEN_FDS_FIRST_FD,
                RESTARTABLE_UPGRADE,
            ]
            .iter()
            .any(|own| name == own)
        })
        .collect();
    env.push((LISTEN_FDS.into(), listeners.len().to_string().into()));
    env.push((LISTEN_FDNAMES.into(), names.into()));
    let channel_prefix = format!("fd={ready_fd},generation={generation},pid=");
    let program = &setup.program;
    let mut exec = Exec::new(
        program,
        &setup.args,
        &env,
        &[(LISTEN_PID, ""), (RESTARTABLE_UPGRADE, &channel_prefix)],
    )?;
    let pid = sys::spawn(&mut exec, &fds).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!(
                "upgrade failed: cannot start {}: {error}",
                program.display()
            ),
        )
    })?;
    drop(theirs);
    let pid_u32 = pid.unsigned_abs();
    started(pid_u32);
    crate::event!(info, "upgrade: started {} as pid {pid}", program.display());
    let deadline = Instant::now() + setup.ready_timeout;
    let mut moved_main_pid = false;
    let outcome = (|| {
        let mut ours = ours;
        expect(&mut ours, b'R', pid, deadline, setup.ready_timeout)?;
        if notify::available() {
            notify::send(&format!("MAINPID={pid}"), &[])?;
            moved_main_pid = true;
        }
        ours.write_all(b"G").map_err(|e| lost(pid, &e))?;
        expect(&mut ours, b'T', pid, deadline, setup.ready_timeout)
    })();
    match outcome {
        Ok(()) => Ok(Upgraded {
            pid: pid_u32,
            generation,
        }),
        Err(error) => {
            sys::kill_group(pid);
            let _ = sys::wait(pid);
            if moved_main_pid {
                if let Err(back) = notify::send(&format!("MAINPID={}", sys::own_pid()), &[]) {
                    crate::event!(error, "upgrade: cannot move the main pid back here: {back}");
                }
            }
            Err(error)
        }
    }
}

/// Waits for `byte` from the new process, looking every [`POLL`] whether
/// it ended, until `deadline`.
fn expect(
    stream: &mut UnixStream,
    byte: u8,
    pid: libc::pid_t,
    deadline: Instant,
    timeout: Duration,
) -> io::Result<()> {
    stream.set_read_timeout(Some(POLL))?;
    let mut buffer = [0u8; 1];
    loop {
        match stream.read(&mut buffer) {
            Ok(1) if buffer[0] == byte => return Ok(()),
            Ok(1) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "upgrade failed: the new process (pid {pid}) sent {:?} where {:?} was \
                         expected on the ready channel",
                        char::from(buffer[0]),
                        char::from(byte)
                    ),
                ))
            }
            Ok(_) => return Err(ended(pid, "closed the ready channel")),
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(error) => return Err(lost(pid, &error)),
        }
        if let Some(status) = sys::try_wait(pid)? {
            return Err(io::Error::new(
                io::ErrorKind::Other,
                format!(
                    "upgrade failed: the new process (pid {pid}) {} before it was ready",
                    sys::describe_status(status)
                ),
            ));
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "upgrade failed: the new process (pid {pid}) was not ready within {timeout:?}; \
                     it was killed with what it started"
                ),
            ));
        }
    }
}

fn ended(pid: libc::pid_t, what: &str) -> io::Error {
    // The channel's end of file comes with the exit, or soon before it.
    let status = (0..20).find_map(|_| {
        let status = sys::try_wait(pid).ok().flatten();
        if status.is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
        status
    });
    let how = status.map_or_else(
        || what.to_owned(),
        |status| format!("{what} and {}", sys::describe_status(status)),
    );
    io::Error::new(
        io::ErrorKind::Other,
        format!("upgrade failed: the new process (pid {pid}) {how} before it was ready"),
    )
}

fn lost(pid: libc::pid_t, error: &io::Error) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("upgrade failed: the ready channel to the new process (pid {pid}) broke: {error}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_channel_is_for_the_process_it_names_only() {
        assert_eq!(
            parse("fd=5,generation=2,pid=77", 77),
            Some(Channel {
                fd: 5,
                generation: 2
            })
        );
        assert_eq!(parse("fd=5,generation=2,pid=77", 78), None);
        assert_eq!(parse("fd=1,generation=2,pid=77", 77), None);
        assert_eq!(parse("fd=5,pid=77", 77), None);
        assert_eq!(parse("garbage", 77), None);
    }
}
