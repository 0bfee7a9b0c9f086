//! The process-wide record of the sockets passed to this process on
//! Windows, and the pipe to the process that keeps this one's listeners:
//! read once, each socket owned by exactly one value, handed out at most
//! once.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use socket2::Socket;

use super::wire::{Record, Vars, RESTARTABLE_SOCKETS};
use crate::convert::SocketKind;
use crate::spec::Inherit;
use crate::sys::process as sys;

/// The most that is read from the take pipe: far more than any number of
/// listeners a process has (a record is under 1 KiB).
const MAX_PASSED: u64 = 1 << 20;

struct Passed {
    name: Option<String>,
    /// `None` once a function took it.
    socket: Option<Socket>,
}

enum State {
    /// No variable: nothing was passed.
    Nothing,
    /// The variable is another process's (its parent is not this one's).
    NotOurs(String),
    /// This process's: what was passed, and the pipe to the keeper.
    Ours {
        passed: Vec<Passed>,
        store: Option<(u32, File)>,
    },
    /// This process's, and unusable: every call fails with this.
    Unusable {
        kind: io::ErrorKind,
        message: String,
    },
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn lock() -> MutexGuard<'static, Option<State>> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn state(guard: &mut Option<State>) -> &mut State {
    guard.get_or_insert_with(|| {
        read().unwrap_or_else(|error| State::Unusable {
            kind: error.kind(),
            message: error.to_string(),
        })
    })
}

/// The supervisor that keeps this process's listeners, and a handle of
/// the store pipe to it (not inheritable): what an upgrade hands the new
/// process, so that it passes its listeners to the same supervisor.
pub(crate) fn keeper() -> io::Result<Option<(u32, std::os::windows::io::OwnedHandle)>> {
    let mut guard = lock();
    match state(&mut guard) {
        State::Ours {
            store: Some((keeper, pipe)),
            ..
        } => {
            let copy = pipe.try_clone()?;
            Ok(Some((*keeper, copy.into())))
        }
        _ => Ok(None),
    }
}

/// Tells the supervisor that process `pid` serves from now on (an upgrade
/// replaced this process, or gave the role back to it).
pub(crate) fn send_main(pid: u32) -> io::Result<()> {
    let mut guard = lock();
    match state(&mut guard) {
        State::Ours {
            store: Some((_, pipe)),
            ..
        } => pipe.write_all(&super::wire::Message::encode_main(pid)),
        _ => Ok(()),
    }
}

/// Whether process `pid` is this process's parent: it runs, started before
/// this one, and the system lists it as the parent.
pub(crate) fn parent_is(pid: u32) -> io::Result<bool> {
    Ok(sys::parent()?.is_some_and(|p| p.pid == pid && p.started_before_this))
}

/// Whether the variable is this process's: its parent set it.
pub(crate) fn is_ours() -> bool {
    matches!(
        state(&mut lock()),
        State::Ours { .. } | State::Unusable { .. }
    )
}

fn read() -> io::Result<State> {
    let Some(value) = std::env::var_os(RESTARTABLE_SOCKETS) else {
        return Ok(State::Nothing);
    };
    // Whose it is first: a value this process cannot read, or one for a
    // process another one started, is left alone (a program run from a
    // shell that kept a stale value, a child of the service).
    // A parent that cannot be looked up: nothing says the value is ours.
    let parent = sys::parent().ok().flatten();
    let named_parent = value.to_str().and_then(Vars::parent_of);
    let ours = match (named_parent, parent) {
        (Some(named), Some(parent)) => named == parent.pid && parent.started_before_this,
        _ => false,
    };
    if !ours {
        return Ok(State::NotOurs(format!(
            "{RESTARTABLE_SOCKETS}={value:?} passes sockets to a process that {} started, and \
             this one was started by {}; they were left alone",
            named_parent.map_or_else(|| "another process".to_owned(), |p| format!("process {p}")),
            parent.map_or_else(
                || "an unknown process".to_owned(),
                |p| format!("process {}", p.pid)
            )
        )));
    }
    let vars = Vars::parse(value.to_str().unwrap_or_default())?;
    // The store pipe is the keeper's: the parent's, or the supervisor's
    // in a process an upgrade started under one.
    let keeper = vars.keeper.unwrap_or(vars.parent);
    let store = match vars.store {
        Some(handle) => Some((
            keeper,
            File::from(claim(handle, RESTARTABLE_SOCKETS, "store", keeper)?),
        )),
        None => None,
    };
    let mut passed = Vec::new();
    if let Some(handle) = vars.take {
        let mut bytes = Vec::new();
        File::from(claim(handle, RESTARTABLE_SOCKETS, "take", vars.parent)?)
            .take(MAX_PASSED)
            .read_to_end(&mut bytes)
            .map_err(|error| named(error, "cannot read the sockets passed to this process"))?;
        let records = Record::decode_all(&bytes)
            .map_err(|error| named(error, "the sockets passed to this process"))?;
        for record in records {
            let socket = sys::socket_from_info(&record.info).map_err(|error| {
                named(
                    error,
                    &format!(
                        "the socket passed as {} cannot be made in this process",
                        describe(record.name.as_deref())
                    ),
                )
            })?;
            passed.push(Passed {
                name: record.name,
                socket: Some(socket),
            });
        }
    }
    Ok(State::Ours { passed, store })
}

