//! The ready channel between an old process and the new one it starts.
//!
//! One end of a socket pair is passed to the new process after its
//! listeners, named by `RESTARTABLE_UPGRADE=v=2,fd=N,generation=G,pid=P`
//! (P is the new process's own id, written after `fork` as `LISTEN_PID`
//! is, so that a program the new one starts in turn does not take the
//! channel). On it:
//!
//! 1. the new process writes `R` when it is ready to serve;
//! 2. the old one writes `G`, with the lock files of its Unix socket paths
//!    attached (received close-on-exec: they are never inheritable in the
//!    new process);
//! 3. the new one writes `T`: from here on it serves, whatever becomes of
//!    the old one;
//! 4. the old one checks that the new one still runs, moves systemd's main
//!    pid to it (under systemd), and writes `C`; it is replaced, and stops
//!    accepting. The new one waits for `C` before it sends anything to
//!    systemd, where only the main process is heard (`NotifyAccess=main`).
//!
//! Until `C`, the old process can roll back, and systemd has seen nothing.

use std::env;
use std::io::{self, Read};
use std::os::unix::io::{AsFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use crate::process::{inherited, locks};
use crate::sys::send_all;
use crate::sys::upgrade::{receive_with_fds, send_with_fds};

/// The variable that names the channel.
pub(crate) const RESTARTABLE_UPGRADE: &str = "RESTARTABLE_UPGRADE";

/// The protocol's version: a new process started by an old process that
/// speaks another one leaves the channel alone, and the upgrade fails at
/// the ready timeout instead of going wrong.
const VERSION: u32 = 2;

/// One step of the handshake, one byte on the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// New → old: ready to serve.
    Ready,
    /// Old → new: go (the lock files attached).
    Go,
    /// New → old: taken over.
    Taken,
    /// Old → new: committed; the main pid is the new process's.
    Committed,
}

impl Step {
    pub(crate) fn byte(self) -> u8 {
        match self {
            Step::Ready => b'R',
            Step::Go => b'G',
            Step::Taken => b'T',
            Step::Committed => b'C',
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Step::Ready => "ready (R)",
            Step::Go => "go (G)",
            Step::Taken => "taken over (T)",
            Step::Committed => "committed (C)",
        }
    }
}

/// What `RESTARTABLE_UPGRADE` says to the new process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Named {
    /// The channel's descriptor in the new process.
    pub(crate) fd: RawFd,
    /// The new process's generation.
    pub(crate) generation: u32,
}

/// What a `RESTARTABLE_UPGRADE` value means for the process `own_pid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reading {
    /// It names this process.
    Ours(Named),
    /// It names another process (this one was started by the new process
    /// of an upgrade, and inherited the variable), or none at all.
    NotOurs,
    /// It names this process in another version of the protocol.
    OtherVersion(u32),
}

impl Named {
    /// The value, but for the new process's pid, which the child writes
    /// after `fork`.
    pub(crate) fn value_before_pid(self) -> String {
        format!(
            "v={VERSION},fd={},generation={},pid=",
            self.fd, self.generation
        )
    }

    /// Reads a value of `RESTARTABLE_UPGRADE`.
    pub(crate) fn read(value: &str, own_pid: u32) -> Reading {
        let (mut version, mut fd, mut generation, mut pid) = (None, None, None, None);
        for part in value.split(',') {
            let Some((key, value)) = part.split_once('=') else {
                return Reading::NotOurs;
            };
            match key {
                "v" => version = value.parse::<u32>().ok(),
                "fd" => fd = value.parse::<RawFd>().ok().filter(|&fd| fd >= 3),
                "generation" => generation = value.parse::<u32>().ok(),
                "pid" => pid = value.parse::<u32>().ok(),
                _ => {}
            }
        }
        if pid != Some(own_pid) {
            return Reading::NotOurs;
        }
        match (version, fd, generation) {
            (Some(VERSION), Some(fd), Some(generation)) => Reading::Ours(Named { fd, generation }),
            (Some(other), _, _) if other != VERSION => Reading::OtherVersion(other),
            // The first version had no `v=`.
            (None, _, _) => Reading::OtherVersion(1),
            _ => Reading::NotOurs,
        }
    }
}

/// The new process's end of the channel, taken at `Upgrade::new`.
#[derive(Debug)]
pub(crate) struct NewSide {
    stream: UnixStream,
    generation: u32,
}

/// In a process an upgrade started: the channel the old process passed,
/// owned and marked close-on-exec; `None` elsewhere, and after the first
/// call.
pub(crate) fn take() -> Option<NewSide> {
    static TAKEN: std::sync::Once = std::sync::Once::new();
    let mut found = None;
    TAKEN.call_once(|| found = take_once());
    found
}

