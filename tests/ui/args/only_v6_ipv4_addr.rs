use restartable::restartable_listener;

#[restartable_listener(addr = "0.0.0.0:8080", only_v6 = false)]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {
    let _ = listener();
}
