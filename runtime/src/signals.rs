//! Serving until SIGINT or SIGTERM, then closing gracefully; a second signal stops hard.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

use crate::hooks::Hooks;
use crate::mixin::{Mixin, SignalRegistration};
use crate::poll;
use crate::server::Server;
use crate::shutdown::ServerHandle;
use crate::transport::Transport;
use crate::RequestHandler;

impl<T, M, H, K> Server<T, M, H, K>
where
    T: Transport,
    M: Mixin,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    /// Serves until the process gets SIGINT or SIGTERM, then stops accepting at once, lets
    /// requests in flight finish for up to `grace` and closes (see
    /// [`close_within`](Server::close_within)). A second signal during the grace period cuts
    /// the remaining requests at once. Returns how many requests were cut.
    ///
    /// The signal handlers only write a byte to a socket; they stay registered until this
    /// returns (after which the signals no longer stop the process by default: exit soon).
    ///
    /// ```no_run
    /// # use socketserver_runtime::*;
    /// # #[derive(Default)] struct Echo;
    /// # impl RequestHandler<StreamRequest> for Echo {
    /// #     fn handle(&mut self, _: &mut StreamRequest) -> HandlerResult { Ok(()) }
    /// # }
    /// let server = ThreadingTcpServer::<Echo>::bind("127.0.0.1:9000")?;
    /// let cut = server.serve_until_signal(std::time::Duration::from_secs(5))?;
    /// eprintln!("stopped; {cut} connections cut");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn serve_until_signal(self, grace: Duration) -> io::Result<usize> {
        let (signals, signal_writer) = UnixStream::pair()?;
        signals.set_nonblocking(true)?;
        let _registrations = [libc::SIGINT, libc::SIGTERM]
            .map(|signal| -> io::Result<SignalRegistration> {
                let id = signal_hook::low_level::pipe::register(signal, signal_writer.try_clone()?)?;
                Ok(SignalRegistration(id))
            })
            .into_iter()
            .collect::<io::Result<Vec<_>>>()?;
        let (done, mut done_writer) = UnixStream::pair()?;
        let handle = self.handle();
        let cut_before = handle.stats().cut;
        thread::scope(|scope| {
            scope.spawn(|| watch(&signals, &done, &handle, grace));
            let served = self.serve_forever();
            // Cut here or by the watcher (at the deadline, or on a second signal).
            self.close_within(grace);
            let _ = done_writer.write_all(b"d");
            served.map(|()| (handle.stats().cut - cut_before) as usize)
        })
    }
}

/// The signal watcher: the first signal shuts the server down; a second one, or the end of
/// the grace period, interrupts the requests still running (from this thread, since a
/// `Sync` server's serving thread may itself be inside a request). Returns when `done`.
fn watch(signals: &UnixStream, done: &UnixStream, handle: &ServerHandle, grace: Duration) {
    let fds = [signals.as_raw_fd(), done.as_raw_fd()];
    let mut deadline: Option<Instant> = None;
    loop {
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let Ok([signalled, finished]) = poll::readable(fds, timeout) else {
            return;
        };
        if finished {
            return;
        }
        let got_signal = signalled && drain(signals) > 0;
        match deadline {
            None if got_signal => {
                handle.shutdown();
                deadline = Some(Instant::now() + grace);
            }
            Some(d) if got_signal || Instant::now() >= d => {
                handle.interrupt();
                // Interrupted: only `done` matters now.
                let _ = poll::readable([done.as_raw_fd()], None);
                return;
            }
            _ => {}
        }
    }
}

/// Reads every pending byte; returns how many there were.
fn drain(mut socket: &UnixStream) -> usize {
    let mut total = 0;
    let mut buf = [0u8; 16];
    while let Ok(n @ 1..) = socket.read(&mut buf) {
        total += n;
    }
    total
}
