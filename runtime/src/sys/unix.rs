//! The POSIX half of the policy: SO_REUSEADDR on stream listeners, so that a
//! restarted service binds through its old connections' TIME_WAIT at once.

use std::ffi::CStr;
use std::io;
// Imported: Rust 1.71's prelude lacks `size_of`.
#[allow(unused_imports)]
use std::mem::size_of;
use std::net::SocketAddr;
use std::os::unix::io::{AsFd, AsRawFd, BorrowedFd, RawFd};

use socket2::Socket;

use crate::convert::SocketKind;
use crate::step::Step;

/// The raw calls of a child process: start, look at, signal, reap.
#[path = "process.rs"]
pub(crate) mod process;
/// The kernel's socket tables, asked over netlink (for the holder of a port
/// in an "address in use" error).
#[cfg(any(target_os = "linux", target_os = "android"))]
#[path = "sock_diag.rs"]
pub(crate) mod sock_diag;
/// The raw calls of the supervisor: reap any child, adopt orphans.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[path = "supervisor.rs"]
pub(crate) mod supervisor;
/// The raw calls of Unix-domain socket files and their locks.
pub(crate) mod unix_socket;
/// The raw calls of an upgrade's channels and of systemd's notifications.
#[path = "upgrade.rs"]
pub(crate) mod upgrade;
/// Microsoft's table of Winsock's bind refusals: used on Windows, compiled
/// and tested everywhere.
#[path = "winsock_bind.rs"]
pub(crate) mod winsock_bind;

