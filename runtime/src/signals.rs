//! Serving until SIGINT or SIGTERM, then closing gracefully; a second signal stops hard.
//! SIGHUP re-reads the TLS configuration (`ServerHandle::reload`), calls the `reload` hook
//! and never stops the server.

use std::cell::Cell;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::hooks::Hooks;
use crate::mixin::Mixin;
use crate::notify::Notifier;
use crate::poll;
use crate::routes::{self, SignalRegistration};
use crate::server::Server;
use crate::sys::WakeTimer;
use crate::transport::Transport;
use crate::RequestHandler;

impl<T, M, H, K> Server<T, M, H, K>
where
    T: Transport,
    M: Mixin,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    /// Serves until the process gets SIGINT or SIGTERM, then stops accepting at once (a new
    /// client is refused, those already queued are served), lets requests in flight finish
    /// for up to `grace` and closes (see [`close_within`](Server::close_within)). A second
    /// signal during the grace period cuts the remaining requests at once. SIGHUP calls
    /// [`Hooks::reload`] and the server goes on serving. Returns how many requests were cut.
    ///
    /// Under a service manager that set `NOTIFY_SOCKET` (systemd's `Type=notify`), it says
    /// `READY=1` as it starts serving, `STOPPING=1` when a stop begins, `STATUS=` with the
    /// counters, and `WATCHDOG=1` at half `WATCHDOG_USEC` when the manager asked for it;
    /// without the variable it sends nothing.
    ///
    /// The signal handlers only write a byte to a socket; they stay registered until this
    /// returns (after which the signals no longer stop the process by default: exit soon).
    /// To announce the server only once signals are caught, use
    /// [`serve_until`](Server::serve_until). Like `serve_forever` it borrows the server; once
    /// it returns the server is closed (it stopped listening and its requests ended) and
    /// cannot serve again: drop it.
    ///
    /// ```no_run
    /// # use socketserver::*;
    /// # #[derive(Default)] struct Echo;
    /// # impl RequestHandler<StreamRequest> for Echo {
    /// #     fn handle(&mut self, _: &mut StreamRequest) -> HandlerResult { Ok(()) }
    /// # }
    /// let server = ThreadingTcpServer::<Echo>::bind("127.0.0.1:9000")?;
    /// let cut = server.serve_until_signal(std::time::Duration::from_secs(5))?;
    /// eprintln!("stopped; {cut} connections cut");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn serve_until_signal(&self, grace: Duration) -> io::Result<usize> {
        self.serve_until(ShutdownSignals::catch()?, grace)
    }

    /// [`serve_until_signal`](Server::serve_until_signal) with signals caught beforehand,
    /// so that a signal that comes between announcing the server and serving is not lost:
    ///
    /// ```no_run
    /// # use socketserver::*;
    /// # #[derive(Default)] struct Echo;
    /// # impl RequestHandler<StreamRequest> for Echo {
    /// #     fn handle(&mut self, _: &mut StreamRequest) -> HandlerResult { Ok(()) }
    /// # }
    /// let signals = ShutdownSignals::catch()?; // before binding: no socket file left behind
    /// let server = ThreadingTcpServer::<Echo>::bind("127.0.0.1:0")?;
    /// println!("listening on {}", server.server_address()); // a supervisor may signal now
    /// server.serve_until(signals, std::time::Duration::from_secs(5))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn serve_until(&self, signals: ShutdownSignals, grace: Duration) -> io::Result<usize> {
        let notifier = Notifier::from_environment();
        let notifier = notifier.as_ref();
        if self.shared.config.workers > 0 {
            return self.supervise(&signals, grace, notifier);
        }
        let (done, mut done_writer) = UnixStream::pair()?;
        let handle = self.handle();
        let cut_before = handle.stats().cut;
        let watcher = Watcher {
            signals: &signals,
            server: self,
            grace,
            notifier,
            deadline: Cell::new(None),
        };
        // A server whose serving thread only forks (`Forking`) watches the signals itself, at
        // every turn of its loop, while it serves: a second thread would make every `fork`
        // take the C library's multi-threaded path (its allocator's locks taken and given back around
        // each fork, and the pages they sit on copied). A watchdog to ping needs the thread.
        let inline = M::RUNS_IN_CHILDREN && notifier.and_then(|n| n.watchdog_interval()).is_none();
        thread::scope(|scope| {
            let served = if inline {
                if let Some(notifier) = notifier {
                    notifier.ready(&handle.stats());
                }
                let served = watcher.serve_watching();
                scope.spawn(move || watcher.watch(&done));
                served
            } else {
                scope.spawn(move || watcher.watch(&done));
                if let Some(notifier) = notifier {
                    notifier.ready(&handle.stats());
                }
                self.serve_forever()
            };
            if let Some(notifier) = notifier {
                notifier.stopping(&handle.stats());
            }
            // Cut here or by the watcher (at the deadline, or on a second signal).
            self.close_gracefully(grace);
            let _ = done_writer.write_all(b"d");
            served.map(|()| (handle.stats().cut - cut_before) as usize)
        })
    }
}

