//! Who holds a port or a Unix-domain path, for the "address in use" error on
//! Linux: the sockets whose address conflicts with the one bound, as the
//! kernel lists them (`sys::sock_diag`), and the process whose file
//! descriptors include one of them. Says nothing where it cannot tell, and
//! nothing rather than a process that is not the cause.
//! Looked up once, when the final error is made, and bounded in time.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::addr::ListenAddr;
use crate::convert::SocketKind;
use crate::sys::sock_diag::{self, InetSocket, Transport, UnixSocket};

/// The longest the lookup may take, the kernel's answer and the search for
/// the process together: on a host with many processes, reading every
/// descriptor link is not worth more.
const SEARCH_LIMIT: Duration = Duration::from_millis(100);

/// A description such as `a listening socket of process 4242 (server) holds
/// it`, or `None` when no socket that conflicts with `place` is found, or the
/// kernel cannot be asked (netlink refused, as some sandboxes do, or a
/// kernel without `sock_diag`): then nothing is said. The `/proc/net` tables
/// are not read instead: they cannot tell `IPV6_V6ONLY`, so they could name a
/// socket that is not the cause, and reading them is what cost milliseconds.
///
/// `only_v6` is `IPV6_V6ONLY` of the socket that failed to bind an IPv6
/// address.
pub(crate) fn describe(
    place: &ListenAddr,
    kind: SocketKind,
    only_v6: Option<bool>,
) -> Option<String> {
    describe_within(place, kind, only_v6, SEARCH_LIMIT)
}

fn describe_within(
    place: &ListenAddr,
    kind: SocketKind,
    only_v6: Option<bool>,
    limit: Duration,
) -> Option<String> {
    let deadline = Instant::now() + limit;
    let holders = match place {
        ListenAddr::Ip(addr) => ip_holders(&Attempt::new(*addr, only_v6), kind, deadline)?,
        ListenAddr::Path(path) => path_holders(path, deadline)?,
        ListenAddr::Abstract(name) => abstract_holders(name, deadline)?,
    };
    let first = holders.first()?;
    Some(match owner(&holders, deadline) {
        Owner::Found {
            pid,
            command,
            holder,
        } => format!("{} of process {pid} ({command}) holds it", holder.what),
        Owner::NotVisible => format!(
            "{} holds it; its process is not visible to this one",
            first.what
        ),
        Owner::OutOfTime => format!(
            "{} holds it; its process was not found within {} ms",
            first.what,
            limit.as_millis()
        ),
    })
}

/// A socket that holds the address, as the message names it.
#[derive(Debug)]
struct Holder {
    /// As `/proc/PID/fd` links show it: `socket:[inode]`.
    inode: u32,
    /// The uid of the socket's creator, when the kernel says it.
    uid: Option<u32>,
    what: &'static str,
}

/// The bind that failed, as the kernel compares it with other sockets.
#[derive(Clone, Copy, Debug)]
struct Attempt {
    addr: IpAddr,
    port: u16,
    /// `IPV6_V6ONLY` of an IPv6 socket; `None` when not known.
    only_v6: Option<bool>,
    /// The device the socket was bound to: the scope of a link-local IPv6
    /// address (bind sets `sk_bound_dev_if` from it). A device set by
    /// `SO_BINDTODEVICE` in `configure` is not known here, so taken as none,
    /// which can only make more sockets count as conflicting.
    device: u32,
}

impl Attempt {
    fn new(addr: SocketAddr, only_v6: Option<bool>) -> Attempt {
        match addr {
            SocketAddr::V4(v4) => Attempt {
                addr: IpAddr::V4(*v4.ip()),
                port: v4.port(),
                only_v6: None,
                device: 0,
            },
            SocketAddr::V6(v6) => Attempt {
                addr: IpAddr::V6(*v6.ip()),
                port: v6.port(),
                only_v6,
                device: v6.scope_id(),
            },
        }
    }

