use restartable::restartable_listener;

#[restartable_listener(prt = 1, port = "8080", backlog = 0, nonblocking = yes, only_v6 = 1)]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {
    let _ = listener();
}
