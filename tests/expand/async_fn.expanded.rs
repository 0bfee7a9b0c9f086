// The expansion of async_fn.rs by #[restartable_listener].
// Written by `RESTARTABLE_BLESS=1 cargo test -p restartable-tests --test expansion_snapshots`.

pub async fn listener() -> std::io::Result<std::net::TcpListener> {
    let spec = ::restartable::__private::Spec {
        addr: ::restartable::__private::Fallback::Addr(
            ::restartable::__private::SocketAddr::new(
                ::restartable::__private::IpAddr::V4(
                    ::restartable::__private::Ipv4Addr::LOCALHOST,
                ),
                0,
            ),
        ),
        port_env: ::core::option::Option::None,
        addr_env: ::core::option::Option::None,
        backlog: ::core::option::Option::None,
        only_v6: ::core::option::Option::None,
        nonblocking: false,
        configure: ::core::option::Option::None,
        inherit: ::core::option::Option::Some(::restartable::__private::Inherit::Next),
        retry: ::core::option::Option::Some(
            ::restartable::__private::Duration::from_millis(500),
        ),
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
            ::restartable::__private::listen_async::<
                std::net::TcpListener,
            >(&spec, policy)
                .await,
        )
    }
}
