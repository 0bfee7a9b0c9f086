use restartable::restartable_listener;

const HTTP_PORT: u32 = 8080;

#[restartable_listener(port = HTTP_PORT)]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {
    let _ = listener();
}
