use restartable::restartable_listener;

#[restartable_listener(listen = 8080)]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {
    let _ = listener();
}
