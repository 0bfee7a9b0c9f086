//! A server on smol whose listener comes from `#[restartable_listener]`:
//! `async_io::Async<TcpListener>`, registered with the reactor smol runs on
//! (feature `async-io`). Answers each request with one line.
//!
//! ```text
//! cargo run -p restartable-frameworks --example smol        # then: curl http://127.0.0.1:3000/
//! PORT=8080 cargo run -p restartable-frameworks --example smol
//! ```

use std::net::TcpListener;

use restartable::restartable_listener;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::Async;

#[restartable_listener(host = "127.0.0.1", port = 3000, port_env = "PORT")]
async fn listener() -> std::io::Result<Async<TcpListener>> {}

fn main() {
    if let Err(e) = smol::block_on(serve()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn serve() -> std::io::Result<()> {
    let listener = listener().await?;
    loop {
        let (mut stream, _) = listener.accept().await?;
        smol::spawn(async move {
            let mut request = [0; 1024];
            let _ = stream.read(&mut request).await;
            let body = "hello from smol\n";
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        })
        .detach();
    }
}
