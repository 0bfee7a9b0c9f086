use restartable::restartable_listener;

#[restartable_listener(port = 8080)]
fn listener() -> std::io::Result<std::os::unix::net::UnixListener> {}

fn main() {
    let _ = listener();
}
