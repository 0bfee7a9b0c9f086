//! The raw calls of an upgrade and of the fd store: start the new binary
//! with chosen descriptors at 3, 4, … (fork and exec, nothing allocated in
//! between), watch it and stop it with what it started, send systemd a
//! notification with descriptors attached, learn who is at the other end
//! of a Unix socket, and turn a signal into a byte on a socket.

use std::ffi::{CString, OsStr, OsString};
// Imported: Rust 1.71's prelude lacks them.
use std::io::{self, Read};
#[allow(unused_imports)]
use std::mem::{size_of, size_of_val};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use socket2::SockAddr;

/// The longest decimal process id, and its NUL.
const PID_SLOT: usize = 21;

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
        let mut env_ptrs: Vec<_> = entries.iter().map(|e| e.as_ptr().cast()).collect();
        env_ptrs.push(std::ptr::null());
        let pid_slots = slot_offsets
            .into_iter()
            .map(|(entry, offset)| entries[entry][offset..].as_mut_ptr())
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

/// Starts `exec` as a child in a process group of its own, with `fds`
/// (in this order) as its descriptors 3, 4, … without close-on-exec; every
/// other descriptor the child has ≥ 3 is closed by the exec (marked
/// close-on-exec in the child only, where the OS can). Returns the child's
/// process id once the exec has succeeded, or the error of the step that
/// failed (a missing program is `NotFound`, one that is not executable
/// `PermissionDenied`), the child then reaped.
#[allow(unsafe_code)]
pub(crate) fn spawn(exec: &mut Exec, fds: &[RawFd]) -> io::Result<libc::pid_t> {
    // The exec's outcome: the child writes errno here if a step fails; the
    // exec closes it (close-on-exec), so end of file means it ran.
    let (mut report, report_child) = UnixStream::pair()?;
    let report_fd = report_child.as_raw_fd();
    let top = 3 + RawFd::try_from(fds.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
    // Where the child moves each descriptor first, written by the child
    // only: allocated here.
    let mut moved: Vec<RawFd> = vec![-1; fds.len()];
    let moved_ptr = moved.as_mut_ptr();
    let slots = exec.pid_slots.clone();
    let program = exec.program.as_ptr();
    let argv = exec.argv_ptrs.as_ptr();
    let envp = exec.env_ptrs.as_ptr();
    // SAFETY: in the child, between fork and exec, only async-signal-safe
    // calls are made (getpid, sigprocmask, sigaction, setpgid, fcntl,
    // dup2, the close_range system call, execve, write, _exit) and only
    // memory allocated before the fork is written (the pid slots and
    // `moved`), so a lock another thread held at the fork is never needed.
    // The parent only closes its copy of the report end and reads.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: see above; every pointer was made before the fork from
        // values that live until exec in this copy of the memory.
        unsafe { child(report_fd, top, fds, moved_ptr, &slots, program, argv, envp) }
    }
    drop(report_child);
    // The group is set on both sides, so that it exists whichever runs
    // first; an error here means the child already did it or exec'd.
    // SAFETY: setpgid on our own child's id changes no memory.
    unsafe { libc::setpgid(pid, pid) };
    let mut buffer = [0u8; 4];
    let mut read = 0;
    loop {
        match report.read(&mut buffer[read..]) {
            Ok(0) => break,
            Ok(n) => {
                read += n;
                if read == buffer.len() {
                    break;
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => {
                kill_group(pid);
                let _ = wait(pid);
                return Err(error);
            }
        }
    }
    if read == 0 {
        return Ok(pid);
    }
    let _ = wait(pid);
    Err(io::Error::from_raw_os_error(i32::from_ne_bytes(buffer)))
}

/// The child's half of [`spawn`]: never returns.
///
/// # Safety
/// Called only in the child of `fork`, with pointers made before it.
#[allow(unsafe_code, clippy::too_many_arguments)]
unsafe fn child(
    report: RawFd,
    top: RawFd,
    fds: &[RawFd],
    moved: *mut RawFd,
    slots: &[*mut u8],
    program: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
) -> ! {
    // SAFETY (the whole body): async-signal-safe calls on this process's
    // own descriptors and memory; see `spawn`.
    unsafe {
        // A signal mask and an ignored SIGPIPE are inherited through exec:
        // the new program starts as a program started afresh.
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(libc::SIGPIPE, &default, std::ptr::null_mut());
        if libc::setpgid(0, 0) != 0 {
            fail(report);
        }
        let pid = libc::getpid();
        for &slot in slots {
            write_pid(slot, pid);
        }
        // The report end and each descriptor to pass go above the range
        // they are placed in, so that placing one never closes another.
        let report = if report < top {
            let high = libc::fcntl(report, libc::F_DUPFD_CLOEXEC, top);
            if high < 0 {
                fail(report);
            }
            high
        } else {
            report
        };
        for (i, &fd) in fds.iter().enumerate() {
            let high = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, top);
            if high < 0 {
                fail(report);
            }
            *moved.add(i) = high;
        }
        // Nothing else reaches the new program: every descriptor from 3
        // on is close-on-exec now (Linux 5.11+; where the call is missing,
        // those the parent made inheritable stay so).
        #[cfg(any(target_os = "linux", target_os = "android"))]
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC as libc::c_uint,
        );
        for i in 0..fds.len() {
            #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
            let target = 3 + i as RawFd;
            if libc::dup2(*moved.add(i), target) < 0 {
                fail(report);
            }
        }
        libc::execve(program, argv, envp);
        fail(report)
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
        let bytes = (*libc_errno()).to_ne_bytes();
        libc::write(report, bytes.as_ptr().cast(), bytes.len());
        libc::_exit(127)
    }
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "illumos"))]
#[allow(unsafe_code)]
unsafe fn libc_errno() -> *mut libc::c_int {
    // SAFETY: the thread's errno location; async-signal-safe.
    unsafe { libc::__errno_location() }
}