fn take_once() -> Option<NewSide> {
    let value = env::var(RESTARTABLE_UPGRADE).ok()?;
    let named = match Named::read(&value, std::process::id()) {
        Reading::Ours(named) => named,
        Reading::NotOurs => return None,
        Reading::OtherVersion(version) => {
            crate::event!(
                warn,
                "upgrade: {RESTARTABLE_UPGRADE} names this process in version {version} of the \
                 handover, and this one speaks version {VERSION}; the channel was left alone, \
                 and the old process will roll back"
            );
            return None;
        }
    };
    let look = match inherited::look(named.fd) {
        Ok(look) => look,
        Err(error) => {
            crate::event!(warn, "upgrade: cannot look at fd {}: {error}", named.fd);
            return None;
        }
    };
    #[allow(unsafe_code)]
    // SAFETY: the variable names this process (its pid is this process's
    // own, written by the old process after fork, as LISTEN_PID is), so the
    // number was passed to it; `take` runs this once per process, and
    // nothing else in this crate adopts it.
    match unsafe { look.adopt(true) } {
        Ok(fd) => Some(NewSide {
            stream: UnixStream::from(fd),
            generation: named.generation,
        }),
        Err(why) => {
            crate::event!(
                warn,
                "upgrade: {RESTARTABLE_UPGRADE} names fd {} for this process, which {}; it was \
                 left alone",
                named.fd,
                why.describe()
            );
            None
        }
    }
}

/// How the new process's side of the handshake ended.
#[derive(Debug)]
pub(crate) enum TakeOver {
    /// The old process committed: this one is the service.
    Committed,
    /// The old process did not finish the handshake (it ended, or did not
    /// answer in time): this one carries on with the sockets it has.
    Unfinished(io::Error),
}

impl NewSide {
    pub(crate) fn generation(&self) -> u32 {
        self.generation
    }

    /// `R`, then `G` with the lock files (recorded as this process's), `T`,
    /// and `C`; each answer waited for at most `timeout` (at least 1 s).
    pub(crate) fn take_over(mut self, timeout: Duration) -> TakeOver {
        let outcome = (|| {
            self.stream
                .set_read_timeout(Some(timeout.max(Duration::from_secs(1))))?;
            send_all(self.stream.as_fd(), &[Step::Ready.byte()])?;
            self.receive_go()?;
            send_all(self.stream.as_fd(), &[Step::Taken.byte()])?;
            self.expect(Step::Committed)
        })();
        match outcome {
            Ok(()) => TakeOver::Committed,
            Err(error) => TakeOver::Unfinished(error),
        }
    }

    fn receive_go(&mut self) -> io::Result<()> {
        let mut byte = [0u8; 1];
        let (read, fds) = receive_with_fds(&self.stream, &mut byte)?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the old process closed the channel before go (G)",
            ));
        }
        if byte[0] != Step::Go.byte() {
            return Err(unexpected(byte[0], Step::Go));
        }
        for fd in fds {
            let path = lock_path(fd.as_fd());
            if let Err(error) = locks::adopt(std::fs::File::from(fd), path) {
                crate::event!(
                    warn,
                    "upgrade: a lock file passed by the old process cannot be used: {error}"
                );
            }
        }
        Ok(())
    }

    fn expect(&mut self, step: Step) -> io::Result<()> {
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte)? {
            0 => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the old process closed the channel before {}", step.name()),
            )),
            _ if byte[0] == step.byte() => Ok(()),
            _ => Err(unexpected(byte[0], step)),
        }
    }
}

/// The path a passed lock file had in the old process, for messages.
fn lock_path(fd: BorrowedFd<'_>) -> PathBuf {
    use std::os::unix::io::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .unwrap_or_else(|_| PathBuf::from("(a lock file passed by the replaced process)"))
}

pub(crate) fn unexpected(byte: u8, expected: Step) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "the other process sent {:?} on the upgrade's channel where {} was expected",
            char::from(byte),
            expected.name()
        ),
    )
}

/// The old process's side: sends `step`, with `fds` attached.
pub(crate) fn send(stream: &UnixStream, step: Step, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    send_with_fds(stream.as_fd(), None, &[step.byte()], fds).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_channel_is_for_the_process_it_names_only() {
        let named = Named {
            fd: 5,
            generation: 2,
        };
        let value = format!("{}77", named.value_before_pid());
        assert_eq!(value, "v=2,fd=5,generation=2,pid=77");
        assert_eq!(Named::read(&value, 77), Reading::Ours(named));
        assert_eq!(Named::read(&value, 78), Reading::NotOurs);
        assert_eq!(
            Named::read("v=2,fd=1,generation=2,pid=77", 77),
            Reading::NotOurs
        );
        assert_eq!(Named::read("v=2,fd=5,pid=77", 77), Reading::NotOurs);
        assert_eq!(Named::read("garbage", 77), Reading::NotOurs);
        assert_eq!(
            Named::read("fd=5,generation=2,locks=1,pid=77", 77),
            Reading::OtherVersion(1)
        );
        assert_eq!(
            Named::read("v=3,fd=5,generation=2,pid=77", 77),
            Reading::OtherVersion(3)
        );
    }

    /// The lock files go with `G`, and arrive close-on-exec.
    #[test]
    fn go_carries_the_lock_files_close_on_exec() {
        use std::os::unix::io::AsRawFd;
        let (old, new) = UnixStream::pair().unwrap();
        let file = tempfile_in_target();
        send(&old, Step::Go, &[file.as_fd()]).unwrap();
        let mut byte = [0u8; 1];
        let (read, fds) = receive_with_fds(&new, &mut byte).unwrap();
        assert_eq!((read, byte[0], fds.len()), (1, b'G', 1));
        assert_eq!(
            crate::sys::passed_fd(fds[0].as_raw_fd()).unwrap(),
            crate::sys::PassedFd::CloseOnExec
        );
    }

    fn tempfile_in_target() -> std::fs::File {
        let path = env::temp_dir().join(format!("restartable-channel-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }
}
