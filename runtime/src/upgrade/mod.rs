//! Restarts nobody notices: the same listening sockets handed to the next
//! process, so that the kernel's accept queue carries the waiting
//! connections over. Two ways, one setup:
//!
//! - **Upgrade to a new binary**, as a transaction. On a trigger (SIGHUP,
//!   [`Running::upgrade`], or [`request`] from another process, e.g.
//!   `ExecReload=`), the process starts the binary it was started from,
//!   passing every listener by the protocol of systemd's socket activation
//!   (`LISTEN_FDS`, `LISTEN_FDNAMES`, `LISTEN_PID` = the new process's id),
//!   so the new process's unchanged `inherit` functions take them. The new
//!   process calls [`Upgrade::ready`] after its own start-up; then the old
//!   one is [`replaced`](Running::replaced): it stops accepting, drains, and
//!   exits by the drain deadline. A new process that fails to start, exits,
//!   or is not ready in time is killed with everything it started, the old
//!   one keeps serving, and the initiator is told why.
//! - **systemd's file descriptor store**, for crashes: under systemd
//!   (`$NOTIFY_SOCKET` set) with `FileDescriptorStoreMax=`, each listener
//!   is stored with `FDSTORE=1` and its name, and after a crash systemd
//!   passes it back to the next process, where `inherit` takes it by name;
//!   connections made while the service is down wait in the queue.
//!
//! Only listeners made or taken by a function with `inherit` after
//! [`Upgrade::new`] are passed and stored: a function without `inherit`
//! could not take its socket back, and would find its port in use.
//!
//! **Windows.** The same transaction, triggered by [`Running::upgrade`] or
//! [`request`] (a named pipe, `\\.\pipe\restartable-upgrade-<pid>`, for the
//! service's user only): the listeners are handed on with
//! `WSADuplicateSocketW` (the same sockets, `SO_EXCLUSIVEADDRUSE` kept,
//! never bound again), the new process runs in a job object until it took
//! over, and a failed one is ended with what it started. There is no
//! signal, fd store or `READY=1` there. See `docs::windows`.
//!
//! ```no_run
//! use restartable::restartable_listener;
//! use restartable::upgrade::Upgrade;
//!
//! #[restartable_listener(port = 8080, inherit = "http")]
//! fn listener() -> std::io::Result<std::net::TcpListener> {}
//!
//! fn main() -> std::io::Result<()> {
//!     let upgrade = Upgrade::new(); // first: the binary's path is resolved now
//!     let listener = listener()?; // kept as "http"
//!     listener.set_nonblocking(true)?;
//!     let running = upgrade.ready()?; // tells the old process, stores, READY=1
//!     while !running.is_replaced() {
//!         match listener.accept() {
//!             Ok((stream, _)) => drop(stream), // serve it
//!             Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
//!                 std::thread::sleep(std::time::Duration::from_millis(1));
//!             }
//!             Err(e) => return Err(e),
//!         }
//!     }
//!     drop(listener); // replaced: stop accepting, finish what is in flight
//!     Ok(())
//! }
//! ```

// Each step has a Unix and a Windows side, with the same items; the state
// of the running process below is shared.
#[cfg(feature = "tokio")]
mod accept;
#[cfg(any(target_os = "linux", target_os = "android", windows))]
mod answer;
#[cfg_attr(windows, path = "windows/channel.rs")]
mod channel;
#[cfg(any(target_os = "linux", target_os = "android", windows))]
#[cfg_attr(windows, path = "windows/control.rs")]
mod control;
#[cfg(unix)]
pub(crate) mod notify;
#[cfg(unix)]
mod signal;
#[cfg_attr(windows, path = "windows/transaction.rs")]
mod transaction;
#[cfg_attr(windows, path = "windows/trigger.rs")]
mod trigger;

use std::ffi::OsString;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

#[cfg(unix)]
pub(crate) use self::channel::RESTARTABLE_UPGRADE;
use self::channel::{NewSide, TakeOver};
#[cfg(unix)]
use self::notify::Manager;
#[cfg(windows)]
use crate::pass::kept;
#[cfg(unix)]
use crate::process::kept;
#[cfg(any(target_os = "linux", target_os = "android"))]
use crate::supervisor;

