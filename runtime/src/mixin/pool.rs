//! `Pool`: a fixed set of worker threads that take requests from the socket themselves, or
//! from a bounded queue the serving thread fills.

use std::collections::VecDeque;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use super::{Acceptor, Job, Mixin, Waker};
use crate::config::{request_thread, ServerConfig};
use crate::lock::lock;

/// A job in the queue, boxed.
type Queued = Box<dyn FnOnce() + Send>;

/// Runs requests on a fixed set of worker threads (`pool_size`).
///
/// By default (`pool_queue_size` 0) every idle worker waits in `accept` (`recv`) itself and
/// serves what it takes, as a hand-written pre-threaded server does: a request costs no
/// hand-off between threads, and when every worker is busy, clients wait in the kernel's
/// backlog (`request_queue_size`). With `max_connections` below `pool_size`, the pool has
/// that many workers. With `pool_queue_size` N > 0, the serving thread accepts into a queue of N requests that the workers
/// drain; when the queue is full it stops accepting, and a worker that takes a request from a
/// full queue wakes it. Either way, `close` lets the workers finish every request accepted,
/// then joins them: an accepted connection is never dropped unserved.
#[derive(Debug)]
pub struct Pool {
    shared: Arc<Workers>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

struct Workers {
    state: Mutex<State>,
    /// Signalled when a job is queued, a serving run starts, or the pool closes.
    work: Condvar,
    /// Signalled when a job leaves the queue (for `process` at the limit).
    room: Condvar,
    /// The queue's bound; 0: no queue, the workers take requests themselves.
    capacity: usize,
    waker: Waker,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("capacity", &self.capacity)
            .finish()
    }
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Queued>,
    /// The acceptor of the latest serving run, numbered so that a worker runs each once.
    acceptor: Option<(u64, Acceptor)>,
    runs: u64,
    closing: bool,
}

impl Workers {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn wait<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.work
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A queue worker's life: take jobs until the pool closes and the queue is empty.
    fn work(&self) {
        loop {
            let job = {
                let mut state = self.state();
                loop {
                    if let Some(job) = state.jobs.pop_front() {
                        if state.jobs.len() + 1 == self.capacity {
                            self.waker.wake();
                            self.room.notify_one();
                        }
                        break job;
                    }
                    if state.closing {
                        return;
                    }
                    state = self.wait(state);
                }
            };
            // A job reports its own failures; a panic escaping it (from a `handle_error`
            // hook) must not cost the pool a worker for good.
            let _ = catch_unwind(AssertUnwindSafe(job));
        }
    }

    /// An accepting worker's life: run each serving run's acceptor until it says the run is
    /// over, and between runs the requests handed over (by `handle_request`, or those a
    /// graceful stop took off the socket), until the pool closes and none is left.
    fn accept(&self) {
        let mut last_run = 0;
        loop {
            let acceptor = {
                let mut state = self.state();
                loop {
                    if let Some(job) = state.jobs.pop_front() {
                        drop(state);
                        self.waker.wake();
                        self.room.notify_one();
                        let _ = catch_unwind(AssertUnwindSafe(job));
                        state = self.state();
                        continue;
                    }
                    if state.closing {
                        return;
                    }
                    if let Some((run, acceptor)) = &state.acceptor {
                        if *run != last_run {
                            last_run = *run;
                            break acceptor.clone();
                        }
                    }
                    state = self.wait(state);
                }
            };
            // As in `work`: a panic from a hook must not end the worker (nor its run).
            while catch_unwind(AssertUnwindSafe(|| acceptor())).is_err() {}
        }
    }
}

impl Pool {
    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        lock(&self.workers).len()
    }

    /// How many requests may wait for a worker: `pool_queue_size`, or without a queue one
    /// per worker (requests handed over between serving runs).
    fn queue_bound(&self) -> usize {
        match self.shared.capacity {
            0 => self.workers().max(1),
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
        let mut size = config.effective_pool_size();
        let capacity = config.pool_queue_size;
        if capacity == 0 && config.max_connections > 0 {
            // Each worker serves one request at a time.
            size = size.min(config.max_connections);
        }
        let shared = Arc::new(Workers {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            room: Condvar::new(),
            capacity,
            waker,
        });
        let pool = Pool {
            shared,
            workers: Mutex::new(Vec::with_capacity(size)),
        };
        for _ in 0..size {
            let shared = pool.shared.clone();
            let life = move || match shared.capacity {
                0 => shared.accept(),
                _ => shared.work(),
            };
            match request_thread(config.thread_stack_size).spawn(life) {
                Ok(handle) => lock(&pool.workers).push(handle),
                Err(e) => {
                    pool.close();
                    return Err(e);
                }
            }
        }
        Ok(pool)
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
        // Without a queue, requests are handed over only between serving runs (see
        // `Workers::accept`), at most one per worker at a time (`has_capacity`).
        let mut state = self.shared.state();
        while state.jobs.len() >= self.queue_bound() {
            state = self
                .shared
                .room
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.jobs.push_back(Box::new(move || {
            job.run();
        }));
        drop(state);
        self.shared.work.notify_one();
        Ok(())
    }

    fn has_capacity(&self) -> bool {
        self.shared.state().jobs.len() < self.queue_bound()
    }

    fn close(&self) {
        let mut state = self.shared.state();
        state.closing = true;
        state.acceptor = None;
        drop(state);
        self.shared.work.notify_all();
        let workers = std::mem::take(&mut *lock(&self.workers));
        for worker in workers {
            let _ = worker.join();
        }
    }
}
