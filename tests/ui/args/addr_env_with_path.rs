use restartable::restartable_listener;

#[restartable_listener(path = "/tmp/app.sock", addr_env = "LISTEN_ADDR")]
fn listener() -> std::io::Result<std::os::unix::net::UnixListener> {}

fn main() {
    let _ = listener();
}
