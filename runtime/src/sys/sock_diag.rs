//! The kernel's own answer to "which sockets are bound to this port (or this
//! Unix-domain name)", and to "what is the accept queue of this Unix-domain
//! listener": one `NETLINK_SOCK_DIAG` request, `sock_diag(7)`, instead
//! of reading every line of `/proc/net/tcp`, whose length grows with every
//! `TIME_WAIT` entry on the host. Linux and Android only.
//!
//! Made of socket2's safe calls (socket, send, `SO_RCVTIMEO`, recv), so there
//! is no `unsafe` here: the requests are written and the replies read as
//! bytes, with every length checked. The request layouts are the kernel's
//! ABI (`include/uapi/linux/{netlink,sock_diag,inet_diag,unix_diag}.h`).

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

// include/uapi/linux/netlink.h and sock_diag.h. Defined here rather than
// taken from libc, whose module for them moved between 0.2 releases.
const NETLINK_SOCK_DIAG: i32 = 4;
const NLM_F_REQUEST: u16 = 0x01;
const NLM_F_ACK: u16 = 0x04;
const NLM_F_DUMP: u16 = 0x100 | 0x200; // NLM_F_ROOT | NLM_F_MATCH
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `struct nlmsghdr`: length, type, flags, sequence number, port id.
const HEADER_LEN: usize = 16;

// include/net/tcp_states.h: a socket's state, also for UDP and Unix sockets.
const TCP_ESTABLISHED: u8 = 1;
const TCP_CLOSE: u8 = 7;
const TCP_LISTEN: u8 = 10;

// include/uapi/linux/inet_diag.h
/// `struct inet_diag_req_v2`: family, protocol, extensions, pad, states,
/// then the 48-byte `struct inet_diag_sockid`.
const INET_REQUEST_LEN: usize = 56;
/// `struct inet_diag_msg`: family, state, timer, retransmits, the sockid,
/// expires, receive and send queue, uid, inode.
const INET_MESSAGE_LEN: usize = 72;
const INET_DIAG_SKV6ONLY: u16 = 11;

// include/uapi/linux/unix_diag.h
/// `struct unix_diag_req`: family, protocol, pad, states, inode, what to
/// show, cookie.
const UNIX_REQUEST_LEN: usize = 24;
/// `struct unix_diag_msg`: family, type, state, pad, inode, cookie.
const UNIX_MESSAGE_LEN: usize = 16;
const UDIAG_SHOW_NAME: u32 = 0x01;
const UDIAG_SHOW_VFS: u32 = 0x02;
const UDIAG_SHOW_UID: u32 = 0x40;
const UNIX_DIAG_NAME: u16 = 0;
const UNIX_DIAG_VFS: u16 = 1;
const UNIX_DIAG_UID: u16 = 7;
/// `UDIAG_SHOW_RQLEN` and its attribute, `struct unix_diag_rqlen`: for a
/// listening socket, `udiag_wqueue` is `sk_max_ack_backlog`
/// (`sk_diag_show_rqlen`, net/unix/diag.c).
const UDIAG_SHOW_RQLEN: u32 = 0x10;
const UNIX_DIAG_RQLEN: u16 = 4;
/// `udiag_cookie` of a request that names a socket by its inode alone:
/// `INET_DIAG_NOCOOKIE` (`~0U`) in both halves, which
/// `sock_diag_check_cookie` (`net/core/sock_diag.c`) takes for "no cookie".
const NO_COOKIE: [u8; 8] = [0xff; 8];

/// The kernel sizes a dump's datagrams to at most 32 KiB (`netlink_dump` in
/// `net/netlink/af_netlink.c`: "User is expected to provide buffer as large as
/// max(`min_dump_alloc`, 32KiB)"; these requests ask for nothing that raises
/// `min_dump_alloc`). A datagram that fills this buffer is taken as cut short.
const RECEIVE_BUFFER: usize = 64 * 1024;

