//! A supervisor in the service's own binary that holds the listening
//! sockets, for where nothing else does: a container's PID 1, runit, s6,
//! supervisord, a shell (Linux); any Windows service or console program.
//!
//! # Linux
//!
//! At `upgrade::Upgrade::new` (or at
//! [`Supervisor::start`]) the process splits: it stays the supervisor and
//! starts the service, the same binary with the same arguments, as its
//! child. The supervisor serves nothing and runs none of the program's
//! code after that point; it is a small service manager that speaks the
//! part of systemd's protocol this crate's upgrade already speaks:
//!
//! - **It holds the sockets.** The service's `Upgrade::ready`
//!   stores each listener a function with `inherit` made (`FDSTORE=1`,
//!   over `$NOTIFY_SOCKET`, which names the supervisor's socket).
//! - **A crash is followed at once by a new service** with those same
//!   sockets (`LISTEN_FDS`, `LISTEN_FDNAMES`, `LISTEN_PID`), which the
//!   unchanged `inherit` functions take: connections made meanwhile wait
//!   in the kernel's queue instead of being refused. A crash loop ends
//!   it: more than 5 starts within 10 s (systemd's `StartLimitBurst=` and
//!   `StartLimitIntervalSec=`) and the supervisor exits with the service's
//!   status, saying why; a service that crashes before it was ready is
//!   started again after 100 ms, then 200 ms, … up to 5 s.
//! - **Upgrades work as before.** SIGHUP to the supervisor (`docker kill
//!   -s HUP`, `podman kill -s HUP`) is passed to the service, which runs
//!   the upgrade's transaction; the old service moves the main pid to the
//!   new one (`MAINPID=`) before it exits, and the supervisor, the reaper
//!   of every orphan of the service, follows it. PID 1 stays.
//! - **PID 1's duties.** Every orphan is reaped. SIGTERM, SIGINT and
//!   SIGQUIT are passed to the service (SIGHUP, SIGUSR1 and SIGUSR2
//!   too); once it exits, the supervisor exits with its status (128 plus
//!   the signal's number when a signal ended it). A service not gone by
//!   its drain deadline plus 1 s is killed.
//!
//! **When.** As PID 1 of a PID namespace (a container's entrypoint without
//! `--init`) it is automatic: when PID 1 exits, the kernel kills every
//! process of the namespace, so an upgrade's new process would die with
//! the old one. Elsewhere it is turned on by `RESTARTABLE_SUPERVISE=1` or
//! by calling [`Supervisor::start`] first in `main`.
//! `RESTARTABLE_SUPERVISE=0` turns the automatic one off.
//! `RESTARTABLE_START_LIMIT=BURST/SECONDS` sets the crash-loop limit.
//!
//! **Under systemd it is not needed:** systemd holds the sockets (socket
//! units, the fd store) and follows the main pid itself; the service is
//! never PID 1 there. Turned on under systemd anyway, the supervisor is
//! the unit's main process, tells systemd `READY=1` when the service is
//! first ready, and keeps the service's messages to itself.
//!
//! Split early: the supervisor keeps what the process made before the
//! split (threads, memory, descriptors), so call `Upgrade::new()` (or
//! `Supervisor::start()`) before anything else, as the upgrade's docs ask
//! anyway. See [`docs::containers`](crate::docs::containers).
//!
//! # Windows
//!
//! [`Supervisor::start`], first in `main`, splits the process the same
//! way: the supervisor starts the same program with the same arguments as
//! its child, in a job object (what the service starts ends with it), and
//! with no handle of its own but two pipes (an explicit handle list).
//!
//! - **It holds the sockets.** Each listener a function with `inherit`
//!   makes in the service is passed to the supervisor as it is made:
//!   `WSADuplicateSocketW` describes the same socket for the supervisor's
//!   process, which makes its own handle of it. Nothing is bound twice and
//!   `SO_EXCLUSIVEADDRUSE` stays on: no other process can take the port at
//!   any moment.
//! - **A crash is followed at once by a new service** that takes those
//!   sockets by name: connections made meanwhile wait in the socket's
//!   queue. Without the supervisor, an exclusive port cannot be bound
//!   again while the dead listener's connections linger (up to the
//!   TIME_WAIT delay, 120 s by default), and every connection is refused
//!   meanwhile ([`docs::windows`](crate::docs::windows)). The crash-loop
//!   limit and back-off are Linux's; "ready" is a service that passed at
//!   least one listener.
//! - **Ctrl-C, Ctrl-Break.** The event reaches the service too (they share
//!   the console), so the service drains as it would alone; the supervisor
//!   waits for it (up to the stop timeout, then ends its job) and exits
//!   with its exit code. Closing the console, log-off and shutdown end both
//!   processes within 5 s (Windows's limit; the supervisor waits for the
//!   service until then). A service that exits with 0 ends the supervisor
//!   too.
//! - **Held until the supervisor ends.** A listener the service no longer
//!   makes stays held: connections to it wait instead of being refused.
//!
//! - **Upgrades.** `restartable::upgrade` works under it: the old service
//!   hands the new process its store pipe, and tells the supervisor that
//!   the new process is the service (as `MAINPID=` on Linux); the
//!   supervisor follows a process the service started, and no other.
//!
//! ```no_run
//! # #[cfg(windows)]
//! fn main() -> std::io::Result<()> {
//!     // First: the supervisor runs nothing of the program after this.
//!     restartable::supervisor::Supervisor::new().start()?;
//!     let listener: std::net::TcpListener = restartable::Builder::new(([127, 0, 0, 1], 8080))
//!         .inherit_named("http")
//!         .bind()?;
//!     for stream in listener.incoming() {
//!         drop(stream?); // serve it
//!     }
//!     Ok(())
//! }
//! # #[cfg(not(windows))]
//! # fn main() {}
//! ```

