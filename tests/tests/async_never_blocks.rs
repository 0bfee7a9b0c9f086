//! An `async fn` listener never blocks the thread that polls it: the pauses
//! of `retry` and the lookup of who holds the port are waited for, not done
//! inside `poll`, and all of it takes at most one thread of the process.
//!
//! The measurements run in a copy of this test binary that runs the test
//! alone, with one test thread, so that the threads counted are the
//! listener's and no other test's.
#![cfg(target_os = "linux")]

use std::collections::HashSet;
use std::env;
use std::fs;
use std::future::Future;
use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, TcpListener};
use std::pin::{pin, Pin};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use restartable::restartable_listener;
use restartable_tests::{command, in_child, Running};

/// A stack no thread can have: every thread spawn of the child fails (with
/// EAGAIN: glibc cannot map it), as when a process is at its thread limit.
const NO_THREAD_STACK: &str = "1000000000000000";

#[restartable_listener(host = "127.0.0.1", port = port, retry = "2s")]
async fn retrying(port: u16) -> io::Result<tokio::net::TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = port, retry = "2s")]
async fn retrying_std(port: u16) -> io::Result<TcpListener> {}

#[restartable_listener(host = "127.0.0.1", port = port)]
async fn once(port: u16) -> io::Result<TcpListener> {}

#[restartable_listener(path = path, retry = "2s")]
async fn retrying_unix(path: &std::path::Path) -> io::Result<tokio::net::UnixListener> {}

#[restartable_listener(host = "127.0.0.1", port = port)]
fn once_blocking(port: u16) -> io::Result<TcpListener> {}

/// A listener on a free loopback port, held for the test: a live listener
/// refuses our bind even with SO_REUSEADDR.
fn hold() -> (TcpListener, u16) {
    let holder = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = holder.local_addr().unwrap().port();
    (holder, port)
}

/// What the child measured, one `key=value` each, and the error it got.
struct Report {
    values: Vec<(String, u128)>,
    lines: Vec<String>,
    pid: u32,
}

impl Report {
    fn value(&self, key: &str) -> u128 {
        self.values
            .iter()
            .find(|(name, _)| name == key)
            .unwrap_or_else(|| panic!("the child did not say {key}: {:?}", self.lines))
            .1
    }

    fn line(&self, prefix: &str) -> &str {
        self.lines
            .iter()
            .find_map(|line| line.split_once(prefix).map(|(_, rest)| rest))
            .unwrap_or_else(|| panic!("the child said no {prefix:?}: {:?}", self.lines))
    }
}

/// Runs the test `test` in a copy of this test binary, where it measures;
/// `extra` adds variables.
fn run_child(test: &str, extra: &[(&str, &str)]) -> Report {
    let copy = Running::start(command(test).envs(extra.iter().copied()));
    let pid = copy.id();
    let stdout = copy.finish();
    let lines: Vec<String> = stdout.lines().map(str::to_owned).collect();
    let values = lines
        .iter()
        .filter_map(|line| line.split_once("measured "))
        .flat_map(|(_, rest)| rest.split_whitespace())
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect();
    Report { values, lines, pid }
}

/// The threads of this process, as `/proc/self/task` lists them.
fn threads() -> HashSet<u32> {
    fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Lists this process's threads every millisecond on a thread of its own,
/// until stopped: every thread the listener starts lives at least through
/// one pause (10 ms and more), long enough to be seen.
struct ThreadCensus {
    stop: Arc<AtomicBool>,
    seen: thread::JoinHandle<HashSet<u32>>,
    before: HashSet<u32>,
}

impl ThreadCensus {
    fn start() -> ThreadCensus {
        let stop = Arc::new(AtomicBool::new(false));
        let (first, before) = mpsc::channel();
        let seen = thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                // Taken here, so that the census thread itself is in it.
                let mut seen = threads();
                first.send(seen.clone()).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    seen.extend(threads());
                    thread::sleep(Duration::from_millis(1));
                }
                seen
            }
        });
        ThreadCensus {
            stop,
            seen,
            before: before.recv().unwrap(),
        }
    }

    /// How many threads were seen that were not there at the start.
    fn new_threads(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let seen = self.seen.join().unwrap();
        seen.difference(&self.before).count()
    }
}