/// The most a dump may send before it is given up: a Unix-socket dump on a
/// host with a million sockets is not worth reading for an error message.
const MOST_REPLY_BYTES: usize = 32 * 1024 * 1024;

/// The transport of an IP socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    Tcp,
    Udp,
}

/// An IP socket bound to the port asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InetSocket {
    /// The local address: IPv4 for an `AF_INET` socket, IPv6 (perhaps
    /// IPv4-mapped) for an `AF_INET6` one.
    pub(crate) addr: IpAddr,
    /// `IPV6_V6ONLY` of an IPv6 socket, which the kernel reports for listening
    /// and unconnected sockets only (`inet_diag_msg_attrs_fill`).
    pub(crate) only_v6: Option<bool>,
    /// `SO_BINDTODEVICE` or the scope of a link-local address; 0 for none.
    pub(crate) bound_device: u32,
    pub(crate) state: u8,
    pub(crate) uid: u32,
    /// The socket's inode, as `/proc/PID/fd` links show it: `socket:[N]`.
    pub(crate) inode: u32,
}

/// The listening TCP sockets, or the UDP sockets, of `family` (`AF_INET` or
/// `AF_INET6`) whose local port is `port`.
///
/// The kernel does the port filtering: it skips every socket whose source
/// port differs from `idiag_sport`, both in network byte order, and with
/// only `TCP_LISTEN` asked for it never walks the table of established and
/// `TIME_WAIT` sockets. In `net/ipv4/tcp_diag.c`, `tcp_diag_dump` (in recent
/// kernels; `inet_diag_dump_icsk` in `net/ipv4/inet_diag.c` in older ones,
/// with the same two lines), the walk of the listening hash has
/// `if (r->id.idiag_sport != inet->inet_sport && r->id.idiag_sport) goto next_listen;`
/// and the established table is reached only after
/// `if (!(idiag_states & ~TCPF_LISTEN)) goto out;`. `net/ipv4/udp_diag.c`,
/// `udp_dump` / `udp_diag_dump`, keeps a socket only when
/// `r->id.idiag_sport == inet->inet_sport || !r->id.idiag_sport`. The port
/// is checked again here all the same.
pub(crate) fn inet_sockets(
    transport: Transport,
    family: i32,
    port: u16,
    deadline: Instant,
) -> io::Result<Vec<InetSocket>> {
    let (protocol, states) = match transport {
        Transport::Tcp => (libc::IPPROTO_TCP, 1u32 << TCP_LISTEN),
        // An unconnected UDP socket is in TCP_CLOSE, a connected one in
        // TCP_ESTABLISHED; both hold their port.
        Transport::Udp => (
            libc::IPPROTO_UDP,
            (1u32 << TCP_CLOSE) | (1u32 << TCP_ESTABLISHED),
        ),
    };
    let mut request = [0u8; INET_REQUEST_LEN];
    request[0] = byte(family)?;
    request[1] = byte(protocol)?;
    request[4..8].copy_from_slice(&states.to_ne_bytes());
    // idiag_sport, in network byte order; idiag_dport 0 (any).
    request[8..10].copy_from_slice(&port.to_be_bytes());
    let mut sockets = Vec::new();
    dump(&request, deadline, |message| {
        if let Some(socket) = parse_inet(message, family, port) {
            sockets.push(socket);
        }
    })?;
    Ok(sockets)
}

