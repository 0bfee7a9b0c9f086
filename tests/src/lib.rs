//! Helpers shared by the test suites: reading back the options a socket got.

use std::io;

use restartable::socket2::SockRef;

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
