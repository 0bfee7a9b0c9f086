//! The advisory lock on `<path>.lock`, taken before the first bind of a
//! path and held until the process ends: while a restartable listener's
//! process lives, no other restartable instance removes its socket file,
//! whatever a connect to it answers. The lock proves that no live
//! restartable instance holds the path; the connect probe remains for
//! programs that do not take it.
//!
//! The locks held are on record (`process::locks`) by the lock file's
//! device and inode, not by the path as written: `app.sock` and
//! `/run/app/app.sock`, or a relative path after `chdir`, name one lock when
//! they name one file, and two different files are never mistaken for one.

// Why the probe alone is not enough: macOS and the BSDs answer ECONNREFUSED
// to a connect when a live listener's accept queue is full, so a busy
// instance would look stale there (on paper, not run here).
// - FreeBSD (main), sys/kern/uipc_usrreq.c, unp_connectat():
//       if (SOLISTENING(so2))
//           so2 = solisten_clone(so2);
//       else
//           so2 = NULL;
//       if (so2 == NULL) {
//           error = ECONNREFUSED;
//   and sys/kern/uipc_socket.c, solisten_clone(), which returns NULL when
//       over = (head->sol_qlen > 3 * head->sol_qlimit / 2);
// - XNU (xnu-11417.101.15), bsd/kern/uipc_usrreq.c:1404-1406, unp_connect():
//       if ((so2->so_options & SO_ACCEPTCONN) == 0 ||
//           (so3 = sonewconn(so2, 0, nam)) == 0) {
//           error = ECONNREFUSED;
//   and bsd/kern/uipc_socket2.c:358-360, sonewconn_internal():
//       if (so_qlen >=
//           (soqlimitcompat ? head->so_qlimit : (3 * head->so_qlimit / 2))) {
//           return (struct socket *)0;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::MutexGuard;

use crate::addr::ListenAddr;
use crate::convert::SocketKind;
use crate::error::Failure;
use crate::process::locks;
use crate::sys::unix_socket::{effective_uid, try_lock};

/// The turn of one bind of a path in this process, the lock file held.
pub(crate) struct Turn {
    _binding: MutexGuard<'static, ()>,
}

/// Takes the lock of `path` (or finds it taken by this process already) and
/// waits for this process's other binds of the path to finish. Another
/// process holding it is "address in use" at once: a restartable listener
/// of a live process has the path.
pub(crate) fn take(path: &Path, kind: SocketKind) -> io::Result<Turn> {
    let lock_path = lock_path(path);
    let file = open(path, &lock_path)?;
    let metadata = file
        .metadata()
        .map_err(|e| cannot(path, &lock_path, LockStep::LookAt, &e))?;
    check(path, &lock_path, &file, &metadata)?;
    let id = (metadata.dev(), metadata.ino());
    // When the file is on record already, the descriptor opened here is
    // closed unused and releases nothing (it never locked).
    let entry = locks::find_or_hold(id, || {
        let locked = try_lock(&file).map_err(|e| cannot(path, &lock_path, LockStep::Lock, &e))?;
        if !locked {
            return Err(Failure::wrap_bind(
                ListenAddr::Path(path.to_owned()),
                kind,
                io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "another process holds the lock on {}, which a restartable listener \
                         keeps for as long as its process runs",
                        lock_path.display()
                    ),
                ),
            ));
        }
        Ok((lock_path.clone(), file))
    })?;
    Ok(Turn {
        _binding: entry.turn(),
    })
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Opens (creating it, mode 0600) the lock file. `O_NOFOLLOW`: a symbolic
/// link is refused; `O_NONBLOCK`: a FIFO put there opens at once instead of
/// waiting for a writer, and is then refused by [`check`]; `O_NOCTTY`: a
/// terminal never becomes the controlling one.
fn open(path: &Path, lock_path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .mode(0o600);
    // Root's lock file can be locked through a read-only open.
    options
        .clone()
        .write(true)
        .create(true)
        .open(lock_path)
        .or_else(|error| match error.kind() {
            // When there is no file to open read-only, the reason is that
            // it could not be created.
            io::ErrorKind::PermissionDenied => options.open(lock_path).map_err(|second| {
                if second.kind() == io::ErrorKind::NotFound {
                    error
                } else {
                    second
                }
            }),
            _ => Err(error),
        })
        .map_err(|error| not_opened(path, lock_path, &error))
}