#[cfg(feature = "tokio")]
pub use self::accept::{Accept, Accepted, UntilReplaced};
#[cfg(any(target_os = "linux", target_os = "android", windows))]
pub use self::control::request;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use self::control::{find, find_socket};
#[cfg(unix)]
pub use self::signal::Signal;

/// How long a new process has to become ready when not set.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a replaced process may drain when not set.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether a setup in this copy of the crate reached [`Upgrade::ready`]:
/// one per process.
static SET_UP: AtomicBool = AtomicBool::new(false);

/// The setup of upgrades and of the fd store; [`ready`](Upgrade::ready)
/// starts them. One per process.
///
/// Create it first in `main`, before the listeners: the path of the binary
/// is resolved then (after a package upgrade `/proc/self/exe` names the
/// replaced file, so the path the program was started from is used,
/// without resolving symbolic links), in a process an upgrade started the
/// channel to the old process is taken then, and only listeners made after
/// it are kept.
#[derive(Debug)]
pub struct Upgrade {
    /// `None`: `argv[0]` named nothing that could be found.
    program: Option<PathBuf>,
    args: Vec<OsString>,
    ready_timeout: Duration,
    drain_timeout: Duration,
    #[cfg(unix)]
    signal: Option<Signal>,
    #[cfg(unix)]
    fd_store: bool,
    #[cfg(unix)]
    notify_ready: bool,
    generation: u32,
    /// In a process an upgrade started: the channel to the old one.
    channel: Option<NewSide>,
    /// `$NOTIFY_SOCKET`, read now.
    #[cfg(unix)]
    manager: Option<Manager>,
    /// The supervisor that should have been started and could not:
    /// returned by `ready`.
    supervisor: Option<io::Error>,
}

impl Upgrade {
    /// Upgrades to the binary this process was started from (`argv[0]`,
    /// made absolute now; a bare name is looked up in `PATH`; on Windows the
    /// path the process was started from), with the same arguments; on
    /// SIGHUP (Unix); ready within 30 s, drained within 30 s;
    /// the listeners stored in systemd's fd store and `READY=1` sent when
    /// `$NOTIFY_SOCKET` is set.
    ///
    /// When the program's path cannot be found out (no `argv[0]`, or a bare
    /// name not in `PATH`), an upgrade fails with `NotFound` saying so; set
    /// it with [`program`](Self::program).
    ///
    /// As PID 1 of a PID namespace (a container's entrypoint), or with
    /// `RESTARTABLE_SUPERVISE=1`, the process splits here on Linux: it
    /// stays a supervisor that holds the stored listeners, and the service
    /// runs on as its child (see [`crate::supervisor`]). A supervisor that
    /// cannot be started is [`ready`](Self::ready)'s error.
    // Not `Default`: it takes what an old process passed to this one, once
    // per process, which is no default value.
    #[allow(clippy::new_without_default)]
    #[must_use]
    pub fn new() -> Upgrade {
        let channel = channel::take();
        // As PID 1, or asked: the supervisor splits off here, before the
        // listeners (see `crate::supervisor`).
        let supervisor = if channel.is_none() {
            supervisor::automatic().err()
        } else {
            None
        };
        kept::start();
        let mut args: Vec<OsString> = std::env::args_os().collect();
        if args.is_empty() {
            args.push(OsString::from("restartable-program"));
        }
        // Windows: the path the process was started from (a running
        // program's file can be renamed, and the new one put in its place).
        #[cfg(windows)]
        let program = std::env::current_exe().ok();
        #[cfg(unix)]
        let program = resolve(Path::new(&args[0]));
        Upgrade {
            program,
            args,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            #[cfg(unix)]
            signal: Some(Signal::HUP),
            #[cfg(unix)]
            fd_store: true,
            #[cfg(unix)]
            notify_ready: true,
            generation: channel.as_ref().map_or(0, NewSide::generation),
            channel,
            #[cfg(unix)]
            manager: Manager::from_env(),
            supervisor,
        }
    }

    /// The binary to start instead of the one this process was started
    /// from (a relative path is taken from the current directory now).
    #[must_use]
    pub fn program(mut self, path: impl AsRef<Path>) -> Upgrade {
        self.program = Some(absolute(path.as_ref()));
        self
    }

