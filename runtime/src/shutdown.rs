//! `ServerHandle`: asks a serving loop to stop, from anywhere.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use crate::address::SocketAddress;
use crate::blocked::{Blocked, Registration};
use crate::inflight::{InFlight, Stats};
use crate::sys::CountedArc;
use crate::wake::WakeSocket;

#[derive(Debug)]
struct HandleState {
    in_flight: InFlight,
    shutdown_requested: AtomicBool,
    wake: WakeSocket,
    server_address: SocketAddress,
    blocked: Blocked,
    reloader: OnceLock<Reloader>,
    /// What pre-forked workers reported, for their master's `stats`.
    workers: std::sync::Mutex<Stats>,
}

/// Re-reads what the server loaded from files (its TLS configuration).
struct Reloader(Box<dyn Fn() -> io::Result<()> + Send + Sync>);

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reloader")
    }
}

/// A handle on a running server: its address, and `shutdown()` from any thread, from a
/// handler, or before `serve_forever` starts (Python's `server.shutdown()` without its
/// deadlock). Cheap to clone, `Send + Sync`.
///
/// Unlike Python's `shutdown()`, this does not wait for `serve_forever` to return (so it is
/// safe inside a handler); join the serving thread to wait.
///
/// ```
/// use socketserver::{HandlerResult, RequestHandler, StreamRequest, ThreadingTcpServer};
///
/// #[derive(Default)]
/// struct Echo;
///
/// impl RequestHandler<StreamRequest> for Echo {
///     fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
///         let (rfile, wfile) = req.files();
///         std::io::copy(rfile, wfile)?;
///         Ok(())
///     }
/// }
///
/// let server = ThreadingTcpServer::<Echo>::bind("127.0.0.1:0")?;
/// let handle = server.handle(); // Send + Sync + Clone: give it to any thread
/// let serving = std::thread::spawn(move || server.serve_forever());
/// println!("{} served so far", handle.stats().completed);
/// handle.shutdown(); // serve_forever returns at once
/// serving.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ServerHandle {
    state: CountedArc<HandleState>,
}

impl ServerHandle {
    pub(crate) fn new(
        server_address: SocketAddress,
        max_connections: usize,
        socket: RawFd,
    ) -> io::Result<ServerHandle> {
        Ok(ServerHandle {
            state: CountedArc::new(HandleState {
                shutdown_requested: AtomicBool::new(false),
                wake: WakeSocket::new()?,
                server_address,
                in_flight: InFlight::new(max_connections)?,
                blocked: Blocked::new(socket),
                reloader: OnceLock::new(),
                workers: std::sync::Mutex::new(Stats::default()),
            }),
        })
    }

    /// This handle once more, for a request in a forked child, without writing its count
    /// (a page the child shares with its parent): see [`CountedArc`].
    ///
    /// # Safety
    /// The copy must not outlive every counted handle (as in a forked child that exits
    /// without returning to where the server's own handle is dropped).
    #[allow(unsafe_code)]
    pub(crate) unsafe fn uncounted_copy(&self) -> ServerHandle {
        ServerHandle {
            // SAFETY: the caller's.
            state: unsafe { self.state.uncounted_copy() },
        }
    }

    /// The hard stop: shuts down the connection of every request in flight in this process,
    /// so that handlers blocked reading or writing get an error and end, and requests that
    /// start from now on are cut at once. Returns how many were cut. `close_within` and
    /// `serve_until_signal` call it when the grace period ends.
    pub fn interrupt(&self) -> usize {
        let cut = self.state.in_flight.cut();
        self.state.wake.wake();
        cut
    }

    /// What the server has done so far: accepted, active, completed, failed, rejected, cut.
    /// A master of pre-forked workers counts what its workers did (as they last reported,
    /// at most 200 ms ago, and in full once they exited).
    pub fn stats(&self) -> Stats {
        let workers = *crate::lock::lock(&self.state.workers);
        self.state.in_flight.stats().plus(workers)
    }

    /// Sets what the workers of this master did (see `stats`).
    pub(crate) fn set_worker_stats(&self, stats: Stats) {
        *crate::lock::lock(&self.state.workers) = stats;
    }

    /// Re-reads what the server loaded from files: its TLS certificates, keys and client
    /// CA (the `tls` feature). New connections get the new configuration, open ones go on
    /// with theirs. On an error (the error names the file) the old configuration stays in
    /// use. Without TLS there is nothing to re-read: `Ok(())`. `serve_until_signal` calls
    /// it on SIGHUP, before [`Hooks::reload`](crate::Hooks::reload).
    pub fn reload(&self) -> io::Result<()> {
        match self.state.reloader.get() {
            Some(Reloader(reload)) => reload(),
            None => Ok(()),
        }
    }

