//! `Pool`: worker threads that take requests from the socket themselves, or from a bounded
//! queue the serving thread fills; between `pool_min` and `pool_max` of them, more started
//! while all are busy, the surplus ending after `pool_idle`.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Acceptor, Job, Mixin, Seat, Waker};
use crate::config::{request_thread, ServerConfig};
use crate::lock::lock;

/// A job in the queue, boxed.
type Queued = Box<dyn FnOnce() + Send>;

/// Runs requests on worker threads, from `pool_min` (started at bind time) up to
/// `pool_max`.
///
/// By default (`pool_queue_size` 0) every idle worker waits in `accept` (`recv`) itself and
/// serves what it takes, as a hand-written pre-threaded server does: a request costs no
/// hand-off between threads. A worker that takes a request and leaves no other waiting
/// starts one more worker (or wakes a resting one), up to `pool_max`, so connections kept
/// open (keep-alive clients) cannot exhaust the pool; at `pool_max` clients wait in the
/// kernel's backlog (`request_queue_size`). At most `pool_min` idle workers wait in
/// `accept`: the others rest, and one that rested `pool_idle` exits while the pool is above
/// `pool_min`. With `max_connections` set, the pool never has more workers than that.
///
/// With `pool_queue_size` N > 0, the serving thread accepts into a queue of N requests that
/// the workers drain; a request queued while no worker is idle starts one more, up to
/// `pool_max`, and idle workers beyond `pool_min` exit after `pool_idle` the same way. When
/// the queue is full the serving thread stops accepting, and a worker that takes a request
/// from a full queue wakes it. Either way, `close` lets the workers finish every request
/// accepted, then joins them all: an accepted connection is never dropped unserved.
#[derive(Debug)]
pub struct Pool {
    shared: Arc<Workers>,
}

struct Workers {
    state: Mutex<State>,
    /// Signalled when a job is queued, a serving run starts, a resting worker is wanted in
    /// `accept`, or the pool closes.
    work: Condvar,
    /// Signalled when a job leaves the queue (for `process` at the limit).
    room: Condvar,
    /// The queue's bound; 0: no queue, the workers take requests themselves.
    capacity: usize,
    /// Workers kept; also the most that wait in `accept` at once.
    min: usize,
    /// The most workers.
    max: usize,
    /// How long a worker beyond `min` rests before it exits; `None`: never.
    idle: Option<Duration>,
    /// `thread_stack_size` of each worker.
    stack_size: usize,
    /// Workers waiting in `accept` (or about to): a worker that takes a request and brings
    /// it to 0 adds one. Outside the lock, so that a request costs two atomic operations.
    accepting: AtomicUsize,
    waker: Waker,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("capacity", &self.capacity)
            .field("min", &self.min)
            .field("max", &self.max)
            .finish()
    }
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Queued>,
    /// The acceptor of the latest serving run, numbered so that a worker joins each once.
    acceptor: Option<(u64, Acceptor)>,
    runs: u64,
    closing: bool,
    /// Live workers.
    workers: usize,
    /// Workers waiting on `work`: for a job, a serving run, or (resting during a run) to be
    /// wanted in `accept`.
    resting: usize,
    /// The live workers' handles.
    handles: Vec<JoinHandle<()>>,
    /// The last worker that exited for idleness, joined by the next one or by `close`.
    retired: Option<JoinHandle<()>>,
    /// A failure to start a worker was reported; cleared when one starts.
    start_failed: bool,
}

/// A worker's seat in a serving run: counts it among the workers waiting in `accept`, and
/// remembers whether it was turned away (to rest) rather than the run having ended.
struct Place<'a> {
    workers: &'a Arc<Workers>,
    turned_away: Cell<bool>,
}

