// Host and port from the function's parameters; the port variable, when set,
// wins over the parameter.
use std::net::{IpAddr, Ipv4Addr, TcpListener};

use restartable::restartable_listener;

#[restartable_listener(host = host, port = port, port_env = "RESTARTABLE_PASS_PARAMETERS_PORT")]
fn listener(host: IpAddr, port: u16) -> std::io::Result<TcpListener> {}

fn main() {
    let listener = listener(IpAddr::V4(Ipv4Addr::LOCALHOST), 0).expect("a listener");
    assert_eq!(listener.local_addr().unwrap().ip(), Ipv4Addr::LOCALHOST);
}
