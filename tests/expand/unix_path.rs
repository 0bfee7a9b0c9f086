// A Unix-domain listener on a socket file, group-accessible: a stale file
// left by a crash is removed, a live socket's never.
#[restartable::restartable_listener(path = "/run/app/app.sock", mode = 0o660)]
pub fn listener() -> std::io::Result<std::os::unix::net::UnixListener> {}
