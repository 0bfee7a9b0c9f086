//! A hyper 1 server that upgrades to a new binary without losing a request:
//! the contract of `examples/upgrade.rs`, on hyper.
//!
//! ```text
//! cargo run --release -p restartable-frameworks --example hyper_upgrade -- --listen 127.0.0.1:8080
//!     [--ready-timeout SECS] [--drain-timeout SECS]
//! cargo run --release -p restartable-frameworks --example hyper_upgrade -- --upgrade PID
//! ```
//!
//! `GET /` answers `pid=<pid> generation=<n>`. On SIGHUP (or `--upgrade
//! PID`) the new process takes the listener; once it is ready the accept
//! loop ends (`Running::accept_until_replaced`), every response says
//! `Connection: close`, and 250 ms later each connection is shut down
//! gracefully (hyper's `graceful_shutdown`: idle ones close, a response in
//! progress is finished). The process exits when all have closed, or at
//! the drain deadline.

use std::convert::Infallible;
use std::pin::pin;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use restartable::upgrade::{Running, Upgrade};
use restartable::Builder;
use restartable_frameworks::{close_if_replaced, drain_begins, identity, Options};

#[tokio::main]
async fn main() {
    restartable_frameworks::log_to_stderr();
    let options = Options::from_args("hyper_upgrade");
    if let Err(error) = serve(&options).await {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

async fn serve(options: &Options) -> std::io::Result<()> {
    let upgrade = Upgrade::new()
        .ready_timeout(options.ready_timeout)
        .drain_timeout(options.drain_timeout);
    let listener: tokio::net::TcpListener = Builder::new(options.listen)
        .inherit_named("http")
        .bind_async()
        .await?;
    let addr = listener.local_addr()?;
    let running = upgrade.ready()?;
    restartable_frameworks::print_serving(&running, addr);
    let mut connections = tokio::task::JoinSet::new();
    let mut listener = running.accept_until_replaced(listener);
    while let Some(accepted) = listener.accept().await {
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                eprintln!("accept: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let running = running.clone();
        connections.spawn(async move {
            let service = service_fn(|_: Request<Incoming>| {
                std::future::ready(Ok::<_, Infallible>(answer(&running)))
            });
            let mut connection =
                pin!(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            let outcome = tokio::select! {
                outcome = connection.as_mut() => outcome,
                () = drain_begins(running.clone()) => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = outcome {
                eprintln!("connection: {error}");
            }
        });
        // Finished connections, so that the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    // Replaced: the new process accepts. Wait for the connections.
    while connections.join_next().await.is_some() {}
    Ok(())
}

fn answer(running: &Running) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(identity(running))));
    close_if_replaced(running, response.headers_mut());
    response
}
