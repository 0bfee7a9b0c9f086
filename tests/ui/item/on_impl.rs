use restartable::restartable_listener;

struct Server;

#[restartable_listener(port = 8080)]
impl Server {
    fn listener() -> std::io::Result<std::net::TcpListener> {
        std::net::TcpListener::bind("127.0.0.1:8080")
    }
}

fn main() {
    let _ = Server::listener();
}
