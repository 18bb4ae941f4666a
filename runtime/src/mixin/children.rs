//! The children a `Forking` server forked and has not reaped yet, kept where writing them
//! costs nothing after a `fork`.
//!
//! Every page of the server's memory is shared copy-on-write with the child a `fork` just
//! made, so the first write to each page after it is a page fault that copies the page. The
//! table is written on every request (a pid in, a pid out, `SIGCHLD`'s mark), so it lives in
//! pages a child does not share ([`WipedOnFork`]): a child sees no children, as is right.
//! It is atomics only, without a lock: the serving thread adds, any thread may remove, and
//! `SIGCHLD`'s handler marks.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use crate::routes::{self, SignalRegistration};
use crate::sys::WipedOnFork;

/// The table's first slots: how many children it holds, one past the highest slot ever
/// used (scans stop there), and `SIGCHLD`'s mark; the pids' slots follow (0: free).
const COUNT: usize = 0;
const HIGH: usize = 1;
const ENDED: usize = 2;
const FIRST: usize = 3;

/// At most this many slots (a `max_children` of millions would map more for nothing: the
/// kernel's own limit on pids is 4,194,304).
const MOST: usize = 1 << 22;

/// The pids of a server's children not yet reaped, and whether `SIGCHLD` came since it was
/// last asked.
#[derive(Debug)]
pub(crate) struct Children {
    table: Arc<WipedOnFork>,
    _sigchld: SignalRegistration,
}

impl Children {
    /// A table for up to `capacity` children at once, marked by every `SIGCHLD` from now on.
    pub(crate) fn new(capacity: usize) -> io::Result<Children> {
        let table = Arc::new(WipedOnFork::new(FIRST + capacity.clamp(1, MOST))?);
        Ok(Children {
            _sigchld: routes::mark(libc::SIGCHLD, table.clone(), ENDED)?,
            table,
        })
    }

    fn slots(&self) -> &[AtomicI32] {
        let high = self.table[HIGH].load(Ordering::SeqCst) as usize;
        &self.table[FIRST..FIRST + high]
    }

    /// How many children there are.
    pub(crate) fn len(&self) -> usize {
        self.table[COUNT].load(Ordering::SeqCst) as usize
    }

    /// Adds child `pid`; false if the table is full (the caller keeps fewer children than
    /// its capacity, so only a bug makes it so). Called from one thread at a time.
    pub(crate) fn insert(&self, pid: libc::pid_t) -> bool {
        let free = self.table[FIRST..]
            .iter()
            .position(|slot| slot.load(Ordering::SeqCst) == 0);
        let Some(index) = free else { return false };
        self.table[FIRST + index].store(pid, Ordering::SeqCst);
        self.table[HIGH].fetch_max(index as i32 + 1, Ordering::SeqCst);
        self.table[COUNT].fetch_add(1, Ordering::SeqCst);
        true
    }

    /// The child in the lowest slot, if any.
    pub(crate) fn first(&self) -> Option<libc::pid_t> {
        self.slots()
            .iter()
            .map(|slot| slot.load(Ordering::SeqCst))
            .find(|&pid| pid != 0)
    }

    /// Removes child `pid`, if it is there (a thread racing this one may have removed it).
    pub(crate) fn remove(&self, pid: libc::pid_t) {
        for slot in self.slots() {
            if slot
                .compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                self.table[COUNT].fetch_sub(1, Ordering::SeqCst);
                return;
            }
        }
    }

    /// Removes every child for which `ended` is true (it has been waited for).
    pub(crate) fn remove_ended(&self, mut ended: impl FnMut(libc::pid_t) -> bool) {
        for slot in self.slots() {
            let pid = slot.load(Ordering::SeqCst);
            if pid != 0 && ended(pid) {
                self.remove(pid);
            }
        }
    }

    /// Every child, for a signal (the table may change meanwhile).
    pub(crate) fn each(&self, mut f: impl FnMut(libc::pid_t)) {
        self.slots()
            .iter()
            .map(|slot| slot.load(Ordering::SeqCst))
            .filter(|&pid| pid != 0)
            .for_each(&mut f);
    }

    /// Whether `SIGCHLD` came since the last call (some child may have ended).
    pub(crate) fn take_ended(&self) -> bool {
        self.table[ENDED].swap(0, Ordering::SeqCst) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_come_and_go_and_a_full_table_says_so() {
        let children = Children::new(2).unwrap();
        assert!(children.insert(10) && children.insert(11));
        assert!(!children.insert(12), "full at its capacity");
        assert_eq!((children.len(), children.first()), (2, Some(10)));
        children.remove_ended(|pid| pid == 10);
        assert_eq!((children.len(), children.first()), (1, Some(11)));
        assert!(children.insert(12), "a freed slot is used again");
        let mut all = Vec::new();
        children.each(|pid| all.push(pid));
        assert_eq!(all, [12, 11]);
        children.remove(11);
        children.remove(11);
        assert_eq!(children.len(), 1, "removed once");
    }
}
