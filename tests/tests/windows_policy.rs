//! The Windows policy, read back with getsockopt: SO_EXCLUSIVEADDRUSE on TCP
//! and UDP, never SO_REUSEADDR, and a second binder refused. Under Wine these
//! are real Winsock calls; Wine maps them onto Linux sockets, so what it
//! cannot show (TIME_WAIT, SO_REUSEADDR sharing) is not asserted here.
//!
//! Run under Wine, built with the current compiler together with the rest of
//! the behaviour suite (`scripts/windows-check.sh`).
#![cfg(windows)]
#![allow(
    dead_code,
    unsafe_code,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap
)]

use std::io;
// Imported: Rust 1.71's prelude lacks `size_of` (1.80 has it).
use std::mem::size_of;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::windows::io::AsRawSocket;

use restartable::socket2::{Domain, Socket, Type};

#[path = "snapshots/mod.rs"]
mod snapshots;
use snapshots::{
    addr_socket2, associated_fn, async_fn, ipv6_only, not_exclusive, port_env_params, udp_loopback,
};
use windows_sys::Win32::Networking::WinSock::{
    getsockopt, setsockopt, WSAGetLastError, IPPROTO_IPV6, IPV6_V6ONLY, SOCKET, SOL_SOCKET,
    SO_REUSEADDR,
};

/// winsock2.h: `((int)(~SO_REUSEADDR))`; windows-sys 0.52 does not name it.
const SO_EXCLUSIVEADDRUSE: i32 = !SO_REUSEADDR;
const WSAEACCES: i32 = 10013;
const WSAEINVAL: i32 = 10022;
const WSAEADDRINUSE: i32 = 10048;

fn get_int(socket: &impl AsRawSocket, level: i32, name: i32) -> io::Result<i32> {
    let mut value: i32 = 0;
    let mut len = size_of::<i32>() as i32;
    // Safety: the socket is open for the call; value and len are live and
    // len holds the size of value.
    let result = unsafe {
        getsockopt(
            socket.as_raw_socket() as SOCKET,
            level,
            name,
            (&mut value as *mut i32).cast(),
            &mut len,
        )
    };
    if result == 0 {
        Ok(value)
    } else {
        // Safety: reads this thread's last Winsock error.
        Err(io::Error::from_raw_os_error(unsafe { WSAGetLastError() }))
    }
}

