use restartable::restartable_listener;

#[restartable_listener(port = 8080, retry = "61m")]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {}
