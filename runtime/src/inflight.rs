//! Requests in flight in this process: counted (for `max_connections` and the counters),
//! waited for (graceful close), and cut (their sockets shut down so blocked reads return).

use std::cell::Cell;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Instant;

use crate::lock::lock;
use crate::sys::WipedOnFork;
use crate::wake::WakeSocket;

/// Shards of the in-flight table: each thread admits into its own (by a number it takes
/// once), so that pool workers admitting and ending requests at the same moment do not
/// contend for one lock.
const SHARDS: usize = 16;

/// The requests in flight in this process, from their accept to their end, with the
/// connection of each while its handler runs (datagram requests have none: they cannot
/// linger on a client).
#[derive(Debug)]
pub(crate) struct InFlight {
    counters: Counters,
    /// `max_connections`; 0 for no limit.
    limit: usize,
    shards: [Mutex<Requests>; SHARDS],
    /// The requests in all shards.
    active: AtomicUsize,
    /// Requests were cut: waiters stop waiting, requests that start are cut at once.
    cut: AtomicBool,
    /// How many threads wait in `wait_idle`: the last request to end must signal `changed`.
    waiters: AtomicUsize,
    idle: Mutex<()>,
    /// Signalled (under `idle`) when the last request ends while someone waits, or when
    /// requests are cut.
    changed: Condvar,
}

/// A shard's requests in flight, each in a slot that is reused once it ends: admitting and
/// ending a request costs no hashing and, once the table has grown, no allocation.
#[derive(Debug, Default)]
struct Requests {
    /// `None`: a free slot; `Some(connection)`: a request, with the descriptor of its
    /// connection while it is attached.
    slots: Vec<Option<Option<RawFd>>>,
    free: Vec<usize>,
}

impl Requests {
    fn insert(&mut self) -> usize {
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

    fn get_mut(&mut self, id: usize) -> Option<&mut Option<RawFd>> {
        self.slots.get_mut(id)?.as_mut()
    }

    fn remove(&mut self, id: usize) {
        if let Some(slot) = self.slots.get_mut(id) {
            if slot.take().is_some() {
                self.free.push(id);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// The connections of the requests that have one.
    fn connections(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.slots.iter().flatten().flatten().copied()
    }
}

/// One of a server's [`Counters`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Counter {
    Accepted,
    Rejected,
    Completed,
    Failed,
    Cut,
    DroppedReplies,
    RefusedByLayer,
    /// The last: `Counters` has as many as its index plus one.
    FailedHandshakes,
}

/// What the server has done so far, one atomic per [`Counter`]; read with
/// [`ServerHandle::stats`](crate::ServerHandle::stats).
///
/// They live in memory a forked process does not share ([`WipedOnFork`]): a `Forking`
/// server's parent counts every request after its `fork` without the page fault a shared
/// page would cost it, and a process forked from the server's (a request's child) finds
/// them at zero: its requests are not the server's.
#[derive(Debug)]
pub(crate) struct Counters(WipedOnFork<AtomicU64>);

impl Counters {
    fn new() -> io::Result<Counters> {
        WipedOnFork::new(Counter::FailedHandshakes as usize + 1).map(Counters)
    }

    /// Counts a request that ended, as completed when `ok`, else as failed; returns `ok`.
    pub(crate) fn record_end(&self, ok: bool) -> bool {
        let counter = if ok {
            Counter::Completed
        } else {
            Counter::Failed
        };
        self[counter].fetch_add(1, Ordering::Relaxed);
        ok
    }
}

impl std::ops::Index<Counter> for Counters {
    type Output = AtomicU64;

    fn index(&self, counter: Counter) -> &AtomicU64 {
        &self.0[counter as usize]
    }
}

/// A snapshot of a server's counters. For `Forking`, requests run in child processes:
/// `active` counts none of them, and `completed` / `failed` are counted from the children's
/// exit statuses as they are reaped. A process forked from the server's (a request's
/// child among them) sees every counter at zero: its requests are not the server's.
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
    /// Requests cut at a stop because they outlived the grace period (or, taken off the
    /// socket as it stopped listening, never found room before it ended).
    pub cut: u64,
    /// Datagram replies dropped because the client's queue was full (a client that does
    /// not read them); the server never waits for one.
    pub dropped_replies: u64,
    /// Connections a layer refused before their handler ran (a bad or missing PROXY header,
    /// a failed or stalled TLS handshake); reported at debug level only.
    pub refused_by_layer: u64,
    /// TLS handshakes that failed or timed out (a plaintext client, a scanner, a client
    /// that rejects the certificate or presents none that is valid); each is in
    /// `refused_by_layer` too. Not counted for requests in forked children.
    pub failed_handshakes: u64,
}

impl Stats {
    /// The counters as a list, in field order (a worker's report to its master).
    pub(crate) fn to_array(self) -> [u64; 9] {
        [
            self.accepted,
            self.active,
            self.completed,
            self.failed,
            self.rejected,
            self.cut,
            self.dropped_replies,
            self.refused_by_layer,
            self.failed_handshakes,
        ]
    }

    /// [`to_array`](Stats::to_array) read back.
    pub(crate) fn from_array(c: [u64; 9]) -> Stats {
        Stats {
            accepted: c[0],
            active: c[1],
            completed: c[2],
            failed: c[3],
            rejected: c[4],
            cut: c[5],
            dropped_replies: c[6],
            refused_by_layer: c[7],
            failed_handshakes: c[8],
        }
    }

    /// Both counts added, counter by counter.
    pub(crate) fn plus(self, other: Stats) -> Stats {
        let (a, b) = (self.to_array(), other.to_array());
        Stats::from_array(std::array::from_fn(|i| a[i] + b[i]))
    }
}

/// Where an admitted request is: its shard and its slot there.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Id {
    shard: usize,
    slot: usize,
}

thread_local! {
    /// This thread's shard, once it has admitted a request (`usize::MAX` until then).
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The shard of the calling thread.
fn own_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    SHARD.with(|shard| {
        if shard.get() == usize::MAX {
            shard.set(NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS);
        }
        shard.get()
    })
}

impl InFlight {
    pub(crate) fn new(limit: usize) -> io::Result<InFlight> {
        Ok(InFlight {
            limit,
            shards: Default::default(),
            active: AtomicUsize::new(0),
            cut: AtomicBool::new(false),
            waiters: AtomicUsize::new(0),
            idle: Mutex::new(()),
            changed: Condvar::new(),
            counters: Counters::new()?,
        })
    }

