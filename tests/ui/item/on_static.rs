use restartable::restartable_listener;

#[restartable_listener(port = 8080)]
static PORT: u16 = 8080;

fn main() {
    let _ = PORT;
}
