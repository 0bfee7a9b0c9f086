// A Unix-domain datagram socket at the path in $APP_SOCKET, or the
// parameter when it is unset; a path held by a live socket is tried again
// for two seconds.
#[restartable::restartable_listener(path_env = "APP_SOCKET", path = socket_path, retry = "2s")]
pub fn socket(socket_path: &std::path::Path) -> std::io::Result<std::os::unix::net::UnixDatagram> {}
