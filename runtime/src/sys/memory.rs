//! Memory of the forking process alone: zeroed atomics that a child forked from it finds
//! zeroed again.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::AtomicI32;

/// `len` zeroed `AtomicI32`s in pages of their own that a forked child does not share: the
/// kernel gives the child fresh zeroed pages in their place (`MADV_WIPEONFORK`). So the
/// parent writes them after a `fork` without the copy-on-write fault that every other page
/// it writes then costs, and a child sees them as if nothing had been written.
pub(crate) struct WipedOnFork {
    start: NonNull<AtomicI32>,
    len: usize,
}

// SAFETY: the memory is atomics only, owned by the value and unmapped when it drops.
unsafe impl Send for WipedOnFork {}
// SAFETY: as above: shared access is to atomics.
unsafe impl Sync for WipedOnFork {}

impl WipedOnFork {
    /// Maps the memory (at least one page).
    pub(crate) fn new(len: usize) -> io::Result<WipedOnFork> {
        let bytes = Self::bytes_for(len);
        // SAFETY: a new private anonymous mapping, which no other value refers to.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
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
        };
        // SAFETY: advice on the mapping just made.
        if unsafe { libc::madvise(start, bytes, libc::MADV_WIPEONFORK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(mapped)
    }

    /// The mapping's length for `len` atomics (never 0, which `mmap` refuses).
    fn bytes_for(len: usize) -> usize {
        len.max(1) * std::mem::size_of::<AtomicI32>()
    }
}

impl std::ops::Deref for WipedOnFork {
    type Target = [AtomicI32];

    fn deref(&self) -> &[AtomicI32] {
        // SAFETY: `len` atomics, mapped zeroed (a valid `AtomicI32`) while `self` lives.
        unsafe { std::slice::from_raw_parts(self.start.as_ptr(), self.len) }
    }
}

impl Drop for WipedOnFork {
    fn drop(&mut self) {
        // SAFETY: the mapping is this value's; no reference to it outlives `self`.
        unsafe { libc::munmap(self.start.as_ptr().cast(), Self::bytes_for(self.len)) };
    }
}

impl std::fmt::Debug for WipedOnFork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WipedOnFork")
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    /// What the parent wrote is not what a child sees: the child finds zeros.
    #[test]
    fn a_forked_child_finds_the_memory_zeroed() {
        let memory = WipedOnFork::new(3).unwrap();
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
}
