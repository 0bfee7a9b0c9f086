//! What starts an upgrade besides [`Running::upgrade`]: the signal, and on
//! Linux a request from another process (`control`).
//!
//! Both are set up in [`Upgrade::ready`](super::Upgrade::ready) before the
//! handover: from then on a signal is queued, never the default action
//! (which for SIGHUP ends the process), and a failure to set them up fails
//! the new process before it takes over. Their threads start once the
//! process serves.

use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::Duration;

use super::{Running, Signal};
use crate::sys::upgrade as sys;

/// How often the signal thread looks whether its handler is still the
/// signal's: a handler installed later with plain `sigaction` replaces it.
const HANDLER_CHECK: Duration = Duration::from_secs(2);

/// The triggers, set up and not yet started.
#[derive(Debug)]
pub(crate) struct Triggers {
    signal: Option<SignalTrigger>,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    requests: std::os::unix::net::UnixListener,
}

#[derive(Debug)]
struct SignalTrigger {
    signal: Signal,
    receiver: UnixStream,
    /// The handler the signal had once ours was registered.
    handler: usize,
}

/// Registers the signal (each delivery queues one byte) and binds the
/// request socket.
pub(crate) fn set_up(signal: Option<Signal>) -> io::Result<Triggers> {
    // The request socket first: a signal handler, once registered, stays.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let requests = super::control::bind().map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot listen for upgrade requests: {error}"),
        )
    })?;
    let signal = match signal {
        Some(signal) => {
            let (receiver, sender) = UnixStream::pair()?;
            sys::signal_to_socket(signal.as_raw(), sender).map_err(|error| {
                io::Error::new(
                    error.kind(),
                    format!("cannot handle {signal} for upgrades: {error}"),
                )
            })?;
            Some(SignalTrigger {
                signal,
                receiver,
                handler: sys::signal_handler(signal.as_raw())?,
            })
        }
        None => None,
    };
    Ok(Triggers {
        signal,
        #[cfg(any(target_os = "linux", target_os = "android"))]
        requests,
    })
}

impl Triggers {
    /// Starts the threads that wait for the signal and for requests. A
    /// thread that cannot be started is logged, not returned: by now the
    /// process may have taken over, and must serve on.
    pub(crate) fn start(self, running: &Running) {
        if let Some(signal) = self.signal {
            let running = running.clone();
            let name = signal.signal;
            if let Err(error) = thread::Builder::new()
                .name("restartable-signal".into())
                .spawn(move || signal.wait(&running))
            {
                crate::event!(
                    error,
                    "upgrade: no thread could be started for {name}, so it starts no upgrade: \
                     {error}"
                );
            }
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let running = running.clone();
            let listener = self.requests;
            if let Err(error) = thread::Builder::new()
                .name("restartable-control".into())
                .spawn(move || requests::serve(&listener, &running))
            {
                crate::event!(
                    error,
                    "upgrade: no thread could be started for upgrade requests, so none is \
                     answered: {error}"
                );
            }
        }
    }
}

impl SignalTrigger {
    /// Signals that came during an upgrade are refused, as a request then
    /// is (one upgrade at a time), not acted on one after another.
    fn refuse_those_that_came_meanwhile(&mut self) {
        let _ = self.receiver.set_nonblocking(true);
        let mut bytes = [0u8; 64];
        let mut refused = 0;
        while let Ok(n @ 1..) = self.receiver.read(&mut bytes) {
            refused += n;
        }
        let _ = self.receiver.set_nonblocking(false);
        if refused > 0 {
            crate::event!(
                info,
                "upgrade: {refused} more {} came during the upgrade; refused: one upgrade at a \
                 time",
                self.signal
            );
        }
    }

