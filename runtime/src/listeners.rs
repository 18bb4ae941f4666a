//! The listening sockets of every stream server in this process, so that a forked child
//! can close them all: a child that kept one would keep it listening after its server
//! stopped (stopping closes the socket for this process, not for every holder).
//!
//! Lock-free (a child must never take a lock another thread may have held at the fork):
//! a fixed table of descriptors, -1 where free. A process with more stream servers than
//! slots leaves the extra ones unregistered (their children keep a copy while they run).

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

const SLOTS: usize = 64;

static OPEN: [AtomicI32; SLOTS] = [const { AtomicI32::new(-1) }; SLOTS];

/// Held (shared) from the moment a listening socket is made until it is registered, and
/// (exclusive) across each `fork`: no child is forked with a listener it cannot see in
/// the table.
static FORKS: RwLock<()> = RwLock::new(());

/// Held while a listening socket is made and registered.
pub(crate) fn making() -> RwLockReadGuard<'static, ()> {
    FORKS.read().unwrap_or_else(PoisonError::into_inner)
}

/// Held across a `fork` (both parent and child drop it: the child's copy is unlocked by
/// that drop, so a handler in the child may still make a server). Not taken in a process
/// of one thread, where no listener can be in the making meanwhile: the lock is then not
/// written after the fork, which would cost a page copy in parent and child.
pub(crate) fn forking() -> Option<RwLockWriteGuard<'static, ()>> {
    match crate::sys::single_threaded() {
        true => None,
        false => Some(FORKS.write().unwrap_or_else(PoisonError::into_inner)),
    }
}

/// A listening socket registered until dropped.
#[derive(Debug)]
pub(crate) struct Registered(Option<usize>);

/// Registers the listening socket `fd`.
pub(crate) fn register(fd: RawFd) -> Registered {
    let slot = OPEN.iter().position(|slot| {
        slot.compare_exchange(-1, fd, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    });
    Registered(slot)
}

impl Registered {
    /// Forgets the socket (it was closed, or replaced by an inert one).
    pub(crate) fn unregister(&mut self) {
        if let Some(slot) = self.0.take() {
            OPEN[slot].store(-1, Ordering::SeqCst);
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.unregister();
    }
}

/// In a forked child: closes every registered listening socket (the child's copies).
#[allow(unsafe_code)]
#[link_section = "socketserver_request"]
pub(crate) fn close_all_in_child() {
    for slot in &OPEN {
        let fd = slot.load(Ordering::SeqCst);
        if fd >= 0 {
            crate::sys::close_in_child(fd);
        }
    }
}
