use restartable::restartable_listener;

#[restartable_listener(port = 8080)]
async fn listener() -> Result<std::net::TcpListener, String> {}

fn main() {
    let _ = listener();
}