/// Only a regular file of this process's user (or root's) is used: a FIFO
/// or a device is no lock, and another user's file is a lock that user can
/// hold for as long as they like, so that every start fails.
fn check(path: &Path, lock_path: &Path, file: &File, metadata: &fs::Metadata) -> io::Result<()> {
    if !metadata.file_type().is_file() {
        return Err(not_a_lock_file(path, lock_path, metadata.file_type()));
    }
    // A second name is a hard link someone put there, perhaps to a file of
    // root's that the narrowing below would change: refused.
    if metadata.nlink() != 1 {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "cannot bind {}: the lock file {} has {} names (hard links), so it may be \
                 another file linked there; it was left alone: remove it",
                path.display(),
                lock_path.display(),
                metadata.nlink()
            ),
        ));
    }
    let me = effective_uid();
    if !super::socket_file::owned_by_this_user_or_root(metadata.uid()) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "cannot bind {}: the lock file {} belongs to uid {}, not to this process's user \
                 (uid {me}) or root, and its owner could hold the lock for ever; remove it, and \
                 keep the socket in a directory only this service's user can write (such as \
                 /run/NAME, from RuntimeDirectory= under systemd)",
                path.display(),
                lock_path.display(),
                metadata.uid()
            ),
        ));
    }
    // A lock file others can read can be locked by them (flock needs only
    // an open descriptor): one made by an earlier version, 0644, is
    // narrowed. A failure leaves it as it was; the lock still works.
    if metadata.uid() == me && metadata.permissions().mode() & 0o077 != 0 {
        let _ = file.set_permissions(fs::Permissions::from_mode(0o600));
    }
    Ok(())
}

/// The lock file could not be opened: a missing directory is named, with
/// what to do.
fn not_opened(path: &Path, lock_path: &Path, error: &io::Error) -> io::Error {
    let directory = path.parent().filter(|dir| !dir.as_os_str().is_empty());
    if let (io::ErrorKind::NotFound, Some(directory)) = (error.kind(), directory) {
        if fs::symlink_metadata(directory).is_err() {
            return io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "cannot bind {}: the directory {} does not exist; create it first (under \
                     systemd, RuntimeDirectory= creates one in /run for the service)",
                    path.display(),
                    directory.display()
                ),
            );
        }
    }
    // A symbolic link (ELOOP), a directory (EISDIR), a socket (ENXIO):
    // say what is there.
    if let Ok(found) = fs::symlink_metadata(lock_path) {
        if !found.file_type().is_file() {
            return not_a_lock_file(path, lock_path, found.file_type());
        }
    }
    cannot(path, lock_path, LockStep::Open, error)
}

fn not_a_lock_file(path: &Path, lock_path: &Path, found: fs::FileType) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "cannot bind {}: the lock file {} is {}, not a regular file; it was left alone",
            path.display(),
            lock_path.display(),
            super::socket_file::describe(found)
        ),
    )
}

/// What was done to the lock file when it failed.
#[derive(Clone, Copy)]
enum LockStep {
    Open,
    LookAt,
    Lock,
}

fn cannot(path: &Path, lock_path: &Path, step: LockStep, error: &io::Error) -> io::Error {
    let (path, lock_path) = (path.display(), lock_path.display());
    let message = match step {
        LockStep::Open => {
            format!("cannot bind {path}: cannot open the lock file {lock_path}: {error}")
        }
        LockStep::LookAt => {
            format!("cannot bind {path}: cannot look at the lock file {lock_path}: {error}")
        }
        LockStep::Lock => {
            format!("cannot bind {path}: cannot lock the lock file {lock_path}: {error}")
        }
    };
    io::Error::new(error.kind(), message)
}
