// A UDP socket from the attribute sends and receives.
use std::net::UdpSocket;

use restartable::restartable_listener;

#[restartable_listener(host = "127.0.0.1", port = 0)]
fn socket() -> std::io::Result<UdpSocket> {}

fn main() {
    let socket = socket().expect("a UDP socket");
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.send_to(b"ping", socket.local_addr().unwrap()).unwrap();
    let mut buffer = [0; 4];
    let (len, from) = socket.recv_from(&mut buffer).unwrap();
    assert_eq!((&buffer[..len], from), (&b"ping"[..], peer.local_addr().unwrap()));
}
