// The long documentation, as pages of the crate's docs: each module below
// has no items, only the text of one file of runtime/docs/ (inside the
// package, so that docs.rs has it), whose Rust code blocks are this crate's
// doctests.
#![doc = include_str!("../docs/README.md")]
// Prose, not API docs: tool and OS names (sd_notify, VmRSS) and the pages'
// own names are written as text.
#![allow(clippy::doc_markdown)]

#[doc = include_str!("../docs/options.md")]
pub mod options {}

#[doc = include_str!("../docs/handoff.md")]
pub mod handoff {}

#[doc = include_str!("../docs/unix-sockets.md")]
pub mod unix_sockets {}

#[doc = include_str!("../docs/zero-downtime.md")]
pub mod zero_downtime {}

#[doc = include_str!("../docs/containers.md")]
pub mod containers {}

#[doc = include_str!("../docs/windows.md")]
pub mod windows {}

#[doc = include_str!("../docs/targets.md")]
pub mod targets {}

#[doc = include_str!("../docs/comparison.md")]
pub mod comparison {}

#[doc = include_str!("../docs/design.md")]
pub mod design {}

#[doc = include_str!("../docs/measurements.md")]
pub mod measurements {}