/// A raw call's result: `-1` is the error `errno` holds, anything else the
/// value (socket2's and std's `cvt`).
pub(crate) fn os_result<T: MinusOne>(result: T) -> io::Result<T> {
    if result == T::MINUS_ONE {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// The integer types raw calls return.
pub(crate) trait MinusOne: Copy + PartialEq {
    const MINUS_ONE: Self;
}

impl MinusOne for i32 {
    const MINUS_ONE: i32 = -1;
}

impl MinusOne for i64 {
    const MINUS_ONE: i64 = -1;
}

impl MinusOne for isize {
    const MINUS_ONE: isize = -1;
}

/// Sends all of `bytes` on a connected socket, with `MSG_NOSIGNAL`: a peer
/// that closed is `BrokenPipe`, never SIGPIPE (which, where the program
/// left it at its default, ends the process).
pub(crate) fn send_all(socket: BorrowedFd<'_>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        #[allow(unsafe_code)]
        // SAFETY: send reads at most `bytes.len()` bytes from `bytes`, on a
        // descriptor borrowed for the call.
        let sent = unsafe {
            libc::send(
                socket.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        match os_result(sent) {
            Ok(n) => bytes = &bytes[n.unsigned_abs()..],
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Marks a descriptor close-on-exec (`FD_CLOEXEC`), keeping its other
/// descriptor flags.
pub(crate) fn set_cloexec(fd: &impl AsFd) -> io::Result<()> {
    let fd = fd.as_fd().as_raw_fd();
    #[allow(unsafe_code)]
    // SAFETY: F_GETFD and F_SETFD read and set a flag of a descriptor the
    // caller borrows for the call; no memory is passed.
    let flags = os_result(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    #[allow(unsafe_code)]
    // SAFETY: as above.
    os_result(unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) }).map(drop)
}

/// The socket options a listener gets on a unix target.
///
/// The constants are what the attribute's expansion names in its unix
/// branches, and the builder takes the same: which target gets which is the
/// policy table's (`crate::policy`). Each exists where the OS has its
/// option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    reuse_port: ReusePort,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReusePort {
    No,
    // Where socket2 has SO_REUSEPORT.
    #[cfg(not(any(target_os = "solaris", target_os = "illumos")))]
    Port,
    #[cfg(target_os = "freebsd")]
    LoadBalanced,
}

impl Policy {
    /// SO_REUSEADDR on TCP listeners; no reuse option on UDP sockets, where
    /// Linux would let another socket share the port.
    pub const REUSE_ADDRESS: Policy = Policy {
        reuse_port: ReusePort::No,
    };

    /// [`Policy::REUSE_ADDRESS`] plus SO_REUSEPORT, so that several sockets
    /// share the port (the table gives it where the kernel then balances
    /// connections between them).
    #[cfg(not(any(target_os = "solaris", target_os = "illumos")))]
    pub const REUSE_PORT: Policy = Policy {
        reuse_port: ReusePort::Port,
    };

    /// [`Policy::REUSE_ADDRESS`] plus SO_REUSEPORT_LB, FreeBSD's
    /// load-balancing form of SO_REUSEPORT.
    #[cfg(target_os = "freebsd")]
    pub const REUSE_PORT_LB: Policy = Policy {
        reuse_port: ReusePort::LoadBalanced,
    };

    /// Whether the policy lets several sockets share the port
    /// (`reuse_port`): only then is a passed socket with SO_REUSEPORT taken.
    pub(crate) fn shares_port(self) -> bool {
        self.reuse_port != ReusePort::No
    }
}

/// Sets the policy's options on a socket that is not bound yet.
pub(crate) fn apply_listener_policy(
    socket: &Socket,
    kind: SocketKind,
    policy: Policy,
) -> Result<(), (Step, io::Error)> {
    if kind == SocketKind::Stream {
        socket
            .set_reuse_address(true)
            .map_err(|e| (Step::SetReuseAddress, e))?;
    }
    match policy.reuse_port {
        ReusePort::No => Ok(()),
        #[cfg(not(any(target_os = "solaris", target_os = "illumos")))]
        ReusePort::Port => socket
            .set_reuse_port(true)
            .map_err(|e| (Step::SetReusePort, e)),
        #[cfg(target_os = "freebsd")]
        ReusePort::LoadBalanced => socket
            .set_reuse_port_lb(true)
            .map_err(|e| (Step::SetReusePortLb, e)),
    }
}

/// The kind a failed bind's error gets: on unix, its own (EADDRINUSE is
/// the one "in use" error).
pub(crate) fn bind_error_kind(
    _socket: &Socket,
    _addr: SocketAddr,
    _policy: Policy,
    error: &io::Error,
) -> io::ErrorKind {
    error.kind()
}

/// IPV6_V6ONLY on an IPv6 socket before bind: `only_v6`, or dual stack
/// (`false`) when not given. Set either way, so that dual stack does not
/// depend on the OS default or on a sysctl such as net.ipv6.bindv6only.
#[cfg(not(any(target_os = "openbsd", target_os = "dragonfly")))]
pub(crate) fn set_only_v6(socket: &Socket, only_v6: Option<bool>) -> io::Result<()> {
    socket.set_only_v6(only_v6.unwrap_or(false))
}

/// OpenBSD and DragonFly BSD have no dual stack. OpenBSD's ip6(4): "IPv6
/// sockets are always IPv6-only, so the socket option is read-only"; setting
/// it fails with EINVAL (libzmq#2631, libuv skips it). DragonFly dropped
/// IPv4-mapped addresses in 2015 (golang/go#10764), and setting the option
/// to 0 fails with EOPNOTSUPP (DragonFlyBSD/DPorts#208). So it is left
/// alone there, and dual stack asked for explicitly is an error.
#[cfg(any(target_os = "openbsd", target_os = "dragonfly"))]
pub(crate) fn set_only_v6(_socket: &Socket, only_v6: Option<bool>) -> io::Result<()> {
    match only_v6 {
        Some(false) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            crate::messages::NO_DUAL_STACK,
        )),
        Some(true) | None => Ok(()),
    }
}

/// What a descriptor number named by `LISTEN_FDS` refers to, asked of the
/// OS by number without touching the descriptor (nothing here owns it yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PassedFd {
    /// Not open.
    Closed,
    /// Open and close-on-exec: a descriptor inherited through exec cannot
    /// have the flag, so something in this process already took it
    /// (libsystemd's `sd_listen_fds(0)`, listenfd, another copy of this
    /// crate).
    CloseOnExec,
    /// Open, inheritable, and not a socket (systemd's `OpenFile=` passes
    /// regular files the same way).
    NotASocket,
    /// Open, inheritable, a socket.
    Socket,
}

/// Looks at descriptor `fd`: `fcntl(F_GETFD)`, then `fstat`.
pub(crate) fn passed_fd(fd: RawFd) -> io::Result<PassedFd> {
    #[allow(unsafe_code)]
    // SAFETY: F_GETFD reads the flags of a descriptor number, open or not,
    // and has no other effect; no memory is passed.
    let flags = match os_result(unsafe { libc::fcntl(fd, libc::F_GETFD) }) {
        Ok(flags) => flags,
        Err(error) if error.raw_os_error() == Some(libc::EBADF) => return Ok(PassedFd::Closed),
        Err(error) => return Err(error),
    };
    if flags & libc::FD_CLOEXEC != 0 {
        return Ok(PassedFd::CloseOnExec);
    }
    let stat = fstat(fd)?;
    Ok(if stat.st_mode & libc::S_IFMT == libc::S_IFSOCK {
        PassedFd::Socket
    } else {
        PassedFd::NotASocket
    })
}

/// `fstat` of a descriptor number: its metadata, whatever it refers to.
fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    #[allow(unsafe_code)]
    // SAFETY: all zeros is a valid `stat` (a C struct of integers), which
    // fstat fills in; it only reads the descriptor's metadata.
    let (result, stat) = unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        (libc::fstat(fd, &mut stat), stat)
    };
    os_result(result)?;
    Ok(stat)
}

