//! Who holds a port or a Unix-domain path, for the "address in use" error on
//! Linux: the socket bound to it from `/proc/net/{tcp,udp}{,6}` or
//! `/proc/net/unix`, and the process whose file descriptors include that
//! socket. Says nothing where it cannot tell.
//! Looked up once, when the final error is made, and bounded in time.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::Place;
use crate::SocketKind;

/// The `st` column value of a listening TCP socket.
const TCP_LISTEN: &str = "0A";

/// The longest the search for the holding process may take: on a host with
/// many processes, reading every descriptor link is not worth more.
const SEARCH_LIMIT: Duration = Duration::from_millis(100);

/// `__SO_ACCEPTCON` in the flags column of `/proc/net/unix`: a listening
/// socket.
const UNIX_LISTENING: u32 = 0x0001_0000;

/// A description such as `a listening socket of process 4242 (server) holds
/// it`, or `None` when `/proc` shows no such socket.
pub(crate) fn describe(place: &Place, kind: SocketKind) -> Option<String> {
    let (inode, what) = match place {
        Place::Ip(addr) => (
            socket_inode(addr.port(), kind)?,
            match kind {
                SocketKind::Stream => "a listening socket",
                SocketKind::Datagram => "a UDP socket",
            },
        ),
        Place::Path(_) | Place::Abstract(_) => (
            unix_inode(&place.to_string(), kind)?,
            match kind {
                SocketKind::Stream => "a listening socket",
                SocketKind::Datagram => "a datagram socket",
            },
        ),
    };
    Some(match owner(&inode, Instant::now() + SEARCH_LIMIT) {
        Owner::Found(pid, command) => format!("{what} of process {pid} ({command}) holds it"),
        Owner::NotVisible => format!("{what} holds it; its process is not visible to this one"),
        Owner::OutOfTime => format!(
            "{what} holds it; its process was not found within {} ms",
            SEARCH_LIMIT.as_millis()
        ),
    })
}

/// The inode of a socket bound to `port` (for TCP: listening), from the
/// kernel's socket tables.
fn socket_inode(port: u16, kind: SocketKind) -> Option<String> {
    let tables: &[&str] = match kind {
        SocketKind::Stream => &["/proc/net/tcp", "/proc/net/tcp6"],
        SocketKind::Datagram => &["/proc/net/udp", "/proc/net/udp6"],
    };
    for table in tables {
        let text = match fs::read_to_string(table) {
            Ok(text) => text,
            Err(_) => continue,
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 {
                continue;
            }
            let local_port = fields[1]
                .rsplit(':')
                .next()
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            let bound = kind == SocketKind::Datagram || fields[3] == TCP_LISTEN;
            if local_port == Some(port) && bound && fields[9] != "0" {
                return Some(fields[9].to_owned());
            }
        }
    }
    None
}

/// The inode of a Unix-domain socket bound to `name` (a path as it was
/// bound, or `@` and an abstract name) and, for a stream socket, listening:
/// the connections a listener accepted show its path too.
fn unix_inode(name: &str, kind: SocketKind) -> Option<String> {
    let wanted_type = match kind {
        SocketKind::Stream => "0001",
        SocketKind::Datagram => "0002",
    };
    // A relative path shows as it was bound; also look for it made absolute.
    let absolute = std::env::current_dir()
        .ok()
        .map(|dir| dir.join(name).to_string_lossy().into_owned());
    let text = fs::read_to_string("/proc/net/unix").ok()?;
    text.lines().skip(1).find_map(|line| {
        // Num RefCount Protocol Flags Type St Inode Path
        let fields: Vec<&str> = line.split_whitespace().collect();
        let path = fields.get(7)?;
        let matches = *path == name || absolute.as_deref() == Some(*path);
        let flags = u32::from_str_radix(fields[3], 16).ok()?;
        let listening = kind == SocketKind::Datagram || flags & UNIX_LISTENING != 0;
        (matches && fields[4] == wanted_type && listening).then(|| fields[6].to_owned())
    })
}

enum Owner {
    Found(u32, String),
    NotVisible,
    OutOfTime,
}

/// The process (pid, command) with a descriptor on `socket:[inode]`; this
/// process is looked at first.
fn owner(inode: &str, deadline: Instant) -> Owner {
    let target = format!("socket:[{inode}]");
    let own = std::process::id();
    let others = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            (pid != own).then(|| (pid, entry.path()))
        });
    let candidates = std::iter::once((own, PathBuf::from(format!("/proc/{own}")))).chain(others);
    for (pid, dir) in candidates {
        if Instant::now() > deadline {
            return Owner::OutOfTime;
        }
        let fds = match fs::read_dir(dir.join("fd")) {
            Ok(fds) => fds,
            // Another user's process: not visible without privileges.
            Err(_) => continue,
        };
        let holds = fds.flatten().any(|fd| {
            fs::read_link(fd.path()).map_or(false, |link| link.as_os_str() == target.as_str())
        });
        if holds {
            let command = fs::read_to_string(dir.join("comm"))
                .map_or_else(|_| "?".to_owned(), |comm| comm.trim_end().to_owned());
            return Owner::Found(pid, command);
        }
    }
    Owner::NotVisible
}
