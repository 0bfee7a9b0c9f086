//! The raw calls of a child process: start a program with chosen
//! descriptors at 3, 4, … (fork and exec, nothing allocated in between),
//! and look at, signal and reap the child by its pid and, on Linux, a
//! pidfd. [`crate::process::Child`] is the one owner of what this returns.

use std::ffi::{CString, OsString};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use super::{os_result, send_all};

/// The longest decimal process id, and its NUL.
const PID_SLOT: usize = 21;

/// Where the child closes descriptors up to when the OS has no call that
/// closes a whole range: the soft `RLIMIT_NOFILE`, read before `fork`, but
/// at most this many.
const MOST_DESCRIPTORS_CLOSED_ONE_BY_ONE: libc::rlim_t = 65_536;

/// Everything `execve` needs, made before `fork`: the program, its
/// arguments and its environment as C strings, and in the environment
/// slots where the child writes its own process id (`LISTEN_PID=`), since
/// it is known only after `fork` and nothing may be allocated there.
pub(crate) struct Exec {
    program: CString,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    // Read only through the pointers.
    _env: Vec<Box<[u8]>>,
    env_ptrs: Vec<*const libc::c_char>,
    /// The start of each pid slot, inside an entry of `env`.
    pid_slots: Vec<*mut u8>,
}

// SAFETY: the raw pointers point into the boxes and C strings `Exec` owns,
// which never move or change while it lives, except the pid slots, which
// only a forked child writes (in its own copy of the memory).
#[allow(unsafe_code)]
unsafe impl Send for Exec {}

impl Exec {
    /// `program` run with `args` (the first is `argv[0]`), the environment
    /// `env` plus `with_pid`: variables whose value is the child's process
    /// id, or the given prefix followed by it (`pid=` after `fd=5,`).
    pub(crate) fn new(
        program: &Path,
        args: &[OsString],
        env: &[(OsString, OsString)],
        with_pid: &[(&str, &str)],
    ) -> io::Result<Exec> {
        let c = |bytes: &[u8], what: &str| {
            CString::new(bytes).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("cannot start the new process: its {what} contains a NUL byte"),
                )
            })
        };
        let program_c = c(program.as_os_str().as_bytes(), "program path")?;
        let arguments = args
            .iter()
            .map(|arg| c(arg.as_bytes(), "arguments"))
            .collect::<io::Result<Vec<_>>>()?;
        let mut argv_ptrs: Vec<_> = arguments.iter().map(|arg| arg.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut entries: Vec<Box<[u8]>> = Vec::with_capacity(env.len() + with_pid.len());
        for (name, value) in env {
            let mut entry = Vec::with_capacity(name.len() + value.len() + 2);
            entry.extend_from_slice(name.as_bytes());
            entry.push(b'=');
            entry.extend_from_slice(value.as_bytes());
            c(&entry, "environment")?;
            entry.push(0);
            entries.push(entry.into_boxed_slice());
        }
        let mut slot_offsets = Vec::with_capacity(with_pid.len());
        for (name, prefix) in with_pid {
            let mut entry = Vec::with_capacity(name.len() + prefix.len() + 1 + PID_SLOT);
            entry.extend_from_slice(name.as_bytes());
            entry.push(b'=');
            entry.extend_from_slice(prefix.as_bytes());
            slot_offsets.push((entries.len(), entry.len()));
            entry.resize(entry.len() + PID_SLOT, 0);
            entries.push(entry.into_boxed_slice());
        }
        // Every pointer into an entry comes from one mutable borrow of it,
        // the one the child writes its pid through included.
        let starts: Vec<*mut u8> = entries.iter_mut().map(|e| e.as_mut_ptr()).collect();
        let mut env_ptrs: Vec<*const libc::c_char> = starts
            .iter()
            .map(|&start| start.cast_const().cast())
            .collect();
        env_ptrs.push(std::ptr::null());
        let pid_slots = slot_offsets
            .into_iter()
            // Within the entry: its slot follows the name and prefix.
            .map(|(entry, offset)| starts[entry].wrapping_add(offset))
            .collect();
        Ok(Exec {
            program: program_c,
            _argv: arguments,
            argv_ptrs,
            _env: entries,
            env_ptrs,
            pid_slots,
        })
    }
}

