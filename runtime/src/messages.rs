//! What the attribute says at compile time, in the branch of a target that
//! cannot do what was asked, and the runtime says when the same value comes
//! at run time (from the builder or an expression): written once, in two
//! equal files, `runtime/src/messages.rs` and `macros/src/messages.rs`, as a
//! package cannot include a file outside itself (`tests/tests/no_links.rs`
//! keeps them equal).

// Each text is used on some targets only, and by the runtime or the macro.
#![allow(dead_code)]

/// A target outside the `unix` and `windows` families (the runtime has its
/// own `compile_error!` there, which cannot take a constant).
pub(crate) const UNSUPPORTED_FAMILY: &str =
    "restartable supports the `unix` and `windows` target families only";

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

/// Whether `text` is an environment variable's name, as `port_env`,
/// `addr_env` and `path_env` take it: letters, digits and `_`, not starting
/// with a digit.
pub(crate) fn is_variable_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What is wrong with `text` as the name of a passed socket (`inherit`):
/// systemd's rule for `FileDescriptorName=`, 1 to 255 printable ASCII
/// characters and no `:` (the separator in `LISTEN_FDNAMES`).
pub(crate) fn socket_name_problem(text: &str) -> Option<&'static str> {
    if text.is_empty() {
        Some("the name is empty")
    } else if text.len() > 255 {
        Some("the name is over 255 bytes long")
    } else if text.contains(':') {
        Some("`:` separates the names in LISTEN_FDNAMES, so no name contains it")
    } else if !text.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        Some("names are printable ASCII")
    } else {
        None
    }
}

/// The longest `retry`: a restart that waits longer is not a restart.
pub(crate) const MAX_RETRY_SECS: u64 = 3600;
