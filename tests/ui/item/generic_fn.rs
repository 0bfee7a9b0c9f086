use restartable::restartable_listener;

#[restartable_listener(port = 8080)]
fn listener<T>() -> std::io::Result<std::net::TcpListener> {}

fn main() {
    let _ = listener::<u8>();
}
