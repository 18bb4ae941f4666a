//! Serving: `serve_forever` and `handle_request` (Python's `BaseServer` loop), and taking one
//! request off the socket.
//!
//! Two ways to wait for requests, chosen per mixin:
//! - the serving thread waits in the blocking `accept` (`recv`) itself and hands each request
//!   to the mixin (`Sync`, `Threading`, `Forking`, a `Pool` with a queue); a shutdown
//!   interrupts the call (`blocked.rs`); while the server has no room for a request it waits
//!   in `poll` on a wake socket instead, until the mixin wakes it;
//! - the mixin's own threads (a `Pool` without a queue) each wait in `accept` and serve what
//!   they take, while the serving thread waits for the shutdown.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::address::SocketAddress;
use crate::blocked::Registration;
use crate::config::ServerConfig;
use crate::error::{RequestError, Stage};
use crate::hooks::Hooks;
use crate::job::RequestJob;
use crate::mixin::{Job, Mixin, Seat};
use crate::poll;
use crate::server::{Context, Server};
use crate::sys;
use crate::transport::Transport;
use crate::RequestHandler;

/// How long accepting pauses when the process is out of file descriptors.
const OUT_OF_FDS_PAUSE: Duration = Duration::from_millis(100);

/// What one attempt to take a request off the socket ended with.
pub(crate) enum Accepted<I> {
    /// A connection or a datagram, and who it came from.
    Request(I, SocketAddress),
    /// Nothing to serve: nothing was pending, or a transient error (a client that gave up)
    /// was skipped.
    Nothing,
    /// The wait was interrupted by a signal: a shutdown, or a signal the loop watches.
    Interrupted,
    /// The process or system is out of file descriptors: pause before trying again.
    OutOfFds,
    /// Not waited for: the run is over, or a shutdown was asked for.
    Stopped,
}

/// Takes one request off `listener`, waiting only if the listener is set to block.
pub(crate) fn accept<T: Transport>(
    listener: &T::Listener,
    config: &ServerConfig,
) -> Accepted<T::Incoming> {
    match T::accept(listener, config) {
        Ok(Some((incoming, client_address))) => Accepted::Request(incoming, client_address),
        Ok(None) => Accepted::Nothing,
        Err(e) if is_out_of_fds(&e) => Accepted::OutOfFds,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Accepted::Interrupted,
        // A client that reset before we accepted it, or another passing error: skip it.
        Err(_) => Accepted::Nothing,
    }
}

