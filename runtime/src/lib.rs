// The crate docs are the README (runtime/README.md is a copy of the one at
// the root of the repository, kept equal by tests/tests/expansions.rs, as a
// package cannot include a file outside itself); its Rust examples run as
// this crate's doctests. Its links to the pages of `docs` are docs.rs URLs,
// which work on crates.io and in a clone too; here the same labels are
// defined first, and in Markdown the first definition of a label wins, so on
// docs.rs and in `cargo doc` they are intra-doc links to this version's
// pages, checked by rustdoc (tests/tests/readme.rs keeps the two lists equal).
#![doc = "[docs]: crate::docs"]
#![doc = "[options]: crate::docs::options"]
#![doc = "[handoff]: crate::docs::handoff"]
#![doc = "[unix_sockets]: crate::docs::unix_sockets"]
#![doc = "[zero_downtime]: crate::docs::zero_downtime"]
#![doc = "[containers]: crate::docs::containers"]
#![doc = "[windows]: crate::docs::windows"]
#![doc = "[targets]: crate::docs::targets"]
#![doc = "[expansion]: crate::docs::design#the-policy-is-chosen-at-compile-time"]
#![doc = "[design]: crate::docs::design"]
#![doc = "[measurements]: crate::docs::measurements"]
#![doc = "[comparison]: crate::docs::comparison"]
#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
// Without the `macros` feature the attribute the docs link to is absent.
#![cfg_attr(not(feature = "macros"), allow(rustdoc::broken_intra_doc_links))]
#![warn(missing_debug_implementations, rust_2018_idioms)]

#[cfg(not(any(unix, windows)))]
compile_error!(
    "restartable supports the `unix` target family (Linux, Android, macOS, iOS, the BSDs, illumos) \
     and the `windows` family; this target is in neither, so no socket policy is defined for it"
);

// Everything below is for unix and windows only: on any other target the
// error above is the only one (socket2 and tokio are not even built).
// The modules, along the way a listener is made: where (addr) and what
// (spec) it is asked to be, the attempts that make it (listener), taking a
// passed socket (handoff), the socket types it becomes (convert; either for
// an address of either kind), and the errors it fails with (error, with the
// leaves step and variable); which policy each target gets is policy's, from
// the table that the attribute writes out; every raw OS call is in sys. Each
// imports only modules below it: no circle, nothing from this file.
// `event!`: a `log` record when the feature is on, nothing otherwise.
mod events;
#[allow(unused_imports)]
pub(crate) use crate::events::event;
#[cfg(any(unix, windows))]
mod addr;
#[cfg(any(unix, windows))]
mod builder;
#[cfg(any(unix, windows))]
mod convert;
#[cfg(any(unix, windows))]
mod either;
#[cfg(any(unix, windows))]
mod error;
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub mod handoff;
#[cfg(any(unix, windows))]
mod listener;
#[cfg(any(unix, windows))]
mod messages;
#[cfg(any(unix, windows))]
mod policy;
// Windows: sockets passed to and kept for another process (pass::wire is
// pure, and tested everywhere).
#[cfg(any(windows, test))]
mod pass;
#[cfg(unix)]
mod process;
#[cfg(any(unix, windows))]
mod spec;
#[cfg(any(unix, windows))]
mod step;
#[cfg(any(target_os = "linux", target_os = "android", windows))]
#[cfg_attr(
    docsrs,
    doc(cfg(any(target_os = "linux", target_os = "android", windows)))
)]
pub mod supervisor;
#[cfg(any(unix, windows))]
#[cfg_attr(unix, path = "sys/unix.rs")]
#[cfg_attr(windows, path = "sys/windows.rs")]
mod sys;
#[cfg(any(unix, windows))]
pub mod upgrade;
#[cfg(any(unix, windows))]
mod variable;

#[cfg(any(unix, windows))]
pub use crate::addr::ListenAddr;
#[cfg(any(unix, windows))]
pub use crate::builder::Builder;
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub use crate::builder::UnixBuilder;
#[cfg(unix)]
#[cfg_attr(docsrs, doc(cfg(unix)))]
pub use crate::convert::BindableUnix;
#[cfg(any(unix, windows))]
pub use crate::convert::{Bindable, SocketKind};
#[cfg(any(unix, windows))]
pub use crate::either::{Listener, Stream};
#[cfg(any(unix, windows))]
pub use crate::error::os_error;

/// The socket2 this crate uses: name it in return types
/// (`restartable::socket2::Socket`) and in `configure` functions so that the
/// versions match.
#[cfg(any(unix, windows))]
pub use socket2;

#[doc = include_str!("attribute.md")]
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
#[doc(inline)]
pub use restartable_macros::restartable_listener;

#[cfg(any(unix, windows))]
pub use crate::spec::DEFAULT_BACKLOG;

pub mod docs;

// Unit tests that run themselves in another process.
#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod test_copy;

#[cfg(all(fuzzing, any(unix, windows)))]
#[doc(hidden)]
#[path = "fuzz.rs"]
pub mod __fuzz;

#[cfg(any(unix, windows))]
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
