//! An actix-web server that upgrades to a new binary without losing a
//! request: the contract of `examples/upgrade.rs`, on actix-web.
//!
//! ```text
//! cargo run --release -p restartable-frameworks --example actix_upgrade -- --listen 127.0.0.1:8080
//!     [--ready-timeout SECS] [--drain-timeout SECS]
//! cargo run --release -p restartable-frameworks --example actix_upgrade -- --upgrade PID
//! ```
//!
//! `GET /` answers `pid=<pid> generation=<n>`. On SIGHUP (or `--upgrade
//! PID`) the new process takes the listener; once it is ready this one
//! pauses actix-web's accept loop (`ServerHandle::pause`), answers with
//! `Connection: close`, and 250 ms later stops gracefully
//! (`ServerHandle::stop(true)`: the workers finish their connections, for
//! up to the drain timeout).

use std::future::Future;

use actix_web::dev::{Service, ServiceRequest};
use actix_web::{web, App, HttpServer};
use restartable::upgrade::{Running, Upgrade};
use restartable::Builder;
use restartable_frameworks::{actix::close_if_replaced, drain_begins, identity, Options};

#[actix_web::main]
async fn main() {
    restartable_frameworks::log_to_stderr();
    let options = Options::from_args("actix_upgrade");
    if let Err(error) = serve(&options).await {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

async fn serve(options: &Options) -> std::io::Result<()> {
    let upgrade = Upgrade::new()
        .ready_timeout(options.ready_timeout)
        .drain_timeout(options.drain_timeout);
    // A std listener, which actix-web registers with its own accept loop.
    let listener: std::net::TcpListener = Builder::new(options.listen)
        .inherit_named("http")
        .nonblocking(true)
        .bind()?;
    let addr = listener.local_addr()?;
    let running = upgrade.ready()?;
    let app_running = running.clone();
    let server = HttpServer::new(move || {
        let running = app_running.clone();
        App::new()
            .app_data(web::Data::new(running.clone()))
            .wrap_fn(move |request: ServiceRequest, service| {
                let response = service.call(request);
                close_once_replaced(running.clone(), response)
            })
            .route("/", web::get().to(root))
    })
    .workers(2)
    .shutdown_timeout(options.drain_timeout.as_secs().max(1))
    .listen(listener)?
    .run();
    let handle = server.handle();
    restartable_frameworks::print_serving(&running, addr);
    actix_web::rt::spawn(async move {
        running.replaced().await;
        // The new process accepts from the same queue from here on.
        handle.pause().await;
        drain_begins(running).await;
        handle.stop(true).await;
    });
    server.await
}

async fn close_once_replaced<B>(
    running: Running,
    response: impl Future<Output = actix_web::Result<actix_web::dev::ServiceResponse<B>>>,
) -> actix_web::Result<actix_web::dev::ServiceResponse<B>> {
    let mut response = response.await?;
    close_if_replaced(&running, response.response_mut());
    Ok(response)
}

async fn root(running: web::Data<Running>) -> String {
    identity(&running)
}
