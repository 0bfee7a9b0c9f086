// The expansion of unix_datagram_env.rs by #[restartable_listener].
// Written by `RESTARTABLE_BLESS=1 cargo test -p restartable-tests --test expansion_snapshots`.

pub fn socket(
    socket_path: &std::path::Path,
) -> std::io::Result<std::os::unix::net::UnixDatagram> {
    #[cfg(unix)]
    let result = {
        let given = &socket_path;
        let spec = ::restartable::__private::UnixSpec {
            addr: ::core::option::Option::Some(
                ::restartable::__private::unix_path(given),
            ),
            path_env: ::core::option::Option::Some("APP_SOCKET"),
            mode: ::core::option::Option::None,
            backlog: ::core::option::Option::None,
            nonblocking: false,
            configure: ::core::option::Option::None,
            inherit: ::core::option::Option::None,
            retry: ::core::option::Option::Some(
                ::restartable::__private::Duration::from_secs(2),
            ),
        };
        {
            use ::restartable::__private::into_result as __restartable_into_result;
            __restartable_into_result(
                ::restartable::__private::listen_unix::<
                    std::os::unix::net::UnixDatagram,
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
