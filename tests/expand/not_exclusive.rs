// Windows opt-out of SO_EXCLUSIVEADDRUSE, for TCP and UDP; unix is unaffected.
#[restartable::restartable_listener(host = "127.0.0.1", port = port, exclusive = false)]
pub fn listener(port: u16) -> std::io::Result<std::net::TcpListener> {}

#[restartable::restartable_listener(host = "127.0.0.1", port = 0, exclusive = false)]
pub fn socket() -> std::io::Result<std::net::UdpSocket> {}
