//! The Windows half of the policy: SO_EXCLUSIVEADDRUSE, never SO_REUSEADDR.
//!
//! On Windows SO_REUSEADDR would let another process bind the same port and
//! take its traffic. A socket without options is not held back by TIME_WAIT
//! there (libuv's maintainer, joyent/libuv#1360), but an exclusive one is
//! refused while the connections a closed exclusive listener accepted
//! linger (Microsoft, "Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE"): the
//! error says so and points to `retry` (on paper; Wine rebinds as Linux
//! does). socket2 has no call for SO_EXCLUSIVEADDRUSE, nor for
//! if_nametoindex: the raw calls for both are here.

use std::ffi::CStr;
use std::io;
// Imported: Rust 1.71's prelude lacks `size_of` (1.80 has it).
use std::mem::size_of;
use std::net::SocketAddr;
use std::os::windows::io::AsRawSocket;

use socket2::Socket;
use windows_sys::Win32::NetworkManagement::IpHelper::if_nametoindex;
use windows_sys::Win32::Networking::WinSock::{
    setsockopt, WSAGetLastError, SOCKET, SOL_SOCKET, SO_REUSEADDR,
};

/// `SO_EXCLUSIVEADDRUSE`, defined in winsock2.h as `((int)(~SO_REUSEADDR))`.
/// windows-sys 0.52 (the one socket2 0.5 uses) does not name it.
const SO_EXCLUSIVEADDRUSE: i32 = !SO_REUSEADDR;

use self::winsock_bind::{bind_error_in_use, Bind, ReuseOption};
use crate::convert::SocketKind;
use crate::step::Step;

/// Microsoft's table of Winsock's bind refusals: used here, compiled and
/// tested on every target.
#[path = "winsock_bind.rs"]
pub(crate) mod winsock_bind;

/// Passing sockets to other processes, and running one.
#[path = "windows_process.rs"]
pub(crate) mod process;

/// The socket options a listener gets on Windows.
///
/// The constants are what the attribute's expansion names in its
/// `#[cfg(windows)]` branch, and the builder takes the same: which one is
/// the policy table's (`crate::policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    exclusive_address_use: bool,
}

impl Policy {
    /// SO_EXCLUSIVEADDRUSE on TCP listeners and UDP sockets: no other
    /// socket can bind the port while this one holds it.
    pub const EXCLUSIVE_ADDRESS_USE: Policy = Policy {
        exclusive_address_use: true,
    };

    /// No reuse option at all: the OS default. Still never SO_REUSEADDR.
    pub const OS_DEFAULT: Policy = Policy {
        exclusive_address_use: false,
    };
}

/// Sets the policy's options on a socket that is not bound yet.
pub(crate) fn apply_listener_policy(
    socket: &Socket,
    _kind: SocketKind,
    policy: Policy,
) -> Result<(), (Step, io::Error)> {
    if policy.exclusive_address_use {
        set_exclusive_address_use(socket).map_err(|e| (Step::SetExclusiveAddressUse, e))?;
    }
    Ok(())
}

/// The kind a failed bind's error gets: `AddrInUse` wherever Microsoft's
/// table (`winsock_bind`) says that the WSA error means another
/// socket holds the port, which std maps to `PermissionDenied` for
/// WSAEACCES; else the error's own kind. The options are read back from
/// the socket, so that what a `configure` function set counts too.
pub(crate) fn bind_error_kind(
    socket: &Socket,
    addr: SocketAddr,
    policy: Policy,
    error: &io::Error,
) -> io::ErrorKind {
    let code = match error.raw_os_error() {
        Some(code) => code,
        None => return error.kind(),
    };
    let option = if socket.reuse_address().unwrap_or(false) {
        ReuseOption::ReuseAddress
    } else if policy.exclusive_address_use {
        ReuseOption::ExclusiveAddressUse
    } else {
        ReuseOption::Default
    };
    let wildcard = addr.ip().is_unspecified();
    let bind = Bind {
        option,
        wildcard,
        dual_stack: wildcard && addr.is_ipv6() && !socket.only_v6().unwrap_or(true),
    };
    if bind_error_in_use(code, bind) {
        io::ErrorKind::AddrInUse
    } else {
        error.kind()
    }
}

/// IPV6_V6ONLY on an IPv6 socket before bind: `only_v6`, or dual stack
/// (`false`) when not given, set either way.
pub(crate) fn set_only_v6(socket: &Socket, only_v6: Option<bool>) -> io::Result<()> {
    socket.set_only_v6(only_v6.unwrap_or(false))
}

fn set_exclusive_address_use(socket: &Socket) -> io::Result<()> {
    let enable: i32 = 1;
    // A RawSocket is a u64 that holds a SOCKET (a pointer-sized handle).
    let handle = socket.as_raw_socket() as SOCKET;
    #[allow(unsafe_code)]
    // SAFETY: `handle` is the open socket that `socket` owns for this whole
    // call; the option value points to a live i32 and its length is passed
    // with it; WSAGetLastError only reads this thread's last error.
    let result = unsafe {
        if setsockopt(
            handle,
            SOL_SOCKET,
            SO_EXCLUSIVEADDRUSE,
            (&enable as *const i32).cast::<u8>(),
            size_of::<i32>() as i32,
        ) == 0
        {
            Ok(())
        } else {
            Err(WSAGetLastError())
        }
    };
    result.map_err(io::Error::from_raw_os_error)
}

/// The index of the network interface named `name`, for an IPv6 scope id
/// given by name; `None` when no interface has that name. The name is the
/// one `if_nametoindex` takes on Windows (ConvertInterfaceNameToLuidA's),
/// not the interface's alias.
pub(crate) fn interface_index(name: &CStr) -> io::Result<Option<u32>> {
    #[allow(unsafe_code)]
    // SAFETY: `name` is a NUL-terminated string that lives for the whole
    // call, and if_nametoindex only reads it and keeps no pointer to it; it
    // touches no state of the caller's, so other threads do not matter.
    let index = unsafe { if_nametoindex(name.as_ptr().cast::<u8>()) };
    // Microsoft (if_nametoindex, netioapi.h): zero on failure, and "it is
    // not possible to determine an error code".
    Ok(if index == 0 { None } else { Some(index) })
}
