//! Helpers for the examples: what the kernel says a socket got, the pieces
//! of the crash-restart demonstration, and the supervisor of the handoff
//! example.

#[cfg(target_os = "linux")]
pub mod crash;
#[cfg(target_os = "linux")]
pub mod handoff;
#[cfg(target_os = "linux")]
pub mod unix_crash;

use std::io;

use restartable::socket2::SockRef;

/// The reuse options of `socket` as getsockopt reads them back, e.g.
/// `SO_REUSEADDR=1 SO_REUSEPORT=0`.
///
/// # Errors
///
/// When getsockopt fails.
pub fn describe<'s, S>(socket: &'s S) -> io::Result<String>
where
    SockRef<'s>: From<&'s S>,
{
    let socket = SockRef::from(socket);
    let mut options = vec![format!(
        "SO_REUSEADDR={}",
        u8::from(socket.reuse_address()?)
    )];
    #[cfg(any(target_os = "linux", target_os = "android"))]
    options.push(format!("SO_REUSEPORT={}", u8::from(socket.reuse_port()?)));
    if socket.local_addr()?.is_ipv6() {
        options.push(format!("IPV6_V6ONLY={}", u8::from(socket.only_v6()?)));
    }
    Ok(options.join(" "))
}