/// Writes `pid` in decimal and a NUL at `slot`. Async-signal-safe: no
/// allocation, no lock.
///
/// # Safety
/// `slot` points at `PID_SLOT` writable bytes.
#[allow(unsafe_code)]
unsafe fn write_pid(slot: *mut u8, pid: libc::pid_t) {
    let mut digits = [0u8; PID_SLOT];
    let mut n = pid.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        // SAFETY: `len` < PID_SLOT (a u32 has at most 10 digits), so every
        // write stays in the slot the caller vouches for.
        unsafe { *slot.add(i) = digits[len - 1 - i] };
    }
    // SAFETY: as above.
    unsafe { *slot.add(len) = 0 };
}

/// A child [`spawn`] started: its pid, in a process group of its own, and
/// on Linux 5.3 and later a pidfd, opened while the child could not yet
/// have ended.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) pid: libc::pid_t,
    pub(crate) pidfd: Option<OwnedFd>,
}

/// Starts `exec` as a child in a process group of its own, with `passed[i]`
/// as its descriptor `first + i`, inheritable, and no other descriptor from
/// `first` on. Its signal handlers are reset to the default and its signal
/// mask emptied, as for a program started afresh.
///
/// Returns once the exec has succeeded, or the error of the step that
/// failed (a missing program is `NotFound`, one that is not executable
/// `PermissionDenied`), the child then reaped; `TimedOut` when the exec has
/// not happened within `within` (an exec that hangs on a file system, or a
/// program another library forked meanwhile holding the report's end).
#[allow(unsafe_code)]
pub(crate) fn spawn(
    exec: &mut Exec,
    first: RawFd,
    passed: &[BorrowedFd<'_>],
    within: Duration,
) -> io::Result<Spawned> {
    // Both ways between the two: the parent says "go" once it holds the
    // pidfd; the child writes errno if a step fails. The exec closes the
    // child's end (close-on-exec), so end of file means it ran.
    let (mut report, report_child) = UnixStream::pair()?;
    let too_many = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot start the new process: it would get more descriptors than a descriptor \
             number can count",
        )
    };
    let passed: Vec<RawFd> = passed.iter().map(AsRawFd::as_raw_fd).collect();
    let passed = passed.as_slice();
    let count = RawFd::try_from(passed.len()).map_err(|_| too_many())?;
    let report_slot = first.checked_add(count).ok_or_else(too_many)?;
    let close_from = report_slot + 1;
    let close_limit = descriptor_limit();
    // Where the child moves each descriptor first, written by the child
    // only: allocated here.
    let mut moved: Vec<RawFd> = vec![-1; passed.len()];
    let layout = ChildLayout {
        report: report_child.as_raw_fd(),
        first,
        passed,
        moved: moved.as_mut_ptr(),
        report_slot,
        close_from,
        close_limit,
    };
    let slots = exec.pid_slots.clone();
    let program = exec.program.as_ptr();
    let argv = exec.argv_ptrs.as_ptr();
    let envp = exec.env_ptrs.as_ptr();
    // Every signal is blocked on this thread across the fork, so that no
    // handler of this process runs in the child before the child has reset
    // them all; the parent's mask is restored right after.
    let mut all: libc::sigset_t = unsafe_zeroed_sigset();
    let mut previous: libc::sigset_t = unsafe_zeroed_sigset();
    // SAFETY: sigfillset writes the set it is given; pthread_sigmask changes
    // this thread's mask only and writes the previous one into `previous`.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
    }
    // SAFETY: in the child, between fork and exec, only async-signal-safe
    // calls are made (sigaction, setpgid, read, getpid, fcntl, dup2,
    // close_range/closefrom/close, sigprocmask, execve, write, _exit) and
    // only memory allocated before the fork is written (the pid slots and
    // `moved`), so a lock another thread held at the fork is never needed.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: see above; every pointer was made before the fork from
        // values that live until exec in this copy of the memory. The child
        // keeps every signal blocked until it has reset their handlers.
        unsafe { child(&layout, &slots, program, argv, envp) }
    }
    // SAFETY: the parent only (the child never returns above): restores
    // this thread's mask; pthread_sigmask reads `previous`.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut()) };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    drop(report_child);
    // The group is set on both sides, so that it exists whichever runs
    // first; an error here means the child already did it.
    // SAFETY: setpgid on our own child's id changes no memory.
    unsafe { libc::setpgid(pid, pid) };
    // The child waits for "go": it cannot have ended, so the pidfd names it.
    let pidfd = pidfd_open(pid);
    let told = send_all(report.as_fd(), b"g");
    report.set_read_timeout(Some(within.max(Duration::from_millis(1))))?;
    let mut buffer = [0u8; 4];
    let mut read = 0;
    while read < buffer.len() {
        match report.read(&mut buffer[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                // Our own child, not reaped yet: its number, and its
                // group's, are still ours.
                let _ = kill_group(pid);
                let _ = wait(pid);
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the new process had not started its program after {within:?}; it \
                             was killed"
                        ),
                    ));
                }
                return Err(error);
            }
        }
    }
    if read == 0 {
        if let Err(error) = told {
            // The child ended before it read "go" (killed by someone), so
            // it never ran the program.
            let _ = wait(pid);
            return Err(error);
        }
        return Ok(Spawned { pid, pidfd });
    }
    let _ = wait(pid);
    Err(io::Error::from_raw_os_error(i32::from_ne_bytes(buffer)))
}

