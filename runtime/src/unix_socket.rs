//! Unix-domain listeners (`path`, `abstract_name`): the same restart
//! guarantee as for ports. A crash leaves the socket's file behind, and the
//! next `bind` fails with "address in use" until the file is removed; here
//! the file is removed when, and only when, it is a socket that nothing is
//! bound to any more.
//!
//! Between instances, the check, the removal, the bind and the listen happen
//! while holding an advisory lock on `<path>.lock`, so that of two instances
//! started at the same moment one binds and the other finds it live. A
//! program that does not take the lock is not kept out; that is the limit.

use std::env;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, Socket};

use crate::attempts::{run, Handoff, Listening, Plan};
use crate::error::{bad_variable, Failure, Place};
use crate::spec::{Configure, Inherit};
use crate::SocketKind;

/// How long a bind waits for another instance to release `<path>.lock`.
/// The lock is held only from the check to the listen, a few system calls.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// A socket type that an annotated function with `path` or
/// `abstract_name`, and [`UnixBuilder::bind`](crate::UnixBuilder::bind), can
/// produce: the Unix-domain counterpart of [`Bindable`](crate::Bindable).
///
/// Implemented for [`std::os::unix::net::UnixListener`],
/// [`std::os::unix::net::UnixDatagram`] and [`socket2::Socket`] (as a
/// listening stream socket), with the `tokio` feature for
/// `tokio::net::UnixListener` and `tokio::net::UnixDatagram`, and with the
/// `async-io` feature for `async_io::Async<UnixListener>` and
/// `Async<UnixDatagram>`.
#[cfg_attr(
    restartable_diagnostic_namespace,
    diagnostic::on_unimplemented(
        message = "`{Self}` is not a Unix-domain socket type that restartable can create",
        label = "not a Unix-domain socket type",
        note = "with `path` or `abstract_name` the function returns \
                std::os::unix::net::UnixListener, std::os::unix::net::UnixDatagram, \
                restartable::socket2::Socket (a listening stream socket), \
                or a type that implements `restartable::BindableUnix`"
    )
)]
#[cfg_attr(
    all(restartable_diagnostic_namespace, feature = "tokio"),
    diagnostic::on_unimplemented(
        note = "with the `tokio` feature: tokio::net::UnixListener, tokio::net::UnixDatagram"
    )
)]
#[cfg_attr(
    all(restartable_diagnostic_namespace, feature = "async-io"),
    diagnostic::on_unimplemented(
        note = "with the `async-io` feature: async_io::Async<UnixListener>, \
                async_io::Async<UnixDatagram>"
    )
)]
#[cfg_attr(
    restartable_diagnostic_namespace,
    diagnostic::on_unimplemented(
        note = "a TCP or UDP socket takes `port`, `host` or `addr` instead"
    )
)]
pub trait BindableUnix: Sized {
    /// What kind of socket to create.
    const KIND: SocketKind;

    /// Checks, before any socket is made or taken, that `Self` can be made
    /// here: the tokio types need a tokio runtime. The default accepts.
    ///
    /// # Errors
    ///
    /// When `Self` cannot be made in this context; nothing has been bound
    /// or taken yet.
    fn check_context() -> io::Result<()> {
        Ok(())
    }

    /// Converts the bound (and, for [`SocketKind::Stream`], listening)
    /// socket.
    ///
    /// # Errors
    ///
    /// When the conversion itself fails; the std types never do.
    fn from_socket(socket: Socket) -> io::Result<Self>;
}

impl BindableUnix for UnixListener {
    const KIND: SocketKind = SocketKind::Stream;

    fn from_socket(socket: Socket) -> io::Result<Self> {
        Ok(socket.into())
    }
}

impl BindableUnix for UnixDatagram {
    const KIND: SocketKind = SocketKind::Datagram;

    fn from_socket(socket: Socket) -> io::Result<Self> {
        Ok(socket.into())
    }
}

impl BindableUnix for Socket {
    const KIND: SocketKind = SocketKind::Stream;

