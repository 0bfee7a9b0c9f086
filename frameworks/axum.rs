//! An axum server whose listener comes from `#[restartable_listener]`.
//!
//! ```text
//! cargo run -p restartable-frameworks --example axum        # then: curl http://127.0.0.1:3000/
//! PORT=8080 cargo run -p restartable-frameworks --example axum
//! ```

use restartable::restartable_listener;

#[restartable_listener(host = "127.0.0.1", port = 3000, port_env = "PORT")]
async fn listener() -> std::io::Result<tokio::net::TcpListener> {}

#[tokio::main]
async fn main() {
    if let Err(e) = serve().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn serve() -> std::io::Result<()> {
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello from axum\n" }));
    axum::serve(listener().await?, app).await
}
