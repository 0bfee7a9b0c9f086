// Port, host, backlog and address from constants and expressions.
use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use restartable::restartable_listener;

const BASE_PORT: u16 = 0;
const BACKLOG: i32 = 64;

#[restartable_listener(host = Ipv4Addr::LOCALHOST, port = BASE_PORT * 2, backlog = BACKLOG / 2)]
fn listener() -> std::io::Result<TcpListener> {}

#[restartable_listener(addr = SocketAddr::from(([127, 0, 0, 1], BASE_PORT)))]
fn from_addr() -> std::io::Result<TcpListener> {}

#[restartable_listener(port = 0u16, host = [127, 0, 0, 1])]
fn suffixed_port() -> std::io::Result<TcpListener> {}

fn main() {
    listener().unwrap();
    from_addr().unwrap();
    suffixed_port().unwrap();
}
