//! The attribute's generated code as the expansion snapshots hold it
//! (`tests/expand/*.expanded.rs`, the macro's real output), one module
//! each, shared by the test files that call it. `reuse_port` is left out: it is a compile error on most
//! targets by design, and `tests/expansions.rs` includes it on Linux.
#![allow(dead_code)]

pub mod quick_start {
    include!("../../expand/quick_start.expanded.rs");
}
pub mod udp_loopback {
    include!("../../expand/udp_loopback.expanded.rs");
}
pub mod ipv6_only {
    include!("../../expand/ipv6_only.expanded.rs");
}
pub mod port_env_params {
    include!("../../expand/port_env_params.expanded.rs");
}
pub mod addr_socket2 {
    include!("../../expand/addr_socket2.expanded.rs");
}
pub mod not_exclusive {
    include!("../../expand/not_exclusive.expanded.rs");
}
pub mod associated_fn {
    include!("../../expand/associated_fn.expanded.rs");
}
pub mod handoff_retry {
    include!("../../expand/handoff_retry.expanded.rs");
}
pub mod async_fn {
    include!("../../expand/async_fn.expanded.rs");
}
// `only_v6 = false`: a compile error on OpenBSD and DragonFly BSD.
pub mod link_local {
    include!("../../expand/link_local.expanded.rs");
}
#[cfg(unix)]
pub mod unix_path {
    include!("../../expand/unix_path.expanded.rs");
}
#[cfg(unix)]
pub mod unix_datagram_env {
    include!("../../expand/unix_datagram_env.expanded.rs");
}
#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod unix_abstract {
    include!("../../expand/unix_abstract.expanded.rs");
}
