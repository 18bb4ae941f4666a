//! A graceful stop: stop accepting at once (taking what the kernel had queued), serve what
//! was taken, let requests in flight finish for a grace period, then cut the rest.

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::hooks::Hooks;
use crate::inflight::Counter;
use crate::lock::lock;
use crate::mixin::Mixin;
use crate::poll;
use crate::server::Server;
use crate::transport::Transport;
use crate::RequestHandler;

/// How long a reuse-port worker's stop waits for the first bytes of a client whose
/// handshake is done, under `defer_accept`: since the last one came, and in all.
const DEFERRED_GAP: Duration = Duration::from_millis(5);
const DEFERRED_MOST: Duration = Duration::from_millis(100);

impl<T, M, H, K> Server<T, M, H, K>
where
    T: Transport,
    M: Mixin,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    /// Stops accepting for good, now, from any thread: shuts the server down (so that
    /// `serve_forever` returns), takes every connection (or datagram) the kernel had
    /// already queued (at most `request_queue_size`), to be served by [`close_within`](Server::close_within), and stops
    /// listening: a client that comes later is refused at once (`ECONNREFUSED`; a unix
    /// socket file is removed) instead of being handshaken and left waiting, so a load
    /// balancer can retry it elsewhere. A second call returns once the first is done.
    ///
    /// A TCP socket the server bound starts no handshake from the start of the stop (a
    /// socket filter drops SYNs), so a client that connects meanwhile is refused once its
    /// SYN is sent again, rather than queued after the last connection taken and reset;
    /// only a handshake under way then that completes after the last `accept` (a round
    /// trip, microseconds) can still be reset. Unix sockets have no such filter: a client
    /// that connects between the last connection taken and the shutdown is reset. With
    /// `defer_accept`, a client that connected and
    /// has sent nothing yet is not in the queue to take: it is reset too. With
    /// `allow_reuse_port`, connections the kernel had hashed to this socket are moved to
    /// another socket on the port only with `net.ipv4.tcp_migrate_req=1`; they are reset
    /// otherwise.
    pub fn stop_accepting(&self) {
        self.stop_accepting_then(false);
    }

    /// `stop_accepting` for a pre-forked worker whose socket is its own in a reuse-port
    /// group: other workers' sockets take every new client, so the stop also waits for the
    /// clients whose handshake is done and whose first bytes are still on their way under
    /// `defer_accept` (each within 5 ms of the last, for at most 100 ms), which closing the
    /// socket would reset. A new client hashed to it meanwhile sends its SYN again, to
    /// another worker.
    pub(crate) fn stop_accepting_with_siblings(&self) {
        self.stop_accepting_then(true);
    }

    fn stop_accepting_then(&self, wait_for_deferred: bool) {
        // Held to the end: a second caller (the serving thread's `close_within` while a
        // signal watcher stops the server) returns only once the queue is taken, so that it
        // serves what was taken instead of finding nothing yet.
        let mut drained = lock(&self.drained);
        if self.stopped_listening.swap(true, Ordering::SeqCst) {
            return;
        }
        // No thread waits in `accept` after this, and none enters it again.
        self.shared.handle.shutdown();
        let _ = T::set_blocking(&self.listener, false);
        T::stop_handshakes(&self.listener);
        // At most what the backlog holds: clients that keep coming meanwhile do not keep
        // the stop from going on.
        // A pre-forked worker leaves the queue to the other workers (and its master).
        let most = match T::drains_at_stop(&self.listener) {
            true => self.shared.config.request_queue_size.max(1) as usize,
            false => 0,
        };
        // Takes one request off the queue; false when there is none.
        let take = |drained: &mut Vec<_>| loop {
            match T::accept(&self.listener, &self.shared.config) {
                Ok(Some(request)) => {
                    drained.push(request);
                    break true;
                }
                Ok(None) => break false,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionAborted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break false,
            }
        };
        while drained.len() < most && take(&mut drained) {}
        if wait_for_deferred && most > 0 && self.shared.config.defer_accept.is_some() {
            let until = Instant::now() + DEFERRED_MOST;
            while drained.len() < most {
                let left = until.saturating_duration_since(Instant::now());
                let fd = self.listener.as_raw_fd();
                match poll::readable([fd], Some(left.min(DEFERRED_GAP))) {
                    Ok([true]) if !left.is_zero() => {
                        take(&mut drained);
                    }
                    _ => break,
                }
            }
        }
        T::stop_listening(&self.listener);
    }

    /// Closes gracefully: stops accepting (see [`stop_accepting`](Server::stop_accepting)),
    /// serves the requests that were queued and lets requests in flight (including those
    /// accepted and still queued for a pool worker) finish for up to `grace`, then cuts the
    /// ones still running (their connections are shut down so blocked reads return, and
    /// queued ones are cut as they start; forked children get `SIGTERM` and are reaped),
    /// waits for them to end and closes. Returns how many were cut during this call.
    /// [`ServerHandle::interrupt`](crate::ServerHandle::interrupt) from another thread ends
    /// the grace period at once.
    pub fn close_within(self, grace: Duration) -> usize {
        self.close_gracefully(grace)
    }

    /// `close_within`, leaving the server to be dropped by the caller.
    pub(crate) fn close_gracefully(&self, grace: Duration) -> usize {
        let deadline = Instant::now() + grace;
        let handle = self.shared.handle.clone();
        let cut_before = handle.stats().cut;
        self.stop_accepting();
        self.serve_drained(deadline);
        if !handle.in_flight().wait_idle(deadline) {
            handle.interrupt();
        }
        let stopped = self.mixin.stop(deadline);
        let counters = handle.in_flight().counters();
        counters[Counter::Cut].fetch_add(stopped as u64, Ordering::Relaxed);
        // Requests still queued for a pool worker, or not yet started on their thread, are
        // cut as they start: wait for them, so that they are counted too.
        self.mixin.close();
        self.closed.store(true, Ordering::SeqCst);
        (handle.stats().cut - cut_before) as usize
    }

    /// Serves the requests taken when the socket stopped listening, each as soon as the
    /// server has room for it, until `deadline`; those still waiting then are closed
    /// unserved and counted as accepted and cut. A request the mixin runs on this thread
    /// (`Sync`) is cut at the deadline by a watcher thread.
    fn serve_drained(&self, deadline: Instant) {
        let drained = std::mem::take(&mut *lock(&self.drained));
        if drained.is_empty() {
            return;
        }
        let handle = &self.shared.handle;
        let (done, finished) = mpsc::channel::<()>();
        std::thread::scope(|scope| {
            scope.spawn(move || {
                let left = deadline.saturating_duration_since(Instant::now());
                if let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(left) {
                    handle.interrupt();
                }
            });
            let mut requests = drained.into_iter();
            for (incoming, client_address) in requests.by_ref() {
                if !self.wait_for_room(deadline) {
                    T::reject(incoming);
                    self.count_unserved(1);
                    break;
                }
                self.dispatch(incoming, &client_address);
            }
            let unserved = requests.map(|(incoming, _)| T::reject(incoming)).count();
            self.count_unserved(unserved as u64);
            drop(done);
        });
    }

    /// Waits until the mixin and `max_connections` leave room for a request; false if the
    /// deadline passed or requests were cut first.
    fn wait_for_room(&self, deadline: Instant) -> bool {
        let handle = &self.shared.handle;
        loop {
            self.mixin.service_actions();
            if self.mixin.has_capacity() && !handle.in_flight().is_full() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline || handle.in_flight().is_cut() {
                return false;
            }
            // The request or worker that frees room writes to the wake socket.
            let _ = poll::readable([handle.wake().fd()], Some(deadline - now));
            handle.wake().drain();
        }
    }

    fn count_unserved(&self, n: u64) {
        let counters = self.shared.handle.in_flight().counters();
        counters[Counter::Accepted].fetch_add(n, Ordering::Relaxed);
        counters[Counter::Cut].fetch_add(n, Ordering::Relaxed);
    }
}
