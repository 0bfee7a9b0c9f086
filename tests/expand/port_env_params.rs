// Host and port from the function's parameters; the PORT variable, when set,
// overrides the port.
#[restartable::restartable_listener(host = host, port = port, port_env = "PORT")]
pub fn listener(host: std::net::IpAddr, port: u16) -> std::io::Result<std::net::TcpListener> {}
