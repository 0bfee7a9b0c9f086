use restartable::restartable_listener;

#[restartable_listener(port =)]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {
    let _ = listener();
}
