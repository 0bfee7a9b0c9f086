use restartable::restartable_listener;

#[restartable_listener(path = "@app")]
fn listener() -> std::io::Result<std::os::unix::net::UnixListener> {}

fn main() {
    let _ = listener();
}