/// `error` with what failed and the variable named; its kind kept.
fn named(error: io::Error, what: &str) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("{what} ({RESTARTABLE_SOCKETS}): {error}"),
    )
}

/// The inherited pipe handle `handle` (field `field` of `variable`),
/// owned, and no longer inheritable by what this process starts. It must
/// be a pipe that `parent` made, not taken before in this process
/// (`sys::claim_pipe`).
pub(crate) fn claim(
    handle: usize,
    variable: &str,
    field: &str,
    parent: u32,
) -> io::Result<std::os::windows::io::OwnedHandle> {
    let refused = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("environment variable {variable}: {field}={handle} {why}"),
        )
    };
    match sys::claim_pipe(handle, parent) {
        Ok(claimed) => claimed.map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("cannot claim the pipe {field}={handle} ({variable}): {error}"),
            )
        }),
        Err(sys::Unclaimed::NotAPipeOf) => Err(refused(&format!(
            "is not a pipe of this process that process {parent} made"
        ))),
        Err(sys::Unclaimed::Claimed) => Err(refused("was taken already in this process")),
    }
}

fn describe(name: Option<&str>) -> String {
    match name {
        Some(name) => format!("{name:?}"),
        None => "an unnamed socket".to_owned(),
    }
}

/// What a function with `inherit` asks of a passed socket.
pub(crate) struct WantedSocket {
    pub(crate) kind: SocketKind,
    /// Its address, when known: `inherit = true` selects the passed sockets
    /// on its port.
    pub(crate) addr: Option<SocketAddr>,
    /// Whether the function binds an address when nothing is taken.
    pub(crate) binds: bool,
    pub(crate) nonblocking: bool,
}

/// The passed socket `inherit` selects, of the wanted kind; `Ok(Err(note))`
/// when none is (the caller binds; the note says what was passed and not
/// taken); an error for a selected socket of another kind, or when the
/// function has nothing to bind.
pub(crate) fn take(
    inherit: Inherit<'_>,
    wanted: &WantedSocket,
) -> io::Result<Result<(Socket, Option<String>), Option<String>>> {
    let mut guard = lock();
    let passed = match state(&mut guard) {
        State::Nothing => return nothing(inherit, wanted, None),
        State::NotOurs(why) => {
            let why = why.clone();
            return nothing(inherit, wanted, Some(why));
        }
        State::Unusable { kind, message } => return Err(io::Error::new(*kind, message.clone())),
        State::Ours { passed, .. } => passed,
    };
    // By name: among several of the name, the one on the function's own
    // address first. By port: on the function's address (port 0: its host).
    let position = match inherit {
        Inherit::Named(name) => {
            let named = |slot: &Passed| slot.socket.is_some() && slot.name.as_deref() == Some(name);
            passed
                .iter()
                .position(|slot| named(slot) && wanted.addr.is_some_and(|a| on_address(a, slot)))
                .or_else(|| passed.iter().position(named))
        }
        // On the function's own address first; one on its port elsewhere
        // only to say what was passed instead.
        Inherit::Next => match wanted.addr {
            Some(addr) => passed
                .iter()
                .position(|slot| on_address(addr, slot))
                .or_else(|| {
                    passed.iter().position(|slot| {
                        addr.port() != 0 && local(slot).is_some_and(|l| l.port() == addr.port())
                    })
                }),
            None => passed.iter().position(|slot| slot.socket.is_some()),
        },
    };
    if let Some(slot) = position.map(|i| &mut passed[i]) {
        let Some(socket) = &slot.socket else {
            unreachable!("a selected slot holds a socket")
        };
        let found = socket.r#type()?;
        if found != wanted.kind.socket_type() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the socket passed as {} is a {}; expected a {}",
                    describe(slot.name.as_deref()),
                    kind_name(found),
                    kind_name(wanted.kind.socket_type())
                ),
            ));
        }
        if let (Inherit::Next, Some(addr), Some(local)) = (inherit, wanted.addr, local(slot)) {
            if !same_host(addr, local) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "the socket passed as {} is on {local}; expected one on {addr}",
                        describe(slot.name.as_deref())
                    ),
                ));
            }
        }
        socket.set_nonblocking(wanted.nonblocking)?;
        let Some(socket) = slot.socket.take() else {
            unreachable!("a selected slot holds a socket")
        };
        return Ok(Ok((socket, slot.name.clone())));
    }
    let left: Vec<String> = passed
        .iter()
        .filter(|slot| slot.socket.is_some())
        .map(|slot| describe(slot.name.as_deref()))
        .collect();
    let note = (!left.is_empty()).then(|| {
        format!(
            "a socket was passed to this process and not taken ({})",
            left.join(", ")
        )
    });
    nothing(inherit, wanted, note)
}