/// One `inet_diag_msg` and its attributes; `None` when it is too short, of
/// another family or of another port.
fn parse_inet(message: &[u8], family: i32, port: u16) -> Option<InetSocket> {
    if message.len() < INET_MESSAGE_LEN || i32::from(message[0]) != family {
        return None;
    }
    if u16::from_be_bytes([message[4], message[5]]) != port {
        return None;
    }
    let source = &message[8..24];
    let addr = if family == libc::AF_INET6 {
        IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(source).ok()?))
    } else {
        IpAddr::V4(Ipv4Addr::new(source[0], source[1], source[2], source[3]))
    };
    let only_v6 = attributes(&message[INET_MESSAGE_LEN..])
        .find(|(kind, _)| *kind == INET_DIAG_SKV6ONLY)
        .and_then(|(_, value)| value.first().map(|flag| *flag != 0));
    Some(InetSocket {
        addr,
        only_v6,
        bound_device: u32_at(message, 40)?,
        state: message[1],
        uid: u32_at(message, 64)?,
        inode: u32_at(message, 68)?,
    })
}

/// A Unix-domain socket, as the dump describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UnixSocket {
    /// `SOCK_STREAM`, `SOCK_DGRAM` or `SOCK_SEQPACKET`.
    pub(crate) socket_type: u8,
    pub(crate) state: u8,
    pub(crate) inode: u32,
    /// The device and inode of the socket file it is bound to: the device in
    /// the kernel's own encoding (`s_dev`, major << 20 | minor), the inode
    /// cut to 32 bits (`struct unix_diag_vfs`).
    pub(crate) file: Option<(u32, u32)>,
    /// The address it is bound to (`sun_path` as bound: an abstract name
    /// starts with a NUL), when asked for.
    pub(crate) name: Option<Vec<u8>>,
    /// The uid of its creator (Linux 5.3 and later).
    pub(crate) uid: Option<u32>,
}

impl UnixSocket {
    pub(crate) fn is_listening(&self) -> bool {
        self.state == TCP_LISTEN
    }

    pub(crate) fn is_datagram(&self) -> bool {
        i32::from(self.socket_type) == libc::SOCK_DGRAM
    }
}

/// Unix-domain sockets that listen, are unconnected or connected: those
/// that `keep` keeps. With `names`, each comes with the address it is bound
/// to; else with its file. The kernel cannot filter by name, so this is a
/// dump of every such socket (`net/unix/diag.c`, `unix_diag_dump`, checks only
/// the state). Connected sockets are asked for because a bound datagram
/// socket is one too once another datagram socket connected to it:
/// `unix_dgram_connect` (`net/unix/af_unix.c`) sets `TCP_ESTABLISHED` on both
/// in recent kernels (seen here on 6.18: the probe of a path in use is such
/// a connect).
pub(crate) fn unix_sockets(
    names: bool,
    deadline: Instant,
    keep: impl FnMut(&UnixSocket) -> bool,
) -> io::Result<Vec<UnixSocket>> {
    let states = (1u32 << TCP_LISTEN) | (1u32 << TCP_CLOSE) | (1u32 << TCP_ESTABLISHED);
    unix_sockets_in(states, names, deadline, keep)
}

fn unix_sockets_in(
    states: u32,
    names: bool,
    deadline: Instant,
    mut keep: impl FnMut(&UnixSocket) -> bool,
) -> io::Result<Vec<UnixSocket>> {
    let mut request = [0u8; UNIX_REQUEST_LEN];
    request[0] = byte(libc::AF_UNIX)?;
    request[4..8].copy_from_slice(&states.to_ne_bytes());
    let show = UDIAG_SHOW_UID
        | if names {
            UDIAG_SHOW_NAME
        } else {
            UDIAG_SHOW_VFS
        };
    request[12..16].copy_from_slice(&show.to_ne_bytes());
    let mut sockets = Vec::new();
    dump(&request, deadline, |message| {
        if let Some(socket) = parse_unix(message) {
            if keep(&socket) {
                sockets.push(socket);
            }
        }
    })?;
    Ok(sockets)
}

