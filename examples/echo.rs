//! Binds a listener with `#[restartable_listener]` on a loopback port,
//! connects to itself, echoes one line, prints the options the listener got
//! (read back with getsockopt) and exits.
//!
//! ```text
//! cargo run --example echo
//! ```

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use restartable::restartable_listener;
use restartable_examples::describe;

/// Port 0 lets the OS pick a free port; set `ECHO_PORT` to choose one.
#[restartable_listener(host = "127.0.0.1", port = 0, port_env = "ECHO_PORT")]
fn listener() -> io::Result<TcpListener> {}

fn serve_one(listener: &TcpListener) -> io::Result<()> {
    let (stream, peer) = listener.accept()?;
    println!("server: accepted {peer}");
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    (&stream).write_all(line.as_bytes())
}

fn main() -> io::Result<()> {
    let listener = listener()?;
    let addr = listener.local_addr()?;
    println!("server: listening on {addr}");
    println!("server: options {}", describe(&listener)?);

    let server = thread::spawn(move || serve_one(&listener));

    let mut client = TcpStream::connect(addr)?;
    client.write_all(b"hello, restartable\n")?;
    let mut reply = String::new();
    BufReader::new(&client).read_line(&mut reply)?;
    print!("client: echoed {reply}");

    server
        .join()
        .map_err(|_| io::Error::other("the server thread panicked"))?
}
