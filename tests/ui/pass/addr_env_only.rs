// `addr_env` alone: the whole address from the environment.
use restartable::restartable_listener;

#[restartable_listener(addr_env = "RESTARTABLE_UI_ADDR")]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {
    std::env::set_var("RESTARTABLE_UI_ADDR", "127.0.0.1:0");
    let listener = listener().unwrap();
    assert!(listener.local_addr().unwrap().ip().is_loopback());
}
