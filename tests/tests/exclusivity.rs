//! Nobody else can take the port of a live restartable listener: a second
//! socket with any reuse option, on the same address or an overlapping one,
//! fails to bind. Controls show each check would notice a socket that did
//! get in. Runs on Linux and, under Wine, on Windows, where the intruders
//! have SO_REUSEADDR or no option (there is no SO_REUSEPORT), and Windows
//! may refuse with WSAEACCES instead of WSAEADDRINUSE. Under Wine a second
//! binder is refused even without SO_EXCLUSIVEADDRUSE (Wine maps sockets
//! onto Linux's), so there this shows the refusal, not that the option
//! causes it: `tests/windows_policy.rs` reads the option back.
#![cfg(any(target_os = "linux", windows))]

use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use restartable::restartable_listener;
use restartable::socket2::{Domain, Socket, Type};

#[restartable_listener(host = host, port = port)]
fn listener(host: IpAddr, port: u16) -> io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = port)]
fn udp(port: u16) -> io::Result<UdpSocket> {}

#[cfg(target_os = "linux")]
#[restartable_listener(host = "127.0.0.1", port = port, reuse_port = true)]
fn balanced(port: u16) -> io::Result<TcpListener> {}

const WILDCARD: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

#[derive(Clone, Copy, Debug)]
struct Intruder {
    reuse_address: bool,
    reuse_port: bool,
}

impl Intruder {
    #[cfg(target_os = "linux")]
    const ALL: [Intruder; 4] = [
        Intruder::new(false, false),
        Intruder::new(true, false),
        Intruder::new(false, true),
        Intruder::new(true, true),
    ];
    #[cfg(windows)]
    const ALL: [Intruder; 2] = [Intruder::new(false, false), Intruder::new(true, false)];

    const fn new(reuse_address: bool, reuse_port: bool) -> Intruder {
        Intruder {
            reuse_address,
            reuse_port,
        }
    }

    fn name(self) -> &'static str {
        match (self.reuse_address, self.reuse_port) {
            (false, false) => "no option",
            (true, false) => "SO_REUSEADDR",
            (false, true) => "SO_REUSEPORT",
            (true, true) => "SO_REUSEADDR+SO_REUSEPORT",
        }
    }

    /// Binds (and for TCP listens) a socket with these options on `addr`.
    fn bind(self, ty: Type, addr: SocketAddr) -> io::Result<Socket> {
        let socket = Socket::new(Domain::IPV4, ty, None)?;
        socket.set_reuse_address(self.reuse_address)?;
        #[cfg(target_os = "linux")]
        socket.set_reuse_port(self.reuse_port)?;
        socket.bind(&addr.into())?;
        if ty == Type::STREAM {
            socket.listen(128)?;
        }
        Ok(socket)
    }
}

/// "Address in use"; on Windows also "access denied" (WSAEACCES), what a
/// socket with SO_REUSEADDR gets from an exclusive one.
fn refused(kind: ErrorKind) -> bool {
    kind == ErrorKind::AddrInUse || (cfg!(windows) && kind == ErrorKind::PermissionDenied)
}

#[test]
fn hijack_matrix_every_intruder_is_refused() {
    // (row name, our host, the intruder's host)
    let layouts = [
        ("same address", LOOPBACK, LOOPBACK),
        ("specific over our wildcard", WILDCARD, LOOPBACK),
        ("wildcard over our specific", LOOPBACK, WILDCARD),
    ];
    let mut got_in = Vec::new();
    for (layout, ours, theirs) in layouts {
        for intruder in Intruder::ALL {
            let ours = listener(ours, 0).unwrap();
            let port = ours.local_addr().unwrap().port();
            let row = format!("{layout}, intruder with {}", intruder.name());
            match intruder.bind(Type::STREAM, SocketAddr::new(theirs, port)) {
                Err(error) if refused(error.kind()) => {
                    println!("refused   {row}: {error}");
                }
                Err(error) => got_in.push(format!("{row}: unexpected error {error}")),
                Ok(_) => {
                    println!("GOT IN    {row}");
                    got_in.push(row);
                }
            }
        }
    }
    assert!(got_in.is_empty(), "intruders bound the port: {got_in:#?}");
    if cfg!(windows) {
        println!(
            "(on Windows this shows the refusal; under Wine it is Wine's, which refuses a second \
             binder even without SO_EXCLUSIVEADDRUSE: windows_policy reads the option back)"
        );
    }
}

#[cfg(target_os = "linux")]
#[test]
fn control_the_matrix_sees_an_intruder_that_gets_in() {
    // A listener that opted into SO_REUSEPORT lets a same-user SO_REUSEPORT
    // socket in: the same bind the matrix makes succeeds here.
    let ours = balanced(0).unwrap();
    let port = ours.local_addr().unwrap().port();
    let intruder = Intruder::new(false, true);
    assert!(intruder
        .bind(Type::STREAM, SocketAddr::new(LOOPBACK, port))
        .is_ok());
}

#[test]
fn udp_port_cannot_be_shared_by_a_socket_with_so_reuseaddr() {
    let ours = udp(0).unwrap();
    let port = ours.local_addr().unwrap().port();
    let intruder = Intruder::new(true, false);
    let error = intruder
        .bind(Type::DGRAM, SocketAddr::new(LOOPBACK, port))
        .unwrap_err();
    assert!(refused(error.kind()), "{error}");
}

#[cfg(target_os = "linux")]
#[test]
fn control_a_udp_socket_with_so_reuseaddr_would_have_shared_its_port() {
    // What restartable avoids: had our UDP socket set SO_REUSEADDR, as it
    // does for TCP, the intruder would share the port and its datagrams.
    let careless = Intruder::new(true, false)
        .bind(Type::DGRAM, SocketAddr::new(LOOPBACK, 0))
        .unwrap();
    let port = careless.local_addr().unwrap().as_socket().unwrap().port();
    let intruder = Intruder::new(true, false).bind(Type::DGRAM, SocketAddr::new(LOOPBACK, port));
    assert!(
        intruder.is_ok(),
        "Linux lets SO_REUSEADDR UDP sockets share"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn reuse_port_listeners_share_a_port_and_both_get_connections() {
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    let first = balanced(0).unwrap();
    let port = first.local_addr().unwrap().port();
    let second = balanced(port).unwrap();
    for listener in [&first, &second] {
        listener.set_nonblocking(true).unwrap();
    }
    let mut clients = Vec::new();
    let mut accepted = [0_usize; 2];
    let deadline = Instant::now() + Duration::from_secs(5);
    while accepted.contains(&0) && Instant::now() < deadline && clients.len() < 512 {
        clients.push(TcpStream::connect((LOOPBACK, port)).unwrap());
        for (count, listener) in accepted.iter_mut().zip([&first, &second]) {
            while let Ok((_stream, _)) = listener.accept() {
                *count += 1;
            }
        }
    }
    println!(
        "{} connections: {} to the first listener, {} to the second",
        clients.len(),
        accepted[0],
        accepted[1]
    );
    assert!(accepted[0] > 0 && accepted[1] > 0, "{accepted:?}");
}
