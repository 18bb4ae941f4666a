//! The children a `Forking` server forked and has not reaped yet, reaped by `SIGCHLD`'s
//! handler, and kept where writing them costs nothing after a `fork`.
//!
//! Every page of the server's memory is shared copy-on-write with the child a `fork` just
//! made, so the first write to each page after it is a page fault that copies the page. The
//! table is written on every request (a pid in, a pid out), so it lives in pages a child
//! does not share ([`WipedOnFork`]): a child sees no children, as is right, and its own
//! `SIGCHLD`s reap nothing of its parent's. It is atomics only, without a lock: the serving
//! thread adds, and any thread (the signal handler among them) removes.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use crate::shutdown::ServerHandle;
use crate::sys::{self, ChildSignalAction, SignalAction, WipedOnFork};

/// The table's first slots: how many children it holds, one past the highest slot ever
/// used (scans stop there), how many `SIGCHLD`s came, and whether the server is stopping;
/// the pids' slots follow (0: free).
const COUNT: usize = 0;
const HIGH: usize = 1;
const SIGNALS: usize = 2;
const STOPPING: usize = 3;
const FIRST: usize = 4;

/// At most this many slots (a `max_children` of millions would map more for nothing: the
/// kernel's own limit on pids is 4,194,304).
const MOST: usize = 1 << 22;

/// A server's children not yet reaped. Each is reaped as soon as it ends, by `SIGCHLD`'s
/// handler, which counts its exit status as a completed or failed request; only these
/// children are ever waited for.
#[derive(Debug)]
pub(crate) struct Children {
    table: Arc<Table>,
    _sigchld: ChildSignalAction,
}

#[derive(Debug)]
struct Table {
    slots: WipedOnFork<AtomicI32>,
    /// The serving loop stops accepting at this many children and waits to be woken.
    limit: usize,
    server: ServerHandle,
}

impl Children {
    /// A table for up to `limit` children of `server` at once, reaped from now on.
    pub(crate) fn new(limit: usize, server: ServerHandle) -> io::Result<Children> {
        let limit = limit.clamp(1, MOST);
        let table = Arc::new(Table {
            slots: WipedOnFork::new(FIRST + limit)?,
            limit,
            server,
        });
        Ok(Children {
            _sigchld: sys::run_on_child_signal(table.clone())?,
            table,
        })
    }

    /// How many children there are.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether there are as many children as the limit (or more).
    pub(crate) fn is_full(&self) -> bool {
        self.table.len() >= self.table.limit
    }

    /// How many `SIGCHLD`s came so far: read before a `fork`, it tells after the child was
    /// added whether one came meanwhile (it could have been the child's own, too early for
    /// the handler to find the child).
    pub(crate) fn signals(&self) -> i32 {
        self.table.slots[SIGNALS].load(Ordering::SeqCst)
    }

    /// Adds child `pid` (the caller keeps fewer children than the limit, and only one
    /// thread adds); reaps it at once if it ended before it could be added (`signals` is
    /// not what the caller read before the `fork`).
    pub(crate) fn add(&self, pid: libc::pid_t, signals_before: i32) {
        if !self.table.insert(pid) {
            self.table.wait(pid, 0); // only a miscount could fill the table
        }
        if self.signals() != signals_before {
            self.table.reap(libc::WNOHANG);
        }
    }

    /// Waits until one child ends (any, if several run) and reaps it.
    pub(crate) fn wait_for_one(&self) {
        if let Some(pid) = self.table.first() {
            self.table.wait(pid, 0);
            self.table.remove(pid);
        }
    }

    /// Waits for every child when `block`, else reaps those that ended.
    pub(crate) fn reap(&self, block: bool) {
        self.table.reap(if block { 0 } else { libc::WNOHANG });
    }

    /// From now on every child that ends wakes the serving loop (a stop waits for them).
    pub(crate) fn wake_on_every_end(&self) {
        self.table.slots[STOPPING].store(1, Ordering::SeqCst);
    }

    /// Sends `signal` to every child (the table may change meanwhile); how many it sent it
    /// to. (Counted as they are signalled: `SIGCHLD`'s handler, on any thread, may reap a
    /// child the signal killed before a count taken after could see it.)
    pub(crate) fn signal_all(&self, signal: libc::c_int) -> usize {
        let mut signalled = 0;
        for slot in self.table.slots() {
            match slot.load(Ordering::SeqCst) {
                0 => {}
                pid => {
                    sys::kill(pid, signal);
                    signalled += 1;
                }
            }
        }
        signalled
    }
}

impl Table {
    fn slots(&self) -> &[AtomicI32] {
        let high = self.slots[HIGH].load(Ordering::SeqCst) as usize;
        &self.slots[FIRST..FIRST + high]
    }

