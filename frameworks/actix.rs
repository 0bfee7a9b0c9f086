//! An actix-web server whose listener comes from `#[restartable_listener]`:
//! actix-web takes a std listener and registers it with its own runtime.
//!
//! ```text
//! cargo run -p restartable-frameworks --example actix       # then: curl http://127.0.0.1:3000/
//! PORT=8080 cargo run -p restartable-frameworks --example actix
//! ```

use actix_web::{web, App, HttpServer};
use restartable::restartable_listener;

#[restartable_listener(host = "127.0.0.1", port = 3000, port_env = "PORT")]
fn listener() -> std::io::Result<std::net::TcpListener> {}

#[actix_web::main]
async fn main() {
    if let Err(e) = serve().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn serve() -> std::io::Result<()> {
    HttpServer::new(|| App::new().route("/", web::get().to(|| async { "hello from actix-web\n" })))
        .listen(listener()?)?
        .run()
        .await
}
