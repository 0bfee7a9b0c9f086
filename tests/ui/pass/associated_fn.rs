// Associated functions with visibility, docs and other attributes kept, and
// a `;` body as well as `{}`.
use std::net::TcpListener;

use restartable::restartable_listener;

struct Server;

impl Server {
    /// Documented.
    #[restartable_listener(host = "127.0.0.1", port = 0)]
    #[must_use = "a listener that is dropped closes its port"]
    pub(crate) fn listener() -> std::io::Result<TcpListener> {}

    #[restartable_listener(host = "127.0.0.1", port = 0)]
    fn without_body() -> std::io::Result<TcpListener>;
}

#[restartable_listener(host = "127.0.0.1", port = 0)]
pub fn free_without_body() -> std::io::Result<TcpListener>;

fn main() {
    let _listener = Server::listener().unwrap();
    let _other = Server::without_body().unwrap();
    let _free = free_without_body().unwrap();
}
