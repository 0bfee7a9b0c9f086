//! The code `#[restartable_listener]` generates, as its expansion snapshots
//! hold it (tests/expand/*.expanded.rs, written on the host by the real
//! macro), compiled here for Windows with the runtime, and tested under
//! Windows (or Wine) in `policy_tests`.
#![allow(dead_code)]

pub mod quick_start {
    include!("../../tests/expand/quick_start.expanded.rs");
}
pub mod udp_loopback {
    include!("../../tests/expand/udp_loopback.expanded.rs");
}
pub mod ipv6_only {
    include!("../../tests/expand/ipv6_only.expanded.rs");
}
pub mod port_env_params {
    include!("../../tests/expand/port_env_params.expanded.rs");
}
pub mod addr_socket2 {
    include!("../../tests/expand/addr_socket2.expanded.rs");
}
pub mod not_exclusive {
    include!("../../tests/expand/not_exclusive.expanded.rs");
}
pub mod associated_fn {
    include!("../../tests/expand/associated_fn.expanded.rs");
}
pub mod handoff_retry {
    include!("../../tests/expand/handoff_retry.expanded.rs");
}
pub mod link_local {
    include!("../../tests/expand/link_local.expanded.rs");
}
pub mod async_fn {
    include!("../../tests/expand/async_fn.expanded.rs");
}
// reuse_port.expanded.rs is a compile error on Windows by design; the check
// script builds it on its own and expects that error.

// The Windows policy tests are the behaviour suite's own file, built here
// by Rust 1.63 as well.
#[cfg(all(test, windows))]
#[path = "../../tests/tests/windows_policy.rs"]
mod windows_policy;
