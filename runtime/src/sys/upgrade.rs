//! The raw calls of an upgrade's channels and of systemd's notifications:
//! a message with descriptors attached (`SCM_RIGHTS`) sent and received,
//! who is at the other end of a Unix socket and in which user namespace,
//! a signal turned into a byte on a socket, and random bytes for a name.

use std::io;
#[allow(unused_imports)]
use std::mem::{size_of, size_of_val};
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use socket2::SockAddr;

use super::os_result;

/// The most descriptors one message carries: Linux's `SCM_MAX_FD`
/// (`include/net/scm.h`). The channel passes the lock files of the Unix
/// paths with one message, one per path.
pub(crate) const MOST_FDS_PER_MESSAGE: usize = 253;

/// Sends `message` on `socket` with `fds` attached (`SCM_RIGHTS`), to
/// `to` when the socket is not connected: the protocol of `sd_notify(3)`,
/// and the upgrade channel's message that passes the lock files.
#[allow(unsafe_code)]
pub(crate) fn send_with_fds(
    socket: BorrowedFd<'_>,
    to: Option<&SockAddr>,
    message: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<usize> {
    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let fd_bytes = size_of_val(raw.as_slice());
    let fd_bytes_c = libc::c_uint::try_from(fd_bytes).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    let space = if raw.is_empty() {
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
    if let Some(to) = to {
        header.msg_name = to.as_ptr() as *mut libc::c_void;
        header.msg_namelen = to.len();
    }
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    if !raw.is_empty() {
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
                raw.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(cmsg),
                fd_bytes,
            );
        }
    }
    // SAFETY: every pointer in `header` points at memory alive for the
    // call, and the descriptors are borrowed for it.
    let sent = unsafe { libc::sendmsg(socket.as_raw_fd(), &header, libc::MSG_NOSIGNAL) };
    os_result(sent).map(isize::unsigned_abs)
}

/// `MSG_CMSG_CLOEXEC` where the OS has it: the received descriptors are
/// close-on-exec from the moment they exist. macOS and Solaris have no such
/// flag: there they are marked just after, and a program another thread
/// starts in between could inherit them (on paper).
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "illumos"
))]
const RECEIVE_CLOEXEC: libc::c_int = libc::MSG_CMSG_CLOEXEC;
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "illumos"
)))]
const RECEIVE_CLOEXEC: libc::c_int = 0;

/// Receives one message into `buffer` on a connected stream, with the
/// descriptors attached to it, each owned and close-on-exec. Returns the
/// bytes read (0 at end of file) and the descriptors (at most
/// [`MOST_FDS_PER_MESSAGE`]; more are closed by the kernel, and the
/// message says it was cut with `MSG_CTRUNC`, which is an error here).
pub(crate) fn receive_with_fds(
    stream: &UnixStream,
    buffer: &mut [u8],
) -> io::Result<(usize, Vec<OwnedFd>)> {
    let received = receive(stream.as_fd(), buffer, 0)?;
    if received.cut {
        return Err(cut());
    }
    Ok((received.len, received.fds))
}

fn cut() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "more than {MOST_FDS_PER_MESSAGE} descriptors came with one message; the rest were \
             closed"
        ),
    )
}

/// One message [`receive`] took.
#[derive(Debug)]
pub(crate) struct Received {
    /// Its bytes in the buffer.
    pub(crate) len: usize,
    /// The descriptors attached, owned and close-on-exec.
    pub(crate) fds: Vec<OwnedFd>,
    /// The sender's process id, as the kernel recorded it
    /// (`SCM_CREDENTIALS`), on a socket with `SO_PASSCRED` (Linux).
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    pub(crate) pid: Option<u32>,
    /// `MSG_CTRUNC` or `MSG_TRUNC`: descriptors beyond the control buffer
    /// were closed, or a datagram's bytes beyond the buffer lost.
    pub(crate) cut: bool,
}

