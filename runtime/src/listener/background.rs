//! The one helper thread of the async listeners: it ends the pauses of
//! `retry` and looks up who holds a port, so that no `poll` sleeps or reads
//! `/proc`. Started on first use, it then stays parked when idle.
//!
//! Why not the executor's timer when it is tokio's: tokio offers no way to
//! ask whether the runtime has a timer. `tokio::time::sleep` panics ("timers
//! are disabled") as it is made in a runtime built without `enable_time`
//! (tokio 1.54, `Sleep::new_timeout`: "Panic if the time driver is not
//! enabled"); the one accessor that returns an `Option` is crate-private and
//! behind `tokio_unstable`, and a public `Handle::has_time_driver` is an
//! open request (tokio-rs/tokio#8361). Catching the panic prints it and does
//! not work under `panic = "abort"`; and a runtime that `Handle::try_current`
//! finds need not be the executor polling this future. So every executor
//! gets the same thread, and this crate does not need tokio's `time`.

use std::future::Future;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Instant;

/// The helper of this process.
pub(crate) static HELPER: Helper = Helper::new(start_thread);

/// Timers and jobs, and the thread that serves them (started by the first
/// one).
pub(crate) struct Helper {
    state: Mutex<State>,
    work: Condvar,
    /// Starts the thread that runs [`Helper::serve`]; a test can make it fail.
    start: fn(&'static Helper) -> io::Result<()>,
}

struct State {
    /// The process whose helper thread is running: a child made by `fork`
    /// inherits this state but not the thread, and starts its own.
    started_in: Option<u32>,
    /// Pauses in progress, each with its deadline; few (one per retrying
    /// listener), so a list searched in full beats a heap.
    timers: Vec<(Instant, Arc<Slot<()>>)>,
    /// Jobs in the order given; as few as the timers.
    jobs: Vec<Box<dyn FnOnce() + Send>>,
}

/// Takes `RUST_MIN_STACK` into account, as every std thread does.
fn start_thread(helper: &'static Helper) -> io::Result<()> {
    thread::Builder::new()
        .name("restartable".to_owned())
        .spawn(move || helper.serve())
        .map(drop)
}

impl Helper {
    pub(crate) const fn new(start: fn(&'static Helper) -> io::Result<()>) -> Helper {
        Helper {
            state: Mutex::new(State {
                started_in: None,
                timers: Vec::new(),
                jobs: Vec::new(),
            }),
            work: Condvar::new(),
            start,
        }
    }

    /// A future that is ready at `deadline`, whose task is woken through
    /// `waker` (or the waker of a later poll). Fails with the error of
    /// starting the thread when there is none and it cannot be started;
    /// the next call tries again.
    pub(crate) fn sleep_until(
        &'static self,
        deadline: Instant,
        waker: &Waker,
    ) -> io::Result<Wait<()>> {
        let slot = Slot::new(waker);
        let timer = Arc::clone(&slot);
        self.submit(|state| state.timers.push((deadline, timer)))?;
        Ok(Wait { slot })
    }

    /// `work` done on the helper thread; the future gives its result (and
    /// resumes its panic, if it panics). Fails as [`Helper::sleep_until`].
    /// Pauses that end while a job runs end when it returns: a job should be
    /// short (the holder lookup is bounded to about 100 ms).
    pub(crate) fn run<T: Send + 'static>(
        &'static self,
        work: impl FnOnce() -> T + Send + 'static,
        waker: &Waker,
    ) -> io::Result<Wait<T>> {
        let slot = Slot::new(waker);
        let done = Arc::clone(&slot);
        let job = Box::new(move || done.complete(panic::catch_unwind(AssertUnwindSafe(work))));
        self.submit(|state| state.jobs.push(job))?;
        Ok(Wait { slot })
    }

    fn submit(&'static self, add: impl FnOnce(&mut State)) -> io::Result<()> {
        let mut state = self.lock();
        let this_process = std::process::id();
        if state.started_in != Some(this_process) {
            (self.start)(self)?;
            state.started_in = Some(this_process);
        }
        add(&mut state);
        drop(state);
        self.work.notify_one();
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The thread: ends the pauses that are due, runs the jobs in turn,
    /// and waits for the next deadline or the next submission. Wakers and
    /// jobs run without the lock held, and a panic in either is caught, so
    /// that the thread outlives them.
    fn serve(&self) {
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            let mut index = 0;
            while index < state.timers.len() {
                if state.timers[index].0 <= now {
                    due.push(state.timers.swap_remove(index).1);
                } else {
                    index += 1;
                }
            }
            let job = if state.jobs.is_empty() {
                None
            } else {
                Some(state.jobs.remove(0))
            };
            if due.is_empty() && job.is_none() {
                let next = state.timers.iter().map(|(deadline, _)| *deadline).min();
                state = match next {
                    Some(next) => {
                        self.work
                            .wait_timeout(state, next.saturating_duration_since(now))
                            .unwrap_or_else(PoisonError::into_inner)
                            .0
                    }
                    None => self
                        .work
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner),
                };
                continue;
            }
            drop(state);
            for slot in due {
                slot.complete(Ok(()));
            }
            if let Some(job) = job {
                job();
            }
            state = self.lock();
        }
    }
}

