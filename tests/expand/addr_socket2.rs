// A socket2 listener on an address literal, nonblocking, with one more option
// set by a function of the user's.
#[restartable::restartable_listener(addr = "[::1]:0", nonblocking = true, configure = keepalive)]
pub fn listener() -> std::io::Result<restartable::socket2::Socket> {}

pub fn keepalive(socket: &restartable::socket2::Socket) -> std::io::Result<()> {
    socket.set_keepalive(true)
}
