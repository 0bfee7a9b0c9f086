//! A child process started with chosen descriptors, and the one handle that
//! may signal it. The handle knows whether the child was reaped, by this
//! process or by another handler (SIGCHLD ignored, another thread's
//! `waitpid`), and signals the child and its process group only while the
//! child is unreaped: until then its number, which is also its group's id,
//! cannot name another process. Reaping consumes the handle.

use std::io;
use std::os::unix::io::{BorrowedFd, OwnedFd, RawFd};
use std::process::ExitStatus;
use std::time::Duration;

use std::ffi::OsString;

use super::inherited::SD_LISTEN_FDS_START;
use crate::handoff::vars::{LISTEN_FDNAMES, LISTEN_FDS, LISTEN_FDS_FIRST_FD, LISTEN_PID};
use crate::sys::process::{self as sys, Exec, Unreaped};

/// The descriptors a child gets, each at the number [`Layout::place`]
/// returned: from fd 3 on, in the order they were placed, as
/// `sd_listen_fds(3)` numbers them; nothing else from 3 on.
#[derive(Debug, Default)]
pub(crate) struct Layout<'a> {
    fds: Vec<BorrowedFd<'a>>,
}

impl<'a> Layout<'a> {
    /// Places `fd` after those placed before; returns its number in the
    /// child.
    pub(crate) fn place(&mut self, fd: BorrowedFd<'a>) -> RawFd {
        let number = SD_LISTEN_FDS_START + RawFd::try_from(self.fds.len()).unwrap_or(RawFd::MAX);
        self.fds.push(fd);
        number
    }
}

/// This process's environment for a child passed sockets named `names` by
/// the protocol of `sd_listen_fds(3)`: `LISTEN_FDS` and `LISTEN_FDNAMES`
/// set, this process's own `LISTEN_*` and `also_removed` left out.
/// `LISTEN_PID` is the child's own: [`Exec::new`]'s `with_pid`.
pub(crate) fn listen_environment(
    names: &[&str],
    also_removed: &[&str],
) -> Vec<(OsString, OsString)> {
    let mut environment: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(name, _)| {
            ![LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES, LISTEN_FDS_FIRST_FD]
                .iter()
                .chain(also_removed)
                .any(|own| name == own)
        })
        .collect();
    environment.push((LISTEN_FDS.into(), names.len().to_string().into()));
    environment.push((LISTEN_FDNAMES.into(), names.join(":").into()));
    environment
}

/// A child process: see the module's docs.
#[derive(Debug)]
pub(crate) struct Child {
    pid: libc::pid_t,
    /// Linux 5.3 and later: the child itself, whatever its number becomes.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pidfd: Option<OwnedFd>,
    /// Reaped by someone else: no signal may go out any more.
    gone: bool,
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Its status, reaped here.
    Status(ExitStatus),
    /// Reaped by another handler in this process (SIGCHLD ignored, or
    /// another thread's `waitpid`): the status is not known here.
    Elsewhere,
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Status(status) => {
                use std::os::unix::process::ExitStatusExt;
                match (status.code(), status.signal()) {
                    (Some(code), _) => write!(f, "exited with status {code}"),
                    (None, Some(signal)) => write!(f, "was killed by signal {signal}"),
                    (None, None) => write!(f, "ended ({status})"),
                }
            }
            Ended::Elsewhere => {
                f.write_str("ended (its exit status was collected by another part of this program)")
            }
        }
    }
}

impl Child {
    /// Starts `exec` with `layout`'s descriptors, in a process group of its
    /// own; returns once the program runs, or with the error of the step
    /// that failed (the child then reaped), `TimedOut` when it has not
    /// started within `within`.
    pub(crate) fn spawn(
        exec: &mut Exec,
        layout: &Layout<'_>,
        within: Duration,
    ) -> io::Result<Child> {
        let spawned = sys::spawn(exec, SD_LISTEN_FDS_START, &layout.fds, within)?;
        Ok(Child {
            pid: spawned.pid,
            pidfd: spawned.pidfd,
            gone: false,
        })
    }

    pub(crate) fn id(&self) -> u32 {
        self.pid.unsigned_abs()
    }

    /// Whether the child has ended. It is not reaped here, so that its
    /// group can still be stopped.
    pub(crate) fn has_ended(&mut self) -> io::Result<bool> {
        if self.gone {
            return Ok(true);
        }
        #[cfg(target_os = "linux")]
        if let Some(pidfd) = &self.pidfd {
            return sys::pidfd_ended(pidfd);
        }
        match sys::unreaped(self.pid)? {
            Unreaped::Running => Ok(false),
            Unreaped::Ended => Ok(true),
            Unreaped::Gone => {
                self.gone = true;
                Ok(true)
            }
        }
    }

    /// SIGKILL to the child's process group and to the child, unless it was
    /// reaped by someone else: then nothing is sent.
    pub(crate) fn kill(&mut self) {
        if self.gone || sys::unreaped(self.pid).ok() == Some(Unreaped::Gone) {
            self.gone = true;
            crate::event!(
                debug,
                "upgrade: process {} was reaped elsewhere; nothing is signalled",
                self.pid
            );
            return;
        }
        // Unreaped (running, or ended and waiting to be reaped): its number
        // is still its own, and its group's.
        let _ = sys::kill_group(self.pid);
        // The child itself, in case it left the group.
        #[cfg(target_os = "linux")]
        if let Some(pidfd) = &self.pidfd {
            let _ = sys::pidfd_kill(pidfd);
            return;
        }
        let _ = sys::kill(self.pid);
    }

    /// Waits for the child to end, and reaps it.
    pub(crate) fn wait(self) -> io::Result<Ended> {
        if self.gone {
            return Ok(Ended::Elsewhere);
        }
        Ok(sys::wait(self.pid)?.map_or(Ended::Elsewhere, Ended::Status))
    }
}
