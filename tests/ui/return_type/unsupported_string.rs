use restartable::restartable_listener;

#[restartable_listener(port = 8080)]
fn listener() -> std::io::Result<String> {}

fn main() {
    let _ = listener();
}
