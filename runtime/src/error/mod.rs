//! The errors a listener can fail with: an `io::Error` that keeps the kind
//! of its cause, names the address, and keeps the OS error as its source.

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) mod holder;

use std::error::Error;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::addr::ListenAddr;
use crate::convert::SocketKind;
use crate::step::Step;

/// The OS error code behind an error from this crate (or any `io::Error`):
/// errno on unix, the WSA error on Windows, e.g. 98 (EADDRINUSE on Linux)
/// or 10048 (WSAEADDRINUSE).
///
/// The errors of this crate carry a message that names the address, so
/// their own [`io::Error::raw_os_error`] is `None`; the OS error they wrap
/// is their [`source`](std::error::Error::source), and this function finds
/// it.
///
/// ```no_run
/// # use restartable::restartable_listener;
/// #[restartable_listener(host = "127.0.0.1", port = 8080)]
/// fn listener() -> std::io::Result<std::net::TcpListener> {}
///
/// if let Err(error) = listener() {
///     eprintln!("{error}"); // cannot bind 127.0.0.1:8080: address in use: …
///     if restartable::os_error(&error) == Some(98) {
///         // EADDRINUSE on Linux
///     }
/// }
/// ```
#[must_use]
pub fn os_error(error: &io::Error) -> Option<i32> {
    if let Some(code) = error.raw_os_error() {
        return Some(code);
    }
    let mut cause: Option<&(dyn Error + 'static)> = match error.get_ref() {
        Some(inner) => Some(inner),
        None => None,
    };
    while let Some(error) = cause {
        if let Some(code) = error
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
        {
            return Some(code);
        }
        cause = error.source();
    }
    None
}

/// What went wrong, on which address; the `io::Error` around it keeps the
/// original kind, and the original error is its source.
pub(crate) struct Failure {
    step: Step,
    place: ListenAddr,
    error: io::Error,
    /// The kind of the `io::Error` around it: the OS error's own, or
    /// `AddrInUse` for an error that means it there (Windows' WSAEACCES).
    kind: io::ErrorKind,
    /// For a failed bind: the kind of socket, so that the holder of the
    /// port can be looked up once the last attempt has failed.
    bound_kind: Option<SocketKind>,
    /// For a failed bind of an IPv6 address: the socket's IPV6_V6ONLY,
    /// which decides whether IPv4 sockets conflict with it.
    only_v6: Option<bool>,
    /// Who holds the port (Linux), found once, when the final error is made.
    holder: Option<String>,
    /// A socket passed to this process and not taken (`inherit`).
    handoff: Option<String>,
    /// After `retry`: how long it tried and how many attempts it made.
    tried: Option<(Duration, u32)>,
    /// Why `retry` stopped before its deadline.
    retry_stopped: Option<io::Error>,
}

impl Failure {
    /// The error of `step` on `place`, e.g. `Step::SetOnlyV6`.
    pub(crate) fn wrap(step: Step, place: impl Into<ListenAddr>, error: io::Error) -> io::Error {
        let kind = error.kind();
        Failure::into_io_error(step, place.into(), error, kind, None)
    }

    /// The error of a bind: when it is "address in use",
    /// [`Unfinished::finish`] adds who holds the port. (The IP listener
    /// calls `wrap_ip_bind`; the Unix-domain one and the tests this.)
    #[cfg(any(unix, test))]
    pub(crate) fn wrap_bind(
        place: impl Into<ListenAddr>,
        kind: SocketKind,
        error: io::Error,
    ) -> io::Error {
        let error_kind = error.kind();
        Failure::wrap_bind_as(place, kind, error_kind, error)
    }

    /// [`Failure::wrap_bind`], with the kind the error gets: `AddrInUse`
    /// for an OS error that means "in use" on this OS although std maps it
    /// to another kind (Windows: `sys::bind_error_kind`). The OS error stays
    /// the source, so that [`os_error`] still gives its code.
    pub(crate) fn wrap_bind_as(
        place: impl Into<ListenAddr>,
        kind: SocketKind,
        error_kind: io::ErrorKind,
        error: io::Error,
    ) -> io::Error {
        Failure::into_io_error(Step::Bind, place.into(), error, error_kind, Some(kind))
    }