/// Where the helper puts a result, and the waker of the task awaiting it.
struct Slot<T> {
    state: Mutex<SlotState<T>>,
}

struct SlotState<T> {
    result: Option<thread::Result<T>>,
    waker: Option<Waker>,
}

impl<T> Slot<T> {
    fn new(waker: &Waker) -> Arc<Slot<T>> {
        Arc::new(Slot {
            state: Mutex::new(SlotState {
                result: None,
                waker: Some(waker.clone()),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn complete(&self, result: thread::Result<T>) {
        let waker = {
            let mut state = self.lock();
            state.result = Some(result);
            state.waker.take()
        };
        if let Some(waker) = waker {
            // An executor's waker that panics must not end the helper.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| waker.wake()));
        }
    }
}

/// The future of a pause or a job on the helper thread.
pub(crate) struct Wait<T> {
    slot: Arc<Slot<T>>,
}

impl<T> Future for Wait<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut state = self.slot.lock();
        match state.result.take() {
            Some(Ok(value)) => Poll::Ready(value),
            Some(Err(panic)) => {
                drop(state);
                panic::resume_unwind(panic)
            }
            None => {
                if !state
                    .waker
                    .as_ref()
                    .is_some_and(|waker| waker.will_wake(cx.waker()))
                {
                    state.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use std::time::Duration;

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
        let mut future = Box::pin(future);
        loop {
            match future.as_mut().poll(&mut context) {
                Poll::Ready(output) => return output,
                Poll::Pending => thread::park(),
            }
        }
    }

    fn waker() -> Waker {
        struct Nothing;
        impl Wake for Nothing {
            fn wake(self: Arc<Self>) {}
        }
        Arc::new(Nothing).into()
    }

    static STARTS: AtomicUsize = AtomicUsize::new(0);
    static COUNTED: Helper = Helper::new(|helper| {
        STARTS.fetch_add(1, Ordering::SeqCst);
        start_thread(helper)
    });

    #[test]
    fn pauses_end_at_their_deadlines_in_order_on_one_thread() {
        let started = Instant::now();
        let waits: Vec<(Duration, Wait<()>)> = [30, 10, 20]
            .into_iter()
            .map(|millis| {
                let pause = Duration::from_millis(millis);
                (
                    pause,
                    COUNTED.sleep_until(started + pause, &waker()).unwrap(),
                )
            })
            .collect();
        for (pause, wait) in waits {
            block_on(wait);
            assert!(started.elapsed() >= pause, "{:?}", started.elapsed());
        }
        let job = COUNTED.run(|| thread::current().name().map(str::to_owned), &waker());
        assert_eq!(block_on(job.unwrap()).as_deref(), Some("restartable"));
        assert_eq!(STARTS.load(Ordering::SeqCst), 1);
    }

    static FAILS: AtomicUsize = AtomicUsize::new(0);
    static NO_THREAD: Helper = Helper::new(|_| {
        FAILS.fetch_add(1, Ordering::SeqCst);
        Err(io::Error::from(io::ErrorKind::WouldBlock))
    });

    #[test]
    fn without_a_thread_each_call_fails_at_once_and_the_next_tries_again() {
        let started = Instant::now();
        let error = NO_THREAD
            .sleep_until(started + Duration::from_secs(60), &waker())
            .err()
            .unwrap();
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
        assert!(NO_THREAD.run(|| (), &waker()).is_err());
        assert_eq!(FAILS.load(Ordering::SeqCst), 2);
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    static PANICKING: Helper = Helper::new(start_thread);

    #[test]
    fn a_job_that_panics_panics_in_the_task_and_the_helper_goes_on() {
        let job = PANICKING.run(|| panic!("lookup failed"), &waker()).unwrap();
        let panic = panic::catch_unwind(AssertUnwindSafe(|| block_on(job))).unwrap_err();
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"lookup failed"));
        let job = PANICKING.run(|| 7, &waker()).unwrap();
        assert_eq!(block_on(job), 7);
    }
}