/// A future that adds up the time spent inside its inner future's `poll`.
struct Timed<F> {
    inner: Pin<Box<F>>,
    in_poll: Duration,
    longest_poll: Duration,
    polls: u32,
}

impl<F: Future> Timed<F> {
    fn new(inner: F) -> Self {
        Timed {
            inner: Box::pin(inner),
            in_poll: Duration::ZERO,
            longest_poll: Duration::ZERO,
            polls: 0,
        }
    }
}

impl<F: Future> Future for Timed<F> {
    type Output = (F::Output, Duration, Duration, u32);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let started = Instant::now();
        let result = self.inner.as_mut().poll(cx);
        let spent = started.elapsed();
        self.in_poll += spent;
        self.longest_poll = self.longest_poll.max(spent);
        self.polls += 1;
        result.map(|output| (output, self.in_poll, self.longest_poll, self.polls))
    }
}

/// In the copy: a current-thread tokio runtime, a task that ticks every
/// millisecond and notes the longest gap between its ticks, and a listener
/// that retries for 2 s against a held port or path and then looks up the
/// holder.
fn retry_on_a_current_thread_runtime<T>(listening: impl Future<Output = io::Result<T>>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let census = ThreadCensus::start();
    let (error, in_poll, longest_poll, polls, ticks, longest_gap, long_gaps) =
        runtime.block_on(async {
            let done = Arc::new(AtomicBool::new(false));
            let ticker = tokio::spawn({
                let done = Arc::clone(&done);
                async move {
                    let mut interval = tokio::time::interval(Duration::from_millis(1));
                    let mut last = Instant::now();
                    let (mut ticks, mut longest_gap, mut long_gaps) =
                        (0_u32, Duration::ZERO, 0_u32);
                    while !done.load(Ordering::Relaxed) {
                        interval.tick().await;
                        let now = Instant::now();
                        longest_gap = longest_gap.max(now - last);
                        long_gaps += u32::from(now - last >= LONG_GAP);
                        last = now;
                        ticks += 1;
                    }
                    (ticks, longest_gap, long_gaps)
                }
            });
            // Let the ticker start before the listener's first poll.
            tokio::task::yield_now().await;
            let (result, in_poll, longest_poll, polls) = Timed::new(listening).await;
            done.store(true, Ordering::Relaxed);
            let (ticks, longest_gap, long_gaps) = ticker.await.unwrap();
            let error = result.err().expect("the listener failed");
            (
                error,
                in_poll,
                longest_poll,
                polls,
                ticks,
                longest_gap,
                long_gaps,
            )
        });
    let new_threads = census.new_threads();
    assert_eq!(error.kind(), ErrorKind::AddrInUse, "{error}");
    println!(
        "measured new_threads={new_threads} in_poll_us={} longest_poll_us={} polls={polls} \
         ticks={ticks} longest_gap_us={} long_gaps={long_gaps}",
        in_poll.as_micros(),
        longest_poll.as_micros(),
        longest_gap.as_micros()
    );
    println!("listener error: {error}");
}

/// In the copy, where no thread can be started: the same retry, polled by
/// the smallest executor.
fn retry_without_a_thread() {
    let control = thread::Builder::new().spawn(|| ());
    match control {
        Err(error) => println!("spawn control: {:?} {error}", error.kind()),
        Ok(_) => println!("spawn control: a thread was started"),
    }
    let (_holder, port) = hold();
    let started = Instant::now();
    let (result, in_poll, longest_poll, polls) = block_on(Timed::new(retrying_std(port)));
    let error = result.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::AddrInUse, "{error}");
    println!(
        "measured in_poll_us={} longest_poll_us={} polls={polls} total_us={}",
        in_poll.as_micros(),
        longest_poll.as_micros(),
        started.elapsed().as_micros()
    );
    println!("listener error: {error}");
}

