// The expansion of link_local.rs by #[restartable_listener].
// Written by `RESTARTABLE_BLESS=1 cargo test -p restartable-tests --test expansion_snapshots`.

pub fn listener(ttl: u32) -> std::io::Result<std::net::TcpListener> {
    let configure: ::restartable::__private::Configure<'_> = &move |
        socket: &restartable::socket2::Socket|
    socket.set_ttl_v4(ttl);
    let spec = ::restartable::__private::Spec {
        addr: ::restartable::__private::Fallback::Addr(
            ::restartable::__private::SocketAddr::V6(
                ::restartable::__private::SocketAddrV6::new(
                    ::restartable::__private::Ipv6Addr::new(
                        0xfe80,
                        0x0,
                        0x0,
                        0x0,
                        0x0,
                        0x0,
                        0x0,
                        0x1,
                    ),
                    0,
                    0,
                    1,
                ),
            ),
        ),
        port_env: ::core::option::Option::None,
        addr_env: ::core::option::Option::None,
        backlog: ::core::option::Option::None,
        only_v6: ::core::option::Option::Some(false),
        nonblocking: false,
        configure: ::core::option::Option::Some(configure),
        inherit: ::core::option::Option::None,
        retry: ::core::option::Option::None,
    };
    #[cfg(unix)]
    let policy = ::restartable::__private::unix::Policy::REUSE_ADDRESS;
    #[cfg(windows)]
    let policy = ::restartable::__private::windows::Policy::EXCLUSIVE_ADDRESS_USE;
    #[cfg(not(any(unix, windows)))]
    let policy = ::core::compile_error!(
        "restartable supports the `unix` and `windows` target families only"
    );
    #[cfg(any(target_os = "openbsd", target_os = "dragonfly"))]
    ::core::compile_error!(
        "`only_v6 = false` is not possible on OpenBSD and DragonFly BSD: they have no dual-stack sockets, an IPv6 socket is always IPv6-only there; bind an IPv4 socket as well, or leave out only_v6"
    );
    {
        use ::restartable::__private::into_result as __restartable_into_result;
        __restartable_into_result(
            ::restartable::__private::listen::<std::net::TcpListener>(&spec, policy),
        )
    }
}
