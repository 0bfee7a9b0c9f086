// Windows opt-out of SO_EXCLUSIVEADDRUSE; unix is unaffected.
#[restartable::restartable_listener(host = "127.0.0.1", port = 0, exclusive = false)]
pub fn socket() -> std::io::Result<std::net::UdpSocket> {}
