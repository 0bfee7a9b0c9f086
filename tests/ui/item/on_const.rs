use restartable::restartable_listener;

#[restartable_listener(port = 8080)]
const PORT: u16 = 8080;

fn main() {
    let _ = PORT;
}
