use restartable::restartable_listener;

// `pth` was meant as `path`: no error that only follows from its absence
// (no address given, `mode` without a path), but a bad value of another key
// is still reported.
#[restartable_listener(pth = "/run/app/app.sock", mode = 0o660, backlog = 0)]
fn listener() -> std::io::Result<std::os::unix::net::UnixListener> {}

fn main() {
    let _ = listener();
}