/// The accept queue's limit of the listening Unix-domain socket whose
/// inode is `inode`; `None` when no socket has that inode (in this network
/// namespace) or it does not listen.
///
/// One socket is asked for, not a dump: with `udiag_ino` set and no
/// `NLM_F_DUMP`, the kernel looks the inode up and answers with that one
/// socket or an error, `ENOENT` when there is none (`unix_diag_get_exact`
/// in `net/unix/diag.c`). Whatever else listens on the host is never sent.
pub(crate) fn unix_listen_backlog(inode: u32, deadline: Instant) -> io::Result<Option<u32>> {
    unix_listen_backlog_read(inode, deadline).map(|(backlog, _)| backlog)
}

/// [`unix_listen_backlog`], and how many socket records the kernel sent
/// for it.
fn unix_listen_backlog_read(inode: u32, deadline: Instant) -> io::Result<(Option<u32>, usize)> {
    let mut request = [0u8; UNIX_REQUEST_LEN];
    request[0] = byte(libc::AF_UNIX)?;
    // udiag_states is not looked at by an exact lookup: the state is
    // checked below.
    request[8..12].copy_from_slice(&inode.to_ne_bytes());
    request[12..16].copy_from_slice(&UDIAG_SHOW_RQLEN.to_ne_bytes());
    request[16..24].copy_from_slice(&NO_COOKIE);
    let mut backlog = None;
    let mut records = 0;
    let asked = exchange(&request, Reply::One, deadline, |message| {
        records += 1;
        if message.len() < UNIX_MESSAGE_LEN
            || message[2] != TCP_LISTEN
            || u32_at(message, 4) != Some(inode)
        {
            return;
        }
        for (kind, value) in attributes(&message[UNIX_MESSAGE_LEN..]) {
            if kind == UNIX_DIAG_RQLEN {
                backlog = u32_at(value, 4);
            }
        }
    });
    match asked {
        Ok(()) => Ok((backlog, records)),
        Err(error) if error.raw_os_error() == Some(libc::ENOENT) => Ok((None, records)),
        Err(error) => Err(error),
    }
}

/// The Unix-domain socket whose inode is `inode`, with the name it is bound
/// to, by an exact lookup (as [`unix_listen_backlog`]); `None` when there is
/// no Unix-domain socket with that inode in this network namespace.
pub(crate) fn unix_socket_named(inode: u32, deadline: Instant) -> io::Result<Option<UnixSocket>> {
    let mut request = [0u8; UNIX_REQUEST_LEN];
    request[0] = byte(libc::AF_UNIX)?;
    request[8..12].copy_from_slice(&inode.to_ne_bytes());
    request[12..16].copy_from_slice(&UDIAG_SHOW_NAME.to_ne_bytes());
    request[16..24].copy_from_slice(&NO_COOKIE);
    let mut found = None;
    let asked = exchange(&request, Reply::One, deadline, |message| {
        if let Some(socket) = parse_unix(message).filter(|socket| socket.inode == inode) {
            found = Some(socket);
        }
    });
    match asked {
        Ok(()) => Ok(found),
        Err(error) if error.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(error) => Err(error),
    }
}

/// One `unix_diag_msg` and its attributes; `None` when it is too short.
fn parse_unix(message: &[u8]) -> Option<UnixSocket> {
    if message.len() < UNIX_MESSAGE_LEN || i32::from(message[0]) != libc::AF_UNIX {
        return None;
    }
    let mut socket = UnixSocket {
        socket_type: message[1],
        state: message[2],
        inode: u32_at(message, 4)?,
        file: None,
        name: None,
        uid: None,
    };
    for (kind, value) in attributes(&message[UNIX_MESSAGE_LEN..]) {
        match kind {
            UNIX_DIAG_NAME => socket.name = Some(value.to_vec()),
            UNIX_DIAG_VFS => socket.file = Some((u32_at(value, 4)?, u32_at(value, 0)?)),
            UNIX_DIAG_UID => socket.uid = u32_at(value, 0),
            _ => {}
        }
    }
    Some(socket)
}