    fn from_socket(socket: Socket) -> io::Result<Self> {
        Ok(socket)
    }
}

/// Where a Unix-domain socket is bound, as the attribute writes it.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnixAddr<'a> {
    /// A path in the file system.
    Path(&'a Path),
    /// A name in the abstract namespace (Linux, Android), without the
    /// leading NUL.
    Abstract(&'a [u8]),
}

/// Everything about a Unix-domain listener. The attribute's expansion
/// builds one as a struct literal; [`UnixBuilder`] borrows its fields.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct UnixSpec<'a> {
    /// The path or abstract name; `None` when `path_env` alone gives it.
    pub addr: Option<UnixAddr<'a>>,
    /// An environment variable whose value, when it is set, replaces
    /// `addr`: a path, or `@` and an abstract name.
    pub path_env: Option<&'a str>,
    /// The permission bits of the socket's file.
    pub mode: Option<u32>,
    /// The length of the queue of connections not yet accepted (stream
    /// sockets only).
    pub backlog: Option<i32>,
    /// Whether the socket is in nonblocking mode.
    pub nonblocking: bool,
    /// Called after the options, before bind.
    pub configure: Option<Configure<'a>>,
    /// Take a socket passed by a supervisor instead of binding.
    pub inherit: Option<Inherit<'a>>,
    /// How long to keep trying while a live socket holds the path.
    pub retry: Option<Duration>,
}

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
    /// The path or abstract name to bind: from `path_env` when it is set,
    /// else `addr`; checked against the OS's limit.
    pub(crate) fn place(&self) -> io::Result<Place> {
        if let Some(name) = self.path_env {
            if let Some(value) = env::var_os(name) {
                return place_from_variable(name, &value);
            }
            if self.addr.is_none() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "environment variable {name} is not set and no fallback `path` was given"
                    ),
                ));
            }
        }
        match self.addr {
            Some(UnixAddr::Path(path)) => check_path(path)
                .map(|()| Place::Path(path.to_owned()))
                .map_err(|problem| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("cannot bind {}: {problem}", path.display()),
                    )
                }),
            Some(UnixAddr::Abstract(name)) => {
                let place = Place::Abstract(name.to_owned());
                check_abstract(name)
                    .map(|()| place)
                    .map_err(|(kind, problem)| {
                        io::Error::new(
                            kind,
                            format!(
                                "cannot bind {}: {problem}",
                                Place::Abstract(name.to_owned())
                            ),
                        )
                    })
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no path was given",
            )),
        }
    }

    fn checked_place(&self) -> io::Result<Place> {
        let place = self.place()?;
        if let Some(backlog) = self.backlog.filter(|&backlog| backlog < 1) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot listen on {place}: backlog must be at least 1, got {backlog}"),
            ));
        }
        if self.mode.map_or(false, |mode| mode > 0o777) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot bind {place}: mode {:#o} is not a set of permission bits (0 to 0o777)",
                    self.mode.unwrap_or_default()
                ),
            ));
        }
        if let (Place::Abstract(_), Some(_)) = (&place, self.mode) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot bind {place}: an abstract name has no file, so no mode"),
            ));
        }
        Ok(place)
    }

    /// One attempt on a path: under the lock, bind; when the path is taken,
    /// find out by what, remove a stale socket file, and bind again.
    fn bind_path(&self, path: &Path, kind: SocketKind) -> io::Result<Socket> {
        let place = Place::Path(path.to_owned());
        let _lock = Lock::acquire(path)?;
        let in_use = match self.bind_once(&place, kind) {
            Err(error) if error.kind() == io::ErrorKind::AddrInUse => error,
            done => return done,
        };
        match inspect(path, kind)? {
            Found::Live => return Err(in_use),
            Found::Gone => {}
            Found::Stale(file) => remove_stale(path, &file)?,
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
        self.bind_once(&place, kind)
    }

    /// Create, set the options, bind, set the mode, listen. A file this
    /// made is removed again when a later step fails.
    fn bind_once(&self, place: &Place, kind: SocketKind) -> io::Result<Socket> {
        let fail =
            |action: &'static str, error: io::Error| Failure::wrap(action, place.clone(), error);
        let socket = Socket::new(Domain::UNIX, kind.socket_type(), None)
            .map_err(|e| fail("create a socket for", e))?;
        if let Some(mode) = self.mode {
            narrow_mode_before_bind(&socket, mode).map_err(|e| fail("set the mode of", e))?;
        }
        if self.nonblocking {
            socket
                .set_nonblocking(true)
                .map_err(|e| fail("make nonblocking the socket for", e))?;
        }
        if let Some(configure) = self.configure {
            configure(&socket).map_err(|e| fail("configure the socket for", e))?;
        }
        socket
            .bind(&sock_addr(place)?)
            .map_err(|error| Failure::wrap_bind(place.clone(), kind, error))?;
        let made = match place {
            Place::Path(path) => Some(path),
            _ => None,
        };
        let finish = || -> io::Result<()> {
            if let (Some(path), Some(mode)) = (made, self.mode) {
                fs::set_permissions(path, fs::Permissions::from_mode(mode))
                    .map_err(|e| fail("set the mode of", e))?;
            }
            if kind == SocketKind::Stream {
                socket
                    .listen(self.backlog.unwrap_or(crate::DEFAULT_BACKLOG))
                    .map_err(|e| fail("listen on", e))?;
            }
            Ok(())
        };
        if let Err(error) = finish() {
            if let Some(path) = made {
                let _ = fs::remove_file(path);
            }
            return Err(error);
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
                let wanted = crate::handoff::Wanted {
                    kind,
                    place: crate::handoff::WantedPlace::Unix(&place),
                    backlog: self.backlog,
                    binds: true,
                    nonblocking: self.nonblocking,
                };
                crate::handoff::take(inherit, &wanted)
            }
            None => Ok(Handoff::NotTaken(None)),
        }
    }

    fn bind(&self, kind: SocketKind) -> io::Result<Socket> {
        match self.checked_place()? {
            Place::Path(path) => self.bind_path(&path, kind),
            // No file, so nothing stale: a name in use is held by a live
            // socket.
            place => self.bind_once(&place, kind),
        }
    }
}

