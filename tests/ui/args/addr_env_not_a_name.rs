use restartable::restartable_listener;

#[restartable_listener(addr_env = "127.0.0.1:8080")]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {
    let _ = listener();
}
