//! Helpers shared by the test suites: reading back the options a socket got,
//! skipping what cannot run here, running a test in a copy of its test
//! binary ([`copy`]), and passing sockets to that copy as systemd does
//! ([`passing`], Linux); and the load client of the upgrade check
//! ([`upgrade_load`], run by the `upgrade_load` fixture).

pub mod copy;
#[cfg(target_os = "linux")]
pub mod passing;
pub mod upgrade_load;

use std::io;

use restartable::socket2::SockRef;

pub use crate::copy::{alone, child, command, in_child, run, through, Running};

/// The socket options that the policy decides, read back with getsockopt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// SO_REUSEADDR.
    pub reuse_address: bool,
    /// SO_REUSEPORT, where the target has it.
    pub reuse_port: Option<bool>,
    /// IPV6_V6ONLY, for an IPv6 socket.
    pub only_v6: Option<bool>,
}

/// Reads the options of `socket` back from the kernel.
///
/// # Errors
///
/// When getsockopt fails.
pub fn options<'s, S>(socket: &'s S) -> io::Result<Options>
where
    SockRef<'s>: From<&'s S>,
{
    let socket = SockRef::from(socket);
    let is_ipv6 = socket.local_addr()?.is_ipv6();
    Ok(Options {
        reuse_address: socket.reuse_address()?,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        reuse_port: Some(socket.reuse_port()?),
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        reuse_port: None,
        only_v6: if is_ipv6 {
            Some(socket.only_v6()?)
        } else {
            None
        },
    })
}

/// The variable `.ci/run` sets: everything is required, so a test that
/// cannot run here (no network namespace, no root, a tool missing) fails
/// instead of passing as skipped.
pub const REQUIRE_ALL: &str = "RESTARTABLE_REQUIRE_ALL";

/// Says why a test checks nothing here and returns, or, when
/// [`REQUIRE_ALL`] is set, fails the test with that reason.
///
/// # Panics
///
/// When [`REQUIRE_ALL`] is set.
pub fn skip(reason: &str) {
    assert!(
        std::env::var_os(REQUIRE_ALL).is_none(),
        "{REQUIRE_ALL} is set, and this test cannot run: {reason}"
    );
    println!("skipped: {reason}");
}
