// The expansion of unix_abstract.rs by #[restartable_listener].
// Written by `RESTARTABLE_BLESS=1 cargo test -p restartable-tests --test expansion_snapshots`.

pub async fn listener() -> std::io::Result<restartable::socket2::Socket> {
    #[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
    ::core::compile_error!(
        "`abstract_name` is supported on Linux and Android only: other systems have no abstract namespace; use `path`"
    );
    #[cfg(unix)]
    let result = {
        let spec = ::restartable::__private::UnixSpec {
            addr: ::core::option::Option::Some(
                ::restartable::__private::abstract_name(b"restartable-example"),
            ),
            path_env: ::core::option::Option::None,
            mode: ::core::option::Option::None,
            backlog: ::core::option::Option::None,
            nonblocking: false,
            configure: ::core::option::Option::None,
            inherit: ::core::option::Option::Some(
                ::restartable::__private::Inherit::Next,
            ),
            retry: ::core::option::Option::None,
        };
        {
            use ::restartable::__private::into_result as __restartable_into_result;
            __restartable_into_result(
                ::restartable::__private::listen_unix_async::<
                    restartable::socket2::Socket,
                >(&spec)
                    .await,
            )
        }
    };
    #[cfg(not(unix))]
    let result = ::core::compile_error!(
        "Unix-domain listeners (`path`, `abstract_name`) are supported on unix targets only: std has no Unix-domain socket types on Windows, and Windows's AF_UNIX (Windows 10 1803 and later) has stream sockets only; use a port there, under #[cfg(unix)] / #[cfg(windows)]"
    );
    result
}
