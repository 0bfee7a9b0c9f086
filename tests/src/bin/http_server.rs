//! A small HTTP/1.1 server for crash loops under a real load generator
//! (`scripts/crash-loop.sh`): it answers every request with `hello`, keeps
//! connections alive, and gets its listener one of three ways.
//!
//! ```text
//! cargo run --release -p restartable-tests --bin http_server -- restartable|naive|inherited PORT
//! ```
//!
//! `restartable` binds with the attribute, `naive` with socket2 and no
//! option, `inherited` takes the socket a supervisor passed (else binds).
//! It prints `ready` once it listens, or `bind-error KIND MESSAGE` and exits
//! with status 3. A request with `Connection: close` is answered and the
//! server closes the connection first, so that its side ends in TIME_WAIT,
//! as after any server-closed HTTP connection. Linux only.

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("http_server runs on Linux only");
    std::process::exit(2);
}

/// The program, on Linux only, as the examples' crash-restart machinery
/// it uses (`restartable_examples::crash`).
#[cfg(target_os = "linux")]
mod linux {
    use std::env;
    use std::io::{self, BufRead, BufReader, Write};
    use std::net::TcpStream;
    use std::process;
    use std::thread;

    use restartable_examples::crash::Listener;

    const RESPONSE: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Type: text/plain\r\n\r\nhello\n";
    const LAST_RESPONSE: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nhello\n";

    pub fn main() {
        let args: Vec<String> = env::args().skip(1).collect();
        let (kind, port) = match args.as_slice() {
            [kind, port] => match (kind.parse::<Listener>(), port.parse::<u16>()) {
                (Ok(kind), Ok(port)) => (kind, port),
                _ => usage(),
            },
            _ => usage(),
        };
        let listener = match kind.bind(port) {
            Ok(listener) => listener,
            Err(error) => {
                println!("bind-error {:?} {error}", error.kind());
                process::exit(3);
            }
        };
        println!("ready");
        let _ = io::stdout().flush();
        for stream in listener.incoming().flatten() {
            thread::spawn(move || serve(stream));
        }
    }

    fn usage() -> ! {
        eprintln!("usage: http_server restartable|naive|inherited PORT");
        process::exit(2);
    }

    /// Answers each request on the connection until the client closes it.
    fn serve(stream: TcpStream) {
        let Ok(reading) = stream.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(reading);
        let mut writer = stream;
        let mut line = String::new();
        loop {
            // The request line and headers, up to the empty line; no body.
            let mut close = false;
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) if line == "\r\n" || line == "\n" => break,
                    Ok(_) => close |= line.eq_ignore_ascii_case("connection: close\r\n"),
                }
            }
            let response = if close { LAST_RESPONSE } else { RESPONSE };
            if writer.write_all(response).is_err() || close {
                return;
            }
        }
    }
}