/// What a request asks the kernel for.
#[derive(Clone, Copy)]
enum Reply {
    /// Every socket that the request's fields match (`NLM_F_DUMP`), ended
    /// by `NLMSG_DONE`.
    Dump,
    /// The one socket the request names, then an acknowledgement
    /// (`NLM_F_ACK`: an `NLMSG_ERROR` of 0, sent after the answer by
    /// `netlink_rcv_skb`), or an error instead of both.
    One,
}

/// A dump: [`exchange`] with [`Reply::Dump`].
fn dump(payload: &[u8], deadline: Instant, each: impl FnMut(&[u8])) -> io::Result<()> {
    exchange(payload, Reply::Dump, deadline, each)
}

/// Sends one request (`payload` after the netlink header) and calls `each`
/// with the payload of every reply message, until the kernel says it is
/// done. The socket is closed when this returns, whatever happened.
fn exchange(
    payload: &[u8],
    reply: Reply,
    deadline: Instant,
    mut each: impl FnMut(&[u8]),
) -> io::Result<()> {
    let socket = Socket::new(
        Domain::from(libc::AF_NETLINK),
        Type::RAW,
        Some(Protocol::from(NETLINK_SOCK_DIAG)),
    )?;
    // One request per socket, so any sequence number will do; the replies
    // are still checked to carry it.
    let sequence = 1;
    let request = request(payload, reply, sequence)?;
    // Unconnected, a netlink socket sends to the kernel (port id 0).
    if socket.send(&request)? != request.len() {
        return Err(malformed("the netlink request was sent in part"));
    }
    let mut buffer = vec![0u8; RECEIVE_BUFFER];
    let mut received = 0;
    loop {
        // SO_RCVTIMEO: a kernel that never answers cannot hold this past the
        // deadline; a read that times out fails with WouldBlock.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the kernel's answer about its sockets did not come in time",
            ));
        }
        // At least 1 ms: below 1 µs the timeval would be 0, "no timeout".
        socket.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
        let length = match (&socket).read(&mut buffer) {
            Ok(0) => return Err(malformed("the netlink socket returned nothing")),
            Ok(length) => length,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if length == buffer.len() {
            return Err(malformed("a netlink reply filled the whole buffer"));
        }
        received += length;
        if received > MOST_REPLY_BYTES {
            return Err(malformed("the socket dump is too long to read"));
        }
        if let Progress::Done = replies(&buffer[..length], sequence, &mut each)? {
            return Ok(());
        }
    }
}

/// The netlink header and `payload`: a request of `SOCK_DIAG_BY_FAMILY`.
fn request(payload: &[u8], reply: Reply, sequence: u32) -> io::Result<Vec<u8>> {
    let flags = match reply {
        Reply::Dump => NLM_F_REQUEST | NLM_F_DUMP,
        Reply::One => NLM_F_REQUEST | NLM_F_ACK,
    };
    let length = u32::try_from(HEADER_LEN + payload.len())
        .map_err(|_| malformed("the netlink request is too long"))?;
    let mut request = Vec::with_capacity(HEADER_LEN + payload.len());
    request.extend_from_slice(&length.to_ne_bytes());
    request.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    request.extend_from_slice(&flags.to_ne_bytes());
    request.extend_from_slice(&sequence.to_ne_bytes());
    request.extend_from_slice(&0u32.to_ne_bytes());
    request.extend_from_slice(payload);
    Ok(request)
}

/// Whether the dump goes on after a datagram.
#[derive(Debug, PartialEq, Eq)]
enum Progress {
    More,
    Done,
}