    /// The address families whose sockets can conflict with this bind: an
    /// IPv4 address (or an IPv4-mapped one) with IPv6 sockets too, when they
    /// are dual stack; a dual-stack `::` with IPv4 sockets; any other IPv6
    /// address only with IPv6 sockets.
    fn families(&self) -> &'static [i32] {
        match self.addr {
            IpAddr::V4(_) => &[libc::AF_INET, libc::AF_INET6],
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => &[libc::AF_INET, libc::AF_INET6],
            IpAddr::V6(v6) if v6.is_unspecified() && self.only_v6 == Some(false) => {
                &[libc::AF_INET, libc::AF_INET6]
            }
            IpAddr::V6(_) => &[libc::AF_INET6],
        }
    }

    /// Whether a socket bound to the same port at `other` makes this bind
    /// fail: Linux's `inet_rcv_saddr_equal(sk, sk2, match_wildcard = true)`
    /// (`net/ipv4/inet_connection_sock.c`, with `ipv4_rcv_saddr_equal` and
    /// `ipv6_rcv_saddr_equal`), which both the TCP bind check
    /// (`inet_csk_bind_conflict`) and the UDP one (`udp_lib_lport_inuse` in
    /// `net/ipv4/udp.c`) apply, after the device check both make: sockets
    /// bound to two different devices never conflict.
    ///
    /// Which sockets this leaves out, on purpose: the bind uses
    /// `SO_REUSEADDR` for TCP, so among TCP sockets only a listener, or a
    /// socket without `SO_REUSEADDR` (bound, connected or in `TIME_WAIT`), can
    /// refuse it; only listeners are asked for (a bound or connected socket
    /// is no service that holds the port, and `TIME_WAIT` has no process), so
    /// when such a socket is the cause nobody is named. Two sockets with
    /// `SO_REUSEPORT` of one user share a port, so a conflicting socket found
    /// here may be a member of a group this bind could not join; the kernel
    /// does not say whether a socket has `SO_REUSEPORT`, and the bind failed,
    /// so a socket that conflicts by address is a true cause or shares the
    /// port with one. Where `IPV6_V6ONLY` decides and is not known, the socket
    /// is not counted.
    fn conflicts_with(&self, other: &InetSocket) -> bool {
        if self.device != 0 && other.bound_device != 0 && self.device != other.bound_device {
            return false;
        }
        match (self.addr, other.addr) {
            (IpAddr::V4(ours), IpAddr::V4(theirs)) => ipv4_equal(ours, theirs),
            (IpAddr::V4(ours), IpAddr::V6(theirs)) => ipv4_with_ipv6(ours, theirs, other.only_v6),
            (IpAddr::V6(ours), IpAddr::V4(theirs)) => match ours.to_ipv4_mapped() {
                Some(ours) => ipv4_equal(ours, theirs),
                // `::` takes IPv4 too unless IPv6-only; another IPv6
                // address never does.
                None => ours.is_unspecified() && self.only_v6 == Some(false),
            },
            (IpAddr::V6(ours), IpAddr::V6(theirs)) => {
                match (ours.to_ipv4_mapped(), theirs.to_ipv4_mapped()) {
                    // Both IPv4-mapped: compared as IPv4 (a socket bound to a
                    // mapped address is never IPv6-only: bind refuses that).
                    (Some(ours), Some(theirs)) => ipv4_equal(ours, theirs),
                    (Some(ours), None) => ipv4_with_ipv6(ours, theirs, other.only_v6),
                    (None, Some(_)) => ours.is_unspecified() && self.only_v6 == Some(false),
                    // Two `::` conflict whatever IPV6_V6ONLY says; `::` conflicts
                    // with every IPv6 address; else only the same address.
                    (None, None) => {
                        ours.is_unspecified() || theirs.is_unspecified() || ours == theirs
                    }
                }
            }
        }
    }
}

/// `ipv4_rcv_saddr_equal` with wildcards: the same address, or either one
/// is 0.0.0.0.
fn ipv4_equal(ours: Ipv4Addr, theirs: Ipv4Addr) -> bool {
    ours == theirs || ours.is_unspecified() || theirs.is_unspecified()
}

