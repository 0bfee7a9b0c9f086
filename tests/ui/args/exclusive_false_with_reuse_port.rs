use restartable::restartable_listener;

// `exclusive` is for Windows, where `reuse_port` cannot be had: together they
// can only be a misunderstanding.
#[restartable_listener(port = 8080, reuse_port = true, exclusive = false)]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {
    let _ = listener();
}
