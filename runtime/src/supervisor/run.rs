//! The supervisor's loop: one thread, woken by a signal (its byte on a
//! socket pair) or a message from the service, or when a restart is due.

use std::convert::Infallible;
use std::ffi::OsString;
use std::io::{self, Read};
use std::os::unix::io::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use super::limit::Starts;
use super::store::Store;
use super::{Supervisor, DRAIN_TIMEOUT_MS, SUPERVISOR};
use crate::handoff::vars::LISTEN_PID;
use crate::process::child::{listen_environment, Child, Ended, Layout};
use crate::sys::process::{Exec, Unreaped};
use crate::sys::supervisor as sys;
use crate::sys::upgrade::{abstract_addr, random_name, receive, signals_to_socket};
use crate::upgrade::notify::{Manager, NOTIFY_SOCKET};
use crate::upgrade::RESTARTABLE_UPGRADE;

/// The start of the name of the supervisor's socket, before its pid and a
/// random part.
pub(super) const NAME_PREFIX: &str = "restartable/supervisor/";

/// Passed on to the service.
const FORWARDED: [libc::c_int; 6] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
];
/// Passed on, and the supervisor exits when the service has.
const STOPS: [libc::c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT];
/// How long the exec of the service may take.
const EXEC_WITHIN: Duration = Duration::from_secs(5);
/// After the drain deadline, before the service is killed.
const GRACE: Duration = Duration::from_secs(1);

/// Sets up, starts the service, and runs the loop; returns only with an
/// error from before the service was started.
pub(super) fn supervise(settings: &Supervisor) -> io::Result<Infallible> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let program = args
        .first()
        .and_then(|first| crate::upgrade::resolve(Path::new(first)))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "supervisor: cannot find the program this process was started from (argv[0] \
                     is {:?}, not a path, and not in PATH), so the service cannot be started",
                    args.first().map(|a| a.to_string_lossy().into_owned())
                ),
            )
        })?;
    let me = std::process::id();
    let name = random_name(NAME_PREFIX)?;
    let notify = Socket::new(Domain::UNIX, Type::DGRAM, None)?;
    sys::pass_credentials(notify.as_fd())?;
    notify.bind(&abstract_addr(name.as_bytes())?)?;
    notify.set_nonblocking(true)?;
    sys::become_subreaper()?;
    let (signals, sender) = UnixStream::pair()?;
    signals.set_nonblocking(true)?;
    let mut supervisor = Loop {
        settings,
        program,
        args,
        name: format!("@{name}"),
        notify,
        signals,
        outer: Manager::from_env(),
        store: Store::default(),
        main: None,
        main_fd: None,
        previous: None,
        ready: false,
        told_outer: false,
        starts: Starts::new(settings.burst, settings.interval),
        restart_at: None,
        last: None,
        stop: None,
        stop_signal: None,
        killed: false,
        drain_timeout: None,
        dropped: 0,
    };
    // Sockets passed to the supervisor itself (a socket-activated
    // container) are held and passed on like stored ones.
    for (name, socket) in crate::handoff::record::take_all()? {
        let name = name.unwrap_or_else(|| crate::process::kept::UNNAMED.to_owned());
        supervisor.store.add(&name, OwnedFd::from(socket));
    }
    if let Some(threads) = sys::threads().filter(|&n| n > 1) {
        crate::event!(
            warn,
            "supervisor: {threads} threads run in this process already; they keep running in \
             the supervisor: make Upgrade::new (or Supervisor::start) the first call in main"
        );
    }
    // The handlers first, so that no stop signal is lost; undone when the
    // first start fails, and this process goes on without a supervisor.
    let mut caught = FORWARDED.to_vec();
    caught.push(libc::SIGCHLD);
    let registered = signals_to_socket(&caught, sender)?;
    sys::unblock(&caught);
    if let Err(error) = supervisor.start() {
        for id in registered {
            signal_hook_registry::unregister(id);
        }
        return Err(io::Error::new(
            error.kind(),
            format!("supervisor: cannot start the service: {error}"),
        ));
    }
    crate::event!(
        info,
        "supervisor: process {me} supervises the service (pid {}); it holds the listeners the \
         service stores, and starts the service again after a crash",
        supervisor.main.unwrap_or(0)
    );
    supervisor.run()
}

