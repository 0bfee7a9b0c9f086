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
    let value = value.into_string().map_err(|value| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("environment variable {RESTARTABLE_SOCKETS} is {value:?}, not Unicode"),
        )
    })?;
    let vars = Vars::parse(&value)?;
    let parent = sys::parent_pid()?;
    if parent != Some(vars.parent) {
        return Ok(State::NotOurs(format!(
            "{RESTARTABLE_SOCKETS} passes sockets to a process that process {} started, and this \
             one was started by {}; they were left alone",
            vars.parent,
            parent.map_or_else(
                || "an unknown process".to_owned(),
                |p| format!("process {p}")
            )
        )));
    }
    let store = match vars.store {
        Some(handle) => Some((vars.parent, File::from(claim(handle, "store")?))),
        None => None,
    };
    let mut passed = Vec::new();
    if let Some(handle) = vars.take {
        let mut bytes = Vec::new();
        File::from(claim(handle, "take")?)
            .take(MAX_PASSED)
            .read_to_end(&mut bytes)
            .map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!("cannot read the sockets passed to this process ({RESTARTABLE_SOCKETS}): {error}"),
                )
            })?;
        for record in Record::decode_all(&bytes)? {
            let socket = sys::socket_from_info(&record.info).map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!(
                        "the socket passed as {} cannot be made in this process: {error}",
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

/// The inherited pipe handle `handle` (field `field` of the variable),
/// owned, and no longer inheritable by what this process starts.
fn claim(handle: usize, field: &str) -> io::Result<std::os::windows::io::OwnedHandle> {
    if !sys::is_pipe(handle) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("environment variable {RESTARTABLE_SOCKETS}: {field}={handle} is not a pipe of this process"),
        ));
    }
    #[allow(unsafe_code)]
    // SAFETY: the variable is this process's (its parent, which set it, is
    // the process that started this one), so `handle` is the pipe handle
    // the parent made inheritable for this process alone; the state is
    // read once per process, so this is the one adoption of it.
    let owned = unsafe { sys::adopt_handle(handle) };
    use std::os::windows::io::AsHandle;
    sys::set_inheritable(owned.as_handle(), false)?;
    Ok(owned)
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
    for slot in passed.iter_mut() {
        let Some(socket) = &slot.socket else { continue };
        let selected = match inherit {
            Inherit::Named(name) => slot.name.as_deref() == Some(name),
            Inherit::Next => match (
                wanted.addr,
                socket.local_addr().ok().and_then(|a| a.as_socket()),
            ) {
                (Some(addr), Some(local)) => addr.port() == 0 || addr.port() == local.port(),
                (None, _) => true,
                (Some(_), None) => false,
            },
        };
        if !selected {
            continue;
        }
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
        socket.set_nonblocking(wanted.nonblocking)?;
        let socket = slot.socket.take().expect("the slot holds a socket");
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
/// successor. Nothing to do without a keeper.
pub(crate) fn store(socket: &Socket, name: Option<&str>) -> io::Result<()> {
    let mut guard = lock();
    let State::Ours {
        store: Some((keeper, pipe)),
        ..
    } = state(&mut guard)
    else {
        return Ok(());
    };
    let keeper = *keeper;
    let fail = |error: io::Error| {
        io::Error::new(
            error.kind(),
            format!(
                "cannot pass the listener {} to the supervisor (process {keeper}): {error}",
                describe(name)
            ),
        )
    };
    let info = sys::duplicate_for(socket, keeper).map_err(fail)?;
    let record = Record {
        name: name.map(str::to_owned),
        info,
    }
    .encode()
    .map_err(fail)?;
    pipe.write_all(&record).map_err(fail)?;
    crate::event!(
        info,
        "passed {} to the supervisor (process {keeper})",
        describe(name)
    );
    Ok(())
}
