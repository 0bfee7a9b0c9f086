//! An axum server that upgrades to a new binary without losing a request:
//! the contract of `examples/upgrade.rs`, on axum.
//!
//! ```text
//! cargo run --release -p restartable-frameworks --example axum_upgrade -- --listen 127.0.0.1:8080
//!     [--ready-timeout SECS] [--drain-timeout SECS] [--plain-drain]
//! cargo run --release -p restartable-frameworks --example axum_upgrade -- --upgrade PID
//! ```
//!
//! `GET /` answers `pid=<pid> generation=<n>`; `GET /stream` sends a line
//! `pid=<pid> generation=<n> tick=<k>` every 100 ms, and once the process
//! is replaced ends with `end` shortly before the drain deadline. SIGHUP
//! (or `--upgrade PID`) starts the binary at the path this one was started
//! from, with the same arguments, and hands it the listener; once it is
//! ready this one stops accepting, answers with `Connection: close`, and
//! 250 ms later begins axum's graceful shutdown, which closes the idle
//! connections and waits for the streams.
//!
//! `--plain-drain`: the recipe without the helpers,
//! `with_graceful_shutdown(running.replaced())` on the plain listener. It
//! loses requests on every upgrade: the control of
//! `scripts/frameworks-upgrade-check.sh`.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::middleware::map_response_with_state;
use axum::routing::get;
use axum::Router;
use restartable::upgrade::{Running, Upgrade};
use restartable::Builder;
use restartable_frameworks::{axum::close_once_replaced, drain_begins, identity, Options};

/// A stream ends this long before the drain deadline, so that its last
/// chunk is written before the process exits.
const STREAM_MARGIN: Duration = Duration::from_secs(1);

// `Upgrade::new()` and `ready()` may run inside `#[tokio::main]`: as a
// container's PID 1 the split into the supervisor starts the service with
// fork and exec at once, which is safe beside tokio's threads.
#[tokio::main]
async fn main() {
    restartable_frameworks::log_to_stderr();
    let options = Options::from_args("axum_upgrade");
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
    let app = Router::new()
        .route("/", get(root))
        .route("/stream", get(stream))
        .with_state(running.clone());
    restartable_frameworks::print_serving(&running, addr);
    if options.plain_drain {
        return axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                running.replaced().await;
            })
            .await;
    }
    let app = app.layer(map_response_with_state(
        running.clone(),
        close_once_replaced,
    ));
    let listener = restartable_frameworks::axum::Listener::new(&running, listener)?;
    axum::serve(listener, app)
        .with_graceful_shutdown(drain_begins(running))
        .await
}

async fn root(State(running): State<Running>) -> String {
    identity(&running)
}

/// A long-lived response: a line every 100 ms until shortly before the
/// drain deadline of a replaced process.
async fn stream(State(running): State<Running>) -> Body {
    let me = identity(&running);
    let me = me.trim_end().to_owned();
    let ticks = futures_util::stream::unfold(Some(0u64), move |tick| {
        let running = running.clone();
        let me = me.clone();
        async move {
            let tick = tick?;
            if let Some(deadline) = running.drain_deadline() {
                if tokio::time::Instant::now() + STREAM_MARGIN >= deadline.into() {
                    return Some((Ok::<_, Infallible>(Bytes::from("end\n")), None));
                }
            }
            if tick > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let line = Bytes::from(format!("{me} tick={tick}\n"));
            Some((Ok(line), Some(tick + 1)))
        }
    });
    Body::from_stream(ticks)
}
