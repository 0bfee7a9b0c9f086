//! The attempts that make a listener: bind an IP address (`ip`) or a
//! Unix-domain path or name (`unix`), after taking a passed socket if asked,
//! again while the address is in use if asked (`retry`), pausing the thread
//! or, for an `async fn`, the task (`attempts`, `background`).

pub(crate) mod attempts;
pub(crate) mod background;
pub(crate) mod ip;
pub(crate) mod retry;
#[cfg(unix)]
pub(crate) mod unix;