    /// The arguments of the new process after `argv[0]` (by default this
    /// process's).
    #[must_use]
    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Upgrade {
        self.args.truncate(1);
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// How long the new process has to call [`ready`](Self::ready); after
    /// that it is killed and the upgrade fails.
    #[must_use]
    pub fn ready_timeout(mut self, timeout: Duration) -> Upgrade {
        self.ready_timeout = timeout;
        self
    }

    /// How long a replaced process may drain before it exits (status 0).
    #[must_use]
    pub fn drain_timeout(mut self, timeout: Duration) -> Upgrade {
        self.drain_timeout = timeout;
        self
    }

    /// The signal that triggers an upgrade ([`Signal::HUP`] by default;
    /// `None`: no signal, only [`Running::upgrade`] and `request`). Other
    /// handlers of the signal registered through signal-hook, tokio's among
    /// them, keep running; a handler installed later with plain `sigaction`
    /// replaces this one (that is logged within 2 s).
    #[must_use]
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn signal(mut self, signal: Option<Signal>) -> Upgrade {
        self.signal = signal;
        self
    }

    /// Whether [`ready`](Self::ready) stores the listeners in systemd's file
    /// descriptor store (`FDSTORE=1`, `FDNAME=` the name `inherit` takes),
    /// when `$NOTIFY_SOCKET` is set. On by default; the unit needs
    /// `FileDescriptorStoreMax=`.
    #[must_use]
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn fd_store(mut self, on: bool) -> Upgrade {
        self.fd_store = on;
        self
    }

    /// Whether [`ready`](Self::ready) sends `READY=1` (for `Type=notify`)
    /// when `$NOTIFY_SOCKET` is set. On by default.
    #[must_use]
    #[cfg(unix)]
    #[cfg_attr(docsrs, doc(cfg(unix)))]
    pub fn notify_ready(mut self, on: bool) -> Upgrade {
        self.notify_ready = on;
        self
    }

    /// This process's generation: 0 when started otherwise than by an
    /// upgrade, one more than the old process's when started by one.
    #[must_use]
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Call once the listeners exist and the program can serve.
    ///
    /// First the triggers are set up (the signal is caught from here on,
    /// and on Linux the request socket is bound), so that a failure ends a
    /// new process before it takes over. In a process started by an
    /// upgrade, it then tells the old process, and once the old one has
    /// stopped accepting and moved systemd's main pid here, carries on.
    /// Then, under systemd, the listeners are stored in the fd store and
    /// `READY=1` is sent (as set); a message systemd's socket refuses is
    /// logged, not returned, as `sd_notify(3)` advises.
    ///
    /// # Errors
    ///
    /// - the supervisor `Upgrade::new` should have started and could not
    ///   (`InvalidInput` for a bad `RESTARTABLE_SUPERVISE` or
    ///   `RESTARTABLE_START_LIMIT`; `Unsupported` outside Linux);
    /// - `AlreadyExists`: upgrades are set up in this process already (an
    ///   earlier `ready`, or another copy of this crate on Linux);
    /// - `InvalidInput`: a listener name the fd store refuses;
    /// - the signal handler or the request socket that cannot be set up
    ///   (both are, before the handover). A thread of the triggers that
    ///   cannot be started afterwards is logged instead: the process may
    ///   have taken over by then.
    pub fn ready(mut self) -> io::Result<Running> {
        if let Some(error) = self.supervisor.take() {
            return Err(error);
        }
        let claim = Claim::take()?;
        #[cfg(unix)]
        if self.fd_store && self.manager.is_some() {
            kept::with(|kept| kept.iter().try_for_each(|k| notify::check_name(&k.name)))?;
        }
        #[cfg(unix)]
        let triggers = trigger::set_up(self.signal)?;
        #[cfg(windows)]
        let triggers = trigger::set_up()?;
        if let Some(channel) = self.channel.take() {
            match channel.take_over(self.ready_timeout) {
                TakeOver::Committed => crate::event!(
                    info,
                    "upgrade: this process (generation {}) took over",
                    self.generation
                ),
                TakeOver::Unfinished(error) => crate::event!(
                    warn,
                    "upgrade: the old process did not complete the handover ({error}); this \
                     process carries on with the sockets it was given"
                ),
            }
        }
        #[cfg(unix)]
        self.notify_manager();
        let running = Running {
            shared: Arc::new(Shared {
                setup: self,
                state: Mutex::new(State::Serving),
                replaced: AtomicBool::new(false),
                drain_deadline: OnceLock::new(),
                changed: Condvar::new(),
                wakers: Mutex::new(Vec::new()),
            }),
        };
        triggers.start(&running);
        claim.keep();
        Ok(running)
    }

    /// The fd store and `READY=1`, when under a service manager.
    #[cfg(unix)]
    fn notify_manager(&self) {
        let Some(manager) = &self.manager else {
            return;
        };
        let said = |outcome: io::Result<()>| {
            if let Err(error) = outcome {
                crate::event!(warn, "{error}; the service runs on");
            }
        };
        if self.fd_store {
            kept::with(|kept| {
                if kept.is_empty() {
                    crate::event!(
                        warn,
                        "no listener is kept for upgrades and the fd store: only listeners of \
                         functions with `inherit`, made after Upgrade::new, are passed on"
                    );
                }
                for k in kept {
                    said(manager.send(&format!("FDSTORE=1\nFDNAME={}", k.name), &[k.fd()]));
                    crate::event!(
                        info,
                        "listener {:?} sent to the service manager's fd store",
                        k.name
                    );
                }
            });
        }
        if self.notify_ready {
            let mut ready = format!("READY=1\nMAINPID={}", std::process::id());
            if supervisor::is_supervised() {
                let drain = self.drain_timeout.as_millis();
                ready = format!("{ready}\n{}={drain}", supervisor::DRAIN_TIMEOUT_MS);
            }
            said(manager.send(&ready, &[]));
        }
    }
}

/// The one setup of this process, while [`Upgrade::ready`] runs: given
/// back if it fails.
struct Claim {
    kept: bool,
}

impl Claim {
    fn take() -> io::Result<Claim> {
        if SET_UP.swap(true, Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "upgrades are set up in this process already: Upgrade::ready was called before, \
                 and one setup per process starts one upgrade per signal",
            ));
        }
        let claim = Claim { kept: false };
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(name) = find(std::process::id()).ok().flatten() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "upgrades are set up in this process already, by another copy of \
                     restartable (its request socket is @{}); one setup per process starts one \
                     upgrade per signal",
                    String::from_utf8_lossy(&name)
                ),
            ));
        }
        Ok(claim)
    }

    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.kept {
            SET_UP.store(false, Ordering::SeqCst);
        }
    }
}

