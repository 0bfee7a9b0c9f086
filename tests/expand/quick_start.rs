// The README's quick start: a TCP listener on port 8080 of every IPv4 address.
#[restartable::restartable_listener(port = 8080)]
pub fn listener() -> std::io::Result<std::net::TcpListener> {}
