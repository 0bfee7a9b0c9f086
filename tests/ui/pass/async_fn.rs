use restartable::restartable_listener;

// `async fn` is accepted for any return type; the future is `Send`, so it
// can be spawned on a multi-threaded executor, even with `configure`.
#[restartable_listener(port = 0, retry = "1s", inherit = true, configure = |_| Ok(()))]
async fn listener() -> std::io::Result<std::net::TcpListener> {}

fn assert_send<T: Send>(_: T) {}

fn main() {
    assert_send(listener());
}
