use restartable::restartable_listener;

// An unsupported type in an `async fn`: one error, on the type.
#[restartable_listener(port = 8080)]
async fn listener() -> std::io::Result<std::net::TcpStream> {}

fn main() {
    let _ = listener();
}
