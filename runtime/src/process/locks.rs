//! The lock files of Unix socket paths this process holds (the advisory
//! lock on `<path>.lock`, see `listener::unix::lock`): one entry per file,
//! by device and inode, each open and locked until the process ends. An
//! upgrade passes them to the new process, which holds them as its own.
//!
//! flock locks belong to the open file description, so a second open of
//! the same file in this process would not share the lock: a rebind of the
//! path uses the recorded descriptor.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A lock file's device and inode.
pub(crate) type FileId = (u64, u64);

/// The lock files this process holds. Entries are never removed: a lock
/// is held until the process ends, and each entry is leaked to be
/// `'static` (one small entry per distinct path the process binds).
static HELD: Mutex<Vec<&'static Held>> = Mutex::new(Vec::new());

/// One lock file, open and locked for the life of the process.
#[derive(Debug)]
pub(crate) struct Held {
    id: FileId,
    /// The lock file as first named (relative if it was given so).
    path: PathBuf,
    /// Close-on-exec (std opens every file so; one passed by an upgrade is
    /// received so), so that no program this process starts keeps it.
    file: File,
    /// Held while this process binds the path: binds of one path in one
    /// process take turns, and the one that finds it live is refused.
    binding: Mutex<()>,
}

impl Held {
    /// Waits for this process's other binds of the path to finish.
    pub(crate) fn turn(&'static self) -> MutexGuard<'static, ()> {
        self.binding.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The descriptor, for as long as the process lives.
    pub(crate) fn fd(&'static self) -> BorrowedFd<'static> {
        self.file.as_fd()
    }
}

fn held() -> MutexGuard<'static, Vec<&'static Held>> {
    // A panic while the list is locked cannot leave it half changed: an
    // entry is pushed whole.
    HELD.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The entry of lock file `id`: the one on record, or the one `lock` makes
/// (it locks the file, and gives the path and the open file; its error is
/// returned as it is). `lock` runs with the record held, so that two
/// threads of this process never lock one file through two descriptors
/// (the second would see it held).
pub(crate) fn find_or_hold(
    id: FileId,
    lock: impl FnOnce() -> io::Result<(PathBuf, File)>,
) -> io::Result<&'static Held> {
    let mut list = held();
    if let Some(held) = list.iter().find(|held| held.id == id) {
        return Ok(held);
    }
    let (path, file) = lock()?;
    let held: &'static Held = Box::leak(Box::new(Held {
        id,
        path,
        file,
        binding: Mutex::new(()),
    }));
    list.push(held);
    Ok(held)
}

/// Every lock file held: what an upgrade passes to the new process.
pub(crate) fn all() -> Vec<&'static Held> {
    held().clone()
}

/// Records a lock file passed by the process this one replaces, locked
/// already (the lock belongs to the open file description, which both
/// share).
pub(crate) fn adopt(file: File, path: PathBuf) -> io::Result<()> {
    let metadata = file.metadata()?;
    let id = (metadata.dev(), metadata.ino());
    find_or_hold(id, || Ok((path, file))).map(drop)
}
