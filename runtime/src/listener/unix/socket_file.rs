//! The socket's file after `bind` (or as passed by a supervisor): its mode
//! set without following a symbolic link, and its removal only while it is
//! the file this process made. Whoever can rename entries in the directory
//! can put a link or another file at the path between two calls; a root
//! service that then chmods or removes "the path" acts on that file
//! (CWE-59).

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use crate::addr::ListenAddr;
use crate::error::Failure;
use crate::step::Step;
use crate::sys::unix_socket::{effective_uid, Entry};

/// A file's device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FileId(u64, u64);

impl FileId {
    pub(super) fn of(metadata: &fs::Metadata) -> FileId {
        FileId(metadata.dev(), metadata.ino())
    }
}

/// Who made the socket file whose mode is set.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum MadeBy {
    /// This process's `bind`, a moment ago: a socket of this process's user.
    ThisBind,
    /// The supervisor that passed the socket (`inherit`): a socket, of
    /// whichever user made it.
    Supervisor,
}

/// Why the mode could not be set, and the file when it is this process's
/// own (so that the caller may remove it).
pub(super) struct NotSet {
    pub(super) error: io::Error,
    pub(super) ours: Option<FileId>,
}

/// Sets `mode` on the socket file at `path`, never through a symbolic link
/// and never on a file that is not the expected socket: anything else found
/// there is an `AlreadyExists` error that says what it is, and is left
/// alone. Returns the file's identity.
pub(super) fn set_mode(path: &Path, mode: u32, made_by: MadeBy) -> Result<FileId, NotSet> {
    let place = || ListenAddr::Path(path.to_owned());
    let refuse = |what: String| NotSet {
        error: Failure::wrap(
            Step::SetMode,
            place(),
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                match made_by {
                    MadeBy::ThisBind => format!(
                        "{what} is at this path instead of the socket that bind made; it was \
                         left alone"
                    ),
                    MadeBy::Supervisor => format!(
                        "{what} is at this path instead of the passed socket's file; it was \
                         left alone"
                    ),
                },
            ),
        ),
        ours: None,
    };
    let entry = Entry::open(path).map_err(|error| NotSet {
        error: Failure::wrap(Step::SetMode, place(), error),
        ours: None,
    })?;
    let metadata = entry.metadata();
    if !metadata.file_type().is_socket() {
        return Err(refuse(what_is_there(path, metadata.file_type())));
    }
    // A socket file has one name; a second one is a hard link put there,
    // to another socket whose mode is not this service's to change.
    if metadata.nlink() != 1 {
        return Err(refuse(format!(
            "a socket file with {} names (hard links)",
            metadata.nlink()
        )));
    }
    let me = effective_uid();
    if made_by == MadeBy::ThisBind && metadata.uid() != me {
        return Err(refuse(format!(
            "a socket of uid {} (this process is uid {me})",
            metadata.uid()
        )));
    }
    let id = FileId::of(metadata);
    let ours = (made_by == MadeBy::ThisBind).then_some(id);
    // Nothing to change: a passed socket's file may be another user's (the
    // supervisor's), already as asked.
    if metadata.permissions().mode() & 0o7777 == mode {
        return Ok(id);
    }
    entry.set_mode(path, mode).map_err(|error| {
        let error =
            if made_by == MadeBy::Supervisor && error.kind() == io::ErrorKind::PermissionDenied {
                io::Error::new(
                    error.kind(),
                    format!(
                    "the passed socket's file belongs to uid {}, and this process (uid {me}) may \
                     not change its mode ({error}); set the mode where the socket is made \
                     (SocketMode= in a systemd .socket unit), or leave out `mode`",
                    metadata.uid()
                ),
                )
            } else {
                error
            };
        NotSet {
            error: Failure::wrap(Step::SetMode, place(), error),
            ours,
        }
    })?;
    Ok(id)
}

/// The identity of the socket file `bind` just made at `path`, when a
/// socket is there (`lstat`: a link is not followed).
pub(super) fn bound_file(path: &Path) -> Option<FileId> {
    fs::symlink_metadata(path)
        .ok()
        .filter(|found| found.file_type().is_socket())
        .map(|found| FileId::of(&found))
}

/// Whether a file of `owner` (a stale socket file, a lock file) is one this
/// process relies on or removes: its own user's or root's. Another user
/// can put a file at a path in a directory both can write, and keep it
/// there, or lose it if this process removed it.
pub(super) fn owned_by_this_user_or_root(owner: u32) -> bool {
    owner == effective_uid() || owner == 0
}

/// Removes the file at `path` if it is still `file`. (Between the `lstat`
/// and the `unlink` another file could be renamed there: POSIX has no
/// unlink by descriptor; that is why the directory must be one only the
/// service's user can write.)
pub(super) fn remove_if_same(path: &Path, file: FileId) -> io::Result<()> {
    let same = fs::symlink_metadata(path).is_ok_and(|now| FileId::of(&now) == file);
    if !same {
        return Ok(());
    }
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// What a file of this type is, as an error says it.
pub(super) fn describe(file_type: fs::FileType) -> &'static str {
    if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_file() {
        "a regular file"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() {
        "a character device"
    } else {
        "a block device"
    }
}

/// [`describe`], with a symbolic link's target.
pub(super) fn what_is_there(path: &Path, file_type: fs::FileType) -> String {
    if file_type.is_symlink() {
        if let Ok(target) = fs::read_link(path) {
            return format!("a symbolic link (to {})", target.display());
        }
    }
    describe(file_type).to_owned()
}
