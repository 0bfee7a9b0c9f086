//! The policy of every target, for each choice of options: which `Policy`
//! constant a listener gets there, or why it cannot have one. The attribute
//! writes the table out as its expansion's `#[cfg]` branches; the builder
//! compiles the row of its own target. Written once, in two equal files,
//! `runtime/src/policy_table.rs` and `macros/src/policy_table.rs`, as a
//! package cannot include a file outside itself (`tests/tests/no_links.rs`
//! keeps them equal).
//!
//! A row names its targets by `cfg` predicates, any of which it takes, and
//! gives them `Ok(family::Policy::CONSTANT)` or `Err(MESSAGE)`: a text of
//! `messages`, the expansion's compile error there and the builder's
//! `Unsupported` error. `_` is every target that no row above it names. The
//! expansion shows the rows in this order.

/// Calls `$then!` with the table.
macro_rules! policy_table {
    ($then:ident) => {
        $then! {
            // The default.
            default {
                [unix] => Ok(unix::Policy::REUSE_ADDRESS),
                [windows] => Ok(windows::Policy::EXCLUSIVE_ADDRESS_USE),
                _ => Err(UNSUPPORTED_FAMILY),
            }
            // `exclusive = false`, an opt-out for Windows.
            not_exclusive {
                [unix] => Ok(unix::Policy::REUSE_ADDRESS),
                [windows] => Ok(windows::Policy::OS_DEFAULT),
                _ => Err(UNSUPPORTED_FAMILY),
            }
            // `reuse_port = true`: only where the kernel balances the
            // connections between the sockets that share the port.
            reuse_port {
                [target_os = "linux", target_os = "android"] => Ok(unix::Policy::REUSE_PORT),
                [target_os = "freebsd"] => Ok(unix::Policy::REUSE_PORT_LB),
                [windows] => Err(REUSE_PORT_ON_WINDOWS),
                _ => Err(REUSE_PORT_ELSEWHERE),
            }
        }
    };
}

pub(crate) use policy_table;
