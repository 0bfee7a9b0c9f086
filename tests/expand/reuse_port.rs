// Opt-in load balancing: a compile error on targets where it cannot be had.
#[restartable::restartable_listener(host = "127.0.0.1", port = port, reuse_port = true)]
pub fn listener(port: u16) -> std::io::Result<std::net::TcpListener> {}
