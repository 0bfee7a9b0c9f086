use restartable::restartable_listener;

#[restartable_listener(port = 8080, inherit = 1)]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {}
