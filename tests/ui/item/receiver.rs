use restartable::restartable_listener;

struct Server;

impl Server {
    #[restartable_listener(port = 8080)]
    fn listener(&self) -> std::io::Result<std::net::TcpListener> {}
}

fn main() {
    let _ = Server.listener();
}
