//! Requests in flight in this process: counted (for `max_connections` and the counters),
//! waited for (graceful close), and cut (their sockets shut down so blocked reads return).

use std::net::Shutdown;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::lock;
use crate::request::StreamSocket;
use crate::shutdown::{ServerHandle, Wake};

/// The requests in flight in this process, from their accept to their end, with the
/// connection of each once it is opened (datagram requests have none: they cannot linger on
/// a client).
#[derive(Debug)]
pub(crate) struct InFlight {
    /// `max_connections`; 0 for no limit.
    limit: usize,
    state: Mutex<State>,
    /// Signalled when the last request ends while someone waits, or when requests are cut.
    changed: Condvar,
    counters: Counters,
}

#[derive(Debug, Default)]
struct State {
    requests: Requests,
    /// Someone waits in `wait_idle`: request ends must signal `changed`.
    waiting: bool,
    /// Requests were cut: waiters stop waiting.
    cut: bool,
}

/// The requests in flight, each in a slot (its id) that is reused once it ends: admitting
/// and ending a request costs no hashing and, once the table has grown, no allocation.
#[derive(Debug, Default)]
struct Requests {
    /// `None`: a free slot; `Some(connection)`: a request, with its connection once opened.
    slots: Vec<Option<Option<Arc<StreamSocket>>>>,
    free: Vec<usize>,
    len: usize,
}

impl Requests {
    fn insert(&mut self) -> usize {
        self.len += 1;
        match self.free.pop() {
            Some(id) => {
                self.slots[id] = Some(None);
                id
            }
            None => {
                self.slots.push(Some(None));
                self.slots.len() - 1
            }
        }
    }

    fn get_mut(&mut self, id: usize) -> Option<&mut Option<Arc<StreamSocket>>> {
        self.slots.get_mut(id)?.as_mut()
    }

    fn remove(&mut self, id: usize) {
        if let Some(slot) = self.slots.get_mut(id) {
            if slot.take().is_some() {
                self.free.push(id);
                self.len -= 1;
            }
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The connections of the requests that have one.
    fn connections(&self) -> impl Iterator<Item = &Arc<StreamSocket>> {
        self.slots.iter().flatten().flatten()
    }
}

/// What the server has done so far; read with [`ServerHandle::stats`](crate::ServerHandle::stats).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub completed: AtomicU64,
    pub failed: AtomicU64,
    pub cut: AtomicU64,
}

/// A snapshot of a server's counters. For `Forking`, requests run in child processes:
/// `active` counts none of them, and `completed` / `failed` are counted from the children's
/// exit statuses as they are reaped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections accepted or datagrams received.
    pub accepted: u64,
    /// Requests in flight now in this process: accepted and not yet ended (running, or
    /// waiting for a pool worker).
    pub active: u64,
    /// Requests whose handler succeeded.
    pub completed: u64,
    /// Requests that failed (reported through `handle_error`).
    pub failed: u64,
    /// Requests `verify_request` turned away.
    pub rejected: u64,
    /// Requests cut at shutdown because they outlived the grace period.
    pub cut: u64,
}

/// A request admitted into the server: counted from the moment it is accepted (so that
/// `max_connections` holds for a burst, and a graceful close waits for requests still
/// queued for a worker) until it is dropped, when the request has ended or was never run.
/// Dropping it wakes the serving loop if it was held at `max_connections`.
pub(crate) struct Admission {
    server: ServerHandle,
    id: usize,
}

impl Admission {
    /// Admits a new request of `server`.
    pub(crate) fn new(server: ServerHandle) -> Admission {
        let id = server.in_flight().admit();
        Admission { server, id }
    }

    /// Records the request's connection once it is opened, so that a cut can shut it down.
    /// After a cut, the connection is shut down at once: the server is stopping.
    pub(crate) fn attach(&self, socket: Option<Arc<StreamSocket>>) {
        self.server.in_flight().attach(self.id, socket);
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.server.in_flight().release(self.id, self.server.wake());
    }
}

impl Counters {
    /// Counts a request that ended, as completed when `ok`, else as failed; returns `ok`.
    pub(crate) fn record_end(&self, ok: bool) -> bool {
        let counter = if ok { &self.completed } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
        ok
    }
}

impl InFlight {
    pub(crate) fn new(limit: usize) -> InFlight {
        InFlight {
            limit,
            state: Mutex::default(),
            changed: Condvar::new(),
            counters: Counters::default(),
        }
    }

    /// True when `max_connections` requests are in flight: the serving loop stops accepting.
    pub(crate) fn is_full(&self) -> bool {
        self.limit > 0 && self.active() >= self.limit
    }

    /// True once requests were cut: a graceful close stops waiting.
    pub(crate) fn is_cut(&self) -> bool {
        self.state().cut
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    fn admit(&self) -> usize {
        let mut state = self.state();
        state.requests.insert()
    }

    fn attach(&self, id: usize, socket: Option<Arc<StreamSocket>>) {
        let Some(socket) = socket else { return };
        let mut state = self.state();
        if state.cut {
            let _ = socket.shutdown(Shutdown::Both);
            self.counters.cut.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(slot) = state.requests.get_mut(id) {
            *slot = Some(socket);
        }
    }

    fn release(&self, id: usize, wake: &Wake) {
        let mut state = self.state();
        state.requests.remove(id);
        if state.waiting && state.requests.is_empty() {
            self.changed.notify_all();
        }
        if self.limit > 0 && state.requests.len() + 1 == self.limit {
            wake.wake();
        }
    }

    /// The number of requests admitted and not yet ended.
    pub(crate) fn active(&self) -> usize {
        self.state().requests.len()
    }

    /// Waits until no request runs, `deadline` passes or requests are cut; true when idle.
    pub(crate) fn wait_idle(&self, deadline: Instant) -> bool {
        let mut state = self.state();
        state.waiting = true;
        while !state.requests.is_empty() && !state.cut {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.waiting = false;
        state.requests.is_empty()
    }

    /// Shuts down the connection of every request still running, so that blocked reads
    /// and writes return and the handlers end; returns how many were cut.
    /// Cutting twice cuts nothing more.
    pub(crate) fn cut(&self) -> usize {
        let mut state = self.state();
        if state.cut {
            return 0;
        }
        state.cut = true;
        let mut cut = 0;
        for socket in state.requests.connections() {
            let _ = socket.shutdown(Shutdown::Both);
            cut += 1;
        }
        self.changed.notify_all();
        self.counters.cut.fetch_add(cut as u64, Ordering::Relaxed);
        cut
    }

    /// The counters and the number running, as one snapshot.
    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            accepted: c.accepted.load(Ordering::Relaxed),
            active: self.active() as u64,
            completed: c.completed.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            cut: c.cut.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_slots_are_reused_and_counted() {
        let mut requests = Requests::default();
        let (a, b) = (requests.insert(), requests.insert());
        assert_ne!(a, b);
        let (ours, _theirs) = std::os::unix::net::UnixStream::pair().unwrap();
        *requests.get_mut(b).unwrap() = Some(Arc::new(StreamSocket::Unix(ours)));
        assert_eq!((requests.len(), requests.connections().count()), (2, 1));
        requests.remove(a);
        requests.remove(a); // a second end of the same request changes nothing
        assert_eq!(requests.len(), 1);
        assert!(requests.get_mut(a).is_none());
        assert_eq!(requests.insert(), a, "the free slot is reused");
        requests.remove(a);
        requests.remove(b);
        assert!(requests.is_empty());
        assert_eq!(requests.connections().count(), 0);
    }
}