/// An IPv4 address against an IPv6 socket: an IPv6-only one never
/// conflicts; a dual-stack `::` always does; an IPv4-mapped address is
/// compared as IPv4; any other IPv6 address never conflicts.
fn ipv4_with_ipv6(ours: Ipv4Addr, theirs: Ipv6Addr, their_only_v6: Option<bool>) -> bool {
    if let Some(theirs) = theirs.to_ipv4_mapped() {
        return ipv4_equal(ours, theirs);
    }
    theirs.is_unspecified() && their_only_v6 == Some(false)
}

/// The listening TCP sockets, or the UDP sockets, whose address conflicts
/// with the bind; `None` when the kernel cannot be asked.
fn ip_holders(attempt: &Attempt, kind: SocketKind, deadline: Instant) -> Option<Vec<Holder>> {
    let (transport, what) = match kind {
        SocketKind::Stream => (Transport::Tcp, "a listening socket"),
        SocketKind::Datagram => (Transport::Udp, "a UDP socket"),
    };
    let mut holders = Vec::new();
    for &family in attempt.families() {
        let sockets = sock_diag::inet_sockets(transport, family, attempt.port, deadline).ok()?;
        holders.extend(
            sockets
                .iter()
                .filter(|socket| socket.inode != 0 && attempt.conflicts_with(socket))
                .map(|socket| Holder {
                    inode: socket.inode,
                    uid: Some(socket.uid),
                    what,
                }),
        );
        // One true cause is enough: the IPv6 table is asked only when the
        // IPv4 one has none.
        if !holders.is_empty() {
            break;
        }
    }
    Some(holders)
}

/// The socket bound to the socket file at `path` (not following a link),
/// listening or datagram; `None` when there is no socket file or the kernel
/// cannot be asked.
fn path_holders(path: &Path, deadline: Instant) -> Option<Vec<Holder>> {
    let file = fs::symlink_metadata(path).ok()?;
    if !file.file_type().is_socket() {
        return None;
    }
    let sockets = sock_diag::unix_sockets(false, deadline, |socket| {
        holds_its_address(socket)
            && socket.file.is_some_and(|(device, inode)| {
                user_device(device) == file.dev() && u64::from(inode) == file.ino() & 0xffff_ffff
            })
    })
    .ok()?;
    Some(sockets.iter().filter_map(unix_holder).collect())
}

/// The socket bound to the abstract name `name` (without its leading NUL),
/// listening or datagram.
fn abstract_holders(name: &[u8], deadline: Instant) -> Option<Vec<Holder>> {
    let sockets = sock_diag::unix_sockets(true, deadline, |socket| {
        holds_its_address(socket)
            && socket
                .name
                .as_deref()
                .is_some_and(|bound| bound.first() == Some(&0) && &bound[1..] == name)
    })
    .ok()?;
    Some(sockets.iter().filter_map(unix_holder).collect())
}

/// A listener, or a datagram socket: not a connection a listener accepted,
/// which shows its listener's address too.
fn holds_its_address(socket: &UnixSocket) -> bool {
    socket.is_listening() || socket.is_datagram()
}

fn unix_holder(socket: &UnixSocket) -> Option<Holder> {
    (socket.inode != 0).then(|| Holder {
        inode: socket.inode,
        uid: socket.uid,
        what: if socket.is_datagram() {
            "a datagram socket"
        } else {
            "a listening socket"
        },
    })
}

/// `st_dev` as stat(2) gives it for the kernel's `s_dev` (major << 20 |
/// minor): the kernel's `new_encode_dev`, which glibc's and musl's makedev
/// match.
fn user_device(kernel: u32) -> u64 {
    let major = u64::from(kernel >> 20);
    let minor = u64::from(kernel & 0xf_ffff);
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

enum Owner<'h> {
    Found {
        pid: u32,
        command: String,
        holder: &'h Holder,
    },
    NotVisible,
    OutOfTime,
}