/// The messages of one received datagram: each of the dump's payloads to
/// `each`, `NLMSG_DONE` to `Done`, `NLMSG_ERROR` to its error. Messages of
/// another sequence number are skipped; a length that does not fit is an
/// error, never a read past the datagram.
fn replies(
    mut datagram: &[u8],
    sequence: u32,
    each: &mut impl FnMut(&[u8]),
) -> io::Result<Progress> {
    while !datagram.is_empty() {
        if datagram.len() < HEADER_LEN {
            return Err(malformed("a netlink reply ends inside a message header"));
        }
        let length = u32_at(datagram, 0).map_or(0, |length| length as usize);
        if length < HEADER_LEN || length > datagram.len() {
            return Err(malformed(
                "a netlink reply message has a length that does not fit",
            ));
        }
        let kind = u16::from_ne_bytes([datagram[4], datagram[5]]);
        let ours = u32_at(datagram, 8) == Some(sequence);
        let payload = &datagram[HEADER_LEN..length];
        if ours {
            match kind {
                NLMSG_DONE => {
                    // The payload is the dump's error code, 0 when it went
                    // well (netlink_dump_done).
                    return match i32_at(payload, 0) {
                        Some(code) if code < 0 => Err(io::Error::from_raw_os_error(-code)),
                        _ => Ok(Progress::Done),
                    };
                }
                NLMSG_ERROR => {
                    // `struct nlmsgerr`: the negative errno, 0 for an ack.
                    return match i32_at(payload, 0) {
                        Some(0) => Ok(Progress::Done),
                        Some(code) if code < 0 => Err(io::Error::from_raw_os_error(-code)),
                        _ => Err(malformed("a netlink error message without an error code")),
                    };
                }
                SOCK_DIAG_BY_FAMILY => each(payload),
                _ => {}
            }
        }
        // Messages are 4-byte aligned; the last one may end unpadded.
        let next = (length + 3) & !3;
        datagram = datagram.get(next..).unwrap_or(&[]);
    }
    Ok(Progress::More)
}

/// The netlink attributes (`struct nlattr`: length, type, value, 4-byte
/// aligned) in `data`, as (type, value); stops at the first that does not
/// fit.
fn attributes(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let length = usize::from(u16::from_ne_bytes([*data.first()?, *data.get(1)?]));
        let kind = u16::from_ne_bytes([*data.get(2)?, *data.get(3)?]);
        if length < 4 || length > data.len() {
            return None;
        }
        let value = &data[4..length];
        data = data.get((length + 3) & !3..).unwrap_or(&[]);
        // NLA_F_NESTED and NLA_F_NET_BYTEORDER are flags, not the type.
        Some((kind & 0x3fff, value))
    })
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    let bytes = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

fn i32_at(data: &[u8], at: usize) -> Option<i32> {
    u32_at(data, at).map(|value| i32::from_ne_bytes(value.to_ne_bytes()))
}

fn byte(value: i32) -> io::Result<u8> {
    u8::try_from(value).map_err(|_| malformed("a constant does not fit its field"))
}