struct Loop<'a> {
    settings: &'a Supervisor,
    program: PathBuf,
    args: Vec<OsString>,
    /// `$NOTIFY_SOCKET` for the service.
    name: String,
    notify: Socket,
    signals: UnixStream,
    /// The service manager of the supervisor itself, if any.
    outer: Option<Manager>,
    store: Store,
    /// The service's main process, while it runs.
    main: Option<u32>,
    /// A pidfd of it (Linux 5.3 and later): its end is seen even when
    /// another process reaps it (an upgrade's new process before the old
    /// one exits), and a signal reaches it and nothing else.
    main_fd: Option<OwnedFd>,
    /// The main process before the last `MAINPID=`: it may take the role
    /// back (an upgrade rolled back after the move).
    previous: Option<u32>,
    /// The main process said `READY=1`.
    ready: bool,
    told_outer: bool,
    /// Crashes in a row before the service was ready.
    /// The recent starts and failures, for the crash-loop limit.
    starts: Starts,
    restart_at: Option<Instant>,
    last: Option<ExitStatus>,
    /// The deadline and the signal, once a stop signal came.
    stop: Option<Instant>,
    stop_signal: Option<libc::c_int>,
    killed: bool,
    /// As the service said it.
    drain_timeout: Option<Duration>,
    /// Messages from other processes than the main one, dropped.
    dropped: u64,
}

