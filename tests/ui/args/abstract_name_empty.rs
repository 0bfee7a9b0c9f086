use restartable::restartable_listener;

#[restartable_listener(abstract_name = "")]
fn listener() -> std::io::Result<std::os::unix::net::UnixListener> {}

fn main() {
    let _ = listener();
}
