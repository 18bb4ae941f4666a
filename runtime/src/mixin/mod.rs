//! Mixins: where a request runs once it is accepted (Python's `ThreadingMixIn`,
//! `ForkingMixIn`, or the serving thread itself).

mod children;
mod forking;
mod pool;
mod serial;
mod threading;

use std::io;
use std::sync::Arc;
use std::time::Instant;

pub use forking::Forking;
pub use pool::Pool;
pub use serial::Serial;
pub use threading::Threading;

use crate::config::ServerConfig;
use crate::shutdown::ServerHandle;

/// Decides where each request runs.
///
/// The server calls `process` with a job per accepted request; the job runs the handler and
/// ends the request, returning whether it succeeded. A mixin that can be full (a pool, a
/// process limit) says so in `has_capacity`: the server then stops accepting, leaving
/// clients in the kernel's backlog, until the mixin calls [`Waker::wake`].
pub trait Mixin: Send + Sync + Sized + 'static {
    /// Whether requests run in child processes (`Forking`). Their memory never reaches the
    /// server, so the server does not track them as in flight (the mixin limits and counts
    /// them itself), and the job it gets neither tracks nor counts the request either.
    const RUNS_IN_CHILDREN: bool = false;

    /// Creates the mixin's state for a server with `config`.
    fn new(config: &ServerConfig, waker: Waker) -> io::Result<Self>;

    /// Runs `job` (here, on a thread, in a child process...) by calling one of its methods
    /// there. The job borrows the server until `process` returns: to run it later or on
    /// another thread, make it owned first ([`Job::into_owned`]). On error the job was not
    /// run and has been dropped, which closes its connection.
    fn process<J: Job>(&self, job: J) -> io::Result<()>;

    /// How many of the mixin's own threads take requests from the server's socket
    /// themselves, each serving what it takes (a `Pool` without a queue), now. 0 (the
    /// default): the serving loop takes requests and hands each to `process`.
    fn acceptors(&self) -> usize {
        0
    }

    /// For one `serve_forever` run: has the mixin's acceptor threads (those it has and those
    /// it adds during the run) call `acceptor` with a [`Seat`] of their own; it returns when
    /// the run is over or the seat says to stop waiting. Called only when `acceptors() > 0`.
    fn start_acceptors(&self, acceptor: Acceptor) {
        let _ = acceptor;
    }

    /// Whether `process` may be called now without blocking. Default: always.
    fn has_capacity(&self) -> bool {
        true
    }

    /// In a pre-forked worker, right after its `fork`: the mixin's threads stayed in the
    /// master (`fork` copies the calling thread alone); start the worker's own. Default:
    /// nothing (a mixin without threads of its own).
    fn after_fork(&self) -> io::Result<()> {
        Ok(())
    }

    /// Housekeeping after every turn of the serving loop (reaping threads or children).
    fn service_actions(&self) {}

    /// For a graceful close: lets requests that run outside this process (forked children)
    /// finish until `deadline` or until the server is interrupted, then interrupts them.
    /// Returns how many it interrupted (the server counts them as cut). Requests in this
    /// process are waited for and cut by the server itself. Default: nothing to do, 0.
    fn stop(&self, deadline: Instant) -> usize {
        let _ = deadline;
        0
    }

    /// Waits for or abandons requests in flight, as the mixin's `block_on_close` says.
    /// `close_within` calls it, and dropping the server calls it again: a second call must
    /// do nothing more.
    fn close(&self) {}
}

/// An accepted request, ready to run where its [`Mixin`] decides: the mixin calls one of the
/// `run` methods once, on the thread or in the process it chose. Each runs the handler and
/// ends the request (its failures reported through the server's hooks), and returns whether
/// it succeeded. Dropping a job instead closes its connection unserved.
pub trait Job: Send {
    /// The job as one that holds its server's state itself (a reference counted), for a
    /// mixin that runs it on another thread or after `process` returned. A job run before
    /// `process` returns (on the calling thread, in a child it forks) needs none: the
    /// borrowed state costs nothing, where counting it would write the count on every
    /// request.
    fn into_owned(self) -> impl Job + 'static;

    /// Runs the request on the calling thread, which goes on to serve others (the serving
    /// thread, a pool worker): the buffers the request used are kept for the thread's next.
    fn run(self) -> bool;

    /// Runs the request on a thread that ends with it (`Threading`): nothing is kept for a
    /// next request, which would register thread-local destructors for nothing.
    fn run_on_own_thread(self) -> bool;

    /// Readies the calling thread to fork a child for this job: what the child would
    /// otherwise set up itself (its buffers), since every page a child writes costs it a
    /// copy-on-write page fault. Called on the thread that forks, before the fork.
    fn prepare_fork(&mut self);

    /// Runs the request in a child process just forked, which exits next: what the job
    /// shares with the parent (its server's state, the allocator's pages) is left as it is
    /// instead of dropped, since dropping would only write to those pages. The request is
    /// not tracked as in flight, nor counted: the mixin counts the child's exit status.
    fn run_in_child(self) -> bool;
}

/// An acceptor thread's part of a serving run (see [`Mixin::acceptors`]): waits for
/// requests and serves each on the calling thread, and returns once the server stops
/// serving or the thread's [`Seat`] says not to wait again.
pub type Acceptor = Arc<dyn Fn(&dyn Seat) + Send + Sync>;

/// An acceptor thread's place in its mixin, consulted around each wait for a request, so
/// that the mixin knows how many of its threads wait (a pool grows when none is left).
pub trait Seat {
    /// Before waiting for a request: whether this thread should wait (false: the acceptor
    /// returns, and the mixin keeps the thread elsewhere).
    fn wait(&self) -> bool;

    /// After a wait that `wait` allowed, whether it `took` a request (which this thread then
    /// serves).
    fn waited(&self, took: bool);
}

/// Wakes the serving loop, so that it looks again at [`Mixin::has_capacity`].
#[derive(Clone, Debug)]
pub struct Waker {
    server: ServerHandle,
}

impl Waker {
    pub(crate) fn new(server: ServerHandle) -> Waker {
        Waker { server }
    }

    /// Makes the serving loop run a turn (calls `service_actions`, checks capacity).
    pub fn wake(&self) {
        self.server.wake().wake();
    }

    pub(crate) fn server(&self) -> &ServerHandle {
        &self.server
    }
}
