//! `Threading`: a new thread per request (Python's `ThreadingMixIn`).

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::{Job, Mixin, Waker};
use crate::config::{request_thread, ServerConfig};
use crate::lock::lock;

/// Runs each request on a thread of its own (Python's `ThreadingMixIn`).
///
/// With `block_on_close` (the default) and without `daemon_threads`, `close` joins the
/// threads still running. Threads that have ended are forgotten at once, so the bookkeeping
/// stays as small as the number of requests in flight (CPython bpo-37193).
#[derive(Debug)]
pub struct Threading {
    /// `None` when threads are not waited for (`daemon_threads`, or no `block_on_close`).
    tracked: Option<Tracked>,
    stack_size: usize,
}

#[derive(Debug, Default)]
struct Tracked {
    running: Mutex<Running>,
    /// Ids of threads whose request is done, to be joined and forgotten.
    finished: Arc<Mutex<Vec<u64>>>,
}

#[derive(Debug, Default)]
struct Running {
    threads: HashMap<u64, JoinHandle<()>>,
    next_id: u64,
}

impl Threading {
    /// The number of request threads being tracked for `close` to join: those still running
    /// (and any that ended since the last reap).
    pub fn tracked_threads(&self) -> usize {
        self.tracked
            .as_ref()
            .map_or(0, |t| lock(&t.running).threads.len())
    }

    /// Forgets the threads whose request is done. Their handles are dropped (detached), not
    /// joined: the request has ended, and joining a thread that is still unwinding its
    /// stack would block the serving loop on a futex for nothing.
    fn reap(tracked: &Tracked) {
        // `running` before `finished`: a thread is inserted into `running` under its lock
        // right after it is spawned, so every id found in `finished` is there to remove.
        let mut running = lock(&tracked.running);
        let mut finished = lock(&tracked.finished);
        for id in finished.drain(..) {
            running.threads.remove(&id);
        }
    }
}

impl Mixin for Threading {
    fn new(config: &ServerConfig, _waker: Waker) -> io::Result<Self> {
        let track = config.block_on_close && !config.daemon_threads;
        Ok(Threading {
            tracked: track.then(Tracked::default),
            stack_size: config.thread_stack_size,
        })
    }

    fn process<J: Job>(&self, job: J) -> io::Result<()> {
        let job = job.into_owned();
        let Some(tracked) = &self.tracked else {
            request_thread(self.stack_size).spawn(move || {
                job.run_on_own_thread();
            })?;
            return Ok(());
        };
        Self::reap(tracked);
        let mut running = lock(&tracked.running);
        let id = running.next_id;
        running.next_id += 1;
        let finished = tracked.finished.clone();
        let handle = request_thread(self.stack_size).spawn(move || {
            job.run_on_own_thread();
            lock(&finished).push(id);
        })?;
        running.threads.insert(id, handle);
        Ok(())
    }

    fn service_actions(&self) {
        if let Some(tracked) = &self.tracked {
            Self::reap(tracked);
        }
    }

    fn close(&self) {
        if let Some(tracked) = &self.tracked {
            let threads = std::mem::take(&mut lock(&tracked.running).threads);
            for (_, handle) in threads {
                let _ = handle.join();
            }
            lock(&tracked.finished).clear();
        }
    }
}
