//! Serving: `serve_forever` and `handle_request` (Python's `BaseServer` loop), and taking one
//! request off the socket.
//!
//! Three ways to wait for requests, chosen per mixin and config:
//! - the serving thread waits in the blocking `accept` (`recv`) itself and hands each request
//!   to the mixin (`Sync`, `Threading`, a `Pool` with a queue); a shutdown pokes the socket;
//! - the mixin's own threads (a `Pool` without a queue) each wait in `accept` and serve what
//!   they take, while the serving thread waits for the shutdown;
//! - the serving thread polls the listener and a wake socket (`Forking`, which must hear
//!   `SIGCHLD`; `allow_reuse_port`; and while the server has no room for a request).

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::address::SocketAddress;
use crate::error::{RequestError, Stage};
use crate::hooks::Hooks;
use crate::inflight::Admission;
use crate::mixin::Mixin;
use crate::poll;
use crate::server::{Server, Shared};
use crate::transport::Transport;
use crate::RequestHandler;

/// How long accepting pauses when the process is out of file descriptors.
const OUT_OF_FDS_PAUSE: Duration = Duration::from_millis(100);

/// What one attempt to take a request ended with.
enum Taken<J> {
    /// A request, admitted: the job runs it.
    Request(J, SocketAddress),
    /// Nothing to serve: nothing was pending, the request was rejected by
    /// `verify_request`, it was a shutdown's poke, or a transient error (a client that
    /// gave up) was skipped.
    Nothing,
    /// The process or system is out of file descriptors: pause before trying again.
    OutOfFds,
}

/// Takes one request from `listener` (Python: the first half of `_handle_request_noblock`):
/// counts it, asks `verify_request`, admits it (unless it will run `in_a_child`), and returns
/// the job that serves it.
fn take_request<T, H, K>(
    listener: &T::Listener,
    shared: &Arc<Shared<H, K>>,
    in_a_child: bool,
) -> Taken<impl FnOnce() -> bool + Send + 'static>
where
    T: Transport,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    let (incoming, client_address) = match T::accept(listener, &shared.config) {
        Ok(Some(request)) => request,
        Ok(None) => return Taken::Nothing,
        Err(e) if is_out_of_fds(&e) => return Taken::OutOfFds,
        // A client that reset before we accepted it, or another passing error: skip it.
        Err(_) => return Taken::Nothing,
    };
    if shared.handle.is_poke(&client_address) {
        return Taken::Nothing; // a shutdown's wake-up call, not a client
    }
    let counters = shared.handle.in_flight().counters();
    counters.accepted.fetch_add(1, Ordering::Relaxed);
    if !shared.hooks.verify_request(&client_address) {
        counters.rejected.fetch_add(1, Ordering::Relaxed);
        T::reject(incoming);
        return Taken::Nothing;
    }
    // In flight from now on, even while it waits for a pool worker: `max_connections`
    // holds before the job starts, and a graceful close waits for it.
    let admission = (!in_a_child).then(|| Admission::new(shared.handle.clone()));
    if in_a_child {
        T::prepare_child(&shared.config);
    }
    let job_shared = shared.clone();
    let job_address = client_address.clone();
    let job_server = shared.handle.clone();
    let job = move || {
        let ok = job_shared.run::<T>(incoming, job_address, job_server, admission);
        if in_a_child {
            // The child exits next (see `Shared::run`).
            std::mem::forget(job_shared);
        }
        ok
    };
    Taken::Request(job, client_address)
}

fn is_out_of_fds(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Reports running out of file descriptors once per episode: `out` says whether the last
/// attempt ran out; `reported` remembers whether this episode was reported.
fn report_out_of_fds(reported: &AtomicBool, out: bool) {
    if !out {
        reported.store(false, Ordering::Relaxed);
    } else if !reported.swap(true, Ordering::Relaxed) {
        crate::report::error(format_args!(
            "out of file descriptors: accepting pauses until some are freed"
        ));
    }
}

/// One turn of a mixin's acceptor thread: waits in `accept` for a request and serves it on
/// this thread. False once the run is `over` or a shutdown was asked for.
fn take_and_serve<T, H, K>(
    listener: &T::Listener,
    shared: &Arc<Shared<H, K>>,
    over: &AtomicBool,
    reported: &AtomicBool,
) -> bool
where
    T: Transport,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    let taken = shared
        .handle
        .wait_for_request(over, || take_request::<T, H, K>(listener, shared, false));
    match taken {
        None => return false,
        Some(Taken::Request(job, _)) => {
            job();
        }
        Some(Taken::Nothing) => {}
        Some(Taken::OutOfFds) => {
            report_out_of_fds(reported, true);
            std::thread::sleep(OUT_OF_FDS_PAUSE);
            return true;
        }
    }
    report_out_of_fds(reported, false);
    shared.hooks.service_actions();
    true
}

