// The quick start, on a free loopback port: the listener accepts a connection.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use restartable::restartable_listener;

#[restartable_listener(host = "127.0.0.1", port = 0)]
fn listener() -> std::io::Result<TcpListener> {}

fn main() -> std::io::Result<()> {
    let listener = listener()?;
    let mut client = TcpStream::connect(listener.local_addr()?)?;
    let (mut served, _) = listener.accept()?;
    served.write_all(b"hello")?;
    let mut reply = [0; 5];
    client.read_exact(&mut reply)?;
    assert_eq!(&reply, b"hello");
    Ok(())
}
