// A socket2 listener, nonblocking, with a configure function and a closure.
use restartable::restartable_listener;
use restartable::socket2::Socket;

fn no_delay(socket: &Socket) -> std::io::Result<()> {
    socket.set_keepalive(true)
}

#[restartable_listener(host = "127.0.0.1", port = 0, nonblocking = true, configure = no_delay)]
fn listener() -> std::io::Result<Socket> {}

#[restartable_listener(host = "127.0.0.1", port = 0, configure = |socket: &Socket| socket.set_keepalive(true))]
fn with_closure() -> std::io::Result<Socket> {}

fn main() {
    let listener = listener().unwrap();
    assert!(listener.keepalive().unwrap());
    let error = listener.accept().unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::WouldBlock);
    assert!(with_closure().unwrap().keepalive().unwrap());
}
