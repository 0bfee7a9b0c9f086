use restartable::restartable_listener;

#[restartable_listener(path = "/tmp/app.sock")]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {
    let _ = listener();
}
