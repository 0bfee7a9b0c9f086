//! The supervisor on Windows: it keeps the listeners the service passes it
//! (`crate::pass`, `WSADuplicateSocketW`), starts the service again at once
//! after a crash with those same sockets, and stops with it.

use std::convert::Infallible;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::{AsHandle, AsRawSocket, OwnedHandle};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use socket2::Socket;

use super::limit::Starts;
use super::Supervisor;
use crate::pass::wire::{
    command_line, environment_block, Message, Record, Vars, RESTARTABLE_SOCKETS,
};
use crate::sys::process::{self as sys, Job, Spawned};

/// How often the service's exit and a console stop are looked at.
const POLL: Duration = Duration::from_millis(20);
/// After the service and its job ended: how long the last records may take
/// to be read (the pipe's end is certain then).
const LAST_RECORDS: Duration = Duration::from_secs(5);

/// The listeners the services passed: one per name and address (a later
/// one replaces an earlier one of both).
type Kept = Arc<Mutex<Vec<(Option<String>, Socket)>>>;

pub(super) fn supervise(settings: &Supervisor) -> io::Result<Infallible> {
    let program = std::env::current_exe().map_err(|error| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("supervisor: the program's path is not known: {error}"),
        )
    })?;
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    sys::catch_console_stop()?;
    let mut supervisor = Windows {
        settings,
        program,
        args,
        kept: Arc::new(Mutex::new(Vec::new())),
        starts: Starts::new(settings.burst, settings.interval),
    };
    crate::event!(
        info,
        "supervisor: process {} keeps the listeners the service passes, and starts the service \
         again after a crash",
        std::process::id()
    );
    supervisor.run()
}

struct Windows<'a> {
    settings: &'a Supervisor,
    program: PathBuf,
    args: Vec<OsString>,
    kept: Kept,
    starts: Starts,
}

/// One run of the service.
struct Service {
    process: Spawned,
    /// Ends what the service started when it ends (or the supervisor).
    job: Job,
    /// Set once the service passed a listener or said it took one: it got
    /// as far as listening.
    ready: Arc<AtomicBool>,
    /// Ends when the store pipe ends.
    records: mpsc::Receiver<()>,
    /// The process an upgrade of the service made the service, once it
    /// said so on the store pipe.
    main: Arc<Mutex<Option<u32>>>,
}