/// The accept queue's limit of a listening Unix-domain socket, on Linux
/// and Android from the kernel's socket tables (`sock_diag`, by the
/// socket's inode); `None` where it cannot be read.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn unix_listen_backlog(socket: &Socket) -> Option<u32> {
    use std::os::unix::io::AsRawFd;
    let inode = u32::try_from(fstat(socket.as_raw_fd()).ok()?.st_ino).ok()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(100);
    sock_diag::unix_listen_backlog(inode, deadline)
        .ok()
        .flatten()
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn unix_listen_backlog(_socket: &Socket) -> Option<u32> {
    None
}

/// The accept queue's limit of a listening TCP socket, where the OS tells
/// it: Linux's `TCP_INFO` reports `sk_max_ack_backlog` in `tcpi_sacked`
/// for a socket in the LISTEN state (`tcp_get_info`, net/ipv4/tcp.c);
/// FreeBSD's `SO_LISTENQLIMIT` (socket(7) there; on paper). `None` where
/// it cannot be read.
#[cfg(target_os = "linux")]
pub(crate) fn tcp_listen_backlog(socket: &Socket) -> Option<u32> {
    use std::os::unix::io::AsRawFd;
    #[allow(unsafe_code)]
    // SAFETY: all zeros is a valid `tcp_info`; getsockopt writes at most
    // `len` bytes into it and reads the descriptor that `socket` owns for
    // the whole call.
    let (result, info, len) = unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        #[allow(clippy::cast_possible_truncation)] // a struct of a few hundred bytes
        let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
        let result = libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            std::ptr::addr_of_mut!(info).cast(),
            &mut len,
        );
        (result, info, len)
    };
    // TCP_LISTEN is 10 in the kernel's TCP states.
    let listening = info.tcpi_state == 10;
    // `tcpi_sacked` ends at byte 32 of the struct, in every kernel's layout.
    let filled = len >= 32;
    (result == 0 && listening && filled).then_some(info.tcpi_sacked)
}

/// FreeBSD: `SO_LISTENQLIMIT` (read-only) is the listen queue's limit.
#[cfg(target_os = "freebsd")]
pub(crate) fn tcp_listen_backlog(socket: &Socket) -> Option<u32> {
    use std::os::unix::io::AsRawFd;
    let mut limit: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    #[allow(unsafe_code)]
    // SAFETY: getsockopt writes at most `len` bytes into `limit`, on the
    // descriptor that `socket` owns for the whole call.
    let result = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LISTENQLIMIT,
            std::ptr::addr_of_mut!(limit).cast(),
            &mut len,
        )
    };
    (result == 0).then(|| u32::try_from(limit).ok()).flatten()
}

#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
pub(crate) fn tcp_listen_backlog(_socket: &Socket) -> Option<u32> {
    None
}

/// The index of the network interface named `name` (`if_nametoindex(3)`), for
/// an IPv6 scope id given by name; `None` when no interface has that name.
pub(crate) fn interface_index(name: &CStr) -> io::Result<Option<u32>> {
    #[allow(unsafe_code)]
    // SAFETY: `name` is a NUL-terminated string that lives for the whole
    // call, and if_nametoindex only reads it and keeps no pointer to it.
    // POSIX.1-2001 function; MT-Safe (if_nametoindex(3), glibc's attributes),
    // so calling it while other threads run is sound. errno is per thread.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index != 0 {
        return Ok(Some(index));
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        // Linux sets ENODEV (if_nametoindex(3)); the BSDs' KAME code (e.g.
        // FreeBSD's lib/libc/net/if_nametoindex.c) ENXIO, as RFC 2553 §4.1
        // says.
        Some(libc::ENODEV | libc::ENXIO) => Ok(None),
        _ => Err(error),
    }
}
