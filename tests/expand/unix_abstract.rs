// A name in Linux's abstract namespace: no file at all; an `async fn` that
// takes a socket passed by a supervisor when there is one.
#[restartable::restartable_listener(abstract_name = "restartable-example", inherit = true)]
pub async fn listener() -> std::io::Result<restartable::socket2::Socket> {}
