//! The layer below the listeners and the upgrade that owns what crosses
//! from one process to the next: descriptors inherited through exec
//! (adopted once, here), the listeners kept to be passed on, the lock
//! files of Unix socket paths, and the child process an upgrade starts.
//! Raw calls are in `sys`; nothing here knows about addresses or the
//! upgrade's protocol.

pub(crate) mod child;
pub(crate) mod inherited;
pub(crate) mod kept;
pub(crate) mod locks;