impl Seat for Place<'_> {
    fn wait(&self) -> bool {
        let min = self.workers.min;
        let counted = self
            .workers
            .accepting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < min).then_some(n + 1)
            })
            .is_ok();
        self.turned_away.set(!counted);
        counted
    }

    fn waited(&self, took: bool) {
        if self.workers.accepting.fetch_sub(1, Ordering::AcqRel) == 1 && took {
            self.workers.want_acceptor();
        }
    }
}

impl Workers {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Starts one worker; the caller holds the lock (`state`).
    fn start(self: &Arc<Self>, state: &mut State) -> io::Result<()> {
        let shared = self.clone();
        let handle = request_thread(self.stack_size).spawn(move || shared.life())?;
        state.handles.push(handle);
        state.workers += 1;
        state.start_failed = false;
        Ok(())
    }

    /// One more worker, unless the pool is closing or full. A failure (the system's thread
    /// limit) is reported once, until a worker starts again: the pool serves with those it has.
    fn grow(self: &Arc<Self>, state: &mut State) {
        if state.closing || state.workers >= self.max {
            return;
        }
        if let Err(e) = self.start(state) {
            if !std::mem::replace(&mut state.start_failed, true) {
                crate::report::error(format_args!(
                    "the pool could not start a worker ({e}): it serves with its {}",
                    state.workers
                ));
            }
        }
    }

    /// No worker is left waiting in `accept` after one took a request: wakes a resting one,
    /// or starts one more.
    fn want_acceptor(self: &Arc<Self>) {
        let mut state = self.state();
        match state.resting {
            0 => self.grow(&mut state),
            _ => self.work.notify_one(),
        }
    }

    /// A worker's life: runs the requests handed over and the acceptor of each serving run
    /// (again while it is wanted there), resting in between; ends when the pool closes and
    /// no request is left, or after resting `idle` while the pool is above `min`.
    fn life(self: &Arc<Self>) {
        let mut last_run = 0;
        // Turned away from the current run's `accept`: it rejoins when none is left there.
        let mut turned_away = false;
        let mut idle_since = Instant::now();
        let mut state = self.state();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                let was_full = self.capacity == 0 || state.jobs.len() + 1 == self.capacity;
                drop(state);
                if was_full {
                    self.waker.wake();
                    self.room.notify_one();
                }
                // A job reports its own failures; a panic escaping it (from a `handle_error`
                // hook) must not cost the pool a worker for good.
                let _ = catch_unwind(AssertUnwindSafe(job));
                state = self.state();
                idle_since = Instant::now();
                continue;
            }
            if state.closing {
                state.workers -= 1;
                return;
            }
            let nobody_accepting = self.accepting.load(Ordering::Acquire) == 0;
            let join = state
                .acceptor
                .as_ref()
                .filter(|(run, _)| *run != last_run || (turned_away && nobody_accepting));
            if let Some((run, acceptor)) = join {
                last_run = *run;
                let acceptor = acceptor.clone();
                drop(state);
                let place = Place {
                    workers: self,
                    turned_away: Cell::new(false),
                };
                // As for a job: a panic from a hook must not end the worker (nor its run).
                while catch_unwind(AssertUnwindSafe(|| acceptor(&place))).is_err() {}
                turned_away = place.turned_away.get();
                state = self.state();
                idle_since = Instant::now();
                continue;
            }
            if let Some(idle) = self.idle {
                if idle_since.elapsed() >= idle {
                    if state.workers > self.min {
                        return self.retire(state);
                    }
                    idle_since = Instant::now();
                }
            }
            state.resting += 1;
            state = match self.idle {
                None => self
                    .work
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(idle) => {
                    let rest = idle.saturating_sub(idle_since.elapsed());
                    let waited = self.work.wait_timeout(state, rest);
                    waited.unwrap_or_else(PoisonError::into_inner).0
                }
            };
            state.resting -= 1;
        }
    }

    /// Ends the calling worker, which rested too long: its handle waits for the next one to
    /// retire (or `close`), which joins it; it joins the one before.
    fn retire(&self, mut state: MutexGuard<'_, State>) {
        state.workers -= 1;
        let me = std::thread::current().id();
        let Some(index) = state.handles.iter().position(|h| h.thread().id() == me) else {
            return;
        };
        let handle = state.handles.swap_remove(index);
        let previous = state.retired.replace(handle);
        drop(state);
        if let Some(previous) = previous {
            let _ = previous.join();
        }
    }
}

