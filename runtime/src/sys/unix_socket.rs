//! The raw calls behind Unix-domain socket files: the mode of a socket
//! before bind, the mode of its file after bind without following a
//! symbolic link, the advisory lock on `<path>.lock`, and who this process
//! is.

use std::fs::{self, File};
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use socket2::Socket;

use super::os_result;

/// The size of `sun_path`: 108 bytes on Linux, Android and illumos, 104 on
/// macOS, iOS and the BSDs. A path takes one byte less, for its NUL.
pub(crate) fn sun_path_len() -> usize {
    #[allow(unsafe_code)]
    // SAFETY: `sockaddr_un` is a plain C struct of integers and bytes, for
    // which all zeros is a valid value.
    let addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_path.len()
}

/// This process's effective user id: the owner of the files it creates.
#[allow(unsafe_code)]
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no argument, touches no memory of the caller's
    // and cannot fail (POSIX: "shall always be successful"); it reads the
    // process's credentials, so any thread may call it.
    unsafe { libc::geteuid() }
}

/// On Linux and Android the file `bind` creates takes the socket inode's
/// mode, less the umask (`unix_bind_bsd` in `net/unix/af_unix.c`), and
/// `fchmod` on a socket that is not bound sets that mode: so the file never
/// exists with more permissions than asked, even for a moment. The mode
/// step after bind then restores any bits the umask took away.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn narrow_mode_before_bind(socket: &Socket, mode: u32) -> io::Result<()> {
    #[allow(unsafe_code)]
    // SAFETY: fchmod on a descriptor that `socket` owns and that stays open
    // for the call; no memory is passed, and another thread's use of the
    // descriptor cannot make it refer to another file meanwhile.
    let result = unsafe { libc::fchmod(socket.as_raw_fd(), mode as libc::mode_t) };
    os_result(result).map(drop)
}

/// Elsewhere `fchmod` on a socket fails (macOS, the BSDs: EINVAL) and the
/// file is created with the umask's mode, then set by the mode step before
/// `listen`: a stream socket cannot be connected to before it listens; a
/// datagram socket can be sent to between the two calls (on paper: not run
/// here).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn narrow_mode_before_bind(_socket: &Socket, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// The file at a path, looked at without following a symbolic link, held
/// so that its mode can be changed on that same file.
pub(crate) struct Entry {
    metadata: fs::Metadata,
    /// An `O_PATH` descriptor of the file itself (Linux, Android).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    file: File,
}

impl Entry {
    /// Linux, Android: `open(O_PATH | O_NOFOLLOW | O_CLOEXEC)` and `fstat`.
    /// `O_PATH` opens any file without reading it (a socket, a FIFO, a
    /// device: no open side effects), and with `O_NOFOLLOW` a symbolic
    /// link is opened itself (open(2)), so that it is seen for what it is.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(crate) fn open(path: &Path) -> io::Result<Entry> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_NOFOLLOW)
            .open(path)?;
        let metadata = file.metadata()?;
        Ok(Entry { metadata, file })
    }

    /// Elsewhere `lstat`: what is at the path, a link not followed.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub(crate) fn open(path: &Path) -> io::Result<Entry> {
        Ok(Entry {
            metadata: fs::symlink_metadata(path)?,
        })
    }

    pub(crate) fn metadata(&self) -> &fs::Metadata {
        &self.metadata
    }

    /// Linux, Android: `chmod` on `/proc/self/fd/N`, which acts on the
    /// opened file whatever is at `path` now; glibc's
    /// `fchmodat(AT_SYMLINK_NOFOLLOW)` does the same (and `fchmodat2`,
    /// Linux 6.6, would not need /proc). Call it only for a file that is
    /// not a symbolic link: on a link's descriptor it would follow it.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(crate) fn set_mode(&self, _path: &Path, mode: u32) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let magic = format!("/proc/self/fd/{}", self.file.as_raw_fd());
        fs::set_permissions(magic, fs::Permissions::from_mode(mode)).map_err(|error| {
            if error.kind() == io::ErrorKind::NotFound {
                io::Error::new(
                    error.kind(),
                    "the mode is set through /proc/self/fd, so that no symbolic link is \
                     followed, and /proc is not mounted",
                )
            } else {
                error
            }
        })
    }

    /// Elsewhere `fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW)`: the
    /// mode of what is at `path` now, a symbolic link itself if one was put
    /// there since the `lstat` (macOS chmod(2), FreeBSD chmod(2): "If path
    /// names a symbolic link, then the mode of the symbolic link is
    /// changed"), never the file it points to. On paper: not run here.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub(crate) fn set_mode(&self, path: &Path, mode: u32) -> io::Result<()> {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "the path has a NUL byte"))?;
        #[allow(unsafe_code)]
        // SAFETY: `path` is a NUL-terminated string that lives for the
        // call; fchmodat reads it and no other memory, and AT_FDCWD is a
        // valid directory argument in any thread.
        let result = unsafe {
            libc::fchmodat(
                libc::AT_FDCWD,
                path.as_ptr(),
                mode as libc::mode_t,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        os_result(result).map(drop)
    }
}

/// `flock(LOCK_EX | LOCK_NB)`: `Ok(false)` when another open file
/// description of the file holds it. flock locks belong to the open file
/// description, so a second open of the same file in this process does not
/// share the lock: the caller keeps one per file.
#[cfg(not(target_os = "solaris"))]
pub(crate) fn try_lock(file: &File) -> io::Result<bool> {
    #[allow(unsafe_code)]
    // SAFETY: flock on a descriptor that `file` owns and that stays open for
    // the call; no memory is passed.
    let result = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    match os_result(result) {
        Ok(_) => Ok(true),
        Err(error) => match error.raw_os_error() {
            Some(libc::EWOULDBLOCK) => Ok(false),
            Some(libc::EINTR) => try_lock(file),
            _ => Err(error),
        },
    }
}

/// Solaris has no flock: a POSIX record lock on the whole file, which
/// belongs to the process (on paper, not run here); the caller's record of
/// the locks it holds keeps this process from locking twice.
#[cfg(target_os = "solaris")]
pub(crate) fn try_lock(file: &File) -> io::Result<bool> {
    #[allow(unsafe_code)]
    // SAFETY: all zeros is a valid `flock` struct; fcntl reads it while it
    // lives on this stack, on a descriptor that `file` owns.
    let result = unsafe {
        let mut lock: libc::flock = std::mem::zeroed();
        lock.l_type = libc::F_WRLCK as libc::c_short;
        lock.l_whence = libc::SEEK_SET as libc::c_short;
        libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock)
    };
    let Err(error) = os_result(result) else {
        return Ok(true);
    };
    match error.raw_os_error() {
        Some(libc::EAGAIN | libc::EACCES) => Ok(false),
        _ => Err(error),
    }
}