fn unsafe_zeroed_sigset() -> libc::sigset_t {
    #[allow(unsafe_code)]
    // SAFETY: sigset_t is a plain C value for which all zeros is valid
    // (sigemptyset or sigfillset then sets it).
    unsafe {
        std::mem::zeroed()
    }
}

/// The soft limit on open descriptors, capped: how far the child closes
/// descriptors one by one where no call closes a range.
fn descriptor_limit() -> RawFd {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    #[allow(unsafe_code)]
    // SAFETY: getrlimit writes the struct it is given.
    let done = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    let soft = if done == 0 {
        limit.rlim_cur
    } else {
        MOST_DESCRIPTORS_CLOSED_ONE_BY_ONE
    };
    RawFd::try_from(soft.min(MOST_DESCRIPTORS_CLOSED_ONE_BY_ONE)).unwrap_or(RawFd::MAX)
}

/// What the child does with its descriptors, all numbers known before the
/// fork.
struct ChildLayout<'a> {
    report: RawFd,
    first: RawFd,
    passed: &'a [RawFd],
    moved: *mut RawFd,
    report_slot: RawFd,
    close_from: RawFd,
    close_limit: RawFd,
}

/// The child's half of [`spawn`]: never returns.
///
/// # Safety
/// Called only in the child of `fork`, with pointers made before it.
#[allow(unsafe_code)]
unsafe fn child(
    layout: &ChildLayout<'_>,
    slots: &[*mut u8],
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
) -> ! {
    // SAFETY (the whole body): async-signal-safe calls on this process's
    // own descriptors and memory; see `spawn`.
    unsafe {
        reset_signal_handlers();
        let mut report = layout.report;
        if libc::setpgid(0, 0) != 0 {
            fail(report);
        }
        let mut go = 0u8;
        if libc::read(report, std::ptr::addr_of_mut!(go).cast(), 1) != 1 {
            libc::_exit(127);
        }
        let pid = libc::getpid();
        for &slot in slots {
            write_pid(slot, pid);
        }
        // The report end and each descriptor to pass go above the range
        // they are placed in, so that placing one never closes another.
        let high = libc::fcntl(report, libc::F_DUPFD_CLOEXEC, layout.close_from);
        if high < 0 {
            fail(report);
        }
        report = high;
        for (i, &fd) in layout.passed.iter().enumerate() {
            let high = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, layout.close_from);
            if high < 0 {
                fail(report);
            }
            *layout.moved.add(i) = high;
        }
        for i in 0..layout.passed.len() {
            #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
            let target = layout.first + i as RawFd;
            // dup2 leaves the new descriptor inheritable.
            if libc::dup2(*layout.moved.add(i), target) < 0 {
                fail(report);
            }
        }
        if libc::dup2(report, layout.report_slot) < 0
            || libc::fcntl(layout.report_slot, libc::F_SETFD, libc::FD_CLOEXEC) < 0
        {
            fail(report);
        }
        report = layout.report_slot;
        // Nothing else reaches the new program.
        close_from(layout.close_from, layout.close_limit);
        let empty = {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            set
        };
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::execve(program, argv, envp);
        fail(report)
    }
}

/// Every signal's action back to the default, as a program started afresh
/// has them (systemd starts services so): a handler would run code of the
/// old program, and an ignored signal (SIGPIPE, ignored by Rust's
/// runtime, or SIGCHLD ignored by a library) would stay ignored across
/// exec. Signals that cannot be changed are refused by `sigaction`, which
/// is harmless.
///
/// # Safety
/// Called only in the child of `fork`, with every signal blocked.
#[allow(unsafe_code)]
unsafe fn reset_signal_handlers() {
    // SAFETY: sigaction is async-signal-safe and reads a value on this
    // stack; the signals are blocked, so no handler runs meanwhile.
    unsafe {
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        // Above every signal number of the supported systems (Linux: 64,
        // illumos: 72, the BSDs and macOS: 32 or 128).
        for signal in 1..=128 {
            if signal != libc::SIGKILL && signal != libc::SIGSTOP {
                libc::sigaction(signal, &default, std::ptr::null_mut());
            }
        }
    }
}

