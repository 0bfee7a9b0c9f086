//! On "address in use" the error says which process holds the port, when
//! it can tell: here child processes (this test binary, run again) hold TCP
//! ports on several addresses, and this process holds a UDP port. The
//! holder named is one whose address really conflicts with the one bound;
//! when no listener does, nobody is named.
#![cfg(target_os = "linux")]

use std::env;
use std::io::{self, ErrorKind, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use restartable::socket2::{Domain, Socket, Type};
use restartable::{restartable_listener, Builder};
use restartable_tests::{command, in_child, run, through, Running};

/// In the copy that binds as another user: the port this (root) process
/// holds.
const UNPRIVILEGED: &str = "RESTARTABLE_HOLDER_TEST_UNPRIVILEGED";
/// In a copy that holds an address: `ADDR` or `ADDR v6only`.
const HOLD: &str = "RESTARTABLE_HOLDER_TEST_HOLD";

/// How long the search for a holder in another process may take before the
/// error says it was not found: the runtime's bound, which a loaded machine
/// may exceed, so a test accepts that answer too (but never a wrong one).
const NOT_FOUND_IN_TIME: &str =
    "; a listening socket holds it; its process was not found within 100 ms";

#[test]
fn another_user_s_holder_is_not_named_and_nothing_false_is_said() {
    if in_child() {
        // Here as `nobody`: the error the bind of the held port gets.
        let port = env::var(UNPRIVILEGED).unwrap().parse().unwrap();
        let error = tcp(port).unwrap_err();
        println!("error {:?} {error}", error.kind());
        return;
    }
    // Root sees every process; to see what a user without privileges sees,
    // run this test again as `nobody`.
    if !std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(1) == Some("0"))
    {
        restartable_tests::skip("running as nobody needs root");
        return;
    }
    let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = held.local_addr().unwrap().port();
    let stdout = run(&mut through(
        "setpriv",
        &["--reuid=65534", "--regid=65534", "--clear-groups", "--"],
        command("another_user_s_holder_is_not_named_and_nothing_false_is_said")
            .env(UNPRIVILEGED, port.to_string()),
    ));
    let line = stdout
        .lines()
        .find_map(|line| line.find("error ").map(|at| &line[at..]))
        .unwrap_or_else(|| panic!("no error line: {stdout}"));
    println!("as nobody: {line}");
    assert!(line.starts_with("error AddrInUse "), "{line}");
    // The socket is found, its process (root's) is not; on a loaded machine
    // the search may run out of time instead, which is no false statement
    // either.
    assert!(
        line.ends_with("; a listening socket holds it; its process is not visible to this one")
            || line.ends_with(NOT_FOUND_IN_TIME),
        "{line}"
    );
    // Control: this process, which can see its own descriptors, is named.
    let message = tcp(port).unwrap_err().to_string();
    assert!(
        message.contains(&format!(
            "; a listening socket of process {} (",
            std::process::id()
        )),
        "{message}"
    );
}

#[restartable_listener(host = "127.0.0.1", port = port)]
fn tcp(port: u16) -> io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = port)]
fn udp(port: u16) -> io::Result<UdpSocket> {}

#[test]
fn error_names_the_process_that_holds_the_port() {
    if in_child() {
        return hold();
    }
    let start = |spec: &str| Holder::start("error_names_the_process_that_holds_the_port", spec);
    let holder = start("127.0.0.1:0");
    let pid = holder.pid();
    let error = tcp(holder.addr.port()).unwrap_err();
    let message = error.to_string();
    drop(holder);
    // The holder was looked up once, when the error was made: displaying it
    // again, after the holder is gone, does no work and says the same.
    assert_eq!(error.to_string(), message);

    assert_eq!(error.kind(), ErrorKind::AddrInUse);
    println!("{message}");
    let said = named(&message);
    assert!(
        said == Named::Process(pid) || said == Named::NotFoundInTime,
        "expected process {pid}: {message}"
    );
}

#[test]
fn error_names_this_process_when_it_holds_a_udp_port_itself() {
    let held = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = held.local_addr().unwrap().port();
    let message = udp(port).unwrap_err().to_string();
    println!("{message}");
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    assert!(
        message.ends_with(&format!(
            "; a UDP socket of process {} ({}) holds it",
            std::process::id(),
            comm.trim_end()
        )),
        "{message}"
    );
}

/// In a copy started by [`Holder::start`]: listens on the address `HOLD`
/// gives (IPv6: dual stack unless `v6only`), says `holding` and the address,
/// and holds it until its standard input closes.
fn hold() {
    let spec = env::var(HOLD).unwrap();
    let mut words = spec.split(' ');
    let addr: SocketAddr = words.next().unwrap().parse().unwrap();
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
    if addr.is_ipv6() {
        socket.set_only_v6(words.next() == Some("v6only")).unwrap();
    }
    socket.bind(&addr.into()).unwrap();
    socket.listen(16).unwrap();
    println!(
        "holding {}",
        socket.local_addr().unwrap().as_socket().unwrap()
    );
    io::stdin().read_to_end(&mut Vec::new()).unwrap();
}

/// A copy of this test binary listening on an address; ended when dropped.
struct Holder {
    copy: Running,
    addr: SocketAddr,
}

impl Holder {
    /// The test `test` run again, to listen as `spec` says (see [`hold`]);
    /// returns once it listens.
    fn start(test: &str, spec: &str) -> Holder {
        let mut copy = Running::start(command(test).env(HOLD, spec));
        let addr = copy.after("holding ").parse().unwrap();
        Holder { copy, addr }
    }

    fn pid(&self) -> u32 {
        self.copy.id()
    }
}