    fn wait(mut self, running: &Running) {
        let _ = self.receiver.set_read_timeout(Some(HANDLER_CHECK));
        let mut byte = [0u8; 1];
        let mut replaced_said = false;
        loop {
            match self.receiver.read(&mut byte) {
                Ok(1) => {
                    crate::event!(info, "upgrade: {} received", self.signal);
                    // The outcome is in the log; the next signal may retry.
                    let _ = running.upgrade();
                    self.refuse_those_that_came_meanwhile();
                }
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    let now = sys::signal_handler(self.signal.as_raw()).ok();
                    if now != Some(self.handler) && !replaced_said {
                        replaced_said = true;
                        crate::event!(
                            error,
                            "upgrade: {} no longer reaches restartable: another handler \
                             replaced the one set at Upgrade::ready (with plain sigaction or \
                             signal(); register handlers through signal-hook or tokio::signal \
                             instead), so the signal starts no upgrade",
                            self.signal
                        );
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Ok(_) | Err(_) => return,
            }
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod requests {
    use std::io::{self, BufReader};
    use std::os::unix::io::AsFd;
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::thread;
    use std::time::{Duration, Instant};

    use super::Running;
    use crate::sys::send_all;
    use crate::upgrade::control::{self, Answer, Refused};

    /// Requests served at once; more are answered "busy".
    const MOST_AT_ONCE: usize = 4;

    /// The longest pause after a failed accept (EMFILE: out of descriptors).
    const LONGEST_PAUSE: Duration = Duration::from_secs(1);

    /// How often a refusal or an accept error is logged at most.
    const LOG_EVERY: Duration = Duration::from_secs(10);

    /// Accepts requests for the life of the process. Who asks is checked
    /// on this thread, before anything is read or started for them; a
    /// refused requester gets one line and is closed.
    pub(super) fn serve(listener: &UnixListener, running: &Running) {
        let active = Arc::new(AtomicUsize::new(0));
        let mut refusals = Quiet::default();
        let mut failures = Quiet::default();
        let mut pause = Duration::ZERO;
        loop {
            let stream = match listener.accept() {
                Ok((stream, _)) => {
                    pause = Duration::ZERO;
                    stream
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    // EMFILE, ENFILE, ENOBUFS: nothing to accept with until
                    // something is closed. Back off instead of spinning.
                    pause = (pause * 2).clamp(Duration::from_millis(1), LONGEST_PAUSE);
                    failures.say(|count| {
                        crate::event!(
                            warn,
                            "upgrade: cannot accept upgrade requests ({count} times): {error}; \
                             trying again in {pause:?}"
                        );
                    });
                    thread::sleep(pause);
                    continue;
                }
            };
            if let Err(refused) = control::authorize(&stream) {
                refusals.say(|count| match refused {
                    Refused::OtherUser { pid, uid } | Refused::Unmapped { pid, uid } => {
                        crate::event!(
                            warn,
                            "upgrade: refused a request from process {pid} of user {uid} \
                             ({count} refused since the last such message)"
                        );
                    }
                    Refused::Unknown => crate::event!(
                        warn,
                        "upgrade: refused a request whose sender could not be read ({count} \
                         refused since the last such message)"
                    ),
                });
                answer_and_close(stream, &refused.answer());
                continue;
            }
            if active.fetch_add(1, Ordering::SeqCst) >= MOST_AT_ONCE {
                active.fetch_sub(1, Ordering::SeqCst);
                answer_and_close(
                    stream,
                    &Answer::Error(
                        io::ErrorKind::WouldBlock,
                        "too many upgrade requests at once; try again".to_owned(),
                    ),
                );
                continue;
            }
            let running = running.clone();
            let done = active.clone();
            let spawned = thread::Builder::new()
                .name("restartable-request".into())
                .spawn(move || {
                    serve_one(&running, &stream);
                    done.fetch_sub(1, Ordering::SeqCst);
                });
            if spawned.is_err() {
                active.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Writes `answer` without waiting (the requester may not read) and
    /// closes the connection.
    fn answer_and_close(stream: UnixStream, answer: &Answer) {
        let _ = stream.set_nonblocking(true);
        let _ = write(&stream, answer);
        drop(stream);
    }

    fn serve_one(running: &Running, stream: &UnixStream) {
        let _ = stream.set_read_timeout(Some(control::ANSWER_TIMEOUT));
        let _ = stream.set_write_timeout(Some(control::ANSWER_TIMEOUT));
        match control::read_line(&mut BufReader::new(stream), control::MOST_REQUEST_BYTES) {
            Ok(line) if line == control::REQUEST => {}
            _ => {
                let _ = write(
                    stream,
                    &Answer::Error(
                        io::ErrorKind::InvalidInput,
                        format!("expected the request {:?}", control::REQUEST),
                    ),
                );
                return;
            }
        }
        crate::event!(info, "upgrade: requested by another process");
        let ready_timeout = running.shared.setup.ready_timeout;
        // The outcome is written before the takeover wakes the program,
        // which may then end the process.
        let _ = running.upgrade_with(
            || {
                let _ = write(stream, &Answer::Started { ready_timeout });
            },
            |outcome| {
                let answer = match outcome {
                    Ok(upgraded) => Answer::Upgraded(*upgraded),
                    Err(error) => Answer::Error(error.kind(), error.to_string()),
                };
                let _ = write(stream, &answer);
            },
        );
    }

    /// The answer and its newline; a requester that went away is an
    /// error, never SIGPIPE.
    fn write(stream: &UnixStream, answer: &Answer) -> io::Result<()> {
        send_all(stream.as_fd(), format!("{}\n", answer.encode()).as_bytes())
    }

    /// A message said at most once per [`LOG_EVERY`], with how many times
    /// it happened since it was last said.
    #[derive(Default)]
    struct Quiet {
        last: Option<Instant>,
        count: u64,
    }

    impl Quiet {
        fn say(&mut self, say: impl FnOnce(u64)) {
            self.count += 1;
            if self.last.map_or(true, |last| last.elapsed() >= LOG_EVERY) {
                say(self.count);
                self.last = Some(Instant::now());
                self.count = 0;
            }
        }
    }
}