#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "dragonfly"
))]
#[allow(unsafe_code)]
unsafe fn libc_errno() -> *mut libc::c_int {
    // SAFETY: as above.
    unsafe { libc::__error() }
}

#[cfg(any(target_os = "openbsd", target_os = "netbsd"))]
#[allow(unsafe_code)]
unsafe fn libc_errno() -> *mut libc::c_int {
    // SAFETY: as above.
    unsafe { libc::__errno() }
}

/// SIGKILL to the process group of `pid` (the child [`spawn`] started, the
/// leader of its own group) and to `pid` itself.
#[allow(unsafe_code)]
pub(crate) fn kill_group(pid: libc::pid_t) {
    // SAFETY: kill changes no memory; `pid` is our own unreaped child, so
    // neither it nor its group id can name another process yet.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
        libc::kill(pid, libc::SIGKILL);
    }
}

/// How a child ended.
pub(crate) fn describe_status(status: libc::c_int) -> String {
    if libc::WIFEXITED(status) {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("was killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("ended (wait status {status})")
    }
}

/// The status of child `pid` if it has ended (it is then reaped).
#[allow(unsafe_code)]
pub(crate) fn try_wait(pid: libc::pid_t) -> io::Result<Option<libc::c_int>> {
    let mut status = 0;
    // SAFETY: waitpid writes only `status`.
    match unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } {
        0 => Ok(None),
        -1 => Err(io::Error::last_os_error()),
        _ => Ok(Some(status)),
    }
}

/// Waits for child `pid` to end and reaps it.
#[allow(unsafe_code)]
pub(crate) fn wait(pid: libc::pid_t) -> io::Result<libc::c_int> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes only `status`.
        match unsafe { libc::waitpid(pid, &mut status, 0) } {
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            -1 => return Err(io::Error::last_os_error()),
            _ => return Ok(status),
        }
    }
}

/// This process's id.
pub(crate) fn own_pid() -> u32 {
    std::process::id()
}

/// Sends `message` to the datagram socket at `addr` with `fds` attached
/// (`SCM_RIGHTS`): the protocol of `sd_notify(3)`.
#[allow(unsafe_code)]
pub(crate) fn send_with_fds(addr: &SockAddr, message: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::DGRAM, None)?;
    let fd_bytes = size_of_val(fds);
    let fd_bytes_c = libc::c_uint::try_from(fd_bytes).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    let space = if fds.is_empty() {
        0
    } else {
        unsafe { libc::CMSG_SPACE(fd_bytes_c) as usize }
    };
    // u64s: aligned for a cmsghdr.
    let mut control = vec![0u64; (space + 7) / 8];
    let mut iov = libc::iovec {
        iov_base: message.as_ptr() as *mut libc::c_void,
        iov_len: message.len(),
    };
    // SAFETY: msghdr is a plain C struct; all zeros is valid (no name, no
    // data, no control), and the fields are set below.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_name = addr.as_ptr() as *mut libc::c_void;
    header.msg_namelen = addr.len();
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    if !fds.is_empty() {
        header.msg_control = control.as_mut_ptr().cast();
        #[allow(clippy::useless_conversion)]
        {
            header.msg_controllen = space.try_into().map_err(|_| io::ErrorKind::InvalidInput)?;
        }
        // SAFETY: the control buffer has CMSG_SPACE(fd_bytes) bytes, so the
        // first header and its data fit; CMSG_* only compute addresses in
        // it.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&header);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes_c) as _;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(cmsg),
                fd_bytes,
            );
        }
    }
    // SAFETY: every pointer in `header` points at memory alive for the call.
    let sent = unsafe { libc::sendmsg(socket.as_raw_fd(), &header, libc::MSG_NOSIGNAL) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The process id and user id at the other end of a connected Unix-domain
/// socket, as the kernel recorded them at connect or listen.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(unsafe_code)]
pub(crate) fn peer(stream: &UnixStream) -> io::Result<(u32, u32)> {
    // SAFETY: ucred is a plain C struct of integers.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    #[allow(clippy::cast_possible_truncation)]
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`.
    let done = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            std::ptr::addr_of_mut!(cred).cast(),
            &mut len,
        )
    };
    if done != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((cred.pid.unsigned_abs(), cred.uid))
}

/// Registers `signal` so that each delivery writes one byte to `to`
/// (nonblocking: a full buffer drops the byte, never blocks the handler).
/// Other handlers of the signal registered through signal-hook (tokio's
/// among them) keep running. Returns false if `signal` cannot be caught.
#[allow(unsafe_code)]
pub(crate) fn signal_to_socket(signal: libc::c_int, to: UnixStream) -> io::Result<()> {
    to.set_nonblocking(true)?;
    let fd = to.as_raw_fd();
    // The write end lives as long as the process: the handler may run at
    // any moment.
    std::mem::forget(to);
    // SAFETY: the action only calls write(2), which is async-signal-safe,
    // on a descriptor that is never closed, and keeps errno as it was.
    unsafe {
        signal_hook_registry::register(signal, move || {
            let errno = *libc_errno();
            libc::write(fd, b"s".as_ptr().cast(), 1);
            *libc_errno() = errno;
        })
    }
    .map(drop)
}

/// An abstract socket name (Linux): `name` after a NUL.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn abstract_addr(name: &[u8]) -> io::Result<SockAddr> {
    let mut bytes = Vec::with_capacity(name.len() + 1);
    bytes.push(0);
    bytes.extend_from_slice(name);
    SockAddr::unix(OsStr::from_bytes(&bytes))
}
