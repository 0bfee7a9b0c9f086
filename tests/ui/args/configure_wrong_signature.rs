use restartable::restartable_listener;

#[restartable_listener(port = 8080, configure = no_delay)]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn no_delay(nodelay: bool) -> bool {
    nodelay
}

fn main() {
    let _ = listener();
}