/// Receives one message with `flags` (e.g. `MSG_DONTWAIT`): its bytes, the
/// descriptors attached (at most [`MOST_FDS_PER_MESSAGE`]) and, where the
/// socket asks for them, the sender's credentials.
#[allow(unsafe_code)]
pub(crate) fn receive(
    socket: BorrowedFd<'_>,
    buffer: &mut [u8],
    flags: libc::c_int,
) -> io::Result<Received> {
    #[allow(clippy::cast_possible_truncation)]
    let most = (MOST_FDS_PER_MESSAGE * size_of::<RawFd>()) as libc::c_uint;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[allow(clippy::cast_possible_truncation)]
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    let credentials =
        unsafe { libc::CMSG_SPACE(size_of::<libc::ucred>() as libc::c_uint) as usize };
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let credentials = 0;
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    let space = unsafe { libc::CMSG_SPACE(most) as usize } + credentials;
    let mut control = vec![0u64; (space + 7) / 8];
    let mut iov = libc::iovec {
        iov_base: buffer.as_mut_ptr().cast(),
        iov_len: buffer.len(),
    };
    // SAFETY: a zeroed msghdr is valid; the pointers set point at live
    // buffers of the sizes given.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    header.msg_control = control.as_mut_ptr().cast();
    #[allow(clippy::useless_conversion)]
    {
        header.msg_controllen = space.try_into().map_err(|_| io::ErrorKind::InvalidInput)?;
    }
    let received = loop {
        // SAFETY: as above; recvmsg writes only into the buffers given.
        let result =
            unsafe { libc::recvmsg(socket.as_raw_fd(), &mut header, RECEIVE_CLOEXEC | flags) };
        match os_result(result) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            other => break other?.unsigned_abs(),
        }
    };
    let mut fds = Vec::new();
    #[allow(unused_mut)]
    let mut pid = None;
    // SAFETY: the kernel filled the control buffer; CMSG_* walk it within
    // `msg_controllen`, and each descriptor in an SCM_RIGHTS message is new
    // in this process and owned by nothing else.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&header);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                #[allow(clippy::unnecessary_cast)]
                let bytes = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                for i in 0..bytes / size_of::<RawFd>() {
                    let fd = libc::CMSG_DATA(cmsg)
                        .add(i * size_of::<RawFd>())
                        .cast::<RawFd>()
                        .read_unaligned();
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            }
            #[cfg(any(target_os = "linux", target_os = "android"))]
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_CREDENTIALS
            {
                let cred = libc::CMSG_DATA(cmsg).cast::<libc::ucred>().read_unaligned();
                pid = u32::try_from(cred.pid).ok();
            }
            cmsg = libc::CMSG_NXTHDR(&header, cmsg);
        }
    }
    if RECEIVE_CLOEXEC == 0 {
        for fd in &fds {
            super::set_cloexec(fd)?;
        }
    }
    Ok(Received {
        len: received,
        fds,
        pid,
        cut: header.msg_flags & (libc::MSG_CTRUNC | libc::MSG_TRUNC) != 0,
    })
}

/// The process id and user id at the other end of a connected Unix-domain
/// socket, as the kernel recorded them at connect (or listen), the user id
/// as this process's user namespace sees it: one it cannot map is the
/// overflow uid ([`overflow_uid`]).
#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(unsafe_code)]
pub(crate) fn peer(stream: impl AsFd) -> io::Result<(u32, u32)> {
    // SAFETY: ucred is a plain C struct of integers.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    #[allow(clippy::cast_possible_truncation)]
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, for a
    // descriptor borrowed for the call.
    let done = unsafe {
        libc::getsockopt(
            stream.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            std::ptr::addr_of_mut!(cred).cast(),
            &mut len,
        )
    };
    os_result(done)?;
    Ok((cred.pid.unsigned_abs(), cred.uid))
}

/// The uid the kernel shows for a user this user namespace cannot map
/// (`/proc/sys/kernel/overflowuid`, 65534 unless changed).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn overflow_uid() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/overflowuid")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(65_534)
}