/// `path` made absolute against the current directory, without resolving
/// links; a bare name (no `/`) looked up in `PATH` as exec does.
#[cfg(unix)]
pub(crate) fn resolve(path: &Path) -> Option<PathBuf> {
    if path.as_os_str().is_empty() {
        return None;
    }
    if path.components().count() > 1 || path.is_absolute() {
        return Some(absolute(path));
    }
    let search = std::env::var_os("PATH")?;
    std::env::split_paths(&search)
        .map(|dir| absolute(&dir.join(path)))
        .find(|candidate| candidate.is_file())
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_owned();
    }
    // `./server` as `/dir/server`; `..` is kept (a link may be on the way).
    let path: PathBuf = path
        .components()
        .filter(|part| !matches!(part, std::path::Component::CurDir))
        .collect();
    std::env::current_dir().map_or_else(|_| path.clone(), |dir| dir.join(&path))
}

/// A process that serves and can be upgraded: made by [`Upgrade::ready`].
/// Clones share the state.
#[derive(Clone)]
pub struct Running {
    shared: Arc<Shared>,
}

struct Shared {
    setup: Upgrade,
    state: Mutex<State>,
    /// `state` is `Replaced`: read without the lock, by every request
    /// handler that asks.
    replaced: AtomicBool,
    /// Set once replaced: when the process exits.
    drain_deadline: OnceLock<Instant>,
    changed: Condvar,
    wakers: Mutex<Vec<Waker>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Serving,
    /// An upgrade is under way: the new process is being started (`None`)
    /// or runs with this id.
    Upgrading(Option<u32>),
    /// The new process took over.
    Replaced(Upgraded),
}

