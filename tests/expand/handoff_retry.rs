// Takes the socket a supervisor passed as "http" when there is one; else
// binds, retrying for up to 2 s while the port is in use.
#[restartable::restartable_listener(port = 8080, inherit = "http", retry = "2s")]
pub fn listener() -> std::io::Result<std::net::TcpListener> {}
