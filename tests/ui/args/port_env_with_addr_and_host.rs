use restartable::restartable_listener;

// `addr` gives host and port; `port_env` may override its port, but a second
// host cannot be given.
#[restartable_listener(addr = "127.0.0.1:8080", port_env = "PORT", host = "::")]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {
    let _ = listener();
}
