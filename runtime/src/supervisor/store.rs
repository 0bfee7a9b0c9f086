//! The sockets the supervisor holds for the service: what the service
//! stored with `FDSTORE=1`, each socket once, under its name.

use std::fs::File;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::io::{AsFd, BorrowedFd, OwnedFd};

use crate::sys::upgrade::MOST_FDS_PER_MESSAGE;

/// One stored socket.
#[derive(Debug)]
pub(super) struct Stored {
    pub(super) name: String,
    fd: OwnedFd,
    /// Its device and inode: the same socket, stored again by each new
    /// service (which stores what it was passed), is kept once.
    key: (u64, u64),
}

impl Stored {
    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// What the supervisor holds.
#[derive(Debug, Default)]
pub(super) struct Store {
    stored: Vec<Stored>,
}

impl Store {
    /// Keeps `fd` under `name`, unless it is no socket, is kept already,
    /// or the store is full (then it is closed, and that is logged).
    pub(super) fn add(&mut self, name: &str, fd: OwnedFd) {
        let file = File::from(fd);
        let metadata = match file.metadata() {
            Ok(metadata) => metadata,
            Err(error) => {
                crate::event!(
                    warn,
                    "supervisor: the descriptor stored as {name:?}: {error}"
                );
                return;
            }
        };
        if !metadata.file_type().is_socket() {
            crate::event!(
                warn,
                "supervisor: the descriptor stored as {name:?} is no socket; it was closed"
            );
            return;
        }
        let key = (metadata.dev(), metadata.ino());
        if self.stored.iter().any(|s| s.key == key) {
            return;
        }
        if self.stored.len() >= MOST_FDS_PER_MESSAGE {
            crate::event!(
                warn,
                "supervisor: {MOST_FDS_PER_MESSAGE} sockets are stored already; {name:?} was \
                 closed"
            );
            return;
        }
        crate::event!(info, "supervisor: holds the listener {name:?}");
        self.stored.push(Stored {
            name: name.to_owned(),
            fd: OwnedFd::from(file),
            key,
        });
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Stored> {
        self.stored.iter()
    }

    pub(super) fn len(&self) -> usize {
        self.stored.len()
    }
}
