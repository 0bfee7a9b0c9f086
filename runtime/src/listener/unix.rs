//! Unix-domain listeners (`path`, `abstract_name`): the same restart
//! guarantee as for ports. A crash leaves the socket's file behind, and the
//! next `bind` fails with "address in use" until the file is removed; here
//! the file is removed when, and only when, it is a socket that nothing is
//! bound to any more, of this process's user or root.
//!
//! An advisory lock on `<path>.lock`, taken before the first bind and held
//! for the life of the process (`lock`), keeps other restartable instances
//! away from a live one's file: of two started at the same moment one binds
//! and the other is refused, and none removes the file of a live one. A
//! program that does not take the lock is not kept out by it; for those the
//! connect probe decides. The mode is set on the file without following a
//! symbolic link (`socket_file`).

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket};

use crate::addr::ListenAddr;
use crate::convert::BindableUnix;
use crate::convert::SocketKind;
use crate::error::Failure;
use crate::listener::attempts::{run, Handoff, Listening, Plan};
use crate::spec::UnixSpec;
use crate::step::Step;
use crate::sys::unix_socket::{effective_uid, narrow_mode_before_bind};

use self::socket_file::{
    bound_file, owned_by_this_user_or_root, remove_if_same, set_mode, what_is_there, FileId, MadeBy,
};

pub(crate) mod lock;
mod socket_file;

/// The socket `spec` describes: a passed one when `inherit` asks for it and
/// one was passed; else created and bound, a stale socket file at the path
/// removed first, and, for a stream socket, listening.
#[doc(hidden)]
pub fn listen_unix<T: BindableUnix>(spec: &UnixSpec<'_>) -> io::Result<T> {
    run(spec, T::KIND, T::check_context).and_then(T::from_socket)
}

/// [`listen_unix`] for an `async fn`: the pauses of `retry` are awaited.
#[doc(hidden)]
pub fn listen_unix_async<'s, 'a, T: BindableUnix>(
    spec: &'s UnixSpec<'a>,
) -> Listening<&'s UnixSpec<'a>, T> {
    Listening::new(spec, T::KIND, T::check_context, T::from_socket)
}

impl UnixSpec<'_> {
    /// One attempt to bind; `after_bind` runs right after `bind` made the
    /// file (the tests' hook; `Plan::bind` passes an empty closure).
    fn bind_with(&self, kind: SocketKind, after_bind: &impl Fn(&Path)) -> io::Result<Socket> {
        match self.checked_place()? {
            ListenAddr::Path(path) => self.bind_path(&path, kind, after_bind),
            // No file, so nothing stale: a name in use is held by a live
            // socket.
            place => self.bind_once(&place, kind, after_bind),
        }
    }

    /// One attempt on a path: with the lock held (another restartable
    /// process holding it means the path is live), bind; when the path is
    /// taken, find out by what, remove a stale socket file, and bind again.
    fn bind_path(
        &self,
        path: &Path,
        kind: SocketKind,
        after_bind: &impl Fn(&Path),
    ) -> io::Result<Socket> {
        let place = ListenAddr::Path(path.to_owned());
        let _turn = lock::take(path, kind)?;
        let in_use = match self.bind_once(&place, kind, after_bind) {
            Err(error) if error.kind() == io::ErrorKind::AddrInUse => error,
            done => return done,
        };
        match inspect(path, kind)? {
            Found::Live => return Err(in_use),
            Found::Gone => {}
            Found::Stale { owner, .. } if !owned_by_this_user_or_root(owner) => {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "cannot bind {}: the socket file there belongs to uid {owner}, not to \
                         this process's user (uid {}) or root; nothing is bound to it, but \
                         another user's file is not removed: remove it if it is not needed, and \
                         keep the socket in a directory only this service's user can write (such \
                         as /run/NAME, from RuntimeDirectory= under systemd)",
                        path.display(),
                        effective_uid()
                    ),
                ))
            }
            Found::Stale { file, .. } => {
                remove_if_same(path, file)
                    .map_err(|error| Failure::wrap(Step::RemoveStaleFile, place.clone(), error))?;
                crate::event!(
                    info,
                    "removed the stale socket file {} (nothing was bound to it)",
                    path.display()
                );
            }
            Found::NotASocket(what) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "cannot bind {}: {what} is at this path, not a socket; it was left alone",
                        path.display()
                    ),
                ))
            }
        }
        self.bind_once(&place, kind, after_bind)
    }

    /// Create, set the options, bind, set the mode, listen. The file this
    /// made is removed again when a later step fails, and only that file.
    fn bind_once(
        &self,
        place: &ListenAddr,
        kind: SocketKind,
        after_bind: &impl Fn(&Path),
    ) -> io::Result<Socket> {
        let fail = |step: Step, error: io::Error| Failure::wrap(step, place.clone(), error);
        let socket = Socket::new(Domain::UNIX, kind.socket_type(), None)
            .map_err(|e| fail(Step::CreateSocket, e))?;
        if let Some(mode) = self.mode {
            narrow_mode_before_bind(&socket, mode).map_err(|e| fail(Step::SetMode, e))?;
        }
        if self.nonblocking {
            socket
                .set_nonblocking(true)
                .map_err(|e| fail(Step::MakeNonblocking, e))?;
        }
        if let Some(configure) = self.configure {
            configure(&socket).map_err(|e| fail(Step::Configure, e))?;
        }
        socket
            .bind(&sock_addr(place)?)
            .map_err(|error| Failure::wrap_bind(place.clone(), kind, error))?;
        let made_at = match place {
            ListenAddr::Path(path) => Some(path),
            _ => None,
        };
        if let Some(path) = made_at {
            after_bind(path);
        }
        let file = match (made_at, self.mode) {
            (Some(path), Some(mode)) => match set_mode(path, mode, MadeBy::ThisBind) {
                Ok(file) => Some(file),
                Err(not_set) => {
                    remove_made(made_at, not_set.ours);
                    return Err(not_set.error);
                }
            },
            (Some(path), None) => bound_file(path),
            _ => None,
        };
        if kind == SocketKind::Stream {
            if let Err(error) = socket.listen(self.backlog.unwrap_or(crate::spec::DEFAULT_BACKLOG))
            {
                remove_made(made_at, file);
                return Err(fail(Step::Listen, error));
            }
        }
        Ok(socket)
    }
}