/// What one process's descriptors showed.
enum Scan {
    Holds(usize),
    No,
    OutOfTime,
}

/// The process (pid, command) with a descriptor on one of `holders`. This
/// process is looked at first; then the processes of the sockets' owners
/// (their uid, where the kernel said it); then every other, since a server
/// may have bound as root and changed user since. Processes of other users
/// are not visible without privileges.
fn owner(holders: &[Holder], deadline: Instant) -> Owner<'_> {
    let found = |pid: u32, dir: &Path, index: usize| Owner::Found {
        pid,
        command: fs::read_to_string(dir.join("comm"))
            .map_or_else(|_| "?".to_owned(), |comm| comm.trim_end().to_owned()),
        holder: &holders[index],
    };
    let own = Path::new("/proc/self");
    match scan(&own.join("fd"), holders, deadline) {
        Scan::Holds(index) => return found(std::process::id(), own, index),
        Scan::OutOfTime => return Owner::OutOfTime,
        Scan::No => {}
    }
    // This process as /proc numbers it (another pid namespace may differ).
    let own_entry = fs::read_link(own).ok();
    let uids: Option<Vec<u32>> = holders.iter().map(|holder| holder.uid).collect();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Owner::NotVisible;
    };
    let mut others = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|name| name.parse::<u32>().ok()) else {
            continue;
        };
        if own_entry.as_deref().map(Path::as_os_str) == Some(name.as_os_str()) {
            continue;
        }
        let owned = match (&uids, entry.metadata()) {
            (Some(uids), Ok(meta)) => uids.contains(&meta.uid()),
            (None, _) => true,
            (_, Err(_)) => continue,
        };
        if !owned {
            others.push((pid, entry.path()));
            continue;
        }
        match scan(&entry.path().join("fd"), holders, deadline) {
            Scan::Holds(index) => return found(pid, &entry.path(), index),
            Scan::OutOfTime => return Owner::OutOfTime,
            Scan::No => {}
        }
    }
    for (pid, dir) in others {
        match scan(&dir.join("fd"), holders, deadline) {
            Scan::Holds(index) => return found(pid, &dir, index),
            Scan::OutOfTime => return Owner::OutOfTime,
            Scan::No => {}
        }
    }
    Owner::NotVisible
}