impl Windows<'_> {
    fn run(&mut self) -> io::Result<Infallible> {
        let mut service = self.start()?;
        loop {
            let code = self.wait(&mut service)?;
            sys::set_service_runs(false);
            // What the service left behind ends with it; then no process
            // holds the store pipe, and every record it sent is read.
            let _ = service.job.terminate(code);
            let _ = service.records.recv_timeout(LAST_RECORDS);
            let pid = service.process.pid;
            let ready = service.ready.load(Ordering::SeqCst);
            drop(service);
            if sys::stop_asked() {
                exit(
                    &format!("the service (pid {pid}) {}; stopping", ended(code)),
                    code,
                );
            }
            if code == 0 {
                exit(&format!("the service (pid {pid}) exited with status 0"), 0);
            }
            if ready {
                self.starts.ready();
            } else {
                self.starts.failed();
            }
            let pause = match self.starts.pause(Instant::now()) {
                Ok(pause) => pause,
                Err(crash_loop) => {
                    crate::event!(
                        error,
                        "supervisor: the service (pid {pid}) {}, {crash_loop}",
                        ended(code)
                    );
                    exit("crash loop", code);
                }
            };
            crate::event!(
                warn,
                "supervisor: the service (pid {pid}) {}; started again {} with the {} listeners held",
                ended(code),
                if pause.is_zero() {
                    "at once".to_owned()
                } else {
                    format!("after {pause:?} (it had passed no listener)")
                },
                self.kept.lock().unwrap_or_else(PoisonError::into_inner).len()
            );
            self.pause(pause, code);
            service = loop {
                match self.start() {
                    Ok(service) => break service,
                    Err(error) => {
                        crate::event!(error, "supervisor: cannot start the service: {error}");
                        self.starts.failed();
                        match self.starts.pause(Instant::now()) {
                            Ok(pause) => self.pause(pause, 1),
                            Err(crash_loop) => exit(
                                &format!("the service could not be started, {crash_loop}"),
                                1,
                            ),
                        }
                    }
                }
            };
        }
    }

    /// The back-off before the next start; a console stop meanwhile ends
    /// the supervisor with the last service's exit code.
    fn pause(&self, pause: Duration, code: u32) {
        let until = Instant::now() + pause;
        loop {
            if sys::stop_asked() {
                exit("stop asked before the service was started again", code);
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            thread::sleep(left.min(POLL));
        }
    }

    /// Waits for the service to exit; on a console stop, up to the stop
    /// timeout, then ends it. Its exit code.
    fn wait(&self, service: &mut Service) -> io::Result<u32> {
        let mut deadline = None;
        loop {
            if let Some(code) = service.process.wait(POLL)? {
                // An upgrade's old process drains and exits, with any status:
                // the new one is the service (its word may be on the way).
                if self.follow(service, Duration::from_millis(500)) {
                    continue;
                }
                return Ok(code);
            }
            self.follow(service, Duration::ZERO);
            if sys::stop_asked() && deadline.is_none() {
                // The console's event reached the service too.
                crate::event!(
                    info,
                    "supervisor: stop asked; waiting for the service to exit"
                );
                deadline = Some(Instant::now() + self.settings.stop_timeout);
            }
            if deadline.is_some_and(|at| Instant::now() >= at) {
                crate::event!(
                    warn,
                    "supervisor: the service did not exit by the stop timeout; ended"
                );
                service.job.terminate(1)?;
                deadline = None;
            }
        }
    }

    /// When the service said an upgrade made process N the service, and N
    /// is a child of it: waits for N from now on. Looks for up to `grace`.
    fn follow(&self, service: &mut Service, grace: Duration) -> bool {
        let until = Instant::now() + grace;
        loop {
            let next = service
                .main
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(pid) = next.filter(|&pid| pid != service.process.pid) {
                // Opened first, so that the id cannot go to another process
                // between the look at its parent and the wait.
                let opened = Spawned::open(pid);
                let child = opened.is_ok()
                    && sys::parent_of(pid)
                        .ok()
                        .flatten()
                        .is_some_and(|p| p.pid == service.process.pid);
                match opened {
                    Ok(process) if child => {
                        crate::event!(
                            info,
                            "supervisor: the service (pid {}) was upgraded; pid {pid} is the \
                             service now",
                            service.process.pid
                        );
                        service.process = process;
                        return true;
                    }
                    Ok(_) => crate::event!(
                        error,
                        "supervisor: the service named pid {pid} its successor, which it did \
                         not start; ignored"
                    ),
                    Err(error) => crate::event!(
                        error,
                        "supervisor: the service named pid {pid} its successor: {error}"
                    ),
                }
            }
            if Instant::now() >= until {
                return false;
            }
            thread::sleep(POLL);
        }
    }

    /// Starts the service with every kept listener, in a job of its own.
    fn start(&mut self) -> io::Result<Service> {
        let (take_read, take_write) = sys::pipe()?;
        let (store_read, store_write) = sys::pipe()?;
        let vars = Vars {
            parent: std::process::id(),
            take: Some(sys::handle_value(&take_read)),
            store: Some(sys::handle_value(&store_write)),
            keeper: None,
        };
        let wide = |text: &std::ffi::OsStr| text.encode_wide().collect::<Vec<u16>>();
        let environment = environment_block(
            std::env::vars_os().map(|(name, value)| (wide(&name), wide(&value))),
            &[(
                wide(RESTARTABLE_SOCKETS.as_ref()),
                wide(vars.format().as_ref()),
            )],
        )?;
        let args: Vec<Vec<u16>> = self.args.iter().map(|arg| wide(arg)).collect();
        let line = command_line(&wide(self.program.as_os_str()), &args)?;
        let job = Job::new()?;
        // Inheritable only for this call: another thread's process start
        // meanwhile could inherit them too (on paper; the list keeps them
        // from this one's other handles).
        sys::set_inheritable(take_read.as_handle(), true)?;
        sys::set_inheritable(store_write.as_handle(), true)?;
        self.starts.started(Instant::now());
        // Before the spawn: a closing console from here on waits for it.
        sys::set_service_runs(true);
        let spawned = sys::spawn(
            &self.program,
            &line,
            &environment,
            &[take_read.as_handle(), store_write.as_handle()],
            &job,
        );
        drop((take_read, store_write));
        if spawned.is_err() {
            sys::set_service_runs(false);
        }
        let mut process = spawned.map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("cannot start {}: {error}", self.program.display()),
            )
        })?;
        let ready = Arc::new(AtomicBool::new(false));
        let (done, records) = mpsc::channel();
        let main = Arc::new(Mutex::new(None));
        keep_records(
            store_read,
            Arc::clone(&self.kept),
            Arc::clone(&ready),
            Arc::clone(&main),
            done,
        )?;
        process.resume()?;
        self.pass(&process, take_write);
        Ok(Service {
            process,
            job,
            ready,
            records,
            main,
        })
    }

    /// Passes every kept listener to the service (`pass::send_sockets`).
    fn pass(&self, service: &Spawned, pipe: OwnedHandle) {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        crate::pass::send_sockets(
            "supervisor",
            service.pid,
            kept.iter().map(|(name, socket)| (name.clone(), socket)),
            pipe,
        );
    }
}

