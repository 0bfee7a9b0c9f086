use restartable::restartable_listener;

#[restartable_listener(port = 8080)]
struct Listener;

fn main() {
    let _ = Listener;
}
