use restartable::restartable_listener;

#[restartable_listener(path)]
fn listener() -> std::io::Result<std::os::unix::net::UnixListener> {}

fn main() {
    let _ = listener();
}
