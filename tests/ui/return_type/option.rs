use restartable::restartable_listener;

#[restartable_listener(port = 8080)]
fn listener() -> Option<std::net::TcpListener> {}

fn main() {
    let _ = listener();
}