    /// Sets what [`reload`](Self::reload) runs (once: a server has one TLS layer).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn set_reloader(&self, reload: Box<dyn Fn() -> io::Result<()> + Send + Sync>) {
        let _ = self.state.reloader.set(Reloader(reload));
    }

    pub(crate) fn in_flight(&self) -> &InFlight {
        &self.state.in_flight
    }

    /// Asks `serve_forever` to return; it stops accepting at once. Returns without waiting
    /// for `serve_forever` (only, for a few microseconds, for the threads blocked in
    /// `accept` to leave it). Called before `serve_forever`, it makes the next
    /// `serve_forever` return at once.
    ///
    /// Whatever became of the socket's address or path, this cannot fail: a thread blocked
    /// in `accept` (or `recv`) is interrupted by a signal (`SIGURG`, which the runtime
    /// handles), and a loop that polls is woken through a socket pair of its own.
    pub fn shutdown(&self) {
        self.state.shutdown_requested.store(true, Ordering::SeqCst);
        self.state.wake.send_shutdown();
        self.state.blocked.wake_all();
        // From a forked request: the parent's serving thread reads the wake socket when a
        // wake signal interrupts its wait.
        let wake = &self.state.wake;
        self.state.blocked.wake_parent_until(|| wake.is_pending());
    }

    /// True once `shutdown` was called and `serve_forever` has not yet returned for it.
    pub fn is_shutdown_requested(&self) -> bool {
        self.state.shutdown_requested.load(Ordering::SeqCst)
    }

    /// The address the server is bound to (Python: `server_address`), port 0 resolved.
    pub fn server_address(&self) -> &SocketAddress {
        &self.state.server_address
    }

    /// Registers the calling thread for a serving run in which it waits in the blocking
    /// `accept` or `recv` (through [`wait_for_request`](Self::wait_for_request)).
    pub(crate) fn register_waiter(&self) -> io::Result<Registration<'_>> {
        self.state.blocked.register()
    }

    /// Runs `wait` (a blocking `accept` or `recv` on the server's socket) unless a shutdown
    /// was asked for or `over` is set; a shutdown asked for meanwhile interrupts it, so
    /// `wait` returns. `None` when it did not run.
    pub(crate) fn wait_for_request<R>(
        &self,
        waiter: &Registration<'_>,
        over: &AtomicBool,
        wait: impl FnOnce() -> R,
    ) -> Option<R> {
        // Marked before the flags are read, and `shutdown` (or the end of a serving run)
        // sets its flag before it reads the marks (all SeqCst): either a flag is seen here,
        // or the waiting thread is seen there. Unmarked on drop, even if a hook panics.
        let _waiting = waiter.waiting();
        let stop = self.is_shutdown_requested()
            || over.load(Ordering::SeqCst)
            || self.state.blocked.gave_up();
        (!stop).then(wait)
    }

    /// An error once the last resort of a stop has shut the server's socket down.
    pub(crate) fn check_socket_usable(&self) -> io::Result<()> {
        match self.state.blocked.gave_up() {
            false => Ok(()),
            true => Err(io::Error::other(
                "the server's socket was shut down when a stop could not wake a serving thread",
            )),
        }
    }

    /// Wakes the threads waiting in `wait_for_request` (the caller has set what keeps them
    /// from waiting again) and returns once none waits any more.
    pub(crate) fn wake_waiters(&self) {
        self.state.blocked.wake_all();
    }

    pub(crate) fn wake(&self) -> &WakeSocket {
        &self.state.wake
    }

    /// Drains the wake socket; true if a shutdown was asked for (here or in a forked child).
    pub(crate) fn take_wake(&self) -> bool {
        let asked = self.state.wake.drain();
        if asked {
            self.state.shutdown_requested.store(true, Ordering::SeqCst);
        }
        self.is_shutdown_requested()
    }

    /// Spends a shutdown once `serve_forever` has returned for it: drops the bytes left in
    /// the wake socket (a shutdown seen through the flag leaves its `S` behind, which would
    /// stop the next `serve_forever` at once), then clears the flag.
    pub(crate) fn clear_shutdown(&self) {
        self.state.wake.drain();
        self.state.shutdown_requested.store(false, Ordering::SeqCst);
    }
}
