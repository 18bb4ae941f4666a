//! Memory of the forking process alone: zeroed atomics that a child forked from it finds
//! zeroed again, and reference counts a child does not write.

use std::io;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize};
use std::sync::Arc;

/// An atomic integer: all-zero bytes are a valid value of it (zero).
pub(crate) trait Zeroed: private::Sealed + Send + Sync {}
impl Zeroed for AtomicI32 {}
impl Zeroed for AtomicU64 {}
impl Zeroed for AtomicUsize {}

mod private {
    /// Only the atomics above are [`Zeroed`](super::Zeroed).
    pub trait Sealed {}
    impl Sealed for std::sync::atomic::AtomicI32 {}
    impl Sealed for std::sync::atomic::AtomicU64 {}
    impl Sealed for std::sync::atomic::AtomicUsize {}
}

/// `len` zeroed atomics in pages of their own that a forked child
/// does not share: the kernel gives the child fresh zeroed pages in their place
/// (`MADV_WIPEONFORK`). So the parent writes them after a `fork` without the copy-on-write
/// fault that every other page it writes then costs, and a child sees them as if nothing
/// had been written.
pub(crate) struct WipedOnFork<A: Zeroed> {
    start: NonNull<A>,
    len: usize,
    _atomics: PhantomData<A>,
}

// SAFETY: the memory is atomics only, owned by the value and unmapped when it drops.
unsafe impl<A: Zeroed> Send for WipedOnFork<A> {}
// SAFETY: as above: shared access is to atomics.
unsafe impl<A: Zeroed> Sync for WipedOnFork<A> {}

impl<A: Zeroed> WipedOnFork<A> {
    /// Maps the memory (at least one page).
    pub(crate) fn new(len: usize) -> io::Result<WipedOnFork<A>> {
        let bytes = Self::bytes_for(len);
        // Not charged to the commit limit (`MAP_NORESERVE`): `fork` checks every charged
        // mapping against it again for each child (a security hook per mapping, too), and
        // these are a few pages the child gets fresh.
        // SAFETY: a new private anonymous mapping, which no other value refers to.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if start == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mapped = WipedOnFork {
            // SAFETY: mmap succeeded: not null.
            start: unsafe { NonNull::new_unchecked(start.cast()) },
            len,
            _atomics: PhantomData,
        };
        // SAFETY: advice on the mapping just made.
        if unsafe { libc::madvise(start, bytes, libc::MADV_WIPEONFORK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(mapped)
    }

    /// The mapping's length for `len` atomics (never 0, which `mmap` refuses).
    fn bytes_for(len: usize) -> usize {
        len.max(1) * std::mem::size_of::<A>()
    }
}

impl<A: Zeroed> std::ops::Deref for WipedOnFork<A> {
    type Target = [A];

    fn deref(&self) -> &[A] {
        // SAFETY: `len` atomics, mapped zeroed (a valid value: `Zeroed`) while `self` lives.
        unsafe { std::slice::from_raw_parts(self.start.as_ptr(), self.len) }
    }
}

impl<A: Zeroed> Drop for WipedOnFork<A> {
    fn drop(&mut self) {
        // SAFETY: the mapping is this value's; no reference to it outlives `self`.
        unsafe { libc::munmap(self.start.as_ptr().cast(), Self::bytes_for(self.len)) };
    }
}

impl<A: Zeroed> std::fmt::Debug for WipedOnFork<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WipedOnFork")
            .field("len", &self.len)
            .finish()
    }
}

/// An `Arc`, or a forked child's copy of one that counts nothing: the child exits without
/// dropping what it shares with its parent, so a count it wrote would only cost it a
/// copy-on-write fault, and it takes an uncounted copy instead
/// ([`uncounted_copy`](Self::uncounted_copy)). Clones of either are counted.
pub(crate) struct CountedArc<T> {
    arc: ManuallyDrop<Arc<T>>,
    /// False for an uncounted copy, whose drop does nothing.
    counted: bool,
}

impl<T> CountedArc<T> {
    pub(crate) fn new(value: T) -> CountedArc<T> {
        CountedArc {
            arc: ManuallyDrop::new(Arc::new(value)),
            counted: true,
        }
    }

    /// The same `Arc` once more, without counting it; its drop does nothing.
    ///
    /// # Safety
    /// The copy must not outlive the counted handles that keep the value alive (in a forked
    /// child that never returns to where they are dropped, nothing outlives them).
    pub(crate) unsafe fn uncounted_copy(&self) -> CountedArc<T> {
        CountedArc {
            // SAFETY: a bitwise copy of the pointer, never dropped (`counted` is false); the
            // caller keeps the value alive meanwhile.
            arc: unsafe { std::ptr::read(&self.arc) },
            counted: false,
        }
    }
}

impl<T> Clone for CountedArc<T> {
    fn clone(&self) -> CountedArc<T> {
        CountedArc {
            arc: ManuallyDrop::new(Arc::clone(&self.arc)),
            counted: true,
        }
    }
}

impl<T> std::ops::Deref for CountedArc<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.arc
    }
}

impl<T> Drop for CountedArc<T> {
    fn drop(&mut self) {
        if self.counted {
            // SAFETY: dropped once, here; an uncounted copy never drops it.
            unsafe { ManuallyDrop::drop(&mut self.arc) }
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for CountedArc<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    /// What the parent wrote is not what a child sees: the child finds zeros.
    #[test]
    fn a_forked_child_finds_the_memory_zeroed() {
        let memory = WipedOnFork::<AtomicI32>::new(3).unwrap();
        memory[2].store(42, Ordering::SeqCst);
        // SAFETY: the child only reads the memory and leaves with _exit.
        match unsafe { libc::fork() } {
            0 => {
                let seen = memory[2].load(Ordering::SeqCst);
                // SAFETY: ends the child without running the parent's destructors.
                unsafe { libc::_exit(if seen == 0 { 0 } else { 1 }) }
            }
            pid => {
                assert!(pid > 0, "fork failed");
                let mut status = 0;
                // SAFETY: waits for the child just forked.
                assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
                assert!(libc::WIFEXITED(status));
                assert_eq!(
                    libc::WEXITSTATUS(status),
                    0,
                    "the child saw the parent's 42"
                );
            }
        }
        assert_eq!(memory[2].load(Ordering::SeqCst), 42, "the parent's stays");
    }

    /// An uncounted copy leaves the count as it is, dropped or not; its clones count.
    #[test]
    fn an_uncounted_copy_counts_nothing_and_its_clones_count() {
        let counted = CountedArc::new(7);
        // SAFETY: the copy is dropped before `counted`.
        let copy = unsafe { counted.uncounted_copy() };
        assert_eq!((*copy, Arc::strong_count(&counted.arc)), (7, 1));
        let clone = copy.clone();
        assert_eq!(Arc::strong_count(&counted.arc), 2);
        drop(clone);
        drop(copy);
        assert_eq!(Arc::strong_count(&counted.arc), 1);
    }
}
