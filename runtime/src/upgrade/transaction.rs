//! The old process's side of an upgrade, in steps: [`start`] the new
//! process (everything prepared before `fork`), [`Started::await_ready`],
//! [`Started::hand_over`], then [`Started::commit`] — or
//! [`Started::roll_back`] after any failure: the new process is killed with
//! its process group and reaped, and this one serves on. The protocol is
//! in `channel`.

use std::io::{self, Read};
use std::os::unix::io::AsFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use super::channel::{self, Named, Step, RESTARTABLE_UPGRADE};
use super::notify::Manager;
use super::{Upgrade, Upgraded};
use crate::handoff::vars::LISTEN_PID;
use crate::process::child::{listen_environment, Child, Ended, Layout};
use crate::process::{kept, locks};
use crate::sys::process::Exec;
use crate::sys::upgrade::MOST_FDS_PER_MESSAGE;

/// How often the old process looks whether the new one has ended while it
/// waits on the channel.
const POLL: Duration = Duration::from_millis(10);

/// A new process, started, not yet ready.
#[derive(Debug)]
pub(crate) struct Started {
    child: Child,
    channel: UnixStream,
    generation: u32,
    deadline: Instant,
    ready_timeout: Duration,
}

/// Starts the program `setup` names with the listeners on record at fds 3,
/// 4, … (`LISTEN_FDS`, `LISTEN_FDNAMES`, `LISTEN_PID` its own pid), and the
/// channel after them.
pub(crate) fn start(setup: &Upgrade) -> io::Result<Started> {
    let Some(program) = &setup.program else {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "upgrade failed: the program this process was started from cannot be found \
                 (argv[0] is {:?}, not a path, and not in PATH); set it with Upgrade::program",
                setup
                    .args
                    .first()
                    .map(|a| a.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
        ));
    };
    let listeners = kept::copies()?;
    let held = locks::all().len();
    if held > MOST_FDS_PER_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "upgrade failed: this process holds the locks of {held} Unix socket paths, and \
                 an upgrade passes at most {MOST_FDS_PER_MESSAGE}"
            ),
        ));
    }
    let (ours, theirs) = UnixStream::pair()?;
    let mut layout = Layout::default();
    for listener in &listeners {
        layout.place(listener.fd());
    }
    let named = Named {
        fd: layout.place(theirs.as_fd()),
        generation: setup.generation + 1,
    };
    let fd_names: Vec<&str> = listeners.iter().map(|l| l.name.as_str()).collect();
    let environment = listen_environment(&fd_names, &[RESTARTABLE_UPGRADE]);
    let channel_value = named.value_before_pid();
    let mut exec = Exec::new(
        program,
        &setup.args,
        &environment,
        &[(LISTEN_PID, ""), (RESTARTABLE_UPGRADE, &channel_value)],
    )?;
    let child = Child::spawn(&mut exec, &layout, setup.ready_timeout).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!(
                "upgrade failed: cannot start {}: {error}",
                program.display()
            ),
        )
    })?;
    crate::event!(
        info,
        "upgrade: started {} as pid {}",
        program.display(),
        child.id()
    );
    Ok(Started {
        child,
        channel: ours,
        generation: named.generation,
        deadline: Instant::now() + setup.ready_timeout,
        ready_timeout: setup.ready_timeout,
    })
}

/// Why a step failed, before the rollback says how the new process ended.
#[derive(Debug)]
pub(crate) enum Failed {
    /// It ended, or closed the channel, while this process waited for `step`.
    Ended { step: Step, closed_channel: bool },
    /// It did not take over before the ready deadline.
    TimedOut,
    /// It sent something else than `step`.
    Unexpected { step: Step, byte: u8 },
    /// The channel or a look at the child failed.
    Io(io::Error),
}

impl From<io::Error> for Failed {
    fn from(error: io::Error) -> Failed {
        Failed::Io(error)
    }
}

impl Started {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the new process says it is ready (`R`), at most until
    /// the ready deadline.
    pub(crate) fn await_ready(&mut self) -> Result<(), Failed> {
        self.expect(Step::Ready)
    }

    /// Sends `G` with the lock files of the Unix paths, and waits until the
    /// new process says it took over (`T`).
    pub(crate) fn hand_over(&mut self) -> Result<(), Failed> {
        let held = locks::all();
        for lock in &held {
            crate::event!(
                debug,
                "upgrade: passing the lock {} to the new process",
                lock.path().display()
            );
        }
        let fds: Vec<_> = held.iter().map(|held| held.fd()).collect();
        channel::send(&self.channel, Step::Go, &fds)?;
        self.expect(Step::Taken)
    }

