use restartable::restartable_listener;

#[restartable_listener(path = "/tmp/app.sock", mode = "0660")]
fn listener() -> std::io::Result<std::os::unix::net::UnixListener> {}

fn main() {
    let _ = listener();
}