impl Plan for UnixSpec<'_> {
    fn retry(&self) -> Option<Duration> {
        self.retry
    }

    fn inherited(&self, kind: SocketKind) -> io::Result<Handoff> {
        match self.inherit {
            Some(inherit) => {
                let place = self.checked_place()?;
                let set_mode = |socket: &Socket| match self.mode {
                    Some(mode) => set_passed_mode(socket, mode),
                    None => Ok(()),
                };
                let wanted = crate::handoff::Wanted {
                    kind,
                    place: crate::handoff::WantedPlace::Unix(&place),
                    backlog: self.backlog,
                    binds: true,
                    nonblocking: self.nonblocking,
                    finish: Some(&set_mode),
                };
                crate::handoff::take(inherit, &wanted).map(Handoff::from)
            }
            None => Ok(Handoff::NotTaken(None)),
        }
    }

    fn bind(&self, kind: SocketKind) -> io::Result<Socket> {
        self.bind_with(kind, &|_| {})
    }

    fn inherit(&self) -> Option<crate::spec::Inherit<'_>> {
        self.inherit
    }
}

/// The address of `place` for bind and connect.
fn sock_addr(place: &ListenAddr) -> io::Result<SockAddr> {
    match place {
        ListenAddr::Path(path) => SockAddr::unix(path),
        ListenAddr::Abstract(name) => {
            let mut bytes = Vec::with_capacity(name.len() + 1);
            bytes.push(0);
            bytes.extend_from_slice(name);
            SockAddr::unix(OsStr::from_bytes(&bytes))
        }
        ListenAddr::Ip(addr) => Ok((*addr).into()),
    }
}

/// Removes the socket file a failed bind made, if it is still that file.
fn remove_made(made_at: Option<&PathBuf>, file: Option<FileId>) {
    if let (Some(path), Some(file)) = (made_at, file) {
        let _ = remove_if_same(path, file);
    }
}

/// `mode` on a passed socket's file, as on a bound one's: the file the
/// socket is bound to (its `getsockname`), without following a link.
fn set_passed_mode(socket: &Socket, mode: u32) -> io::Result<()> {
    let local = socket.local_addr().map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot set the mode of the passed Unix-domain socket: {error}"),
        )
    })?;
    match local.as_pathname() {
        Some(path) => set_mode(path, mode, MadeBy::Supervisor)
            .map(drop)
            .map_err(|not_set| not_set.error),
        // Not on a path: `mode` with an abstract name was refused before.
        None => Ok(()),
    }
}

/// What holds a path that `bind` found in use.
enum Found {
    /// A socket that something is bound to.
    Live,
    /// A socket file that nothing is bound to: left by a process that died.
    /// Removed only when it is this process's user's or root's: another
    /// user's program may still need it, or have put it there to have it
    /// removed, and a root service would remove whatever it is told to.
    Stale { file: FileId, owner: u32 },
    /// Nothing any more.
    Gone,
    /// Something that is not a socket: never touched.
    NotASocket(String),
}

/// Looks at the path without following a link; for a socket, connects to
/// it. "Connection refused" means nothing is bound there, for a program
/// that does not take the lock: the caller holds the lock, so no live
/// restartable instance has the path (macOS and the BSDs also refuse when a
/// live listener's queue is full: see `lock`).
///
/// The probe is a real connect: a live stream listener accepts one
/// connection that closes at once without data. A datagram socket gets no
/// datagram.
fn inspect(path: &Path, kind: SocketKind) -> io::Result<Found> {
    let file = match fs::symlink_metadata(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Found::Gone),
        Err(error) => {
            return Err(Failure::wrap(
                Step::LookAtWhatHolds,
                ListenAddr::Path(path.to_owned()),
                error,
            ))
        }
    };
    let file_type = file.file_type();
    if !file_type.is_socket() {
        let mut what = what_is_there(path, file_type);
        if file_type.is_symlink() {
            what.push_str(", which is neither followed nor removed");
        }
        return Ok(Found::NotASocket(what));
    }
    let probe = Socket::new(Domain::UNIX, kind.socket_type(), None)
        .and_then(|probe| probe.set_nonblocking(true).map(|()| probe))
        .map_err(|e| Failure::wrap(Step::Probe, ListenAddr::Path(path.to_owned()), e))?;
    match probe.connect(&SockAddr::unix(path)?) {
        Ok(()) => Ok(Found::Live),
        Err(error) => match error.raw_os_error() {
            Some(libc::ECONNREFUSED) => Ok(Found::Stale {
                file: FileId::of(&file),
                owner: file.uid(),
            }),
            // Listening with a full queue, or of the other socket type.
            Some(libc::EAGAIN | libc::EINPROGRESS | libc::EPROTOTYPE) => Ok(Found::Live),
            Some(libc::ENOENT) => Ok(Found::Gone),
            _ => Err(Failure::wrap(
                Step::FindOutWhetherBound,
                ListenAddr::Path(path.to_owned()),
                error,
            )),
        },
    }
}

#[cfg(test)]
mod tests;
