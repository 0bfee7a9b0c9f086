// The expansion of associated_fn.rs by #[restartable_listener].
// Written by `RESTARTABLE_BLESS=1 cargo test -p restartable-tests --test expansion_snapshots`.

pub struct Server;
const ADDR: ([u8; 4], u16) = ([127, 0, 0, 1], 0);
impl Server {
    /// The server's listener.
    pub(crate) fn listener() -> std::io::Result<std::net::TcpListener> {
        let spec = ::restartable::__private::Spec {
            addr: ::restartable::__private::Fallback::Addr(
                ::restartable::__private::socket_addr(ADDR),
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
                ::restartable::__private::listen::<std::net::TcpListener>(&spec, policy),
            )
        }
    }
}
