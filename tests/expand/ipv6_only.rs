// The IPv6 wildcard, IPv6 only, with a smaller backlog.
#[restartable::restartable_listener(host = "::", port = 0, only_v6 = true, backlog = 128)]
pub fn listener() -> std::io::Result<std::net::TcpListener> {}