    /// True when `max_connections` requests are in flight: the serving loop stops accepting.
    pub(crate) fn is_full(&self) -> bool {
        self.limit > 0 && self.active() >= self.limit
    }

    /// True once requests were cut: a graceful close stops waiting.
    pub(crate) fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    pub(crate) fn admit(&self) -> Id {
        let shard = own_shard();
        let slot = lock(&self.shards[shard]).insert();
        self.active.fetch_add(1, Ordering::SeqCst);
        Id { shard, slot }
    }

    /// Records (`Some`) or forgets (`None`) the connection of request `id`.
    pub(crate) fn attach(&self, id: Id, connection: Option<RawFd>) {
        let mut requests = lock(&self.shards[id.shard]);
        // Read under the shard's lock, which `cut` takes after setting the flag: either
        // this sees the flag, or `cut` sees the connection.
        if let (Some(fd), true) = (connection, self.is_cut()) {
            self.counters[Counter::Cut].fetch_add(1, Ordering::SeqCst);
            shut_down(fd);
        }
        if let Some(slot) = requests.get_mut(id.slot) {
            *slot = connection;
        }
    }

    pub(crate) fn release(&self, id: Id, wake: &WakeSocket) {
        lock(&self.shards[id.shard]).remove(id.slot);
        let left = self.active.fetch_sub(1, Ordering::SeqCst) - 1;
        // SeqCst both here and in `wait_idle`: either the waiter is seen here, or it sees
        // the count at 0 and does not wait.
        if left == 0 && self.waiters.load(Ordering::SeqCst) > 0 {
            let _idle = lock(&self.idle);
            self.changed.notify_all();
        }
        if self.limit > 0 && left + 1 == self.limit {
            wake.wake();
        }
    }

