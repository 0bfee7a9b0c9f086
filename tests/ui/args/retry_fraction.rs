use restartable::restartable_listener;

#[restartable_listener(port = 8080, retry = "1.5s")]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {}
