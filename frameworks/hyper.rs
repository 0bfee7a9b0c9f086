//! A hyper 1 server whose listener comes from `#[restartable_listener]`.
//!
//! ```text
//! cargo run -p restartable-frameworks --example hyper       # then: curl http://127.0.0.1:3000/
//! PORT=8080 cargo run -p restartable-frameworks --example hyper
//! ```

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use restartable::restartable_listener;

#[restartable_listener(host = "127.0.0.1", port = 3000, port_env = "PORT")]
async fn listener() -> std::io::Result<tokio::net::TcpListener> {}

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from("hello from hyper\n"))))
}

#[tokio::main]
async fn main() {
    if let Err(e) = serve().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn serve() -> std::io::Result<()> {
    let listener = listener().await?;
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let connection =
                http1::Builder::new().serve_connection(TokioIo::new(stream), service_fn(hello));
            if let Err(error) = connection.await {
                eprintln!("connection error: {error}");
            }
        });
    }
}