/// Waits in the blocking `accept` as `waiter`, unless the run is `over` or a shutdown was
/// asked for (which also interrupts the wait).
fn accept_waiting<T: Transport, H, K>(
    listener: &T::Listener,
    shared: &Context<H, K>,
    waiter: &Registration<'_>,
    over: &AtomicBool,
) -> Accepted<T::Incoming> {
    shared
        .handle
        .wait_for_request(waiter, over, || accept::<T>(listener, &shared.config))
        .unwrap_or(Accepted::Stopped)
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

/// A mixin's acceptor thread's part of a serving run: waits in `accept` for a request and
/// serves it on this thread, again and again until the run is `over`, a shutdown was asked
/// for, or its `seat` says not to wait again.
fn accept_and_serve<T, H, K>(
    listener: &T::Listener,
    shared: &Arc<Context<H, K>>,
    over: &AtomicBool,
    reported: &AtomicBool,
    seat: &dyn Seat,
) where
    T: Transport,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    let waiter = match shared.handle.register_waiter() {
        Ok(waiter) => waiter,
        Err(e) => {
            return crate::report::error(format_args!(
                "an acceptor thread cannot wait for requests: {e}"
            ))
        }
    };
    while seat.wait() {
        let accepted = accept_waiting::<T, H, K>(listener, shared, &waiter, over);
        seat.waited(matches!(accepted, Accepted::Request(..)));
        match accepted {
            Accepted::Stopped => return,
            Accepted::Request(incoming, client_address) => {
                let admitted =
                    RequestJob::<T, H, K>::admit(shared, incoming, &client_address, true);
                if let Some(job) = admitted {
                    job.run();
                }
            }
            Accepted::Nothing | Accepted::Interrupted => {}
            Accepted::OutOfFds => {
                report_out_of_fds(reported, true);
                std::thread::sleep(OUT_OF_FDS_PAUSE);
                continue;
            }
        }
        report_out_of_fds(reported, false);
        shared.hooks.service_actions();
    }
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
    /// `Pool` without a queue: each idle worker does), or, while it has no room for a
    /// request, in `poll(2)` on a wake socket: either way a shutdown ends the wait at once
    /// (there is no poll interval). Failed requests and failed accepts are reported and
    /// skipped; running out of file descriptors pauses accepting briefly instead of
    /// spinning. Returns `Ok` after a shutdown, without waiting for requests still running
    /// on other threads; a shutdown requested before the call makes it return at once. Call
    /// it from one thread at a time.
    pub fn serve_forever(&self) -> io::Result<()> {
        self.serve(None)
    }

    /// `serve_forever`, calling `on_turn` at every turn of the serving loop: after each
    /// request it took and each wait that ended without one (a signal interrupts it).
    pub(crate) fn serve_forever_watching(&self, on_turn: &dyn Fn()) -> io::Result<()> {
        self.serve(Some(on_turn))
    }

    fn serve(&self, on_turn: Option<&dyn Fn()>) -> io::Result<()> {
        self.shared.handle.check_socket_usable()?;
        if self.closed.load(Ordering::SeqCst) {
            return Err(io::Error::other(
                "the server was closed by a graceful stop: it cannot serve again",
            ));
        }
        if self.stopped_listening.load(Ordering::SeqCst) {
            // A stop began before this call (a signal right after `serve_until` started).
            self.shared.handle.clear_shutdown();
            return Ok(());
        }
        T::set_blocking(&self.listener, true)?;
        let served = match self.mixin.acceptors() > 0 {
            true => self.serve_through_acceptors(),
            false => self.serve_until_shutdown(on_turn),
        };
        let result = served.and(T::set_blocking(&self.listener, false));
        self.shared.handle.clear_shutdown();
        result
    }

    /// The serving loop: waits in `accept` whenever there is room for a request, else in
    /// `poll` on the wake socket; calls `on_turn` at every turn.
    fn serve_until_shutdown(&self, on_turn: Option<&dyn Fn()>) -> io::Result<()> {
        let handle = &self.shared.handle;
        let wake_fd = handle.wake().fd();
        let never_over = AtomicBool::new(false);
        let waiter = handle.register_waiter()?;
        // A thread that forks takes `SIGCHLD` on a stack its children do not share.
        let _signal_stack = M::RUNS_IN_CHILDREN
            .then(sys::SignalStack::set)
            .transpose()?;
        let reported_out_of_fds = AtomicBool::new(false);
        let mut paused_until: Option<Instant> = None;
        // Housekeeping first: wake-ups that came between two runs were drained when the last
        // run ended.
        self.mixin.service_actions();
        loop {
            if let Some(on_turn) = on_turn {
                on_turn();
            }
            if handle.is_shutdown_requested() {
                return Ok(());
            }
            // An expired pause is no pause: polling with a zero timeout would spin.
            let pause = paused_until
                .map(|t| t.saturating_duration_since(Instant::now()))
                .filter(|p| !p.is_zero());
            let listening =
                pause.is_none() && self.mixin.has_capacity() && !handle.in_flight().is_full();
            let accepted = if listening {
                Some(accept_waiting::<T, H, K>(
                    &self.listener,
                    &self.shared,
                    &waiter,
                    &never_over,
                ))
            } else {
                let [woken] = poll::readable([wake_fd], pause)?;
                if woken && handle.take_wake() {
                    return Ok(());
                }
                None
            };
            if let Some(accepted) = accepted {
                let out_of_fds = matches!(accepted, Accepted::OutOfFds);
                match accepted {
                    Accepted::Stopped => return Ok(()),
                    Accepted::Request(incoming, client_address) => {
                        self.dispatch(incoming, &client_address)
                    }
                    // A shutdown asked for in a forked request comes through the wake
                    // socket, with a signal to interrupt the wait.
                    Accepted::Interrupted if handle.take_wake() => return Ok(()),
                    Accepted::Nothing | Accepted::Interrupted | Accepted::OutOfFds => {}
                }
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
        self.mixin.start_acceptors(Arc::new(move |seat| {
            accept_and_serve::<T, H, K>(&listener, &shared, &run_over, &reported, seat)
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
        handle.wake_waiters();
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
                if let Accepted::Request(incoming, client_address) =
                    accept::<T>(&self.listener, &self.shared.config)
                {
                    self.dispatch(incoming, &client_address);
                }
                return Ok(());
            }
        }
    }

    fn service_actions(&self) {
        self.mixin.service_actions();
        self.shared.hooks.service_actions();
    }

    /// Admits a request taken off the socket and hands it to the mixin.
    pub(crate) fn dispatch(&self, incoming: T::Incoming, client_address: &SocketAddress) {
        let tracked = !M::RUNS_IN_CHILDREN;
        let admitted =
            RequestJob::<T, H, K>::admit(&self.shared, incoming, client_address, tracked);
        let Some(job) = admitted else { return };
        if let Err(e) = self.mixin.process(job) {
            let error = RequestError::error(Stage::Dispatch, e);
            self.shared.hooks.handle_error(client_address, &error);
            self.shared.handle.in_flight().counters().record_end(false);
        }
    }
}
