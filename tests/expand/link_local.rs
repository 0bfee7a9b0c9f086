// A link-local IPv6 address with its scope id (the interface index), and a
// closure that captures a parameter as `configure`.
#[restartable::restartable_listener(addr = "[fe80::1%1]:0", only_v6 = false, configure = move |socket: &restartable::socket2::Socket| socket.set_ttl_v4(ttl))]
pub fn listener(ttl: u32) -> std::io::Result<std::net::TcpListener> {}