/// The local address of a passed socket still held.
fn local(slot: &Passed) -> Option<SocketAddr> {
    slot.socket
        .as_ref()
        .and_then(|socket| socket.local_addr().ok())
        .and_then(|addr| addr.as_socket())
}

/// Whether the passed socket in `slot` is on `wanted` (port 0: any port).
fn on_address(wanted: SocketAddr, slot: &Passed) -> bool {
    local(slot).is_some_and(|local| {
        (wanted.port() == 0 || wanted.port() == local.port()) && same_host(wanted, local)
    })
}

/// The same IP address, or both the wildcard of one family.
fn same_host(wanted: SocketAddr, local: SocketAddr) -> bool {
    wanted.ip() == local.ip()
}

fn nothing(
    inherit: Inherit<'_>,
    wanted: &WantedSocket,
    note: Option<String>,
) -> io::Result<Result<(Socket, Option<String>), Option<String>>> {
    if wanted.binds {
        return Ok(Err(note));
    }
    let which = match inherit {
        Inherit::Named(name) => format!("inherit = {name:?}"),
        Inherit::Next => "inherit = true".to_owned(),
    };
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "{which}: no passed socket fits ({}), and the function has no address to bind",
            note.as_deref()
                .unwrap_or("no socket was passed to this process")
        ),
    ))
}

fn kind_name(socket_type: socket2::Type) -> &'static str {
    if socket_type == socket2::Type::STREAM {
        "stream socket"
    } else if socket_type == socket2::Type::DGRAM {
        "datagram socket"
    } else {
        "socket of another type"
    }
}

/// Sends `socket` to the process that keeps this one's listeners, under
/// `name`, when there is one: described for it with `WSADuplicateSocketW`,
/// so that it holds the same socket and can pass it to this process's
/// successor. A socket the keeper passed (`taken`) is not sent again: a
/// record without a description says it was taken, and that this process
/// got as far as listening. Nothing to do without a keeper. A socket that
/// cannot be sent is logged, and the listener is used all the same: as
/// with systemd's fd store, the service runs on (a crash would then lose
/// that socket).
pub(crate) fn store(socket: &Socket, name: Option<&str>, taken: bool) {
    let mut guard = lock();
    let State::Ours {
        store: Some((keeper, pipe)),
        ..
    } = state(&mut guard)
    else {
        return;
    };
    let keeper = *keeper;
    let info = if taken {
        Ok(Vec::new())
    } else {
        sys::duplicate_for(socket, keeper)
    };
    let sent = info.and_then(|info| {
        let record = Record {
            name: name.map(str::to_owned),
            info,
        }
        .encode()?;
        pipe.write_all(&record)
    });
    match sent {
        Ok(()) if taken => {}
        Ok(()) => crate::event!(
            info,
            "passed {} to the supervisor (process {keeper})",
            describe(name)
        ),
        Err(error) => crate::event!(
            warn,
            "cannot pass the listener {} to the supervisor (process {keeper}): {error}; the \
             service runs on, and a crash would lose it",
            describe(name)
        ),
    }
}
