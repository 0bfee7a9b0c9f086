use restartable::restartable_listener;

#[restartable_listener(port = 8080)]
enum Listener {
    Tcp,
}

fn main() {
    let _ = Listener::Tcp;
}
