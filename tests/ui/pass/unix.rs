// Unix-domain listeners: a literal path, an expression that is a temporary,
// a parameter, the environment, an abstract name, datagrams, socket2, and
// tokio in an `async fn`. Each binds in a fresh directory and is used.
use std::io;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use restartable::restartable_listener;

#[restartable_listener(path = "restartable-ui-pass.sock", mode = 0o600, backlog = 16)]
fn literal() -> io::Result<UnixListener> {}

#[restartable_listener(path = format!("{}/made.sock", dir.display()))]
fn temporary(dir: &Path) -> io::Result<UnixListener> {}

#[restartable_listener(path = path, nonblocking = true)]
fn owned(path: PathBuf) -> io::Result<restartable::socket2::Socket> {}

#[restartable_listener(path_env = "RESTARTABLE_UI_SOCKET", path = path)]
fn datagram(path: &str) -> io::Result<UnixDatagram> {}

#[restartable_listener(abstract_name = name)]
fn named(name: &[u8]) -> io::Result<UnixListener> {}

#[restartable_listener(path = path, retry = "1s")]
async fn async_listener(path: &Path) -> io::Result<tokio::net::UnixListener> {}

fn main() -> io::Result<()> {
    let dir = std::env::temp_dir().join(format!("restartable-ui-pass-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::env::set_current_dir(&dir)?;

    let listener = literal()?;
    UnixStream::connect("restartable-ui-pass.sock")?;
    listener.accept()?;

    let listener = temporary(&dir)?;
    UnixStream::connect(dir.join("made.sock"))?;
    listener.accept()?;

    let socket = owned(dir.join("socket2.sock"))?;
    assert!(socket.is_listener()?);

    let path = dir.join("datagram.sock");
    let socket = datagram(path.to_str().unwrap())?;
    UnixDatagram::unbound()?.send_to(b"x", &path)?;
    socket.recv(&mut [0; 1])?;

    #[cfg(target_os = "linux")]
    {
        let name = format!("restartable-ui-pass-{}", std::process::id());
        let _listener = named(name.as_bytes())?;
    }

    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    runtime.block_on(async {
        let path = dir.join("tokio.sock");
        let listener = async_listener(&path).await?;
        let _client = tokio::net::UnixStream::connect(&path).await?;
        listener.accept().await.map(drop)
    })?;
    std::fs::remove_dir_all(&dir)
}
