use restartable::restartable_listener;

#[restartable_listener(addr_env = "LISTEN_ADDR", port_env = "PORT")]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {
    let _ = listener();
}