    fn len(&self) -> usize {
        self.slots[COUNT].load(Ordering::SeqCst) as usize
    }

    /// Adds `pid` in the lowest free slot; false if there is none.
    fn insert(&self, pid: libc::pid_t) -> bool {
        let free = self.slots[FIRST..]
            .iter()
            .position(|slot| slot.load(Ordering::SeqCst) == 0);
        let Some(index) = free else { return false };
        self.slots[FIRST + index].store(pid, Ordering::SeqCst);
        self.slots[HIGH].fetch_max(index as i32 + 1, Ordering::SeqCst);
        self.slots[COUNT].fetch_add(1, Ordering::SeqCst);
        true
    }

    /// The child in the lowest slot, if any.
    fn first(&self) -> Option<libc::pid_t> {
        self.slots()
            .iter()
            .map(|slot| slot.load(Ordering::SeqCst))
            .find(|&pid| pid != 0)
    }

    /// Removes `pid`, unless another thread did first.
    fn remove(&self, pid: libc::pid_t) {
        for slot in self.slots() {
            if slot
                .compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                self.slots[COUNT].fetch_sub(1, Ordering::SeqCst);
                return;
            }
        }
    }

    /// Waits for every child with `waitpid(pid, flags)` and removes those that ended;
    /// whether any did.
    fn reap(&self, flags: libc::c_int) -> bool {
        let mut reaped = false;
        for slot in self.slots() {
            let pid = slot.load(Ordering::SeqCst);
            if pid != 0 && self.wait(pid, flags) {
                self.remove(pid);
                reaped = true;
            }
        }
        reaped
    }

    /// `waitpid` for one child; true once it has ended (or is not ours to wait for any
    /// more: another thread reaped it). Its exit status counts as a completed (0) or failed
    /// request.
    fn wait(&self, pid: libc::pid_t, flags: libc::c_int) -> bool {
        match sys::wait_child(pid, flags) {
            Ok(None) => false,
            Ok(Some(ok)) => {
                self.server.in_flight().counters().record_end(ok);
                true
            }
            Err(_) => true,
        }
    }
}

// SAFETY (`SignalAction`): `run` uses atomics, `waitpid`, an atomic add to the server's
// counters and a non-blocking `write` to its wake socket: all async-signal-safe.
#[allow(unsafe_code)]
unsafe impl SignalAction for Table {
    /// `SIGCHLD`: reaps the children that ended, and wakes the serving loop if it waits for
    /// room (the table was full) or for the children to end (a stop).
    fn run(&self) {
        self.slots[SIGNALS].fetch_add(1, Ordering::SeqCst);
        let was_full = self.len() >= self.limit;
        let stopping = self.slots[STOPPING].load(Ordering::SeqCst) != 0;
        if self.reap(libc::WNOHANG) && (was_full || stopping) {
            self.server.wake().wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(limit: usize) -> Table {
        let address = crate::address::SocketAddress::Inet("127.0.0.1:0".parse().unwrap());
        Table {
            slots: WipedOnFork::new(FIRST + limit).unwrap(),
            limit,
            server: ServerHandle::new(address, 0, -1).unwrap(),
        }
    }

    #[test]
    fn children_come_and_go_and_a_full_table_says_so() {
        let children = table(2);
        assert!(children.insert(10) && children.insert(11));
        assert!(!children.insert(12), "full at its limit");
        assert_eq!((children.len(), children.first()), (2, Some(10)));
        children.remove(10);
        assert_eq!((children.len(), children.first()), (1, Some(11)));
        assert!(children.insert(12), "a freed slot is used again");
        assert_eq!(children.first(), Some(12));
        children.remove(11);
        children.remove(11);
        assert_eq!(children.len(), 1, "removed once");
    }

    /// A stop counts the children it signals, not those left afterwards: `SIGCHLD`'s
    /// handler may reap the ones the signal killed at once.
    #[test]
    fn signalling_every_child_counts_each_though_the_handler_reaps_them() {
        let address = crate::address::SocketAddress::Inet("127.0.0.1:0".parse().unwrap());
        let server = ServerHandle::new(address, 0, -1).unwrap();
        let children = Children::new(4, server.clone()).unwrap();
        for _ in 0..2 {
            #[allow(clippy::zombie_processes)] // reaped by the table under test
            let sleeper = std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .unwrap();
            let signals = children.signals();
            children.add(sleeper.id() as libc::pid_t, signals);
        }
        children.wake_on_every_end();
        assert_eq!(children.signal_all(libc::SIGTERM), 2);
        // Each end wakes the server (a signal may end a wait early, too).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while children.len() > 0 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(!left.is_zero(), "SIGCHLD's handler reaps them");
            let _ = crate::poll::readable([server.wake().fd()], Some(left));
            server.wake().drain();
        }
    }
}