/// The pauses and the holder lookup of a 2 s retry take at most one new
/// thread, and the runtime's one thread keeps running other tasks: the
/// listener's polls add up to a small part of the 2 s.
#[test]
fn a_two_second_retry_takes_at_most_one_thread_and_never_blocks_the_runtime() {
    if in_child() {
        let (_holder, port) = hold();
        return retry_on_a_current_thread_runtime(retrying(port));
    }
    let report = run_child(
        "a_two_second_retry_takes_at_most_one_thread_and_never_blocks_the_runtime",
        &[],
    );
    for line in &report.lines {
        println!("child: {line}");
    }
    // The retry ran to its end and the holder was looked up: the error
    // names this child, which holds the port.
    let error = report.line("listener error: ");
    assert!(
        error.contains(&format!("; a listening socket of process {} (", report.pid)),
        "{error}"
    );
    assert_never_blocked(&report);
}

/// The lock of a Unix-domain path held by another program: each attempt is
/// "in use" at once (it never waits for the lock inside `poll`, as it once
/// did for up to 5 s), and the retry's pauses are awaited like any other.
#[test]
fn a_unix_path_whose_lock_is_held_elsewhere_never_blocks_the_runtime() {
    if in_child() {
        let path = std::path::PathBuf::from(env::var("SOCKET_PATH").unwrap());
        return retry_on_a_current_thread_runtime(retrying_unix(&path));
    }
    let dir = env::temp_dir().join(format!("restartable-async-lock-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.sock");
    let lock = dir.join("app.sock.lock");
    // util-linux's flock(1) holds the lock in a process of its own.
    let mut holder = Command::new("flock")
        .arg("--exclusive")
        .arg(&lock)
        .args(["sleep", "30"])
        .spawn()
        .expect("flock(1) from util-linux");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lock_is_held(&lock) {
        assert!(Instant::now() < deadline, "flock never took the lock");
        thread::sleep(Duration::from_millis(5));
    }
    let report = run_child(
        "a_unix_path_whose_lock_is_held_elsewhere_never_blocks_the_runtime",
        &[("SOCKET_PATH", path.to_str().unwrap())],
    );
    let _ = holder.kill();
    let _ = holder.wait();
    for line in &report.lines {
        println!("child: {line}");
    }
    let error = report.line("listener error: ");
    assert!(error.contains(&path.display().to_string()), "{error}");
    assert_never_blocked(&report);
    fs::remove_dir_all(dir).unwrap();
}

/// Whether another open file holds `lock` (a try-lock from here fails).
fn lock_is_held(lock: &std::path::Path) -> bool {
    use std::os::unix::io::AsRawFd;
    let Ok(file) = fs::File::open(lock) else {
        return false;
    };
    #[allow(unsafe_code)]
    // SAFETY: flock on a descriptor `file` owns for the call; no memory.
    let result = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    result != 0
}

/// What both retries show: the whole 2 s was tried, at most one new
/// thread, little time inside `poll`, and a ticker that kept ticking.
/// A gap of the ticker that a blocking pause would make.
const LONG_GAP: Duration = Duration::from_millis(150);

fn assert_never_blocked(report: &Report) {
    let error = report.line("listener error: ");
    assert!(
        error.contains("; still in use after retrying for 2."),
        "{error}"
    );
    // One helper thread for all pauses (none when one was already running).
    // The census can only miss a thread, not invent one.
    let new_threads = report.value("new_threads");
    assert!(
        new_threads <= 1,
        "{new_threads} threads were started for one retry"
    );
    // Time inside `poll`: a few bind calls, microseconds each. A version
    // that slept in `poll` would spend the whole 2 s there; half a second
    // leaves room for any preemption of this thread on a loaded machine.
    let in_poll = report.value("in_poll_us");
    assert!(
        in_poll < 500_000,
        "{in_poll} µs of the 2 s retry were spent inside poll"
    );
    // The ticker's gaps: the longest 3 to 30 ms on a shared 2-core machine,
    // busy or not (preemption, not the listener: all its polls together
    // took 11 ms at most), once 205 ms with the load average at 10. A pause
    // that blocked the thread would make a gap of 200 ms eight times in
    // 2 s (the longest pause, taken eight times): so it is the number of
    // gaps of 150 ms or more that tells the two apart, not the longest one,
    // which a preemption can stretch once.
    let longest_gap = report.value("longest_gap_us");
    let long_gaps = report.value("long_gaps");
    assert!(
        long_gaps < 4,
        "the 1 ms ticker waited 150 ms or more {long_gaps} times (the longest {longest_gap} µs)"
    );
}

/// With no thread to be had, a retry cannot wait without blocking: it stops
/// after the attempt it made and says why, instead of sleeping in `poll`.
#[test]
fn without_a_thread_for_its_pauses_a_retry_stops_instead_of_blocking() {
    if in_child() {
        return retry_without_a_thread();
    }
    let report = run_child(
        "without_a_thread_for_its_pauses_a_retry_stops_instead_of_blocking",
        &[("RUST_MIN_STACK", NO_THREAD_STACK)],
    );
    for line in &report.lines {
        println!("child: {line}");
    }
    // Control: in that child no thread can be started.
    assert!(
        report.line("spawn control: ").starts_with("WouldBlock"),
        "{:?}",
        report.lines
    );
    let error = report.line("listener error: ");
    assert!(error.contains("(1 attempts)"), "{error}");
    assert!(
        error.contains(
            "; the retry stopped early because no thread could be started for its pauses: "
        ),
        "{error}"
    );
    let in_poll = report.value("in_poll_us");
    assert!(in_poll < 500_000, "{in_poll} µs were spent inside poll");
}

/// The lookup of who holds the port (up to about 100 ms of reading `/proc`)
/// is not done inside `poll`: the poll whose bind fails returns `Pending`,
/// another thread wakes the task, and the error of a later poll names the
/// holder, as the blocking function's does.
/// (The poll that hands the lookup over returns `Pending` without looking
/// at its result, so this holds however fast the lookup is.)
#[test]
fn the_holder_is_looked_up_off_the_polling_thread() {
    let (_holder, port) = hold();
    let expected = format!("; a listening socket of process {} (", std::process::id());
    // Control: the blocking function looks it up inline and names it.
    let control = once_blocking(port).unwrap_err();
    assert!(control.to_string().contains(&expected), "{control}");

    let log = Arc::new(WakeLog {
        thread: thread::current(),
        from: Mutex::new(Vec::new()),
    });
    let waker = Waker::from(Arc::clone(&log));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(once(port));
    if let Poll::Ready(result) = future.as_mut().poll(&mut context) {
        panic!(
            "the first poll returned {:?}: the holder was looked up inside it",
            result.map(|_| ())
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let error = loop {
        assert!(Instant::now() < deadline, "the task was never woken");
        if log.from.lock().unwrap().is_empty() {
            thread::park_timeout(Duration::from_millis(100));
            continue;
        }
        match future.as_mut().poll(&mut context) {
            Poll::Ready(result) => break result.unwrap_err(),
            Poll::Pending => log.from.lock().unwrap().clear(),
        }
    };
    assert_eq!(error.kind(), ErrorKind::AddrInUse);
    assert!(error.to_string().contains(&expected), "{error}");
    let from = log.from.lock().unwrap();
    assert!(
        from.iter().all(|id| *id != thread::current().id()),
        "woken from the polling thread"
    );
}

/// A waker that notes which thread woke it.
struct WakeLog {
    thread: thread::Thread,
    from: Mutex<Vec<ThreadId>>,
}

impl Wake for WakeLog {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.from.lock().unwrap().push(thread::current().id());
        self.thread.unpark();
    }
}

/// The smallest executor: polls on this thread, parks between wakes.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(thread::current())).into();
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => thread::park(),
        }
    }
}
