// `port_env` alone: the port must come from the variable; unset, the call
// fails with InvalidInput instead of picking a port.
use restartable::restartable_listener;

#[restartable_listener(host = "127.0.0.1", port_env = "RESTARTABLE_PASS_UNSET_PORT")]
fn listener() -> std::io::Result<std::net::TcpListener> {}

fn main() {
    let error = listener().unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("RESTARTABLE_PASS_UNSET_PORT"), "{error}");
}
