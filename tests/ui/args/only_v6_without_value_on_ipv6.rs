use restartable::restartable_listener;

#[restartable_listener(host = "::", port = 8080, only_v6)]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {
    let _ = listener();
}