fn set_int(socket: &impl AsRawSocket, level: i32, name: i32, value: i32) -> io::Result<()> {
    // Safety: as in get_int; the value is read only during the call.
    let result = unsafe {
        setsockopt(
            socket.as_raw_socket() as SOCKET,
            level,
            name,
            (&value as *const i32).cast(),
            size_of::<i32>() as i32,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        // Safety: reads this thread's last Winsock error.
        Err(io::Error::from_raw_os_error(unsafe { WSAGetLastError() }))
    }
}

/// (SO_EXCLUSIVEADDRUSE, SO_REUSEADDR) as getsockopt reads them back.
fn policy_of(socket: &impl AsRawSocket) -> (i32, i32) {
    (
        get_int(socket, SOL_SOCKET, SO_EXCLUSIVEADDRUSE).unwrap(),
        get_int(socket, SOL_SOCKET, SO_REUSEADDR).unwrap(),
    )
}

fn second_socket(ty: Type, reuse_address: bool) -> Socket {
    let socket = Socket::new(Domain::IPV4, ty, None).unwrap();
    if reuse_address {
        socket.set_reuse_address(true).unwrap();
    }
    socket
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

#[test]
fn tcp_listener_is_exclusive_and_never_reuseaddr() {
    let listener: TcpListener = associated_fn::Server::listener().unwrap();
    assert_eq!(policy_of(&listener), (1, 0));
}

#[test]
fn udp_socket_is_exclusive_and_never_reuseaddr() {
    let socket: UdpSocket = udp_loopback::socket().unwrap();
    assert_eq!(policy_of(&socket), (1, 0));
}

#[test]
fn exclusive_false_sets_neither_option() {
    let listener = not_exclusive::listener(0).unwrap();
    assert_eq!(policy_of(&listener), (0, 0));
    let socket = not_exclusive::socket().unwrap();
    assert_eq!(policy_of(&socket), (0, 0));
}

#[test]
fn the_builder_sets_what_the_attribute_sets() {
    // The default and `exclusive = false`, the two rows of the policy table
    // that differ on Windows.
    let attribute: TcpListener = associated_fn::Server::listener().unwrap();
    let built: TcpListener = restartable::Builder::new(loopback(0)).bind().unwrap();
    assert_eq!(policy_of(&built), policy_of(&attribute));
    let attribute_not_exclusive = not_exclusive::listener(0).unwrap();
    let built_not_exclusive: TcpListener = restartable::Builder::new(loopback(0))
        .exclusive(false)
        .bind()
        .unwrap();
    assert_eq!(
        policy_of(&built_not_exclusive),
        policy_of(&attribute_not_exclusive)
    );
    // Control: the read tells the two rows apart.
    assert_ne!(policy_of(&attribute), policy_of(&attribute_not_exclusive));
}

#[test]
fn ipv6_wildcard_gets_ipv6_only_as_asked_and_the_policy() {
    let listener = ipv6_only::listener().unwrap();
    assert_eq!(get_int(&listener, IPPROTO_IPV6, IPV6_V6ONLY).unwrap(), 1);
    assert_eq!(policy_of(&listener), (1, 0));
}

#[test]
fn socket2_listener_is_configured_and_nonblocking() {
    let listener = addr_socket2::listener().unwrap();
    assert!(listener.keepalive().unwrap());
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    assert_eq!(policy_of(&listener), (1, 0));
}

/// A second socket of type `ty`, without and with SO_REUSEADDR, cannot bind
/// `port`; prints which error each gets.
fn assert_second_binder_refused(ty: Type, port: u16) {
    for reuse_address in [false, true] {
        let error = second_socket(ty, reuse_address)
            .bind(&loopback(port).into())
            .expect_err("a second bind on an exclusive port must fail");
        println!(
            "second {ty:?} bind, SO_REUSEADDR={}: {error}",
            u8::from(reuse_address)
        );
        let code = error.raw_os_error().unwrap();
        assert!(
            code == WSAEADDRINUSE || code == WSAEACCES,
            "unexpected error {error}"
        );
    }
}

#[test]
fn second_tcp_socket_is_refused_with_and_without_so_reuseaddr() {
    let listener = port_env_params::listener(Ipv4Addr::LOCALHOST.into(), 0).unwrap();
    assert_second_binder_refused(Type::STREAM, listener.local_addr().unwrap().port());
}

#[test]
fn second_udp_socket_is_refused_with_and_without_so_reuseaddr() {
    let socket = udp_loopback::socket().unwrap();
    assert_second_binder_refused(Type::DGRAM, socket.local_addr().unwrap().port());
}

#[test]
fn control_both_options_on_one_socket_fail_with_wsaeinval() {
    // The reason the runtime never sets SO_REUSEADDR next to
    // SO_EXCLUSIVEADDRUSE: Winsock refuses the pair.
    let socket = second_socket(Type::STREAM, true);
    let result = set_int(&socket, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, 1)
        .and_then(|()| socket.bind(&loopback(0).into()));
    let error = result.expect_err("SO_REUSEADDR with SO_EXCLUSIVEADDRUSE must fail");
    println!("both options: {error}");
    assert_eq!(error.raw_os_error(), Some(WSAEINVAL));
}

#[test]
fn runtime_error_names_the_address_and_keeps_the_kind() {
    let first = port_env_params::listener(Ipv4Addr::LOCALHOST.into(), 0).unwrap();
    let port = first.local_addr().unwrap().port();
    let error = port_env_params::listener(Ipv4Addr::LOCALHOST.into(), port).unwrap_err();
    println!("runtime error: {error}");
    assert!(
        error
            .to_string()
            .starts_with(&format!("cannot bind 127.0.0.1:{port}: ")),
        "{error}"
    );
    assert!(matches!(
        error.kind(),
        io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied
    ));
    // The WSA error is kept: the message's io::Error has none of its own,
    // its source and restartable::os_error give it.
    assert_eq!(error.raw_os_error(), None);
    let code = restartable::os_error(&error);
    println!("os_error: {code:?}");
    assert!(
        code == Some(WSAEADDRINUSE) || code == Some(WSAEACCES),
        "{code:?}"
    );
    let source = std::error::Error::source(&error)
        .and_then(|source| source.downcast_ref::<io::Error>())
        .and_then(io::Error::raw_os_error);
    assert_eq!(source, code);
}

#[test]
fn builder_refuses_reuse_port_on_windows() {
    let error = restartable::Builder::new(loopback(0))
        .reuse_port(true)
        .bind::<TcpListener>()
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::Unsupported);
    // The text the attribute's Windows branch gives as a compile error.
    assert!(
        error
            .to_string()
            .starts_with("`reuse_port = true` is not supported on Windows"),
        "{error}"
    );
    let exclusive: TcpListener = restartable::Builder::new(loopback(0)).bind().unwrap();
    assert_eq!(policy_of(&exclusive), (1, 0));
}

/// The smallest executor, for the `async fn` expansion: polls on this
/// thread, parks between wakes.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut context = Context::from_waker(&waker);
    let mut future = Box::pin(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

#[test]
fn inherit_binds_as_usual_and_the_async_fn_gets_the_policy() {
    // Windows has no socket activation: `inherit = true` binds.
    let listener = block_on(async_fn::listener()).unwrap();
    assert_eq!(policy_of(&listener), (1, 0));
}

fn held_port() -> (TcpListener, SocketAddr) {
    let holder: TcpListener = restartable::Builder::new(loopback(0)).bind().unwrap();
    let addr = holder.local_addr().unwrap();
    (holder, addr)
}

#[test]
fn retry_binds_once_the_exclusive_holder_lets_go() {
    let (holder, addr) = held_port();
    let control = restartable::Builder::new(addr)
        .bind::<TcpListener>()
        .unwrap_err();
    assert_eq!(control.kind(), io::ErrorKind::AddrInUse, "{}", control);
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(holder);
    });
    let listener: TcpListener = restartable::Builder::new(addr)
        .retry(std::time::Duration::from_secs(3))
        .bind()
        .unwrap();
    release.join().unwrap();
    assert_eq!(listener.local_addr().unwrap(), addr);
    assert_eq!(policy_of(&listener), (1, 0));
}

