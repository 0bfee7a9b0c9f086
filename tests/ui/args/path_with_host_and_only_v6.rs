use restartable::restartable_listener;

#[restartable_listener(host = "::1", path = "/tmp/app.sock", only_v6 = true)]
fn listener() -> std::io::Result<std::os::unix::net::UnixListener> {}

fn main() {
    let _ = listener();
}