/// Whether the descriptors in `fd_dir` include one of `holders`.
fn scan(fd_dir: &Path, holders: &[Holder], deadline: Instant) -> Scan {
    if Instant::now() > deadline {
        return Scan::OutOfTime;
    }
    let Ok(fds) = fs::read_dir(fd_dir) else {
        return Scan::No;
    };
    for (count, fd) in fds.flatten().enumerate() {
        // A process may have thousands of descriptors.
        if count % 256 == 255 && Instant::now() > deadline {
            return Scan::OutOfTime;
        }
        let Ok(link) = fs::read_link(fd.path()) else {
            continue;
        };
        let inode = link
            .as_os_str()
            .as_bytes()
            .strip_prefix(b"socket:[")
            .and_then(|rest| rest.strip_suffix(b"]"))
            .and_then(|digits| std::str::from_utf8(digits).ok()?.parse::<u32>().ok());
        if let Some(index) = inode.and_then(|inode| holders.iter().position(|h| h.inode == inode)) {
            return Scan::Holds(index);
        }
    }
    Scan::No
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read};
    use std::net::{TcpListener, UdpSocket};
    use std::os::unix::net::{UnixDatagram, UnixListener};
    use std::process::Stdio;

    use socket2::{Domain, SockAddr, Socket, Type};

    use crate::test_copy;

    fn socket(addr: &str, only_v6: Option<bool>) -> InetSocket {
        InetSocket {
            addr: addr.parse().unwrap(),
            only_v6,
            bound_device: 0,
            state: 10,
            uid: 0,
            inode: 1,
        }
    }

    fn attempt(addr: &str, only_v6: Option<bool>) -> Attempt {
        Attempt::new(addr.parse().unwrap(), only_v6)
    }

    /// Which holders conflict with which binds, as Linux decides it.
    #[test]
    fn conflicts_follow_the_kernel_s_address_rules() {
        // Bind, its IPV6_V6ONLY, the other socket's address, its
        // IPV6_V6ONLY, whether they conflict.
        type Row = (&'static str, Option<bool>, &'static str, Option<bool>, bool);
        let dual = Some(false);
        let v6 = Some(true);
        let rows: &[Row] = &[
            // IPv4 against IPv4: the same address, or a wildcard either way.
            ("127.0.0.2:1", None, "127.0.0.2", None, true),
            ("127.0.0.2:1", None, "127.0.0.3", None, false),
            ("127.0.0.2:1", None, "0.0.0.0", None, true),
            ("0.0.0.0:1", None, "127.0.0.3", None, true),
            // IPv4 against IPv6: `::` dual stack and mapped addresses only.
            ("127.0.0.2:1", None, "::", dual, true),
            ("127.0.0.2:1", None, "::", v6, false),
            ("127.0.0.2:1", None, "::", None, false),
            ("127.0.0.2:1", None, "::ffff:127.0.0.2", dual, true),
            ("127.0.0.2:1", None, "::ffff:127.0.0.3", dual, false),
            ("0.0.0.0:1", None, "::ffff:127.0.0.3", dual, true),
            ("127.0.0.2:1", None, "::1", dual, false),
            // `::` against IPv4: unless IPv6-only.
            ("[::]:1", dual, "127.0.0.3", None, true),
            ("[::]:1", v6, "127.0.0.3", None, false),
            ("[::]:1", None, "127.0.0.3", None, false),
            ("[::]:1", dual, "::ffff:127.0.0.3", dual, true),
            ("[::]:1", v6, "::ffff:127.0.0.3", dual, false),
            // `::` against IPv6, whatever IPV6_V6ONLY says.
            ("[::]:1", v6, "::", dual, true),
            ("[::]:1", dual, "::", v6, true),
            ("[::]:1", v6, "::1", v6, true),
            // Another IPv6 address: the same one, or `::`.
            ("[::1]:1", v6, "::1", dual, true),
            ("[::1]:1", dual, "::", v6, true),
            ("[::1]:1", dual, "fd00::2", dual, false),
            ("[::1]:1", dual, "127.0.0.1", None, false),
            ("[::1]:1", dual, "0.0.0.0", None, false),
            // An IPv4-mapped bind is an IPv4 bind.
            ("[::ffff:127.0.0.2]:1", dual, "127.0.0.2", None, true),
            ("[::ffff:127.0.0.2]:1", dual, "0.0.0.0", None, true),
            ("[::ffff:127.0.0.2]:1", dual, "127.0.0.3", None, false),
            ("[::ffff:127.0.0.2]:1", dual, "::", dual, true),
            ("[::ffff:127.0.0.2]:1", dual, "::", v6, false),
            ("[::ffff:127.0.0.2]:1", dual, "::1", dual, false),
        ];
        let mut checked = 0;
        for &(ours, our_v6, theirs, their_v6, expected) in rows {
            assert_eq!(
                attempt(ours, our_v6).conflicts_with(&socket(theirs, their_v6)),
                expected,
                "bind {ours} (IPV6_V6ONLY {our_v6:?}) against {theirs} ({their_v6:?})"
            );
            // And this kernel agrees: a listener on `theirs`, then a bind
            // of `ours` on its port as the policy makes it. (An address
            // this host does not have is skipped.)
            if let Some(kernel) = kernel_refuses(ours, our_v6, theirs, their_v6) {
                assert_eq!(
                    kernel, expected,
                    "the kernel on bind {ours} ({our_v6:?}) against {theirs} ({their_v6:?})"
                );
                checked += 1;
            }
        }
        // Loopback has 127.0.0.0/8 and ::1, so every row but those with an
        // unknown IPV6_V6ONLY (2) and the one with another IPv6 address is
        // checked anywhere.
        assert!(checked >= rows.len() - 3, "only {checked} rows checked");
        println!(
            "{checked} of {} rows checked against this kernel",
            rows.len()
        );
    }

    /// Whether this kernel refuses the bind of `ours` (with SO_REUSEADDR)
    /// while a listener holds the port on `theirs`; `None` when either
    /// address cannot be bound here.
    fn kernel_refuses(
        ours: &str,
        our_v6: Option<bool>,
        theirs: &str,
        their_v6: Option<bool>,
    ) -> Option<bool> {
        let make = |addr: SocketAddr, only_v6: Option<bool>| -> std::io::Result<Socket> {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
            socket.set_reuse_address(true)?;
            if let Some(only_v6) = only_v6 {
                socket.set_only_v6(only_v6)?;
            }
            socket.bind(&addr.into())?;
            Ok(socket)
        };
        let theirs = SocketAddr::new(theirs.parse().unwrap(), 0);
        let mut ours: SocketAddr = ours.parse().unwrap();
        // An unknown IPV6_V6ONLY is a row of the model only.
        if (theirs.is_ipv6() && their_v6.is_none()) || (ours.is_ipv6() && our_v6.is_none()) {
            return None;
        }
        let holder = make(theirs, their_v6).ok()?;
        holder.listen(1).unwrap();
        ours.set_port(holder.local_addr().unwrap().as_socket().unwrap().port());
        match make(ours, our_v6) {
            Ok(_) => Some(false),
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => Some(true),
            Err(_) => None,
        }
    }

    #[test]
    fn sockets_on_two_devices_do_not_conflict() {
        let ours = attempt("[fe80::1%2]:1", Some(true));
        let mut theirs = socket("::", Some(true));
        assert!(ours.conflicts_with(&theirs));
        theirs.bound_device = 2;
        assert!(ours.conflicts_with(&theirs));
        theirs.bound_device = 3;
        assert!(!ours.conflicts_with(&theirs));
        // A bind without a device conflicts with a socket on any device.
        assert!(attempt("[::1]:1", Some(true)).conflicts_with(&theirs));
    }

    #[test]
    fn families_asked_are_those_that_can_conflict() {
        let both: &[i32] = &[libc::AF_INET, libc::AF_INET6];
        assert_eq!(attempt("127.0.0.1:1", None).families(), both);
        assert_eq!(
            attempt("[::ffff:127.0.0.1]:1", Some(false)).families(),
            both
        );
        assert_eq!(attempt("[::]:1", Some(false)).families(), both);
        assert_eq!(attempt("[::]:1", Some(true)).families(), &[libc::AF_INET6]);
        assert_eq!(
            attempt("[::1]:1", Some(false)).families(),
            &[libc::AF_INET6]
        );
    }

    #[test]
    fn the_device_number_is_stat_s() {
        // 8:1 (sda1), 259:5 (nvme), 0:45 (tmpfs), a minor above 255.
        assert_eq!(user_device(8 << 20 | 1), 0x801);
        assert_eq!(user_device(259 << 20 | 5), 0x10305);
        assert_eq!(user_device(45), 45);
        assert_eq!(user_device(8 << 20 | 0x1_2345), 0x1230_0845);
    }

    fn this_process() -> String {
        let comm = fs::read_to_string("/proc/self/comm").unwrap();
        format!(
            "of process {} ({}) holds it",
            std::process::id(),
            comm.trim_end()
        )
    }

    fn generous(place: &ListenAddr, kind: SocketKind, only_v6: Option<bool>) -> Option<String> {
        describe_within(place, kind, only_v6, Duration::from_secs(60))
    }

    #[test]
    fn sockets_of_this_process_are_named() {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let place = ListenAddr::Ip(tcp.local_addr().unwrap());
        assert_eq!(
            generous(&place, SocketKind::Stream, None),
            Some(format!("a listening socket {}", this_process()))
        );
        let udp = UdpSocket::bind("[::1]:0").unwrap();
        let place = ListenAddr::Ip(udp.local_addr().unwrap());
        assert_eq!(
            generous(&place, SocketKind::Datagram, Some(true)),
            Some(format!("a UDP socket {}", this_process()))
        );
        // Control: the same address, nothing on it.
        drop(udp);
        assert_eq!(generous(&place, SocketKind::Datagram, Some(true)), None);
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("restartable-holder-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn unix_sockets_of_this_process_are_named_by_file_and_by_name() {
        let dir = scratch("unix");
        let path = dir.join("app.sock");
        let listener = UnixListener::bind(&path).unwrap();
        // Accepted connections show the listener's path: not named.
        let _client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let _accepted = listener.accept().unwrap();
        let place = ListenAddr::Path(path.clone());
        assert_eq!(
            generous(&place, SocketKind::Stream, None),
            Some(format!("a listening socket {}", this_process()))
        );
        drop(listener);
        // The file is left, nothing is bound to it any more.
        assert_eq!(generous(&place, SocketKind::Stream, None), None);
        fs::remove_file(&path).unwrap();

        let datagram = UnixDatagram::bind(&path).unwrap();
        // A datagram socket that another connected to (as the probe of a
        // path in use does) is in another state; still found.
        UnixDatagram::unbound().unwrap().connect(&path).unwrap();
        assert_eq!(
            generous(&place, SocketKind::Datagram, None),
            Some(format!("a datagram socket {}", this_process()))
        );
        // Found by the file, not by the path's text: a link to it is not
        // the socket's file.
        let link = dir.join("link.sock");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert_eq!(
            generous(&ListenAddr::Path(link), SocketKind::Datagram, None),
            None
        );
        drop(datagram);

        let name = format!("restartable-holder-{}", std::process::id());
        let abstract_listener = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
        let mut bytes = vec![0];
        bytes.extend_from_slice(name.as_bytes());
        let addr = SockAddr::unix(std::ffi::OsStr::from_bytes(&bytes)).unwrap();
        abstract_listener.bind(&addr).unwrap();
        abstract_listener.listen(1).unwrap();
        let place = ListenAddr::Abstract(name.clone().into_bytes());
        assert_eq!(
            generous(&place, SocketKind::Stream, None),
            Some(format!("a listening socket {}", this_process()))
        );
        // A name that only begins the same is another name.
        let longer = ListenAddr::Abstract(format!("{name}-2").into_bytes());
        assert_eq!(generous(&longer, SocketKind::Stream, None), None);
        drop(abstract_listener);
        fs::remove_dir_all(dir).unwrap();
    }

    /// In the copy of the next test: where it listens.
    const HOLD: &str = "RESTARTABLE_HOLDER_UNIT_TEST_HOLD";

    /// With a bound no machine misses, the process found is the copy of
    /// this test that listens, never this one, which holds the same port on
    /// another address.
    #[test]
    fn a_listener_of_another_process_is_found_by_its_address() {
        if test_copy::in_child() {
            // Listens until its standard input closes.
            let listener = TcpListener::bind(std::env::var(HOLD).unwrap()).unwrap();
            println!("holding {}", listener.local_addr().unwrap());
            std::io::stdin().read_to_end(&mut Vec::new()).unwrap();
            return;
        }
        let mut child = test_copy::command(
            &[],
            "error::holder::tests::a_listener_of_another_process_is_found_by_its_address",
        )
        .env(HOLD, "127.0.0.2:0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let addr: SocketAddr = stdout
            .lines()
            .map_while(Result::ok)
            .find_map(|line| Some(line.split_once("holding ")?.1.parse().unwrap()))
            .expect("the child did not listen");
        let ours = TcpListener::bind(("127.0.0.3", addr.port())).unwrap();
        let said = generous(&ListenAddr::Ip(addr), SocketKind::Stream, None);
        let _ = child.kill();
        child.wait().unwrap();
        let said = said.unwrap();
        assert!(
            said.starts_with(&format!("a listening socket of process {} (", child.id())),
            "{said}"
        );
        drop(ours);
    }
}
