use restartable::restartable_listener;

#[restartable_listener(path_env = "APP_SOCKET", port_env = "PORT")]
fn listener() -> std::io::Result<std::os::unix::net::UnixListener> {}

fn main() {
    let _ = listener();
}