/// The address of `place` for bind and connect.
fn sock_addr(place: &Place) -> io::Result<SockAddr> {
    match place {
        Place::Path(path) => SockAddr::unix(path),
        Place::Abstract(name) => {
            let mut bytes = Vec::with_capacity(name.len() + 1);
            bytes.push(0);
            bytes.extend_from_slice(name);
            SockAddr::unix(OsStr::from_bytes(&bytes))
        }
        Place::Ip(addr) => Ok((*addr).into()),
    }
}

/// The size of `sun_path`: 108 bytes on Linux, Android and illumos, 104 on
/// macOS, iOS and the BSDs. A path takes one byte less, for its NUL.
pub(crate) fn sun_path_len() -> usize {
    #[allow(unsafe_code)]
    // SAFETY: `sockaddr_un` is a plain C struct of integers and bytes, for
    // which all zeros is a valid value.
    let addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_path.len()
}

/// Whether `path` can be a socket's path here.
pub(crate) fn check_path(path: &Path) -> Result<(), String> {
    let bytes = path.as_os_str().as_bytes();
    let max = sun_path_len() - 1;
    if bytes.is_empty() {
        Err("the path is empty".to_owned())
    } else if bytes.contains(&0) {
        Err("the path contains a NUL byte".to_owned())
    } else if bytes.len() > max {
        Err(format!(
            "the path is {} bytes long, and a Unix-domain socket's path is at most {max} bytes \
             on this OS (sun_path holds {} with the terminating NUL); use a shorter path, or a \
             relative one",
            bytes.len(),
            max + 1
        ))
    } else {
        Ok(())
    }
}

