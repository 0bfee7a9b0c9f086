use restartable::restartable_listener;

#[restartable_listener(host = "127.0.0.1", port = 8080, only_v6 = true)]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {
    let _ = listener();
}