/// SIGINT and SIGTERM (a stop) and SIGHUP (a reload), caught from
/// [`catch`](ShutdownSignals::catch) on (the handlers only write a byte to a socket) until
/// this is dropped, for [`Server::serve_until`]. After the drop the signals are ignored
/// rather than fatal: exit soon.
///
/// Catch them before binding: a signal that comes while the server binds or announces
/// itself then waits for `serve_until`, instead of killing the process and leaving a unix
/// socket file behind. In a process forked from this one (a `Forking` server's request) the
/// signals have their default action: SIGTERM ends that request.
#[derive(Debug)]
pub struct ShutdownSignals {
    stops: UnixStream,
    reloads: UnixStream,
    _registrations: Vec<SignalRegistration>,
}

impl ShutdownSignals {
    /// Starts catching SIGINT, SIGTERM and SIGHUP.
    pub fn catch() -> io::Result<ShutdownSignals> {
        Self::with_pending(0, 0)
    }

    /// Another `ShutdownSignals` for a second server (one `serve_until` each): every signal
    /// from now on reaches both, and those already caught and not yet served reach the new
    /// one too.
    ///
    /// ```no_run
    /// # use socketserver::*;
    /// # #[derive(Default)] struct Echo;
    /// # impl RequestHandler<StreamRequest> for Echo {
    /// #     fn handle(&mut self, _: &mut StreamRequest) -> HandlerResult { Ok(()) }
    /// # }
    /// let signals = ShutdownSignals::catch()?;
    /// let tcp = ThreadingTcpServer::<Echo>::bind("127.0.0.1:0")?;
    /// let unix = ThreadingUnixStreamServer::<Echo>::bind("/tmp/echo.sock")?;
    /// let second = signals.try_clone()?;
    /// let grace = std::time::Duration::from_secs(5);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| unix.serve_until(second, grace));
    ///     tcp.serve_until(signals, grace) // one SIGTERM stops both
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<ShutdownSignals> {
        Self::with_pending(pending(&self.stops)?, pending(&self.reloads)?)
    }

    /// The socket a stop signal writes to, and the one a reload writes to.
    pub(crate) fn fds(&self) -> (std::os::fd::RawFd, std::os::fd::RawFd) {
        (self.stops.as_raw_fd(), self.reloads.as_raw_fd())
    }

    /// How many stop signals (`stops`) or reloads came since the last call.
    pub(crate) fn take(&self, stops: bool) -> usize {
        crate::wake::count(if stops { &self.stops } else { &self.reloads })
    }

    /// In a forked worker: these signals no longer reach the master's sockets (the worker
    /// catches its own).
    pub(crate) fn forget_in_child(&self) {
        for registration in &self._registrations {
            registration.forget_in_child();
        }
    }

    /// Catches the signals, as if `stops` stop signals and `reloads` reloads had come.
    fn with_pending(stops: usize, reloads: usize) -> io::Result<ShutdownSignals> {
        let (stops_reader, stop_writer) = UnixStream::pair()?;
        let (reloads_reader, reload_writer) = UnixStream::pair()?;
        (&stop_writer).write_all(&vec![0; stops])?;
        (&reload_writer).write_all(&vec![0; reloads])?;
        let (stops, reloads) = (stops_reader, reloads_reader);
        stops.set_nonblocking(true)?;
        reloads.set_nonblocking(true)?;
        let routes = [
            (libc::SIGINT, &stop_writer),
            (libc::SIGTERM, &stop_writer),
            (libc::SIGHUP, &reload_writer),
        ];
        let registrations = routes
            .into_iter()
            .map(|(signal, writer)| routes::route_here(signal, writer.try_clone()?))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(ShutdownSignals {
            stops,
            reloads,
            _registrations: registrations,
        })
    }
}

