use restartable::restartable_listener;

// The unknown key stops only the errors that could follow from it: `port`
// with `addr` is wrong whatever `nonblock` meant.
#[restartable_listener(addr = "127.0.0.1:8080", port = 80, nonblock = true)]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {
    let _ = listener();
}
