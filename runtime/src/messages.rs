//! What the attribute says at compile time, in the branch of a target that
//! cannot do what was asked, and the runtime says when the same value comes
//! at run time (from the builder or an expression): written once, in two
//! equal files, `runtime/src/messages.rs` and `macros/src/messages.rs`, as a
//! package cannot include a file outside itself (`tests/tests/no_links.rs`
//! keeps them equal).

// Each text is used on some targets only, and by the runtime or the macro.
#![allow(dead_code)]

/// `reuse_port` on Windows.
pub(crate) const REUSE_PORT_ON_WINDOWS: &str = "`reuse_port = true` is not supported on Windows: \
     sharing a port there takes SO_REUSEADDR, which lets any process bind the port and take its \
     traffic";

/// `reuse_port` on a unix target other than Linux, Android and FreeBSD.
pub(crate) const REUSE_PORT_ELSEWHERE: &str = "`reuse_port = true` is supported on Linux, \
     Android and FreeBSD only: on this target SO_REUSEPORT does not balance connections between \
     sockets";

/// `only_v6 = false` on OpenBSD and DragonFly BSD.
pub(crate) const NO_DUAL_STACK: &str = "`only_v6 = false` is not possible on OpenBSD and \
     DragonFly BSD: they have no dual-stack sockets, an IPv6 socket is always IPv6-only there; \
     bind an IPv4 socket as well, or leave out only_v6";
