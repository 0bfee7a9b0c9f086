// A UDP socket: on unix it gets no reuse option at all.
#[restartable::restartable_listener(host = "127.0.0.1", port = 0)]
pub fn socket() -> std::io::Result<std::net::UdpSocket> {}
