use restartable::restartable_listener;

#[restartable_listener(port = 8080, PortEnv = "PORT")]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {
    let _ = listener();
}