/// Whether `name` can be an abstract name here.
pub(crate) fn check_abstract(name: &[u8]) -> Result<(), (io::ErrorKind, String)> {
    if !cfg!(any(target_os = "linux", target_os = "android")) {
        return Err((
            io::ErrorKind::Unsupported,
            "abstract names exist on Linux and Android only; use a path".to_owned(),
        ));
    }
    let max = sun_path_len() - 1;
    if name.len() > max {
        return Err((
            io::ErrorKind::InvalidInput,
            format!(
                "the abstract name is {} bytes long, over the {max} that sun_path holds after \
                 its leading NUL",
                name.len()
            ),
        ));
    }
    Ok(())
}

/// `APP_SOCKET=/run/app.sock` or `APP_SOCKET=@app`.
pub(crate) fn place_from_variable(name: &str, value: &OsString) -> io::Result<Place> {
    let bytes = value.as_bytes();
    if let Some(abstract_name) = bytes.strip_prefix(b"@") {
        return check_abstract(abstract_name)
            .map(|()| Place::Abstract(abstract_name.to_owned()))
            .map_err(|(kind, problem)| {
                let error = bad_variable(name, value, &format!("cannot be used: {problem}"));
                io::Error::new(kind, error.to_string())
            });
    }
    check_path(Path::new(value))
        .map(|()| Place::Path(PathBuf::from(value)))
        .map_err(|problem| bad_variable(name, value, &format!("is not a socket path: {problem}")))
}

/// On Linux and Android the file `bind` creates takes the socket inode's
/// mode, less the umask (`unix_bind_bsd` in `net/unix/af_unix.c`), and
/// `fchmod` on a socket that is not bound sets that mode: so the file never
/// exists with more permissions than asked, even for a moment. The `chmod`
/// after bind then restores any bits the umask took away.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn narrow_mode_before_bind(socket: &Socket, mode: u32) -> io::Result<()> {
    #[allow(unsafe_code)]
    // SAFETY: fchmod on a descriptor this function borrows; no memory is
    // passed.
    let result = unsafe { libc::fchmod(socket.as_raw_fd(), mode as libc::mode_t) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Elsewhere `fchmod` on a socket fails (macOS, the BSDs: EINVAL) and the
/// file is created with the umask's mode, then set by `chmod` before
/// `listen`: a stream socket cannot be connected to before it listens, so
/// it is not reachable with wider permissions; a datagram socket can be sent
/// to between the two calls (on paper: not run here).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn narrow_mode_before_bind(_socket: &Socket, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// What holds a path that `bind` found in use.
enum Found {
    /// A socket that something is bound to.
    Live,
    /// A socket file that nothing is bound to: left by a process that died.
    Stale(fs::Metadata),
    /// Nothing any more.
    Gone,
    /// Something that is not a socket: never touched.
    NotASocket(String),
}

/// Looks at the path without following a link; for a socket, connects to
/// it. Only "connection refused" proves that nothing is bound there.
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
                "look at what holds",
                Place::Path(path.to_owned()),
                error,
            ))
        }
    };
    let file_type = file.file_type();
    if !file_type.is_socket() {
        let what = if file_type.is_symlink() {
            match fs::read_link(path) {
                Ok(target) => format!(
                    "a symbolic link (to {}), which is neither followed nor removed",
                    target.display()
                ),
                Err(_) => "a symbolic link, which is neither followed nor removed".to_owned(),
            }
        } else if file_type.is_dir() {
            "a directory".to_owned()
        } else if file_type.is_file() {
            "a regular file".to_owned()
        } else if file_type.is_fifo() {
            "a FIFO".to_owned()
        } else {
            "a device file".to_owned()
        };
        return Ok(Found::NotASocket(what));
    }
    let probe = Socket::new(Domain::UNIX, kind.socket_type(), None)
        .and_then(|probe| probe.set_nonblocking(true).map(|()| probe))
        .map_err(|e| Failure::wrap("probe", Place::Path(path.to_owned()), e))?;
    match probe.connect(&SockAddr::unix(path)?) {
        Ok(()) => Ok(Found::Live),
        Err(error) => match error.raw_os_error() {
            Some(libc::ECONNREFUSED) => Ok(Found::Stale(file)),
            // Listening with a full queue, or of the other socket type.
            Some(libc::EAGAIN | libc::EINPROGRESS | libc::EPROTOTYPE) => Ok(Found::Live),
            Some(libc::ENOENT) => Ok(Found::Gone),
            _ => Err(Failure::wrap(
                "find out whether a socket is bound to",
                Place::Path(path.to_owned()),
                error,
            )),
        },
    }
}