    /// The number of requests admitted and not yet ended.
    pub(crate) fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Waits until no request runs, `deadline` passes or requests are cut; true when idle.
    pub(crate) fn wait_idle(&self, deadline: Instant) -> bool {
        let mut idle = lock(&self.idle);
        self.waiters.fetch_add(1, Ordering::SeqCst);
        while self.active() > 0 && !self.is_cut() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            idle = self
                .changed
                .wait_timeout(idle, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        self.active() == 0
    }

    /// Shuts down the connection of every request still running, so that blocked reads
    /// and writes return and the handlers end; returns how many were cut.
    /// Cutting twice cuts nothing more.
    pub(crate) fn cut(&self) -> usize {
        if self.cut.swap(true, Ordering::SeqCst) {
            return 0;
        }
        let mut cut = 0;
        for shard in &self.shards {
            let requests = lock(shard);
            // Counted before they are shut down: a handler whose connection is cut ends at
            // once, and whoever waits for it (a graceful close) must find it counted.
            let n = requests.connections().count();
            self.counters[Counter::Cut].fetch_add(n as u64, Ordering::SeqCst);
            requests.connections().for_each(shut_down);
            cut += n;
        }
        drop(lock(&self.idle));
        self.changed.notify_all();
        cut
    }

    /// The counters and the number running, as one snapshot.
    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            accepted: c[Counter::Accepted].load(Ordering::Relaxed),
            active: self.active() as u64,
            completed: c[Counter::Completed].load(Ordering::Relaxed),
            failed: c[Counter::Failed].load(Ordering::Relaxed),
            rejected: c[Counter::Rejected].load(Ordering::Relaxed),
            cut: c[Counter::Cut].load(Ordering::Relaxed),
            dropped_replies: c[Counter::DroppedReplies].load(Ordering::Relaxed),
            refused_by_layer: c[Counter::RefusedByLayer].load(Ordering::Relaxed),
            failed_handshakes: c[Counter::FailedHandshakes].load(Ordering::Relaxed),
        }
    }
}

/// Shuts down both directions of a connection: blocked reads and writes on it return. Its
/// descriptor is open: connections leave the table before they close, under the same lock.
fn shut_down(fd: RawFd) {
    let _ = crate::sys::shut_down(fd, libc::SHUT_RDWR);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn request_slots_are_reused_and_counted() {
        let mut requests = Requests::default();
        let (a, b) = (requests.insert(), requests.insert());
        assert_ne!(a, b);
        *requests.get_mut(b).unwrap() = Some(7);
        assert_eq!((requests.len(), requests.connections().count()), (2, 1));
        requests.remove(a);
        requests.remove(a); // a second end of the same request changes nothing
        assert_eq!(requests.len(), 1);
        assert!(requests.get_mut(a).is_none());
        assert_eq!(requests.insert(), a, "the free slot is reused");
        requests.remove(a);
        requests.remove(b);
        assert_eq!(requests.len(), 0);
        assert_eq!(requests.connections().count(), 0);
    }

    /// Requests admitted by four threads (four shards): all counted and all cut.
    #[test]
    fn requests_of_every_thread_are_counted_and_cut() {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        use std::os::unix::net::UnixStream;
        use std::time::Duration;

        let in_flight = Arc::new(InFlight::new(0).unwrap());
        let wake = Arc::new(WakeSocket::new().unwrap());
        let mut peers = Vec::new();
        let mut ours_all = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..4 {
            let (ours, theirs) = UnixStream::pair().unwrap();
            theirs
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            peers.push(theirs);
            let fd = ours.as_raw_fd();
            ours_all.push(ours); // open until the end of the test
            let in_flight = in_flight.clone();
            let id = std::thread::spawn(move || {
                let id = in_flight.admit();
                in_flight.attach(id, Some(fd));
                id
            });
            ids.push(id.join().unwrap());
        }
        assert_eq!(in_flight.active(), 4);
        assert_eq!(in_flight.cut(), 4);
        assert_eq!(in_flight.cut(), 0, "cutting twice cuts nothing more");
        for mut peer in peers {
            assert_eq!(
                peer.read(&mut [0u8; 1]).unwrap(),
                0,
                "the connection was shut down"
            );
        }
        for id in ids {
            in_flight.release(id, &wake);
        }
        assert_eq!(in_flight.active(), 0);
    }

    /// A graceful close waiting for requests is woken when the last one ends, on another
    /// thread (a lost wake-up would wait for the whole deadline and return false).
    #[test]
    fn waiting_for_idle_returns_when_the_last_request_ends() {
        use std::time::Duration;

        let in_flight = Arc::new(InFlight::new(0).unwrap());
        let wake = Arc::new(WakeSocket::new().unwrap());
        let ids = [in_flight.admit(), in_flight.admit()];
        let releasing = {
            let (in_flight, wake) = (in_flight.clone(), wake.clone());
            std::thread::spawn(move || {
                for id in ids {
                    in_flight.release(id, &wake);
                }
            })
        };
        assert!(in_flight.wait_idle(Instant::now() + Duration::from_secs(10)));
        releasing.join().unwrap();
        assert_eq!(in_flight.active(), 0);
    }
}
