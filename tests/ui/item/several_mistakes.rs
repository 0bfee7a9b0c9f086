use restartable::restartable_listener;

#[restartable_listener(port = 8080)]
const async fn listener<T>() -> std::io::Result<std::net::TcpListener> {
    todo!()
}

fn main() {}