    /// The error of an IP bind, of the kind `error_kind` (see
    /// [`Failure::wrap_bind_as`]), with the IPV6_V6ONLY the socket had (for
    /// an IPv6 address), which decides which sockets can hold the port.
    pub(crate) fn wrap_ip_bind(
        addr: SocketAddr,
        kind: SocketKind,
        error_kind: io::ErrorKind,
        only_v6: Option<bool>,
        error: io::Error,
    ) -> io::Error {
        let mut error = Failure::wrap_bind_as(addr, kind, error_kind, error);
        if let Some(failure) = error.get_mut().and_then(|e| e.downcast_mut::<Failure>()) {
            failure.only_v6 = only_v6;
        }
        error
    }

    fn into_io_error(
        step: Step,
        place: ListenAddr,
        error: io::Error,
        kind: io::ErrorKind,
        bound_kind: Option<SocketKind>,
    ) -> io::Error {
        io::Error::new(
            kind,
            Failure {
                step,
                place,
                error,
                kind,
                bound_kind,
                only_v6: None,
                holder: None,
                handoff: None,
                tried: None,
                retry_stopped: None,
            },
        )
    }
}

/// The last error of a listener's attempts, before who holds the port is
/// known: [`Unfinished::finish`] looks the holder up on the calling thread;
/// an async listener looks it up elsewhere ([`Unfinished::holder_lookup`])
/// and finishes the error with the answer.
pub(crate) struct Unfinished {
    error: io::Error,
    tried: Option<(Duration, u32)>,
    handoff: Option<String>,
    retry_stopped: Option<io::Error>,
}

impl Unfinished {
    /// `error`, after `retry` tried for this long and this many times, with
    /// the passed sockets that were not taken.
    pub(crate) fn new(
        error: io::Error,
        tried: Option<(Duration, u32)>,
        handoff: Option<String>,
    ) -> Unfinished {
        Unfinished {
            error,
            tried,
            handoff,
            retry_stopped: None,
        }
    }

    /// The retry ended before its deadline: no thread could be started to
    /// wait for its pauses (`why` is that error).
    pub(crate) fn retry_stopped(mut self, why: io::Error) -> Unfinished {
        self.retry_stopped = Some(why);
        self
    }

    /// The lookup of who holds the port, when the error is "address in use"
    /// from a bind and the OS can tell; `None` when there is nothing to look
    /// up.
    pub(crate) fn holder_lookup(&self) -> Option<HolderLookup> {
        if !HOLDER_KNOWABLE || self.error.kind() != io::ErrorKind::AddrInUse {
            return None;
        }
        let failure = self.error.get_ref()?.downcast_ref::<Failure>()?;
        Some(HolderLookup {
            place: failure.place.clone(),
            kind: failure.bound_kind?,
            only_v6: failure.only_v6,
        })
    }

    /// The error, with who holds the port looked up here, on this thread
    /// (which it may block for up to about 100 ms).
    pub(crate) fn finish(self) -> io::Error {
        let holder = self.holder_lookup().and_then(HolderLookup::run);
        self.finish_with(holder)
    }

    /// The error a listener finally returns: for "address in use", who holds
    /// the port (found once, before this: formatting the error does no
    /// work), the passed socket that was not taken, and how long `retry`
    /// tried.
    pub(crate) fn finish_with(self, holder: Option<String>) -> io::Error {
        let mut error = self.error;
        if error.kind() != io::ErrorKind::AddrInUse {
            return error;
        }
        if let Some(failure) = error
            .get_mut()
            .and_then(|inner| inner.downcast_mut::<Failure>())
        {
            failure.holder = holder;
            failure.tried = self.tried;
            failure.handoff = self.handoff;
            failure.retry_stopped = self.retry_stopped;
        }
        error
    }
}

/// Who holds a port or path: a blocking lookup (bounded to about 100 ms),
/// that may run on any thread.
pub(crate) struct HolderLookup {
    place: ListenAddr,
    kind: SocketKind,
    only_v6: Option<bool>,
}

impl HolderLookup {
    /// A description of the holder, or `None` when it is not found.
    pub(crate) fn run(self) -> Option<String> {
        holder(&self.place, self.kind, self.only_v6)
    }
}

/// Whether [`holder`] can say anything on this OS: where it cannot, nothing
/// is looked up (and no thread is started for it).
const HOLDER_KNOWABLE: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// Who holds the port or path, on Linux and Android: the kernel's socket
/// tables (`sock_diag`) and `/proc`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn holder(place: &ListenAddr, kind: SocketKind, only_v6: Option<bool>) -> Option<String> {
    holder::describe(place, kind, only_v6)
}