/// The user namespace of process `pid` (this one when `None`), as the
/// device and inode of its `/proc/PID/ns/user`: two processes are in the
/// same namespace exactly when these are equal. Reading another process's
/// needs the right to inspect it (same user, or privileged over it).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn user_namespace(pid: Option<u32>) -> io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/ns/user"),
        None => "/proc/self/ns/user".to_owned(),
    };
    let metadata = std::fs::metadata(path)?;
    Ok((metadata.dev(), metadata.ino()))
}

/// The address of the signal handler `signal` has now (`SIG_DFL`,
/// `SIG_IGN`, or a function), to see whether another one replaced ours.
#[allow(unsafe_code)]
pub(crate) fn signal_handler(signal: libc::c_int) -> io::Result<usize> {
    // SAFETY: all zeros is a valid sigaction; with a null new action,
    // sigaction only writes the current one into `current`.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    os_result(unsafe { libc::sigaction(signal, std::ptr::null(), &mut current) })?;
    Ok(current.sa_sigaction)
}

/// Registers `signal` so that each delivery writes one byte, the signal's
/// number, to `to` (nonblocking: a full buffer drops the byte, never blocks
/// the handler). Other handlers of the signal registered through
/// signal-hook (tokio's among them) keep running. A signal that cannot be
/// caught is an error.
pub(crate) fn signal_to_socket(signal: libc::c_int, to: UnixStream) -> io::Result<()> {
    signals_to_socket(&[signal], to).map(drop)
}

/// [`signal_to_socket`] for each of `signals`, all to the one `to`; the
/// registrations, to undo them. On an error, those made before it are
/// undone.
#[allow(unsafe_code)]
pub(crate) fn signals_to_socket(
    signals: &[libc::c_int],
    to: UnixStream,
) -> io::Result<Vec<signal_hook_registry::SigId>> {
    // The sending end lives as long as the process: a handler may run at
    // any moment.
    let fd = std::os::unix::io::IntoRawFd::into_raw_fd(to);
    let mut registered = Vec::with_capacity(signals.len());
    for &signal in signals {
        let byte = u8::try_from(signal).unwrap_or(0);
        // SAFETY: the action only calls send(2), which is async-signal-safe,
        // on a descriptor that is never closed, without waiting (a full
        // buffer drops the byte) and without SIGPIPE (a reader gone is
        // EPIPE); signal-hook-registry keeps errno as it was around the
        // actions.
        let outcome = unsafe {
            signal_hook_registry::register(signal, move || {
                libc::send(
                    fd,
                    std::ptr::addr_of!(byte).cast(),
                    1,
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                );
            })
        };
        match outcome {
            Ok(id) => registered.push(id),
            Err(error) => {
                for id in registered {
                    signal_hook_registry::unregister(id);
                }
                return Err(error);
            }
        }
    }
    Ok(registered)
}

/// An abstract socket name (Linux): `name` after a NUL.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn abstract_addr(name: &[u8]) -> io::Result<SockAddr> {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let mut bytes = Vec::with_capacity(name.len() + 1);
    bytes.push(0);
    bytes.extend_from_slice(name);
    SockAddr::unix(OsStr::from_bytes(&bytes))
}

/// `prefix`, this process's id, `/` and 128 random bits in hex: the
/// abstract name of a socket nobody can guess (nor take first).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn random_name(prefix: &str) -> io::Result<String> {
    use std::fmt::Write;
    let mut random = [0u8; 16];
    random_bytes(&mut random)?;
    let mut name = format!("{prefix}{}/", std::process::id());
    for byte in random {
        let _ = write!(name, "{byte:02x}");
    }
    Ok(name)
}

/// Random bytes from the kernel (`getrandom(2)`, Linux 3.17), for a name
/// nobody can guess.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(unsafe_code)]
pub(crate) fn random_bytes(buffer: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buffer.len() {
        let rest = &mut buffer[filled..];
        // SAFETY: getrandom writes at most `rest.len()` bytes into `rest`.
        let result = unsafe {
            libc::syscall(
                libc::SYS_getrandom,
                rest.as_mut_ptr(),
                rest.len(),
                0 as libc::c_uint,
            )
        };
        match os_result(result) {
            Ok(n) => filled += usize::try_from(n).unwrap_or(0),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
