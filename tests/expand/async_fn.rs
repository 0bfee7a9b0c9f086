// An async fn awaits the pauses of `retry` instead of blocking its thread.
#[restartable::restartable_listener(host = "127.0.0.1", port = 0, inherit = true, retry = "500ms")]
pub async fn listener() -> std::io::Result<std::net::TcpListener> {}
