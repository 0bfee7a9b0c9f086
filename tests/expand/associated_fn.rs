// An associated function with a doc comment, a restricted visibility and an
// address from a constant expression.
pub struct Server;

const ADDR: ([u8; 4], u16) = ([127, 0, 0, 1], 0);

impl Server {
    /// The server's listener.
    #[restartable::restartable_listener(addr = ADDR)]
    pub(crate) fn listener() -> std::io::Result<std::net::TcpListener> {}
}