    /// The new process took over: if it still runs, the main pid moves to
    /// it (under systemd) and it is told `C`. A failure here (it ended just
    /// now) is rolled back like the others.
    pub(crate) fn commit(&mut self, manager: Option<&Manager>) -> Result<Upgraded, Failed> {
        if self.child.has_ended()? {
            return Err(Failed::Ended {
                step: Step::Committed,
                closed_channel: false,
            });
        }
        let upgraded = Upgraded {
            pid: self.pid(),
            generation: self.generation,
        };
        if let Some(manager) = manager {
            if let Err(error) = manager.send(&format!("MAINPID={}", upgraded.pid), &[]) {
                crate::event!(
                    warn,
                    "upgrade: cannot move the service manager's main pid to the new process: \
                     {error}"
                );
            }
        }
        if let Err(error) = channel::send(&self.channel, Step::Committed, &[]) {
            // It ended after the check, and the main pid may have moved to
            // it: moved back (heard where the unit has NotifyAccess=all).
            if let Some(manager) = manager {
                if let Err(back) = manager.send(&format!("MAINPID={}", std::process::id()), &[]) {
                    crate::event!(error, "upgrade: cannot move the main pid back here: {back}");
                }
            }
            return Err(Failed::Io(error));
        }
        Ok(upgraded)
    }

    /// Kills the new process with its process group, reaps it, and says
    /// why the upgrade failed and how the process ended.
    pub(crate) fn roll_back(mut self, failed: Failed) -> io::Error {
        self.child.kill();
        let pid = self.pid();
        let ended = self.child.wait();
        crate::event!(
            debug,
            "upgrade: the new process (pid {pid}) was stopped: {ended:?}"
        );
        // How it ended, when it ended by itself (not by the kill above).
        let by_itself = match &ended {
            Ok(Ended::Status(status)) if status.signal() != Some(libc::SIGKILL) => {
                Some(Ended::Status(*status).to_string())
            }
            Ok(Ended::Elsewhere) => Some(Ended::Elsewhere.to_string()),
            _ => None,
        };
        let (kind, message) = match failed {
            Failed::Ended {
                step,
                closed_channel,
            } => {
                let before = match step {
                    Step::Ready => "before it was ready",
                    _ => "before it took over",
                };
                let what = match (by_itself, closed_channel) {
                    (Some(how), _) => how,
                    (None, true) => "closed the ready channel".to_owned(),
                    (None, false) => "ended".to_owned(),
                };
                (
                    io::ErrorKind::Other,
                    format!("upgrade failed: the new process (pid {pid}) {what} {before}"),
                )
            }
            Failed::TimedOut => (
                io::ErrorKind::TimedOut,
                format!(
                    "upgrade failed: the new process (pid {pid}) was not ready within {:?}; it \
                     was killed with what it started",
                    self.ready_timeout
                ),
            ),
            Failed::Unexpected { step, byte } => (
                io::ErrorKind::InvalidData,
                format!(
                    "upgrade failed: the new process (pid {pid}) sent {:?} where {} was expected \
                     on the ready channel; it was killed with what it started",
                    char::from(byte),
                    step.name()
                ),
            ),
            Failed::Io(error) => (
                error.kind(),
                format!(
                    "upgrade failed: the ready channel to the new process (pid {pid}) broke: \
                     {error}; it was killed with what it started"
                ),
            ),
        };
        io::Error::new(kind, message)
    }

    /// Waits for `step` from the new process, looking every [`POLL`]
    /// whether it ended, until the ready deadline.
    fn expect(&mut self, step: Step) -> Result<(), Failed> {
        self.channel.set_read_timeout(Some(POLL))?;
        let mut byte = [0u8; 1];
        loop {
            match self.channel.read(&mut byte) {
                Ok(1) if byte[0] == step.byte() => return Ok(()),
                Ok(1) => {
                    return Err(Failed::Unexpected {
                        step,
                        byte: byte[0],
                    })
                }
                Ok(_) => return Err(self.closed(step)),
                Err(error) if error.kind() == io::ErrorKind::ConnectionReset => {
                    return Err(self.closed(step))
                }
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(error) => return Err(Failed::Io(error)),
            }
            if self.child.has_ended()? {
                return Err(Failed::Ended {
                    step,
                    closed_channel: false,
                });
            }
            if Instant::now() >= self.deadline {
                return Err(Failed::TimedOut);
            }
        }
    }

    /// The new process closed the channel: it is ending, or something it
    /// started holds the channel no more. The exit comes with the end of
    /// file, or just after it: waited for a little, so that the message
    /// can say how it ended.
    fn closed(&mut self, step: Step) -> Failed {
        for _ in 0..20 {
            if self.child.has_ended().unwrap_or(false) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Failed::Ended {
            step,
            closed_channel: true,
        }
    }
}

/// The whole transaction: start, ready, hand over, commit; on any failure,
/// roll back. `started` learns the new process's id once it runs.
pub(crate) fn run(setup: &Upgrade, started: impl FnOnce(u32)) -> io::Result<Upgraded> {
    let mut new = start(setup)?;
    started(new.pid());
    let outcome = new
        .await_ready()
        .and_then(|()| new.hand_over())
        .and_then(|()| new.commit(setup.manager.as_ref()));
    outcome.map_err(|failed| new.roll_back(failed))
}