impl<T, M, H, K> Server<T, M, H, K>
where
    T: Transport,
    M: Mixin,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    /// Serves requests until [`ServerHandle::shutdown`](crate::ServerHandle::shutdown) is
    /// called (Python: `serve_forever`).
    ///
    /// Waits in the blocking `accept` (`recv`) itself, as a hand-written server does (a
    /// `Pool` without a queue: each idle worker does), or, for `Forking` and while it has no
    /// room for a request, in `poll(2)` on a wake socket: either way a shutdown ends the
    /// wait at once (there is no poll interval). Failed requests and failed accepts are
    /// reported and skipped; running out of file descriptors pauses accepting briefly
    /// instead of spinning. Returns `Ok` after a shutdown, without waiting for requests
    /// still running on other threads; a shutdown requested before the call makes it return
    /// at once. Call it from one thread at a time.
    pub fn serve_forever(&self) -> io::Result<()> {
        // With `allow_reuse_port`, a poke could reach another process's socket on the port.
        let blocking = !M::WAKES_WHILE_WAITING && !self.shared.config.allow_reuse_port;
        let acceptors = self.mixin.acceptors() > 0;
        let result = if acceptors || blocking {
            T::set_blocking(&self.listener, true)?;
            let served = match acceptors {
                true => self.serve_through_acceptors(),
                false => self.serve_until_shutdown(true),
            };
            served.and(T::set_blocking(&self.listener, false))
        } else {
            self.serve_until_shutdown(false)
        };
        self.shared.handle.clear_shutdown();
        result
    }

    /// The serving loop; `blocking`: wait in `accept` whenever there is room for a request.
    fn serve_until_shutdown(&self, blocking: bool) -> io::Result<()> {
        let handle = &self.shared.handle;
        let wake_fd = handle.wake().fd();
        let listener_fd = self.listener.as_raw_fd();
        let never_over = AtomicBool::new(false);
        let reported_out_of_fds = AtomicBool::new(false);
        let mut paused_until: Option<Instant> = None;
        // Housekeeping first: wake-ups that came between two runs (a child that ended) were
        // drained when the last run ended.
        self.mixin.service_actions();
        loop {
            if handle.is_shutdown_requested() {
                return Ok(());
            }
            // An expired pause is no pause: polling with a zero timeout would spin.
            let pause = paused_until
                .map(|t| t.saturating_duration_since(Instant::now()))
                .filter(|p| !p.is_zero());
            let listening =
                pause.is_none() && self.mixin.has_capacity() && !handle.in_flight().is_full();
            let taken = if listening && blocking {
                match handle.wait_for_request(&never_over, || self.accept_one()) {
                    Some(taken) => Some(taken),
                    None => return Ok(()),
                }
            } else {
                let [woken, pending] = if listening {
                    poll::readable([wake_fd, listener_fd], None)?
                } else {
                    let [woken] = poll::readable([wake_fd], pause)?;
                    [woken, false]
                };
                if woken && handle.take_wake() {
                    return Ok(());
                }
                pending.then(|| self.accept_one())
            };
            if let Some(out_of_fds) = taken {
                report_out_of_fds(&reported_out_of_fds, out_of_fds);
                paused_until = out_of_fds.then(|| Instant::now() + OUT_OF_FDS_PAUSE);
            }
            self.service_actions();
        }
    }

    /// Serving through the mixin's acceptor threads: they wait in `accept` and serve; this
    /// thread waits for the shutdown (doing the housekeeping whenever woken, the shutdown
    /// included), then ends the run and returns once none of them waits in `accept` any more.
    fn serve_through_acceptors(&self) -> io::Result<()> {
        let handle = &self.shared.handle;
        let over = Arc::new(AtomicBool::new(false));
        let reported = Arc::new(AtomicBool::new(false));
        let (listener, shared) = (self.listener.clone(), self.shared.clone());
        let run_over = over.clone();
        self.mixin.start_acceptors(Arc::new(move || {
            take_and_serve::<T, H, K>(&listener, &shared, &run_over, &reported)
        }));
        self.mixin.service_actions();
        let waited = loop {
            let stop = match poll::readable([handle.wake().fd()], None) {
                Err(e) => Some(Err(e)),
                Ok([woken]) => (woken && handle.take_wake()).then_some(Ok(())),
            };
            // After every wake-up, the shutdown's included.
            self.service_actions();
            if let Some(waited) = stop {
                break waited;
            }
        };
        if waited.is_err() {
            handle.shutdown();
        }
        over.store(true, Ordering::SeqCst);
        handle.wait_until_none_waits();
        waited
    }

    /// Waits up to the config's `timeout` for one request and serves it (Python:
    /// `handle_request`); calls `handle_timeout` when none came in time.
    pub fn handle_request(&self) -> io::Result<()> {
        let deadline = self.shared.config.timeout.map(|t| Instant::now() + t);
        loop {
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if remaining.is_some_and(|r| r.is_zero()) {
                self.mixin.service_actions();
                self.shared.hooks.handle_timeout();
                return Ok(());
            }
            if let [true] = poll::readable([self.listener.as_raw_fd()], remaining)? {
                self.accept_one();
                return Ok(());
            }
        }
    }

    fn service_actions(&self) {
        self.mixin.service_actions();
        self.shared.hooks.service_actions();
    }

    /// Takes one pending request, if any, and hands it to the mixin (Python:
    /// `_handle_request_noblock`). True when the process is out of file descriptors.
    fn accept_one(&self) -> bool {
        let (job, client_address) =
            match take_request::<T, H, K>(&self.listener, &self.shared, M::RUNS_IN_CHILDREN) {
                Taken::Request(job, client_address) => (job, client_address),
                Taken::Nothing => return false,
                Taken::OutOfFds => return true,
            };
        if let Err(e) = self.mixin.process(job) {
            let error = RequestError::error(Stage::Dispatch, e);
            self.shared.hooks.handle_error(&client_address, &error);
            self.shared.handle.in_flight().counters().record_end(false);
        }
        false
    }
}
