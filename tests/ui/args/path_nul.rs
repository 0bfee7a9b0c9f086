use restartable::restartable_listener;

#[restartable_listener(path = "/tmp/app\0.sock")]
fn listener() -> std::io::Result<std::os::unix::net::UnixListener> {}

fn main() {
    let _ = listener();
}
