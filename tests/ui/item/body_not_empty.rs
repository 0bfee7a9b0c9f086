use restartable::restartable_listener;

#[restartable_listener(port = 8080)]
fn listener() -> std::io::Result<std::net::TcpListener> {
    std::net::TcpListener::bind("0.0.0.0:8080")
}

fn main() {
    let _ = listener();
}