impl Pool {
    /// The number of live worker threads.
    pub fn workers(&self) -> usize {
        self.shared.state().workers
    }

    /// How many requests may wait for a worker: `pool_queue_size`, or without a queue one
    /// per worker (requests handed over between serving runs).
    fn queue_bound(&self, state: &State) -> usize {
        match self.shared.capacity {
            0 => state.workers.max(1),
            n => n,
        }
    }

    /// The number of requests accepted and waiting for a worker (without a queue, only
    /// those handed over between serving runs).
    pub fn queued(&self) -> usize {
        self.shared.state().jobs.len()
    }
}

impl Mixin for Pool {
    fn new(config: &ServerConfig, waker: Waker) -> io::Result<Self> {
        let (min, mut max) = config.pool_bounds()?;
        let capacity = config.pool_queue_size;
        if capacity == 0 && config.max_connections > 0 {
            // Each worker serves one request at a time.
            max = max.min(config.max_connections);
        }
        let pool = Pool {
            shared: Arc::new(Workers {
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                room: Condvar::new(),
                capacity,
                min: min.min(max),
                max,
                idle: config.pool_idle,
                stack_size: config.thread_stack_size,
                accepting: AtomicUsize::new(0),
                waker,
            }),
        };
        let mut state = pool.shared.state();
        for _ in 0..pool.shared.min {
            if let Err(e) = pool.shared.start(&mut state) {
                drop(state);
                pool.close();
                return Err(e);
            }
        }
        drop(state);
        Ok(pool)
    }

    fn after_fork(&self) -> io::Result<()> {
        let mut guard = self.shared.state();
        let state = &mut *guard;
        // Handles of threads of another process: neither joined nor detached here.
        for handle in state.handles.drain(..).chain(state.retired.take()) {
            std::mem::forget(handle);
        }
        state.workers = 0;
        state.resting = 0;
        self.shared.accepting.store(0, Ordering::SeqCst);
        for _ in 0..self.shared.min {
            self.shared.start(state)?;
        }
        Ok(())
    }

    fn acceptors(&self) -> usize {
        match self.shared.capacity {
            0 => self.workers(),
            _ => 0,
        }
    }

    fn start_acceptors(&self, acceptor: Acceptor) {
        let mut state = self.shared.state();
        state.runs += 1;
        state.acceptor = Some((state.runs, acceptor));
        drop(state);
        self.shared.work.notify_all();
    }

    fn process<J: Job>(&self, job: J) -> io::Result<()> {
        let job = job.into_owned();
        // Without a queue, requests are handed over only between serving runs (see
        // `Workers::life`), at most one per worker at a time (`has_capacity`).
        let mut state = self.shared.state();
        while state.jobs.len() >= self.queue_bound(&state) {
            state = self
                .shared
                .room
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.jobs.push_back(Box::new(move || {
            job.run();
        }));
        if state.jobs.len() > state.resting {
            self.shared.grow(&mut state);
        }
        drop(state);
        self.shared.work.notify_one();
        Ok(())
    }

    fn has_capacity(&self) -> bool {
        let state = self.shared.state();
        state.jobs.len() < self.queue_bound(&state)
    }

    fn close(&self) {
        let mut state = self.shared.state();
        state.closing = true;
        state.acceptor = None;
        let handles = std::mem::take(&mut state.handles);
        let retired = state.retired.take();
        drop(state);
        self.shared.work.notify_all();
        for worker in handles.into_iter().chain(retired) {
            let _ = worker.join();
        }
    }
}