/// What an "address in use" error says of the holder.
#[derive(Debug, PartialEq, Eq)]
enum Named {
    /// `a listening socket of process PID (...) holds it`.
    Process(u32),
    /// A listening socket, whose process was not found in time.
    NotFoundInTime,
    /// Nothing after the OS error.
    Nobody,
}

fn named(message: &str) -> Named {
    if message.ends_with("(os error 98)") {
        return Named::Nobody;
    }
    if message.ends_with(NOT_FOUND_IN_TIME) {
        return Named::NotFoundInTime;
    }
    let pid = message
        .split_once("; a listening socket of process ")
        .and_then(|(_, rest)| rest.split_once(' '))
        .and_then(|(pid, _)| pid.parse().ok())
        .unwrap_or_else(|| panic!("neither a process, nor nobody: {message}"));
    Named::Process(pid)
}

/// The message of the error of binding `addr` with the attribute's policy,
/// which must be "address in use".
fn bind_fails(addr: SocketAddr, only_v6: bool) -> String {
    let mut builder = Builder::new(addr);
    if addr.is_ipv6() {
        builder = builder.only_v6(only_v6);
    }
    let error = builder.bind::<TcpListener>().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::AddrInUse, "{error}");
    error.to_string()
}

/// Asserts that the error names `holder` (or did not find its process in
/// time): never another process, never nobody.
fn assert_names(message: &str, holder: &Holder) {
    let said = named(message);
    assert!(
        said == Named::Process(holder.pid()) || said == Named::NotFoundInTime,
        "expected process {} (on {}) or not found in time: {message}",
        holder.pid(),
        holder.addr
    );
}

/// Five other addresses on loopback listen on the same port, each in its own
/// process: the bind on each address names the process on that address.
#[test]
fn the_bind_on_each_address_names_the_holder_of_that_address() {
    if in_child() {
        return hold();
    }
    let start = |spec: &str| {
        Holder::start(
            "the_bind_on_each_address_names_the_holder_of_that_address",
            spec,
        )
    };
    let first = start("127.0.0.3:0");
    let port = first.addr.port();
    let mut holders = vec![first];
    for last in [2, 4, 5, 6, 7] {
        holders.push(start(&format!("127.0.0.{last}:{port}")));
    }
    let mut found = 0;
    for holder in &holders {
        let message = bind_fails(holder.addr, false);
        println!("{}: {message}", holder.addr);
        assert_names(&message, holder);
        found += usize::from(named(&message) == Named::Process(holder.pid()));
    }
    println!("{found} of {} holders found in time", holders.len());
}

/// The port is taken on 127.0.0.2 by a socket that is bound without
/// SO_REUSEADDR and does not listen, and listeners of other processes hold it
/// on five other addresses: none of them is why the bind fails, so none is
/// named.
#[test]
fn nobody_is_named_when_no_listener_conflicts_with_the_address() {
    if in_child() {
        return hold();
    }
    let start = |spec: &str| {
        Holder::start(
            "nobody_is_named_when_no_listener_conflicts_with_the_address",
            spec,
        )
    };
    let first = start("127.0.0.3:0");
    let port = first.addr.port();
    let mut holders = vec![first];
    for last in [4, 5, 6, 7] {
        holders.push(start(&format!("127.0.0.{last}:{port}")));
    }
    let attempted = SocketAddr::from(([127, 0, 0, 2], port));
    let bound = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    bound.bind(&attempted.into()).unwrap();

    let message = bind_fails(attempted, false);
    println!("{message}");
    assert_eq!(named(&message), Named::Nobody, "{message}");
    // Control: the listeners are there, and each is named for its address.
    assert_names(&bind_fails(holders[1].addr, false), &holders[1]);
}

/// A wildcard listener conflicts with every address of its family, and a
/// dual-stack `::` listener with IPv4 addresses too; an IPv6-only `::`
/// listener does not conflict with an IPv4 address, so when something else
/// makes that bind fail, it is not named.
#[test]
fn wildcard_listeners_are_named_where_they_conflict_and_only_there() {
    if in_child() {
        return hold();
    }
    let start = |spec: &str| {
        Holder::start(
            "wildcard_listeners_are_named_where_they_conflict_and_only_there",
            spec,
        )
    };
    let any_v4 = start("0.0.0.0:0");
    let message = bind_fails(
        SocketAddr::from(([127, 0, 0, 2], any_v4.addr.port())),
        false,
    );
    println!("0.0.0.0 held, 127.0.0.2 bound: {message}");
    assert_names(&message, &any_v4);

    let dual = start("[::]:0");
    let port = dual.addr.port();
    let message = bind_fails(SocketAddr::from(([127, 0, 0, 2], port)), false);
    println!(":: (dual stack) held, 127.0.0.2 bound: {message}");
    assert_names(&message, &dual);
    let message = bind_fails(
        SocketAddr::from((IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]), port)),
        true,
    );
    println!(":: (dual stack) held, ::1 bound: {message}");
    assert_names(&message, &dual);

    let v6_only = start("[::]:0 v6only");
    let port = v6_only.addr.port();
    let attempted = SocketAddr::from(([127, 0, 0, 2], port));
    let bound = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    bound.bind(&attempted.into()).unwrap();
    let message = bind_fails(attempted, false);
    println!(":: (IPv6 only) held, 127.0.0.2 taken by a bound socket: {message}");
    assert_eq!(named(&message), Named::Nobody, "{message}");
    // Control: for an IPv6 address the IPv6-only listener does conflict.
    let message = bind_fails(
        SocketAddr::from((IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]), port)),
        true,
    );
    assert_names(&message, &v6_only);
}