/// Reads the service's records from the store pipe, on a thread of its
/// own, and keeps each listener; `done` is dropped at the pipe's end.
fn keep_records(
    pipe: OwnedHandle,
    kept: Kept,
    ready: Arc<AtomicBool>,
    main: Arc<Mutex<Option<u32>>>,
    done: mpsc::Sender<()>,
) -> io::Result<()> {
    thread::Builder::new()
        .name("restartable-supervisor-store".into())
        .spawn(move || {
            let _done = done;
            let mut pipe = File::from(pipe);
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let read = match pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(read) => read,
                };
                buffer.extend_from_slice(&chunk[..read]);
                loop {
                    let (message, used) = match Message::decode(&buffer) {
                        Ok(Some(found)) => found,
                        Ok(None) => break,
                        Err(error) => {
                            crate::event!(
                                error,
                                "supervisor: the service's records end here: {error}"
                            );
                            return;
                        }
                    };
                    buffer.drain(..used);
                    match message {
                        Message::Socket(record) => keep(&kept, record, &ready),
                        Message::Main(pid) => {
                            *main.lock().unwrap_or_else(PoisonError::into_inner) = Some(pid);
                        }
                    }
                }
            }
        })
        .map(drop)
}

/// One record of the service: a listener it made, kept in place of one of
/// the same name on the same address; or, without a description, one it
/// took (already kept). Either says the service got as far as listening.
fn keep(kept: &Kept, record: Record, ready: &AtomicBool) {
    if record.info.is_empty() {
        ready.store(true, Ordering::SeqCst);
        return;
    }
    let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
    let held: Vec<usize> = kept
        .iter()
        .map(|(_, socket)| socket.as_raw_socket() as usize)
        .collect();
    match sys::socket_from_untrusted_info(&record.info, &held) {
        Ok(socket) => {
            let local = socket.local_addr().ok().and_then(|a| a.as_socket());
            kept.retain(|(name, old)| {
                name != &record.name || old.local_addr().ok().and_then(|a| a.as_socket()) != local
            });
            crate::event!(
                info,
                "supervisor: keeps the listener {:?} ({})",
                record.name,
                local.map_or_else(|| "address unknown".to_owned(), |a| a.to_string())
            );
            kept.push((record.name, socket));
            ready.store(true, Ordering::SeqCst);
        }
        Err(error) => crate::event!(
            error,
            "supervisor: cannot take the listener {:?}: {error}",
            record.name
        ),
    }
}

/// `exited with status 3` or `ended by an exception (0xC0000005)`.
fn ended(code: u32) -> String {
    if code >= 0xC000_0000 {
        format!("ended with NTSTATUS {code:#010X}")
    } else {
        format!("exited with status {code}")
    }
}

fn exit(why: &str, code: u32) -> ! {
    crate::event!(info, "supervisor: {why}; exiting with status {code}");
    #[allow(clippy::cast_possible_wrap)]
    std::process::exit(code as i32)
}
