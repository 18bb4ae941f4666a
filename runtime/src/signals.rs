//! Serving until SIGINT or SIGTERM, then closing gracefully; a second signal stops hard.
//! SIGHUP re-reads the TLS configuration (`ServerHandle::reload`), calls the `reload` hook
//! and never stops the server.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

use crate::hooks::Hooks;
use crate::mixin::Mixin;
use crate::notify::Notifier;
use crate::poll;
use crate::routes::{self, Caught, SignalRegistration};
use crate::server::Server;
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
        thread::scope(|scope| {
            scope.spawn(|| watch(&signals, &done, self, grace, notifier));
            if let Some(notifier) = notifier {
                notifier.ready(&handle.stats());
            }
            let served = self.serve_forever();
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
/// socket file behind.
#[derive(Debug)]
pub struct ShutdownSignals {
    stops: UnixStream,
    reloads: UnixStream,
    _registrations: Vec<SignalRegistration>,
    _caught: Caught,
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
            .map(|(signal, writer)| routes::route(signal, writer.try_clone()?))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(ShutdownSignals {
            stops,
            reloads,
            _registrations: registrations,
            _caught: Caught::new(),
        })
    }
}

/// The signal watcher: the first signal shuts the server down; a second one, or the end of
/// the grace period, interrupts the requests still running (from this thread, since a
/// `Sync` server's serving thread may itself be inside a request). Returns when `done`.
fn watch<T, M, H, K>(
    signals: &ShutdownSignals,
    done: &UnixStream,
    server: &Server<T, M, H, K>,
    grace: Duration,
    notifier: Option<&Notifier>,
) where
    T: Transport,
    M: Mixin,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    let handle = &server.shared.handle;
    let fds = [
        signals.stops.as_raw_fd(),
        signals.reloads.as_raw_fd(),
        done.as_raw_fd(),
    ];
    let mut deadline: Option<Instant> = None;
    let watchdog = notifier.and_then(|n| n.watchdog_interval());
    let mut next_ping = watchdog.map(|every| Instant::now() + every);
    loop {
        let until = match (deadline, next_ping) {
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
                notifier.alive(&handle.stats());
                next_ping = Some(Instant::now() + every);
            }
        }
        if reload && crate::wake::count(&signals.reloads) > 0 {
            if let Err(e) = handle.reload() {
                crate::report::error(format_args!(
                    "reload failed, still serving the configuration loaded before: {e}"
                ));
            }
            server.shared.hooks.reload();
        }
        // One byte per signal: two signals may be read at once.
        let mut received = if signalled {
            crate::wake::count(&signals.stops)
        } else {
            0
        };
        if deadline.is_none() && received > 0 {
            if let Some(notifier) = notifier {
                notifier.stopping(&handle.stats());
            }
            server.stop_accepting();
            deadline = Some(Instant::now() + grace);
            received -= 1;
        }
        if deadline.is_some_and(|d| received > 0 || Instant::now() >= d) {
            handle.interrupt();
            // Interrupted: only `done` matters now.
            let _ = poll::readable([done.as_raw_fd()], None);
            return;
        }
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