impl Loop<'_> {
    fn run(mut self) -> ! {
        loop {
            let signals = self.take_signals();
            self.read_messages();
            self.reap();
            self.ended_elsewhere();
            for signal in signals {
                self.on_signal(signal);
            }
            let now = Instant::now();
            if self.main.is_none() && self.restart_at.is_some_and(|at| now >= at) {
                self.restart_at = None;
                if let Err(error) = self.start() {
                    crate::event!(error, "supervisor: cannot start the service: {error}");
                    self.starts.failed();
                    self.schedule_restart("could not be started", 1);
                }
            }
            if self.stop.is_some_and(|deadline| now >= deadline) && !self.killed {
                crate::event!(
                    warn,
                    "supervisor: the service did not exit by its drain deadline; killed"
                );
                self.kill();
            }
            self.sleep();
        }
    }

    /// Starts the service with the stored sockets.
    fn start(&mut self) -> io::Result<()> {
        let mut layout = Layout::default();
        let mut names = Vec::with_capacity(self.store.len());
        for stored in self.store.iter() {
            layout.place(stored.fd());
            names.push(stored.name.as_str());
        }
        let me = std::process::id().to_string();
        let mut environment =
            listen_environment(&names, &[NOTIFY_SOCKET, SUPERVISOR, RESTARTABLE_UPGRADE]);
        environment.push((NOTIFY_SOCKET.into(), self.name.clone().into()));
        environment.push((SUPERVISOR.into(), me.into()));
        let mut exec = Exec::new(&self.program, &self.args, &environment, &[(LISTEN_PID, "")])?;
        self.starts.started(Instant::now());
        let child = Child::spawn(&mut exec, &layout, EXEC_WITHIN)?;
        // The supervisor is the reaper of the service and of everything it
        // leaves: the pid stays its own until `reap` collects it.
        self.follow(child.id());
        // A main process before this start has no role to take back.
        self.previous = None;
        self.ready = false;
        Ok(())
    }

    /// Makes `pid` the main process, with a pidfd of it.
    fn follow(&mut self, pid: u32) {
        self.main = Some(pid);
        self.main_fd = libc::pid_t::try_from(pid)
            .ok()
            .and_then(crate::sys::process::pidfd_open);
    }

    /// `signal` to the main process: through its pidfd where there is one,
    /// so that it reaches that process or none.
    fn signal_main(&self, signal: libc::c_int) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.main_fd {
            return crate::sys::process::pidfd_signal(fd, signal);
        }
        match self.main {
            Some(main) => sys::signal(main, signal),
            None => Ok(()),
        }
    }

    /// The main process ended and is no unreaped child of this process:
    /// another process reaped it (an upgrade's new process, still the old
    /// one's child; an old process that rolled back after the move). Its
    /// status is not known here: a crash.
    fn ended_elsewhere(&mut self) {
        #[cfg(target_os = "linux")]
        {
            let (Some(main), Some(fd)) = (self.main, &self.main_fd) else {
                return;
            };
            if !crate::sys::process::pidfd_ended(fd).unwrap_or(false) {
                return;
            }
            let Ok(pid) = libc::pid_t::try_from(main) else {
                return;
            };
            if crate::sys::process::unreaped(pid).ok() != Some(Unreaped::Gone) {
                // This process's own child: `reap` collects it.
                return;
            }
            self.main = None;
            self.main_fd = None;
            if let Some(signal) = self.stop_signal.filter(|_| self.stop.is_some()) {
                crate::event!(
                    info,
                    "supervisor: the service (pid {main}) ended; its status was collected by \
                     another process; exiting"
                );
                Self::exit(128 + signal);
            }
            if !self.ready {
                self.starts.failed();
            }
            self.schedule_restart(
                &format!("(pid {main}) ended, its status collected by another process"),
                1,
            );
        }
    }

    /// The signals that came, by number.
    fn take_signals(&mut self) -> Vec<libc::c_int> {
        let mut bytes = [0u8; 64];
        let mut signals = Vec::new();
        loop {
            match self.signals.read(&mut bytes) {
                Ok(0) | Err(_) => break,
                Ok(n) => signals.extend(bytes[..n].iter().map(|&b| libc::c_int::from(b))),
            }
        }
        signals
    }

    fn on_signal(&mut self, signal: libc::c_int) {
        if !FORWARDED.contains(&signal) {
            return;
        }
        let stops = STOPS.contains(&signal);
        if stops && self.stop.is_none() {
            let drain = self.drain_timeout.unwrap_or(self.settings.stop_timeout);
            self.stop = Some(Instant::now() + drain + GRACE);
            self.stop_signal = Some(signal);
        }
        if !stops && self.stop.is_some() {
            crate::event!(info, "supervisor: signal {signal} while stopping; dropped");
            return;
        }
        let Some(main) = self.main else {
            if stops {
                crate::event!(
                    info,
                    "supervisor: signal {signal} while no service runs; exiting"
                );
                Self::exit(self.last.map_or(0, sys::shell_status));
            }
            crate::event!(
                warn,
                "supervisor: signal {signal} while no service runs; dropped"
            );
            return;
        };
        crate::event!(
            info,
            "supervisor: signal {signal} passed to the service (pid {main})"
        );
        if let Err(error) = self.signal_main(signal) {
            crate::event!(
                warn,
                "supervisor: cannot pass signal {signal} to {main}: {error}"
            );
        }
    }

    /// Reads every message queued from the service.
    fn read_messages(&mut self) {
        let mut buffer = [0u8; 4096];
        loop {
            let received = match receive(self.notify.as_fd(), &mut buffer, libc::MSG_DONTWAIT) {
                Ok(received) => received,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) => {
                    crate::event!(warn, "supervisor: cannot read a message: {error}");
                    return;
                }
            };
            if received.cut {
                crate::event!(
                    warn,
                    "supervisor: a message longer than {} bytes, or with more than {} \
                     descriptors, was dropped",
                    buffer.len(),
                    crate::sys::upgrade::MOST_FDS_PER_MESSAGE
                );
                continue;
            }
            let Some(pid) = received
                .pid
                .filter(|pid| Some(*pid) == self.main || Some(*pid) == self.previous)
            else {
                self.dropped += 1;
                if self.dropped == 1 {
                    crate::event!(
                        warn,
                        "supervisor: a message from process {:?}, not the service's main \
                         process, was dropped (as systemd's NotifyAccess=main does; said once)",
                        received.pid
                    );
                }
                continue;
            };
            let text = String::from_utf8_lossy(&buffer[..received.len]).into_owned();
            self.message(pid, &text, received.fds);
        }
    }

    fn message(&mut self, from: u32, text: &str, fds: Vec<OwnedFd>) {
        if Some(from) != self.main {
            // The previous main process: only taking the role back after a
            // rolled-back upgrade (`MAINPID=` its own pid) is heard.
            if text.lines().any(|line| line == format!("MAINPID={from}")) {
                crate::event!(
                    info,
                    "supervisor: the service's main process is {from} again (the upgrade was \
                     rolled back)"
                );
                self.follow(from);
                self.previous = None;
            }
            return;
        }
        let mut store = false;
        let mut name = "stored";
        let mut ready = false;
        let mut main = None;
        for line in text.lines() {
            match line.split_once('=') {
                Some(("READY", "1")) => ready = true,
                Some(("FDSTORE", "1")) => store = true,
                Some(("FDNAME", value)) => name = value,
                Some(("MAINPID", value)) => main = value.parse::<u32>().ok(),
                Some((DRAIN_TIMEOUT_MS, value)) => {
                    self.drain_timeout = value.parse().ok().map(Duration::from_millis);
                }
                _ => {}
            }
        }
        if store {
            for fd in fds {
                self.store.add(name, fd);
            }
        }
        if ready {
            self.ready = true;
            self.starts.ready();
            if !self.told_outer {
                self.told_outer = true;
                if let Some(outer) = &self.outer {
                    if let Err(error) = outer.send("READY=1", &[]) {
                        crate::event!(warn, "supervisor: {error}; it runs on");
                    }
                }
            }
        }
        match main {
            // The new process is the sender's child; or, when the sender
            // has exited already (it is read before it is reaped, and its
            // message before its exit), an orphan the kernel handed to this
            // process.
            Some(new) if new != from => match sys::parent_of(new) {
                Ok(parent) if parent == from || parent == std::process::id() => {
                    crate::event!(
                        info,
                        "supervisor: the service's main process is now {new}, started by {from} \
                         (an upgrade)"
                    );
                    self.follow(new);
                    self.previous = Some(from);
                    // A stop that came before the move reaches the new one
                    // too.
                    if let Some(signal) = self.stop_signal {
                        let _ = self.signal_main(signal);
                    }
                }
                _ => crate::event!(
                    warn,
                    "supervisor: MAINPID={new} from {from} names no child of it; ignored"
                ),
            },
            _ => {}
        }
    }

    /// Reaps every child that ended: the service, or an orphan.
    fn reap(&mut self) {
        loop {
            let pid = match sys::ended_child() {
                Ok(Some(pid)) => pid,
                Ok(None) => return,
                Err(error) => {
                    crate::event!(warn, "supervisor: waitid: {error}");
                    return;
                }
            };
            // The main process's last messages (`MAINPID=` of an upgrade)
            // were queued before it ended: read them while its number is
            // still its own, before it is reaped.
            if Some(pid) == self.main {
                self.read_messages();
            }
            let status = match sys::reap(pid) {
                Ok(Some(status)) => status,
                Ok(None) => continue,
                Err(error) => {
                    crate::event!(warn, "supervisor: waitpid({pid}): {error}");
                    return;
                }
            };
            if Some(pid) == self.main {
                self.ended(pid, status);
            } else {
                crate::event!(
                    debug,
                    "supervisor: reaped process {pid}, which {}",
                    Ended::Status(status)
                );
            }
        }
    }

    /// The service's main process ended.
    fn ended(&mut self, pid: u32, status: ExitStatus) {
        self.main = None;
        self.main_fd = None;
        self.last = Some(status);
        let ended = Ended::Status(status);
        if self.stop.is_some() {
            crate::event!(info, "supervisor: the service (pid {pid}) {ended}; exiting");
            Self::exit(sys::shell_status(status));
        }
        if sys::succeeded(status) {
            crate::event!(info, "supervisor: the service (pid {pid}) {ended}; exiting");
            Self::exit(0);
        }
        if self.ready {
            self.starts.ready();
        } else {
            self.starts.failed();
        }
        self.schedule_restart(&format!("(pid {pid}) {ended}"), sys::shell_status(status));
    }

    /// Starts the service again, at once or after the back-off, unless the
    /// crash-loop limit is reached: then exits with `status`.
    fn schedule_restart(&mut self, why: &str, status: i32) {
        let now = Instant::now();
        let delay = match self.starts.pause(now) {
            Ok(delay) => delay,
            Err(crash_loop) => {
                crate::event!(error, "supervisor: the service {why}, {crash_loop}");
                Self::exit(if status == 0 { 1 } else { status });
            }
        };
        crate::event!(
            warn,
            "supervisor: the service {why}; started again {} with the {} listeners held",
            if delay.is_zero() {
                "at once".to_owned()
            } else {
                format!("after {delay:?} (it had not become ready)")
            },
            self.store.len()
        );
        self.restart_at = Some(now + delay);
    }

    /// SIGKILL to the service's process group and to the service.
    fn kill(&mut self) {
        self.killed = true;
        if let Some(main) = self.main {
            // Its group only while the main process is this process's own
            // unreaped child: then the number is still its own, and its
            // group's.
            if let Ok(group) = libc::pid_t::try_from(main) {
                if crate::sys::process::unreaped(group).ok() != Some(Unreaped::Gone) {
                    let _ = crate::sys::process::kill_group(group);
                }
            }
            let _ = self.signal_main(libc::SIGKILL);
        }
    }

    fn exit(status: i32) -> ! {
        crate::event!(info, "supervisor: exiting with status {status}");
        std::process::exit(status)
    }

    /// Waits for a signal, a message, or the next deadline.
    fn sleep(&self) {
        let now = Instant::now();
        let next = [self.restart_at, self.stop.filter(|_| !self.killed)]
            .into_iter()
            .flatten()
            .min();
        let timeout = next.map(|at| at.saturating_duration_since(now));
        let mut fds = vec![self.notify.as_fd(), self.signals.as_fd()];
        if let Some(main) = &self.main_fd {
            fds.push(main.as_fd());
        }
        sys::wait_readable(&fds, timeout);
    }
}
