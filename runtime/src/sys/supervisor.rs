//! The raw calls of the supervisor (Linux): become the reaper of orphans,
//! reap any child, and read a process's parent.

use std::io;
// In the prelude only since Rust 1.80; the crate states 1.71.
#[allow(unused_imports)]
use std::mem::size_of;
use std::os::unix::io::{AsRawFd, BorrowedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use super::os_result;

/// Makes this process the one orphans of its descendants are handed to
/// (`PR_SET_CHILD_SUBREAPER`, Linux 3.4), as PID 1 of a namespace is
/// anyway: a new process an upgrade started stays a descendant when the
/// old one exits.
#[allow(unsafe_code)]
pub(crate) fn become_subreaper() -> io::Result<()> {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER reads its integer argument
    // only.
    os_result(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(drop)
}

/// A child that has ended, whichever it is, left unreaped (`waitid` with
/// `WNOWAIT`): its number stays its own until [`reap`]. `None` when none
/// has ended (or there is no child).
#[allow(unsafe_code)]
pub(crate) fn ended_child() -> io::Result<Option<u32>> {
    loop {
        // SAFETY: all zeros is a valid siginfo_t; waitid writes it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes only `info`; WNOWAIT leaves the child as it
        // is.
        let result = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        match os_result(result) {
            // SAFETY: waitid filled `info` (zero when no child ended).
            Ok(_) => {
                return Ok(u32::try_from(unsafe { info.si_pid() })
                    .ok()
                    .filter(|&pid| pid > 0))
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if error.raw_os_error() == Some(libc::ECHILD) => return Ok(None),
            Err(error) => return Err(error),
        }
    }
}

/// Reaps child `pid`, which [`ended_child`] found ended: its status.
pub(crate) fn reap(pid: u32) -> io::Result<Option<ExitStatus>> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::ErrorKind::InvalidInput)?;
    super::process::wait(pid)
}

/// Sends `signal` to `pid`.
#[allow(unsafe_code)]
pub(crate) fn signal(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: kill changes no memory of this process.
    os_result(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// The parent of process `pid`, from `/proc/PID/stat` (the field after
/// the command's closing parenthesis and the state).
pub(crate) fn parent_of(pid: u32) -> io::Result<u32> {
    let stat = std::fs::read(format!("/proc/{pid}/stat"))?;
    let after = stat
        .iter()
        .rposition(|&b| b == b')')
        .map(|at| &stat[at + 1..])
        .unwrap_or_default();
    std::str::from_utf8(after)
        .ok()
        .and_then(|rest| rest.split_ascii_whitespace().nth(1))
        .and_then(|ppid| ppid.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("/proc/{pid}/stat names no parent"),
            )
        })
}

/// Whether `status` is an exit with status 0.
pub(crate) fn succeeded(status: ExitStatus) -> bool {
    status.code() == Some(0)
}

/// The status a shell gives for `status`: the exit code, or 128 plus the
/// signal that killed the process.
pub(crate) fn shell_status(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1)
}

/// Waits until one of `fds` is readable, a signal interrupts, or `timeout`
/// (rounded up to a millisecond) passes; forever without one.
#[allow(unsafe_code)]
pub(crate) fn wait_readable(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) {
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let timeout = timeout.map_or(-1, |timeout| {
        let ms = timeout.as_millis() + u128::from(timeout.subsec_nanos() % 1_000_000 != 0);
        libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
    });
    #[allow(clippy::cast_possible_truncation)]
    let count = polled.len() as libc::nfds_t;
    // SAFETY: poll writes the `revents` of the `count` entries given, which
    // live for the call; the descriptors are borrowed for it.
    unsafe { libc::poll(polled.as_mut_ptr(), count, timeout) };
}

/// Unblocks `signals` on this thread: a mask inherited from whoever
/// started the program must not keep them from the supervisor.
#[allow(unsafe_code)]
pub(crate) fn unblock(signals: &[libc::c_int]) {
    // SAFETY: sigemptyset and sigaddset write the set they are given;
    // pthread_sigmask changes this thread's mask only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &signal in signals {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// How many threads this process runs (`Threads:` of `/proc/self/status`).
pub(crate) fn threads() -> Option<usize> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))?
        .trim()
        .parse()
        .ok()
}

/// `SO_PASSCRED` on `socket`: each message received carries its sender's
/// credentials (socket2 has it for Linux only, not Android).
#[allow(unsafe_code)]
pub(crate) fn pass_credentials(socket: BorrowedFd<'_>) -> io::Result<()> {
    let on: libc::c_int = 1;
    #[allow(clippy::cast_possible_truncation)]
    let len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: setsockopt reads `len` bytes of `on`, for a descriptor
    // borrowed for the call.
    os_result(unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PASSCRED,
            std::ptr::addr_of!(on).cast(),
            len,
        )
    })
    .map(drop)
}
