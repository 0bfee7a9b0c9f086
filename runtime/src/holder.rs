//! Who holds a port, for the "address in use" error on Linux: the socket
//! bound to it from `/proc/net/{tcp,udp}{,6}`, and the process whose file
//! descriptors include that socket. Says nothing where it cannot tell.

use std::fs;
use std::net::SocketAddr;

use crate::SocketKind;

/// The `st` column value of a listening TCP socket.
const TCP_LISTEN: &str = "0A";

/// A description such as `a listening socket of process 4242 (server) holds
/// it`, or `None` when `/proc` shows no such socket.
pub(crate) fn describe(addr: SocketAddr, kind: SocketKind) -> Option<String> {
    let inode = socket_inode(addr.port(), kind)?;
    let what = match kind {
        SocketKind::Stream => "a listening socket",
        SocketKind::Datagram => "a UDP socket",
    };
    Some(match owner(&inode) {
        Some((pid, command)) => format!("{what} of process {pid} ({command}) holds it"),
        None => format!("{what} holds it; its process is not visible to this one"),
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

/// The process (pid, command) with a descriptor on `socket:[inode]`.
fn owner(inode: &str) -> Option<(u32, String)> {
    let target = format!("socket:[{inode}]");
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let pid = match entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        {
            Some(pid) => pid,
            None => continue,
        };
        let fds = match fs::read_dir(entry.path().join("fd")) {
            Ok(fds) => fds,
            // Another user's process: not visible without privileges.
            Err(_) => continue,
        };
        let holds = fds.flatten().any(|fd| {
            fs::read_link(fd.path()).map_or(false, |link| link.as_os_str() == target.as_str())
        });
        if holds {
            let command = fs::read_to_string(entry.path().join("comm"))
                .map_or_else(|_| "?".to_owned(), |comm| comm.trim_end().to_owned());
            return Some((pid, command));
        }
    }
    None
}
