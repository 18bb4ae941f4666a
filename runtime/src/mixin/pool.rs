//! `Pool`: a fixed set of worker threads fed by a bounded queue.

use std::collections::VecDeque;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use super::{Mixin, Waker};
use crate::config::{request_thread, ServerConfig};
use crate::lock;

type Job = Box<dyn FnOnce() + Send>;

/// Runs requests on a fixed set of worker threads (`pool_size`) fed by a bounded queue
/// (`pool_queue_size`). When the queue is full the server stops accepting, so clients wait
/// in the kernel's backlog instead of in memory; a worker that takes a job from a full queue
/// wakes the serving loop. `close` lets the workers finish every queued request, then joins
/// them: an accepted connection is never dropped unserved.
#[derive(Debug)]
pub struct Pool {
    shared: Arc<Shared>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when a job is queued or the pool closes.
    work: Condvar,
    /// Signalled when a job leaves the queue (for `process` at the limit).
    room: Condvar,
    capacity: usize,
    waker: Waker,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("capacity", &self.capacity)
            .finish()
    }
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    closing: bool,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        lock(&self.queue)
    }

    /// A worker's life: take jobs until the pool closes and the queue is empty.
    fn work(&self) {
        loop {
            let job = {
                let mut queue = self.queue();
                loop {
                    if let Some(job) = queue.jobs.pop_front() {
                        if queue.jobs.len() + 1 == self.capacity {
                            self.waker.wake();
                            self.room.notify_one();
                        }
                        break job;
                    }
                    if queue.closing {
                        return;
                    }
                    queue = self
                        .work
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            };
            // A job reports its own failures; a panic escaping it (from a `handle_error`
            // hook) must not cost the pool a worker for good.
            let _ = catch_unwind(AssertUnwindSafe(job));
        }
    }
}

impl Pool {
    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        lock(&self.workers).len()
    }

    /// The number of requests accepted and waiting for a worker.
    pub fn queued(&self) -> usize {
        self.shared.queue().jobs.len()
    }
}

impl Mixin for Pool {
    fn new(config: &ServerConfig, waker: Waker) -> io::Result<Self> {
        let size = config.effective_pool_size();
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            room: Condvar::new(),
            capacity: config.effective_pool_queue_size(),
            waker,
        });
        let pool = Pool {
            shared,
            workers: Mutex::new(Vec::with_capacity(size)),
        };
        for _ in 0..size {
            let shared = pool.shared.clone();
            let worker = request_thread(config.thread_stack_size).spawn(move || shared.work());
            match worker {
                Ok(handle) => lock(&pool.workers).push(handle),
                Err(e) => {
                    pool.close();
                    return Err(e);
                }
            }
        }
        Ok(pool)
    }

    fn process<J>(&self, job: J) -> io::Result<()>
    where
        J: FnOnce() -> bool + Send + 'static,
    {
        let mut queue = self.shared.queue();
        while queue.jobs.len() >= self.shared.capacity {
            queue = self
                .shared
                .room
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
        queue.jobs.push_back(Box::new(move || {
            job();
        }));
        drop(queue);
        self.shared.work.notify_one();
        Ok(())
    }

    fn has_capacity(&self) -> bool {
        self.shared.queue().jobs.len() < self.shared.capacity
    }

    fn close(&self) {
        self.shared.queue().closing = true;
        self.shared.work.notify_all();
        let workers = std::mem::take(&mut *lock(&self.workers));
        for worker in workers {
            let _ = worker.join();
        }
    }
}