/// Elsewhere nothing is said rather than something unsure.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn holder(_place: &ListenAddr, _kind: SocketKind, _only_v6: Option<bool>) -> Option<String> {
    None
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.step.write(f, &self.place)?;
        f.write_str(": ")?;
        let what = match self.place {
            ListenAddr::Ip(_) => "this port",
            #[cfg(unix)]
            ListenAddr::Path(_) => "this path",
            #[cfg(unix)]
            ListenAddr::Abstract(_) => "this name",
        };
        match (self.kind, self.error.raw_os_error()) {
            (io::ErrorKind::AddrInUse, Some(code)) => write!(
                f,
                "address in use: another socket holds {what} (os error {code})"
            )?,
            // The runtime's own account of why the address is in use (a lock
            // that another process holds), not an OS error.
            (io::ErrorKind::AddrInUse, None) if self.error.get_ref().is_some() => {
                write!(f, "address in use: {}", self.error)?;
            }
            (io::ErrorKind::AddrInUse, None) => {
                write!(f, "address in use: another socket holds {what}")?;
            }
            _ => write!(f, "{}", self.error)?,
        }
        #[cfg(windows)]
        self.windows_notes(f)?;
        for part in [&self.holder, &self.handoff].into_iter().flatten() {
            write!(f, "; {part}")?;
        }
        #[cfg(windows)]
        if self.tried.is_none() && self.lingering_connections_apply() {
            write!(f, "; {WINDOWS_RETRY}")?;
        }
        if let Some((duration, attempts)) = self.tried {
            write!(
                f,
                "; still in use after retrying for {:.1} s ({attempts} attempts)",
                duration.as_secs_f64()
            )?;
        }
        match &self.retry_stopped {
            Some(why) => write!(
                f,
                "; the retry stopped early because no thread could be started for its pauses: {why}"
            ),
            None => Ok(()),
        }
    }
}

/// What a Windows bind error adds: WSAEACCES has a second cause that the
/// table of `winsock_bind` cannot tell apart (microsoft/WSL#5514,
/// dotnet/aspnetcore#25562: ports that Hyper-V or WinNAT reserve are refused
/// with it, on the wildcard and on specific addresses alike).
#[cfg(windows)]
const WINDOWS_RESERVED_PORTS: &str = "Windows gives this error for a port in a range it \
     reserves as well (`netsh interface ipv4 show excludedportrange protocol=tcp` lists them)";

/// After a crash on Windows (Microsoft, "Using SO_REUSEADDR and
/// SO_EXCLUSIVEADDRUSE": "if a listening socket with SO_EXCLUSIVEADDRUSE
/// set accepts a connection and is then subsequently closed, another socket
/// (also with SO_EXCLUSIVEADDRUSE) cannot bind to the same port as the
/// first socket until the original connection becomes inactive"; libuv's
/// maintainer, joyent/libuv#1360: TIME_WAIT counts). How long: the
/// TcpTimedWaitDelay registry value, default 0x78 = 120 s in Microsoft's
/// TCP/IP registry reference for Windows Server 2003 (technet cc757512;
/// 0xF0 = 240 s for Windows 2000, cc938217). On paper: Wine follows Linux
/// here, and no real Windows was run.
#[cfg(windows)]
const WINDOWS_LINGERING: &str = "on Windows, the connections that a closed listener had \
     accepted keep its port from being bound exclusively until they end: after a crash, up to \
     the TIME_WAIT delay (TcpTimedWaitDelay, 120 s by default)";

/// The way out of [`WINDOWS_LINGERING`], said when `retry` was not used.
#[cfg(windows)]
const WINDOWS_RETRY: &str = "if no other instance is running, `retry` waits for them";

#[cfg(windows)]
impl Failure {
    fn windows_notes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bound_kind.is_some()
            && self.error.raw_os_error() == Some(crate::sys::winsock_bind::WSAEACCES)
        {
            write!(f, "; {WINDOWS_RESERVED_PORTS}")?;
        }
        if self.lingering_connections_apply() {
            write!(f, "; {WINDOWS_LINGERING}")?;
        }
        Ok(())
    }

    /// A TCP bind refused as "in use": the old listener's connections may
    /// be what holds the port.
    fn lingering_connections_apply(&self) -> bool {
        self.kind == io::ErrorKind::AddrInUse && self.bound_kind == Some(SocketKind::Stream)
    }
}

/// The message, quoted: what `fn main() -> io::Result<()>` prints inside
/// `Custom { kind: .., error: .. }` reads as the error does, holder included.
impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string(), f)
    }
}

/// The message above already quotes the OS error, so that printing the
/// `io::Error` alone says everything; the source is there for programs that
/// want the code ([`os_error`]) or the original error.
impl Error for Failure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.error)
    }
}