/// Closes every descriptor from `lowest` on, with the one call each system
/// has for it that is a plain system call (safe after `fork` in a threaded
/// program):
/// - Linux: `close_range(2)` (5.9);
/// - FreeBSD: `closefrom(2)` (8.0; lib/libc/sys/closefrom.c calls the
///   `close_range` system call);
/// - OpenBSD: `closefrom(2)` (3.5), whose EBADF means nothing was open
///   above `lowest`;
/// - NetBSD: `closefrom(3)`, `fcntl(F_CLOSEM)` (lib/libc/gen/closefrom.c);
/// - DragonFly BSD: `closefrom(2)`.
///
/// Elsewhere — Android (whose app sandbox, before Android 12, kills a
/// process that makes a system call it does not know, with SIGSYS), macOS
/// and iOS (xnu has no such call), illumos (its
/// `closefrom` walks /proc/self/fd with opendir, which allocates:
/// closefrom(3C) says "MT-Level Unsafe"), Solaris (libc exposes no
/// `F_CLOSEFROM`), and a Linux kernel before 5.9 — `close` on each number
/// up to `limit`, the soft `RLIMIT_NOFILE` read before the fork (capped).
/// A descriptor above it, open from before the limit was lowered, stays
/// open there. On paper except Linux.
///
/// # Safety
/// Called only in the child of `fork`.
#[allow(unsafe_code)]
unsafe fn close_from(lowest: RawFd, limit: RawFd) {
    // SAFETY: see `closed_every_descriptor_from`; close is a system call on
    // this process's descriptor table.
    unsafe {
        if !closed_every_descriptor_from(lowest) {
            for fd in lowest..limit {
                libc::close(fd);
            }
        }
    }
}

/// The one system call of this OS that closes every descriptor from
/// `lowest` on; `false` where there is none, or it failed.
///
/// # Safety
/// Called only in the child of `fork`.
#[allow(unsafe_code)]
unsafe fn closed_every_descriptor_from(lowest: RawFd) -> bool {
    #[cfg(target_os = "linux")]
    {
        #[allow(clippy::cast_sign_loss)]
        // SAFETY: a system call on this process's descriptor table.
        let closed = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                lowest as libc::c_uint,
                libc::c_uint::MAX,
                0 as libc::c_uint,
            )
        };
        closed == 0
    }
    #[cfg(target_os = "freebsd")]
    {
        // SAFETY: as above.
        unsafe { libc::closefrom(lowest) };
        true
    }
    #[cfg(target_os = "openbsd")]
    {
        // SAFETY: as above.
        let closed = unsafe { libc::closefrom(lowest) };
        closed == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EBADF)
    }
    #[cfg(any(target_os = "netbsd", target_os = "dragonfly"))]
    {
        // SAFETY: as above.
        unsafe { libc::closefrom(lowest) == 0 }
    }
    #[cfg(not(any(
        target_os = "linux",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    )))]
    {
        let _ = lowest;
        false
    }
}

/// Reports errno on `report` and ends the child.
///
/// # Safety
/// Called only in the child of `fork`.
#[allow(unsafe_code)]
unsafe fn fail(report: RawFd) -> ! {
    // SAFETY: write and _exit are async-signal-safe.
    unsafe {
        // Reading errno allocates nothing.
        let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        let bytes = errno.to_ne_bytes();
        libc::write(report, bytes.as_ptr().cast(), bytes.len());
        libc::_exit(127)
    }
}

/// A pidfd for `pid` (Linux 5.3 and later); `None` where the kernel has
/// none. Not on Android, whose app sandbox before Android 12 kills a
/// process that makes a system call it does not know (std does the same).
#[cfg(target_os = "linux")]
pub(crate) fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    #[allow(unsafe_code)]
    // SAFETY: the system call takes two integers and returns a new
    // descriptor, which is owned at once below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    let fd = RawFd::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    #[allow(unsafe_code)]
    // SAFETY: `fd` was just returned by pidfd_open (close-on-exec by
    // definition) and nothing else knows it.
    Some(unsafe { std::os::unix::io::FromRawFd::from_raw_fd(fd) })
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn pidfd_open(_pid: libc::pid_t) -> Option<OwnedFd> {
    None
}