mod limit;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod run;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod store;
#[cfg(windows)]
mod windows;

use std::io;
use std::time::Duration;

/// The stop timeout until the service says its drain timeout: the
/// upgrade's default drain timeout.
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Turns the supervisor on (`1`) or off (`0`); unset, it is on for PID 1.
pub const SUPERVISE: &str = "RESTARTABLE_SUPERVISE";
/// The crash-loop limit, `BURST/SECONDS`: at most BURST starts within
/// SECONDS (5/10 when unset).
pub const START_LIMIT: &str = "RESTARTABLE_START_LIMIT";
/// In the service's environment: the supervisor's process id.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) const SUPERVISOR: &str = "RESTARTABLE_SUPERVISOR";
/// The line of `READY=1` that tells the supervisor the service's drain
/// timeout, in milliseconds (sent to a supervisor only).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) const DRAIN_TIMEOUT_MS: &str = "X_RESTARTABLE_DRAIN_TIMEOUT_MS";

/// The supervisor's settings; [`start`](Self::start) splits the process.
#[derive(Clone, Debug)]
pub struct Supervisor {
    burst: u32,
    interval: Duration,
    stop_timeout: Duration,
}

impl Default for Supervisor {
    fn default() -> Supervisor {
        Supervisor::new()
    }
}

impl Supervisor {
    /// At most 5 starts within 10 s; a service not gone 31 s after SIGTERM
    /// is killed (its drain deadline, once it says it, plus 1 s).
    #[must_use]
    pub fn new() -> Supervisor {
        Supervisor {
            burst: 5,
            interval: Duration::from_secs(10),
            stop_timeout: DEFAULT_STOP_TIMEOUT,
        }
    }

    /// The crash-loop limit: at most `burst` starts of the service within
    /// `interval`; the one after it ends the supervisor.
    /// `RESTARTABLE_START_LIMIT` overrides it.
    #[must_use]
    pub fn start_limit(mut self, burst: u32, interval: Duration) -> Supervisor {
        self.burst = burst.max(1);
        self.interval = interval;
        self
    }

    /// How long the service may take to exit after SIGTERM, SIGINT or
    /// SIGQUIT before it is killed, until it says its own drain timeout.
    #[must_use]
    pub fn stop_timeout(mut self, timeout: Duration) -> Supervisor {
        self.stop_timeout = timeout;
        self
    }

