use restartable::restartable_listener;

#[restartable_listener(abstract_name = "app", mode = 0o600)]
fn listener() -> std::io::Result<std::os::unix::net::UnixListener> {}

fn main() {
    let _ = listener();
}