/// Whether child `pid` is still there, without reaping it:
/// `waitid(WEXITED | WNOHANG | WNOWAIT)`. `Ok(true)`: it runs, or it has
/// ended and waits to be reaped (its number is still ours);
/// `Ok(false)`: it is gone, reaped by someone else (ECHILD: another
/// thread's `waitpid`, or SIGCHLD ignored in this process, which reaps
/// children as they end).
#[allow(unsafe_code)]
pub(crate) fn unreaped(pid: libc::pid_t) -> io::Result<Unreaped> {
    // SAFETY: all zeros is a valid siginfo_t; waitid writes it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    #[allow(clippy::cast_sign_loss)]
    // SAFETY: waitid writes only `info`; WNOWAIT leaves the child as it is.
    let result = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    match os_result(result) {
        // SAFETY: waitid filled `info` (zero when no child changed state).
        Ok(_) if unsafe { info.si_pid() } == 0 => Ok(Unreaped::Running),
        Ok(_) => Ok(Unreaped::Ended),
        Err(error) if error.raw_os_error() == Some(libc::ECHILD) => Ok(Unreaped::Gone),
        Err(error) => Err(error),
    }
}

/// What [`unreaped`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unreaped {
    Running,
    /// Ended, not reaped yet.
    Ended,
    /// Reaped by someone else.
    Gone,
}

/// Whether the process a pidfd refers to has ended (readable pidfd).
#[cfg(target_os = "linux")]
pub(crate) fn pidfd_ended(pidfd: &OwnedFd) -> io::Result<bool> {
    let mut poll = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    #[allow(unsafe_code)]
    // SAFETY: poll reads and writes the one struct it is given, for a
    // descriptor `pidfd` owns; timeout 0: it does not wait.
    let ready = os_result(unsafe { libc::poll(&mut poll, 1, 0) })?;
    Ok(ready > 0 && poll.revents & libc::POLLIN != 0)
}

/// SIGKILL through a pidfd: reaches exactly that process, or fails with
/// ESRCH once it has ended, whatever its number became.
#[cfg(target_os = "linux")]
pub(crate) fn pidfd_kill(pidfd: &OwnedFd) -> io::Result<()> {
    pidfd_signal(pidfd, libc::SIGKILL)
}

/// `signal` through a pidfd, as [`pidfd_kill`].
#[cfg(target_os = "linux")]
pub(crate) fn pidfd_signal(pidfd: &OwnedFd, signal: libc::c_int) -> io::Result<()> {
    #[allow(unsafe_code)]
    // SAFETY: the system call takes a descriptor `pidfd` owns, a signal
    // number, no siginfo, and no flags; it changes no memory of ours.
    let result = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0 as libc::c_uint,
        )
    };
    os_result(result).map(drop)
}

/// SIGKILL to every process of group `group`. Which processes that reaches
/// is the caller's concern: only the child handle calls it (and `spawn`
/// before it returns the child), while the group's leader is unreaped.
pub(crate) fn kill_group(group: libc::pid_t) -> io::Result<()> {
    #[allow(unsafe_code)]
    // SAFETY: kill changes no memory; which processes it reaches is the
    // caller's concern (see above).
    os_result(unsafe { libc::kill(-group, libc::SIGKILL) }).map(drop)
}

/// SIGKILL to process `pid`; the same concern as [`kill_group`].
pub(crate) fn kill(pid: libc::pid_t) -> io::Result<()> {
    #[allow(unsafe_code)]
    // SAFETY: kill changes no memory.
    os_result(unsafe { libc::kill(pid, libc::SIGKILL) }).map(drop)
}

/// Waits for child `pid` to end and reaps it; `None` when it was reaped
/// elsewhere (ECHILD).
pub(crate) fn wait(pid: libc::pid_t) -> io::Result<Option<ExitStatus>> {
    let mut status = 0;
    loop {
        #[allow(unsafe_code)]
        // SAFETY: waitpid writes only `status`.
        match os_result(unsafe { libc::waitpid(pid, &mut status, 0) }) {
            Ok(_) => return Ok(Some(ExitStatus::from_raw(status))),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if error.raw_os_error() == Some(libc::ECHILD) => return Ok(None),
            Err(error) => return Err(error),
        }
    }
}