/// A new process that took over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Upgraded {
    /// Its process id.
    pub pid: u32,
    /// Its generation: one more than this process's.
    pub generation: u32,
}

impl fmt::Display for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid={} generation={}", self.pid, self.generation)
    }
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running")
            .field("setup", &self.shared.setup)
            .field("state", &*self.state())
            .finish()
    }
}

impl Running {
    fn state(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Upgrades now, on this thread; returns once the new process took
    /// over, or failed. The same transaction as on the signal.
    ///
    /// # Errors
    ///
    /// - `WouldBlock`: an upgrade is under way already, or this process was
    ///   replaced; nothing was started.
    /// - The program cannot be started: `NotFound` when it is missing,
    ///   `PermissionDenied` when it is not executable.
    /// - `TimedOut`: it was not ready in time; it was killed with what it
    ///   started.
    /// - `Other`: it exited, or closed the channel, before it was ready.
    ///
    /// After any error this process keeps serving, and the next upgrade can
    /// be tried.
    pub fn upgrade(&self) -> io::Result<Upgraded> {
        self.upgrade_with(|| {}, |_| {})
    }

    /// [`upgrade`](Self::upgrade), telling `started` when it is under way,
    /// and `tell` the outcome before anything waiting for the takeover
    /// wakes (and may end the process).
    #[cfg_attr(
        not(any(target_os = "linux", target_os = "android", windows)),
        allow(dead_code)
    )]
    pub(crate) fn upgrade_with(
        &self,
        started: impl FnOnce(),
        tell: impl FnOnce(&io::Result<Upgraded>),
    ) -> io::Result<Upgraded> {
        let outcome = self.begin().and_then(|()| {
            started();
            self.transaction()
        });
        tell(&outcome);
        if let Ok(upgraded) = outcome {
            self.commit(upgraded);
        }
        outcome
    }

    /// Marks an upgrade under way, unless one is, or this process was
    /// replaced.
    fn begin(&self) -> io::Result<()> {
        let mut state = self.state();
        match &*state {
            State::Serving => {
                *state = State::Upgrading(None);
                Ok(())
            }
            State::Upgrading(None) => Err(in_progress("a new process is starting")),
            State::Upgrading(Some(pid)) => {
                Err(in_progress(&format!("the new process {pid} is starting")))
            }
            State::Replaced(by) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("this process was replaced already, by {by}; it is draining"),
            )),
        }
    }

    /// The handover; on failure this process serves on.
    fn transaction(&self) -> io::Result<Upgraded> {
        crate::event!(info, "upgrade: starting a new process");
        let started = Instant::now();
        let outcome = transaction::run(&self.shared.setup, |pid| {
            *self.state() = State::Upgrading(Some(pid));
        });
        match &outcome {
            Ok(upgraded) => crate::event!(
                info,
                "upgrade: the new process ({upgraded}) took over after {:?}; this one drains",
                started.elapsed()
            ),
            Err(error) => {
                crate::event!(warn, "upgrade: failed, this process keeps serving: {error}");
                *self.state() = State::Serving;
            }
        }
        outcome
    }

    /// The new process took over: this one closes its copies, wakes what
    /// waits for the takeover, and exits by the drain deadline.
    fn commit(&self, upgraded: Upgraded) {
        kept::release();
        self.mark_replaced(upgraded);
        let deadline = self.shared.setup.drain_timeout;
        let _ = std::thread::Builder::new()
            .name("restartable-drain".into())
            .spawn(move || {
                std::thread::sleep(deadline);
                crate::event!(
                    info,
                    "upgrade: the drain deadline ({deadline:?}) passed; exiting"
                );
                std::process::exit(0);
            });
    }

    /// The state, and everything that waits for it, told of the takeover.
    fn mark_replaced(&self, upgraded: Upgraded) {
        let deadline = self.shared.setup.drain_timeout;
        let _ = self.shared.drain_deadline.set(Instant::now() + deadline);
        *self.state() = State::Replaced(upgraded);
        self.shared.replaced.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        for waker in self
            .shared
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            waker.wake();
        }
    }

    /// Whether a new process took over: then stop accepting, finish the
    /// connections in flight, and return from `main` (the process exits by
    /// the drain deadline in any case).
    ///
    /// One atomic load, no lock: cheap enough for every request (to answer
    /// with `Connection: close` once replaced).
    #[must_use]
    pub fn is_replaced(&self) -> bool {
        self.shared.replaced.load(Ordering::SeqCst)
    }

    /// When this process exits, once it was replaced (`None` before): the
    /// end for anything long-lived, such as a stream of events, to finish
    /// cleanly before.
    #[must_use]
    pub fn drain_deadline(&self) -> Option<Instant> {
        self.shared.drain_deadline.get().copied()
    }

    /// Waits until a new process took over: a future for async code (it
    /// never blocks), or [`Replaced::wait`] for a thread.
    pub fn replaced(&self) -> Replaced {
        Replaced {
            running: self.clone(),
        }
    }

    /// This process's generation: 0 when started otherwise than by an
    /// upgrade, one more than the old process's when started by one.
    #[must_use]
    pub fn generation(&self) -> u32 {
        self.shared.setup.generation
    }

    /// When the drain ends, once replaced: the process exits then.
    #[must_use]
    pub fn drain_timeout(&self) -> Duration {
        self.shared.setup.drain_timeout
    }
}

