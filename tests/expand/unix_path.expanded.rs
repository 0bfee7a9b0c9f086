// The expansion of unix_path.rs by #[restartable_listener].
// Written by `RESTARTABLE_BLESS=1 cargo test -p restartable-tests --test expansion_snapshots`.

pub fn listener() -> std::io::Result<std::os::unix::net::UnixListener> {
    #[cfg(unix)]
    let result = {
        let spec = ::restartable::__private::UnixSpec {
            addr: ::core::option::Option::Some(
                ::restartable::__private::unix_path("/run/app/app.sock"),
            ),
            path_env: ::core::option::Option::None,
            mode: ::core::option::Option::Some(0o660),
            backlog: ::core::option::Option::None,
            nonblocking: false,
            configure: ::core::option::Option::None,
            inherit: ::core::option::Option::None,
            retry: ::core::option::Option::None,
        };
        {
            use ::restartable::__private::into_result as __restartable_into_result;
            __restartable_into_result(
                ::restartable::__private::listen_unix::<
                    std::os::unix::net::UnixListener,
                >(&spec),
            )
        }
    };
    #[cfg(not(unix))]
    let result = ::core::compile_error!(
        "Unix-domain listeners (`path`, `abstract_name`) are supported on unix targets only: std has no Unix-domain socket types on Windows, and Windows's AF_UNIX (Windows 10 1803 and later) has stream sockets only; use a port there, under #[cfg(unix)] / #[cfg(windows)]"
    );
    result
}