#[test]
fn retry_on_a_port_never_released_says_how_long_it_tried() {
    let (_holder, addr) = held_port();
    let started = std::time::Instant::now();
    let error = restartable::Builder::new(addr)
        .retry(std::time::Duration::from_millis(300))
        .bind::<TcpListener>()
        .unwrap_err();
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    assert_eq!(error.kind(), io::ErrorKind::AddrInUse, "{}", error);
    let message = error.to_string();
    assert!(
        message.contains("; still in use after retrying for"),
        "{}",
        message
    );
    println!("{}", message);
}

#[test]
fn wsaeacces_from_a_held_port_is_address_in_use_and_retried() {
    let (holder, addr) = held_port();
    // SO_REUSEADDR set by `configure` (with `exclusive = false`): the
    // table's SO_REUSEADDR column, where a port held with
    // SO_EXCLUSIVEADDRUSE is refused with WSAEACCES (Wine does the same).
    let reusing = restartable::Builder::new(addr)
        .exclusive(false)
        .configure(|socket| socket.set_reuse_address(true));
    let error = reusing.bind::<TcpListener>().unwrap_err();
    println!("WSAEACCES bind: {}", error);
    assert_eq!(restartable::os_error(&error), Some(WSAEACCES));
    assert_eq!(error.kind(), io::ErrorKind::AddrInUse, "{}", error);
    assert!(
        error.to_string().starts_with(&format!(
            "cannot bind {}: address in use: another socket holds this port (os error 10013); \
             Windows gives this error for a port in a range it reserves as well",
            addr
        )),
        "{}",
        error
    );
    // `retry` takes it as "in use": it binds once the holder lets go. The
    // limit is long so that a loaded machine does not fail the test; the
    // bind returns as soon as the port is free.
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(holder);
    });
    let listener: TcpListener = reusing
        .retry(std::time::Duration::from_secs(60))
        .bind()
        .unwrap();
    release.join().unwrap();
    assert_eq!(listener.local_addr().unwrap(), addr);
}

#[test]
fn the_in_use_message_says_what_holds_an_exclusive_port_and_points_to_retry() {
    let (_holder, addr) = held_port();
    let error = restartable::Builder::new(addr)
        .bind::<TcpListener>()
        .unwrap_err();
    let code = restartable::os_error(&error).unwrap();
    assert_eq!(
        error.to_string(),
        format!(
            "cannot bind {}: address in use: another socket holds this port (os error {}); on \
             Windows, the connections that a closed listener had accepted keep its port from \
             being bound exclusively until they end: after a crash, up to the TIME_WAIT delay \
             (TcpTimedWaitDelay, 120 s by default); if no other instance is running, `retry` \
             waits for them",
            addr, code
        )
    );
    // A UDP socket has no connections: only the first part applies.
    let socket: UdpSocket = restartable::Builder::new(loopback(0)).bind().unwrap();
    let udp = socket.local_addr().unwrap();
    let error = restartable::Builder::new(udp)
        .bind::<UdpSocket>()
        .unwrap_err();
    let code = restartable::os_error(&error).unwrap();
    assert_eq!(
        error.to_string(),
        format!(
            "cannot bind {}: address in use: another socket holds this port (os error {})",
            udp, code
        )
    );
}

#[test]
fn a_scope_id_by_interface_name_is_resolved_with_if_nametoindex() {
    use windows_sys::Win32::NetworkManagement::IpHelper::if_indextoname;

    // The name Windows (here: Wine) gives the first interface it has.
    let (index, name) = (1..=64u32)
        .find_map(|index| {
            let mut buffer = [0u8; 512];
            // Safety: the buffer is larger than IF_NAMESIZE (257 with the
            // NUL) and lives for the call.
            let found = unsafe { if_indextoname(index, buffer.as_mut_ptr()) };
            if found.is_null() {
                return None;
            }
            let end = buffer.iter().position(|&b| b == 0).unwrap();
            Some((index, String::from_utf8(buffer[..end].to_vec()).unwrap()))
        })
        .expect("no interface has a name");
    println!("interface {} is named {:?}", index, name);
    let parsed: restartable::ListenAddr = format!("[fe80::1%{}]:8080", name).parse().unwrap();
    match parsed {
        restartable::ListenAddr::Ip(SocketAddr::V6(v6)) => assert_eq!(v6.scope_id(), index),
        other => panic!("not an IPv6 address: {:?}", other),
    }
    let error = "[fe80::1%restartable-no]:8080"
        .parse::<restartable::ListenAddr>()
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(
        error.to_string(),
        "invalid listen address \"[fe80::1%restartable-no]:8080\": no network interface is \
         named \"restartable-no\" (the scope id of an IPv6 address is an interface's name or \
         index)"
    );
}