fn in_progress(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::WouldBlock,
        format!("an upgrade is under way already ({what}); try again when it is over"),
    )
}

/// The future of [`Running::replaced`]: ready with the new process once
/// it took over.
#[derive(Debug)]
#[must_use = "a future does nothing unless awaited"]
pub struct Replaced {
    running: Running,
}

impl Replaced {
    /// Blocks the thread until a new process took over.
    pub fn wait(self) -> Upgraded {
        let mut state = self.running.state();
        loop {
            if let State::Replaced(by) = &*state {
                return *by;
            }
            state = self
                .running
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Future for Replaced {
    type Output = Upgraded;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Upgraded> {
        let shared = &self.running.shared;
        // The waker is registered before the state is read again, so a
        // takeover between the two wakes it.
        if let State::Replaced(by) = &*self.running.state() {
            return Poll::Ready(*by);
        }
        let mut wakers = shared.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        drop(wakers);
        match &*self.running.state() {
            State::Replaced(by) => Poll::Ready(*by),
            _ => Poll::Pending,
        }
    }
}

/// Where the automatic supervisor is not (it is Linux's; on Windows only
/// `Supervisor::start` starts one): asking for it is an error.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod supervisor {
    use std::io;

    #[cfg(unix)]
    pub(crate) const DRAIN_TIMEOUT_MS: &str = "";

    pub(crate) fn automatic() -> io::Result<()> {
        match std::env::var_os("RESTARTABLE_SUPERVISE") {
            Some(value) if value == "1" => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                if cfg!(windows) {
                    "environment variable RESTARTABLE_SUPERVISE is \"1\", but on Windows the \
                     supervisor is started by Supervisor::start only"
                } else {
                    "environment variable RESTARTABLE_SUPERVISE is \"1\", but the supervisor \
                     runs on Linux and Windows only"
                },
            )),
            _ => Ok(()),
        }
    }

    #[cfg(unix)]
    pub(crate) fn is_supervised() -> bool {
        false
    }
}

#[cfg(test)]
impl Running {
    /// A running process that no trigger can upgrade, for tests that
    /// replace it by hand.
    pub(crate) fn for_test() -> Running {
        let setup = Upgrade {
            program: None,
            args: Vec::new(),
            ready_timeout: DEFAULT_READY_TIMEOUT,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            #[cfg(unix)]
            signal: None,
            #[cfg(unix)]
            fd_store: false,
            #[cfg(unix)]
            notify_ready: false,
            generation: 0,
            channel: None,
            #[cfg(unix)]
            manager: None,
            supervisor: None,
        };
        Running {
            shared: Arc::new(Shared {
                setup,
                state: Mutex::new(State::Serving),
                replaced: AtomicBool::new(false),
                drain_deadline: OnceLock::new(),
                changed: Condvar::new(),
                wakers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// What a takeover does to this process's state, without the exit.
    pub(crate) fn replace_for_test(&self) {
        self.mark_replaced(Upgraded {
            pid: 0,
            generation: 1,
        });
    }
}