/// Removes the stale socket file, if it is still the file that was probed.
fn remove_stale(path: &Path, probed: &fs::Metadata) -> io::Result<()> {
    let same = fs::symlink_metadata(path).map_or(false, |now| {
        now.dev() == probed.dev() && now.ino() == probed.ino()
    });
    if !same {
        return Ok(());
    }
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(Failure::wrap(
            "remove the stale socket file",
            Place::Path(path.to_owned()),
            error,
        )),
        _ => Ok(()),
    }
}

/// An exclusive advisory lock on `<path>.lock`, released when dropped. The
/// lock file stays: removing it would let two instances lock two files.
struct Lock {
    _file: File,
}

impl Lock {
    fn acquire(path: &Path) -> io::Result<Lock> {
        let mut name = path.as_os_str().to_owned();
        name.push(".lock");
        let lock_path = PathBuf::from(name);
        let fail = |action: &str, error: io::Error| {
            io::Error::new(
                error.kind(),
                format!(
                    "cannot bind {}: cannot {action} the lock file {}: {error}",
                    path.display(),
                    lock_path.display()
                ),
            )
        };
        let mut options = OpenOptions::new();
        options
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .mode(0o644);
        // Another user's lock file can be locked through a read-only open.
        let file = options
            .clone()
            .write(true)
            .create(true)
            .open(&lock_path)
            .or_else(|error| match error.kind() {
                io::ErrorKind::PermissionDenied => options.open(&lock_path),
                _ => Err(error),
            })
            .map_err(|e| fail("open", e))?;
        let deadline = Instant::now() + LOCK_WAIT;
        let mut pause = Duration::from_millis(1);
        loop {
            match try_lock(&file) {
                Ok(true) => return Ok(Lock { _file: file }),
                Ok(false) if Instant::now() < deadline => {
                    thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Ok(false) => {
                    return Err(fail(
                        "lock",
                        io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("another process has held it for {} s", LOCK_WAIT.as_secs()),
                        ),
                    ))
                }
                Err(error) => return Err(fail("lock", error)),
            }
        }
    }
}

/// `flock(LOCK_EX | LOCK_NB)`: `Ok(false)` when another holds it. flock
/// locks belong to the open file, so two binds in one process exclude each
/// other too.
#[cfg(not(target_os = "solaris"))]
fn try_lock(file: &File) -> io::Result<bool> {
    #[allow(unsafe_code)]
    // SAFETY: flock on a descriptor that `file` owns; no memory is passed.
    let result = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if result == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        Some(libc::EINTR) => try_lock(file),
        _ => Err(error),
    }
}

/// Solaris has no flock: a POSIX record lock on the whole file, which
/// belongs to the process (two binds in one process do not exclude each
/// other there; on paper, not run here).
#[cfg(target_os = "solaris")]
fn try_lock(file: &File) -> io::Result<bool> {
    #[allow(unsafe_code)]
    // SAFETY: all zeros is a valid `flock` struct; fcntl reads it.
    let result = unsafe {
        let mut lock: libc::flock = std::mem::zeroed();
        lock.l_type = libc::F_WRLCK as libc::c_short;
        lock.l_whence = libc::SEEK_SET as libc::c_short;
        libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock)
    };
    if result == 0 {
        return Ok(true);
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EAGAIN | libc::EACCES) => Ok(false),
        _ => Err(error),
    }
}