/// What the signals do to a server in `serve_until`: the first stop signal stops accepting
/// and starts the grace period; a second one, or the end of the grace period, interrupts the
/// requests still running (from the watcher's thread, since a `Sync` server's serving thread
/// may itself be inside a request); a reload re-reads the server's files and calls the
/// reload hook.
struct Watcher<'a, T, M, H, K>
where
    T: Transport,
    M: Mixin,
    K: Hooks,
{
    signals: &'a ShutdownSignals,
    server: &'a Server<T, M, H, K>,
    grace: Duration,
    notifier: Option<&'a Notifier>,
    /// Set by the first stop signal: when the grace period ends.
    deadline: Cell<Option<Instant>>,
}

impl<T, M, H, K> Watcher<'_, T, M, H, K>
where
    T: Transport,
    M: Mixin,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    /// Serves with the serving thread watching the signals itself: each interrupts its wait
    /// (through a [`WakeTimer`]: signal-hook's handler lets the wait go on), and the loop's
    /// next turn handles it. Returns when a stop signal (or a shutdown) ended the run.
    fn serve_watching(&self) -> io::Result<()> {
        let signalled = Arc::new(AtomicBool::new(false));
        let timer = Arc::new(WakeTimer::for_this_thread()?);
        let _routed = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP]
            .into_iter()
            .map(|signal| routes::interrupt_here(signal, signalled.clone(), timer.clone()))
            .collect::<io::Result<Vec<_>>>()?;
        // Signals that came before the routes were made wait on their sockets.
        self.handle(true, true);
        self.server.serve_forever_watching(&|| {
            // Read before it is written: a write on every turn would cost a page fault after
            // every fork.
            if signalled.load(Ordering::SeqCst) && signalled.swap(false, Ordering::SeqCst) {
                timer.disarm();
                self.handle(true, true);
            }
        })
    }

    /// The watcher thread: handles the signals, and pings the service manager's watchdog,
    /// until `done` is readable or the requests were interrupted.
    fn watch(&self, done: &UnixStream) {
        let signals = self.signals;
        let fds = [
            signals.stops.as_raw_fd(),
            signals.reloads.as_raw_fd(),
            done.as_raw_fd(),
        ];
        let notifier = self.notifier;
        let watchdog = notifier.and_then(|n| n.watchdog_interval());
        let mut next_ping = watchdog.map(|every| Instant::now() + every);
        loop {
            let until = match (self.deadline.get(), next_ping) {
                (Some(d), Some(p)) => Some(d.min(p)),
                (d, p) => d.or(p),
            };
            let timeout = until.map(|t| t.saturating_duration_since(Instant::now()));
            let Ok([signalled, reload, finished]) = poll::readable(fds, timeout) else {
                return;
            };
            if finished {
                return;
            }
            if let (Some(notifier), Some(every), Some(at)) = (notifier, watchdog, next_ping) {
                if Instant::now() >= at {
                    notifier.alive(&self.server.shared.handle.stats());
                    next_ping = Some(Instant::now() + every);
                }
            }
            if self.handle(signalled, reload) {
                // Interrupted: only `done` matters now.
                let _ = poll::readable([done.as_raw_fd()], None);
                return;
            }
        }
    }

    /// Handles the signals waiting on the sockets said to be readable; true once the
    /// requests were interrupted.
    fn handle(&self, stops: bool, reloads: bool) -> bool {
        let signals = self.signals;
        let handle = &self.server.shared.handle;
        if reloads && crate::wake::count(&signals.reloads) > 0 {
            if let Err(e) = handle.reload() {
                crate::report::error(format_args!(
                    "reload failed, still serving the configuration loaded before: {e}"
                ));
            }
            self.server.shared.hooks.reload();
        }
        // One byte per signal: two signals may be read at once.
        let mut received = match stops {
            true => crate::wake::count(&signals.stops),
            false => 0,
        };
        if self.deadline.get().is_none() && received > 0 {
            if let Some(notifier) = self.notifier {
                notifier.stopping(&handle.stats());
            }
            self.server.stop_accepting();
            self.deadline.set(Some(Instant::now() + self.grace));
            received -= 1;
        }
        let over = self
            .deadline
            .get()
            .is_some_and(|d| received > 0 || Instant::now() >= d);
        if over {
            handle.interrupt();
        }
        over
    }
}

/// How many bytes wait on `socket`, left there.
fn pending(socket: &UnixStream) -> io::Result<usize> {
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 64];
    match socket2::SockRef::from(socket).recv_with_flags(&mut buf, libc::MSG_PEEK) {
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
        Err(e) => Err(e),
    }
}
