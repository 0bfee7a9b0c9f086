use restartable::restartable_listener;

#[restartable_listener(port = 8080)]
fn listener() -> std::net::TcpListener {}

fn main() {
    let _ = listener();
}