    /// Splits the process: returns `Ok` in the service (at once, when this
    /// process is the service a supervisor started); in the supervisor it
    /// never returns, and the process exits with the service's status.
    ///
    /// # Errors
    ///
    /// Before anything was started, and this process is then no supervisor:
    /// `InvalidInput` for a bad `RESTARTABLE_START_LIMIT`; the supervisor's
    /// socket that cannot be made; the service that cannot be started
    /// (`NotFound` when the program's path is unknown).
    pub fn start(mut self) -> io::Result<()> {
        if is_supervised() {
            return Ok(());
        }
        if let Some((burst, interval)) = start_limit_from_env()? {
            self.burst = burst;
            self.interval = interval;
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        match run::supervise(&self)? {}
        #[cfg(windows)]
        match windows::supervise(&self)? {}
    }
}

/// Whether this process is a service a supervisor started: its parent is
/// the supervisor `RESTARTABLE_SUPERVISOR` names, or an upgrade of such a
/// service started it (on Windows: its parent is the supervisor that
/// `RESTARTABLE_SOCKETS` names).
#[must_use]
#[cfg(windows)]
pub fn is_supervised() -> bool {
    crate::pass::is_ours()
}

/// Whether this process is a service a supervisor started: its parent is
/// the supervisor `RESTARTABLE_SUPERVISOR` names, or an upgrade of such a
/// service started it (on Windows: its parent is the supervisor that
/// `RESTARTABLE_SOCKETS` names).
#[must_use]
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn is_supervised() -> bool {
    let Some(supervisor) = std::env::var(SUPERVISOR)
        .ok()
        .and_then(|pid| pid.parse::<u32>().ok())
    else {
        return false;
    };
    std::os::unix::process::parent_id() == supervisor
        || std::env::var_os(crate::upgrade::RESTARTABLE_UPGRADE).is_some()
}

/// The split `Upgrade::new` makes: as PID 1, or with
/// `RESTARTABLE_SUPERVISE=1`; never in a process that is supervised.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn automatic() -> io::Result<()> {
    let wanted = match std::env::var_os(SUPERVISE) {
        None => std::process::id() == 1,
        Some(value) if value == "1" => true,
        Some(value) if value == "0" => {
            if std::process::id() == 1 {
                crate::event!(
                    warn,
                    "supervisor: {SUPERVISE}=0 as PID 1: an upgrade will end every process of \
                     this PID namespace when the old process exits"
                );
            }
            false
        }
        Some(value) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("environment variable {SUPERVISE} is {value:?}; expected 1 or 0"),
            ))
        }
    };
    if wanted {
        Supervisor::new().start()
    } else {
        Ok(())
    }
}

/// When process `pid` is a supervisor (it holds a socket named as the
/// supervisor names its own), its service: the child of it that listens for
/// upgrade requests.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn service_of(pid: u32) -> io::Result<Option<u32>> {
    if crate::upgrade::find_socket(pid, run::NAME_PREFIX.as_bytes(), false)?.is_none() {
        return Ok(None);
    }
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))?;
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in children
            .split_whitespace()
            .filter_map(|c| c.parse::<u32>().ok())
        {
            if crate::upgrade::find(child)?.is_some() {
                return Ok(Some(child));
            }
        }
    }
    Ok(None)
}

fn start_limit_from_env() -> io::Result<Option<(u32, Duration)>> {
    let Some(value) = std::env::var_os(START_LIMIT) else {
        return Ok(None);
    };
    value
        .to_str()
        .and_then(|text| text.split_once('/'))
        .and_then(|(burst, seconds)| {
            let burst: u32 = burst.parse().ok().filter(|&b| b > 0)?;
            let seconds: f64 = seconds
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s > 0.0)?;
            Some((burst, Duration::try_from_secs_f64(seconds).ok()?))
        })
        .map(Some)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "environment variable {START_LIMIT} is {value:?}; expected BURST/SECONDS, \
                     e.g. 5/10"
                ),
            )
        })
}