fn malformed(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, sequence: u32, payload: &[u8]) -> Vec<u8> {
        let mut message = Vec::new();
        let length = u32::try_from(HEADER_LEN + payload.len()).unwrap();
        message.extend_from_slice(&length.to_ne_bytes());
        message.extend_from_slice(&kind.to_ne_bytes());
        message.extend_from_slice(&2u16.to_ne_bytes()); // NLM_F_MULTI
        message.extend_from_slice(&sequence.to_ne_bytes());
        message.extend_from_slice(&0u32.to_ne_bytes());
        message.extend_from_slice(payload);
        while message.len() % 4 != 0 {
            message.push(0);
        }
        message
    }

    fn collect(datagram: &[u8]) -> (io::Result<Progress>, Vec<Vec<u8>>) {
        let mut seen = Vec::new();
        let progress = replies(datagram, 7, &mut |payload: &[u8]| {
            seen.push(payload.to_vec());
        });
        (progress, seen)
    }

    #[test]
    fn messages_of_a_multi_part_reply_are_read_until_done() {
        let mut first = message(SOCK_DIAG_BY_FAMILY, 7, b"one");
        first.extend(message(SOCK_DIAG_BY_FAMILY, 7, b"two!"));
        let (progress, seen) = collect(&first);
        assert_eq!(progress.unwrap(), Progress::More);
        assert_eq!(seen, [b"one".to_vec(), b"two!".to_vec()]);

        let mut last = message(SOCK_DIAG_BY_FAMILY, 7, b"three");
        last.extend(message(NLMSG_DONE, 7, &0i32.to_ne_bytes()));
        last.extend(message(SOCK_DIAG_BY_FAMILY, 7, b"after done"));
        let (progress, seen) = collect(&last);
        assert_eq!(progress.unwrap(), Progress::Done);
        assert_eq!(seen, [b"three".to_vec()]);
    }

    #[test]
    fn messages_of_another_request_are_skipped() {
        let mut datagram = message(SOCK_DIAG_BY_FAMILY, 8, b"not ours");
        datagram.extend(message(NLMSG_DONE, 8, &0i32.to_ne_bytes()));
        datagram.extend(message(SOCK_DIAG_BY_FAMILY, 7, b"ours"));
        let (progress, seen) = collect(&datagram);
        assert_eq!(progress.unwrap(), Progress::More);
        assert_eq!(seen, [b"ours".to_vec()]);
    }

    #[test]
    fn errors_of_the_kernel_keep_their_code() {
        let mut error = (-libc::EPERM).to_ne_bytes().to_vec();
        error.extend_from_slice(&[0; HEADER_LEN]);
        let (progress, _) = collect(&message(NLMSG_ERROR, 7, &error));
        assert_eq!(progress.unwrap_err().raw_os_error(), Some(libc::EPERM));

        let done = message(NLMSG_DONE, 7, &(-libc::ENOBUFS).to_ne_bytes());
        assert_eq!(
            collect(&done).0.unwrap_err().raw_os_error(),
            Some(libc::ENOBUFS)
        );

        let bare_error = message(NLMSG_ERROR, 7, &[]);
        assert_eq!(
            collect(&bare_error).0.unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        // A done message without an error code ends the dump.
        assert_eq!(
            collect(&message(NLMSG_DONE, 7, &[])).0.unwrap(),
            Progress::Done
        );
    }

    #[test]
    fn truncated_and_inconsistent_lengths_are_errors_not_reads_past_the_end() {
        let whole = message(SOCK_DIAG_BY_FAMILY, 7, b"payload!");
        for cut in [1, HEADER_LEN - 1, HEADER_LEN, whole.len() - 1] {
            let (progress, seen) = collect(&whole[..cut]);
            assert_eq!(
                progress.unwrap_err().kind(),
                io::ErrorKind::InvalidData,
                "cut at {cut}"
            );
            assert!(seen.is_empty());
        }
        for length in [0u32, 15, 1 << 20] {
            let mut bad = whole.clone();
            bad[..4].copy_from_slice(&length.to_ne_bytes());
            let (progress, seen) = collect(&bad);
            assert_eq!(
                progress.unwrap_err().kind(),
                io::ErrorKind::InvalidData,
                "length {length}"
            );
            assert!(seen.is_empty());
        }
        // The last message may end without its padding.
        let unpadded = message(SOCK_DIAG_BY_FAMILY, 7, b"odd");
        let (progress, seen) = collect(&unpadded[..HEADER_LEN + 3]);
        assert_eq!(progress.unwrap(), Progress::More);
        assert_eq!(seen, [b"odd".to_vec()]);
    }

    #[test]
    fn attributes_stop_at_the_first_that_does_not_fit() {
        let mut data = Vec::new();
        data.extend_from_slice(&5u16.to_ne_bytes());
        data.extend_from_slice(&INET_DIAG_SKV6ONLY.to_ne_bytes());
        data.extend_from_slice(&[1, 0, 0, 0]);
        data.extend_from_slice(&200u16.to_ne_bytes());
        data.extend_from_slice(&3u16.to_ne_bytes());
        data.extend_from_slice(&[9; 8]);
        let found: Vec<(u16, &[u8])> = attributes(&data).collect();
        assert_eq!(found, [(INET_DIAG_SKV6ONLY, &[1u8][..])]);
        assert_eq!(attributes(&[4, 0]).count(), 0);
        assert_eq!(attributes(&[2, 0, 1, 0]).count(), 0);
    }

    #[test]
    fn short_socket_messages_are_skipped() {
        assert_eq!(
            parse_inet(&[0; INET_MESSAGE_LEN - 1], libc::AF_INET, 0),
            None
        );
        assert_eq!(parse_unix(&[1; UNIX_MESSAGE_LEN - 1]), None);
    }

    /// The inode of the socket `socket` owns, as `sys::unix` reads it.
    fn inode_of(socket: &Socket) -> u32 {
        use std::os::unix::fs::MetadataExt;
        use std::os::unix::io::AsRawFd;
        let link = format!("/proc/self/fd/{}", socket.as_raw_fd());
        u32::try_from(std::fs::metadata(link).unwrap().ino()).unwrap()
    }

    /// The queue's limit of one listener, asked of the kernel by its inode:
    /// one record comes back, however many other Unix-domain sockets listen
    /// on the host.
    #[test]
    fn the_backlog_of_a_unix_listener_is_one_record_among_hundreds() {
        let deadline = Instant::now() + Duration::from_secs(10);
        // On abstract names, so that nothing is left on disk.
        let listening = |name: String, backlog: i32| {
            use std::os::unix::ffi::OsStrExt;
            let socket = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
            let name = format!("\0restartable-unit-backlog-{}-{name}", std::process::id());
            let addr = socket2::SockAddr::unix(std::ffi::OsStr::from_bytes(name.as_bytes()));
            socket.bind(&addr.unwrap()).unwrap();
            socket.listen(backlog).unwrap();
            socket
        };
        let others: Vec<Socket> = (0..300).map(|i| listening(i.to_string(), 1)).collect();
        let listener = listening("asked".to_owned(), 37);
        let (backlog, records) = unix_listen_backlog_read(inode_of(&listener), deadline).unwrap();
        assert_eq!(backlog, Some(37));
        assert_eq!(records, 1, "{} other listeners", others.len());

        // A socket that does not listen has no accept queue; an inode of
        // no socket (sockfs numbers its inodes from 1 up) has nothing at
        // all; inode 0 is refused by the kernel, and the error kept.
        let unconnected = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
        let (backlog, records) =
            unix_listen_backlog_read(inode_of(&unconnected), deadline).unwrap();
        assert_eq!((backlog, records), (None, 1));
        assert_eq!(
            unix_listen_backlog_read(u32::MAX, deadline).unwrap(),
            (None, 0)
        );
        let error = unix_listen_backlog_read(0, deadline).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::EINVAL), "{error}");
    }

    /// This process's own listener, found by the kernel's dump.
    #[test]
    fn the_dump_finds_a_listener_of_this_process() {
        use std::os::unix::fs::MetadataExt;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let deadline = Instant::now() + Duration::from_secs(10);
        let sockets = inet_sockets(Transport::Tcp, libc::AF_INET, port, deadline).unwrap();
        let inode = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .flatten()
            .find_map(|fd| {
                let link = std::fs::read_link(fd.path()).ok()?;
                let text = link.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?;
                let inode: u32 = text.parse().ok()?;
                sockets.iter().any(|s| s.inode == inode).then_some(inode)
            });
        assert_eq!(sockets.len(), 1, "{sockets:?}");
        assert_eq!(sockets[0].addr, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(sockets[0].state, TCP_LISTEN);
        assert_eq!(
            sockets[0].uid,
            std::fs::metadata("/proc/self").unwrap().uid()
        );
        assert_eq!(inode, Some(sockets[0].inode));
        // Not one of another port.
        drop(listener);
        let sockets = inet_sockets(Transport::Tcp, libc::AF_INET, port, deadline).unwrap();
        assert!(sockets.is_empty(), "{sockets:?}");
    }
}
