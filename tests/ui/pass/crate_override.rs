// `crate = "..."` for a crate that re-exports restartable: here `::restartable`
// itself is made to name another crate, so only the given path can work.
extern crate restartable as facade;
extern crate core as restartable;

#[facade::restartable_listener(host = "127.0.0.1", port = 0, crate = "facade")]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {
    let listener = listener().expect("a listener through the facade path");
    assert!(listener.local_addr().is_ok());
}
