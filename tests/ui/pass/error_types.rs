// The function's error type may be any E: From<std::io::Error>, in plain
// and async functions: anyhow's, a boxed error, an enum of one's own.
use std::error::Error;
use std::fmt;
use std::io;
use std::net::{TcpListener, UdpSocket};

use restartable::restartable_listener;

#[restartable_listener(host = "127.0.0.1", port = 0)]
fn with_anyhow() -> anyhow::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = 0)]
fn boxed() -> Result<UdpSocket, Box<dyn Error + Send + Sync>> {}

#[derive(Debug)]
enum AppError {
    Listen(io::Error),
}

impl From<io::Error> for AppError {
    fn from(error: io::Error) -> Self {
        AppError::Listen(error)
    }
}

impl Error for AppError {}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Listen(error) => write!(f, "listen: {error}"),
        }
    }
}

#[restartable_listener(host = "127.0.0.1", port = port)]
fn own(port: u16) -> Result<TcpListener, AppError> {}

#[restartable_listener(host = "127.0.0.1", port = 0)]
async fn async_anyhow() -> anyhow::Result<tokio::net::TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = 0)]
async fn async_own() -> Result<tokio::net::UdpSocket, AppError> {}

fn main() -> anyhow::Result<()> {
    let listener = with_anyhow()?;
    let _ = boxed().map_err(|error| anyhow::anyhow!(error))?;
    // A port in use: the io::Error arrives inside the user's own type.
    let port = listener.local_addr()?.port();
    match own(port) {
        Err(AppError::Listen(error)) => assert_eq!(error.kind(), io::ErrorKind::AddrInUse),
        Ok(_) => panic!("the port is held"),
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    runtime.block_on(async {
        let _ = async_anyhow().await?;
        let _ = async_own().await?;
        Ok(())
    })
}
