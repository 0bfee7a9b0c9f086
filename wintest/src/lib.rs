//! The code `#[restartable_listener]` generates, as its expansion snapshots
//! hold it (tests/expand/*.expanded.rs, written on the host by the real
//! macro), compiled here for Windows with the runtime by Rust 1.63, and
//! tested under Windows (or Wine) in `windows_policy`.

#[path = "../../tests/tests/snapshots/mod.rs"]
pub mod snapshots;

// reuse_port.expanded.rs is a compile error on Windows by design; the check
// script builds it on its own and expects that error.

// The Windows policy tests are the behaviour suite's own file, built here
// by Rust 1.63 as well.
#[cfg(all(test, windows))]
#[path = "../../tests/tests/windows_policy.rs"]
mod windows_policy;
