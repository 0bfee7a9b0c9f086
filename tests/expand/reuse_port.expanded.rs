// The expansion of reuse_port.rs by #[restartable_listener].
// Written by `RESTARTABLE_BLESS=1 cargo test -p restartable-tests --test expansion_snapshots`.

pub fn listener(port: u16) -> std::io::Result<std::net::TcpListener> {
    let spec = ::restartable::__private::Spec {
        addr: ::restartable::__private::Fallback::Addr(
            ::restartable::__private::SocketAddr::new(
                ::restartable::__private::IpAddr::V4(
                    ::restartable::__private::Ipv4Addr::LOCALHOST,
                ),
                port,
            ),
        ),
        port_env: ::core::option::Option::None,
        addr_env: ::core::option::Option::None,
        backlog: ::core::option::Option::None,
        only_v6: ::core::option::Option::None,
        nonblocking: false,
        configure: ::core::option::Option::None,
        inherit: ::core::option::Option::None,
        retry: ::core::option::Option::None,
    };
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let policy = ::restartable::__private::unix::Policy::REUSE_PORT;
    #[cfg(target_os = "freebsd")]
    let policy = ::restartable::__private::unix::Policy::REUSE_PORT_LB;
    #[cfg(windows)]
    let policy = ::core::compile_error!(
        "`reuse_port = true` is not supported on Windows: sharing a port there takes SO_REUSEADDR, which lets any process bind the port and take its traffic"
    );
    #[cfg(
        not(
            any(
                target_os = "linux",
                target_os = "android",
                target_os = "freebsd",
                windows
            )
        )
    )]
    let policy = ::core::compile_error!(
        "`reuse_port = true` is supported on Linux, Android and FreeBSD only: on this target SO_REUSEPORT does not balance connections between sockets"
    );
    {
        use ::restartable::__private::into_result as __restartable_into_result;
        __restartable_into_result(
            ::restartable::__private::listen::<std::net::TcpListener>(&spec, policy),
        )
    }
}
