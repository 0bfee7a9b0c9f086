// The expansion of addr_socket2.rs by #[restartable_listener].
// Written by `RESTARTABLE_BLESS=1 cargo test -p restartable-tests --test expansion_snapshots`.

pub fn listener() -> std::io::Result<restartable::socket2::Socket> {
    let configure: ::restartable::__private::Configure<'_> = &keepalive;
    let spec = ::restartable::__private::Spec {
        addr: ::restartable::__private::Fallback::Addr(
            ::restartable::__private::SocketAddr::new(
                ::restartable::__private::IpAddr::V6(
                    ::restartable::__private::Ipv6Addr::LOCALHOST,
                ),
                0,
            ),
        ),
        port_env: ::core::option::Option::None,
        addr_env: ::core::option::Option::None,
        backlog: ::core::option::Option::None,
        only_v6: ::core::option::Option::None,
        nonblocking: true,
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
    {
        use ::restartable::__private::into_result as __restartable_into_result;
        __restartable_into_result(
            ::restartable::__private::listen::<
                restartable::socket2::Socket,
            >(&spec, policy),
        )
    }
}
pub fn keepalive(socket: &restartable::socket2::Socket) -> std::io::Result<()> {
    socket.set_keepalive(true)
}
