//! One spare buffer per thread: a request's read buffer outlives the request, for the
//! thread's next one. A serving thread or pool worker then allocates it once instead of per
//! request, and a forked child not at all (an allocation there writes to the allocator's
//! pages, each write a copy-on-write page fault).

use std::cell::Cell;

thread_local! {
    static SPARE: Cell<Option<Vec<u8>>> = const { Cell::new(None) };
}

/// A buffer with room for exactly `capacity` bytes: the thread's spare one if it has that
/// room, else a new one. Its length is whatever its last user left.
pub(crate) fn take(capacity: usize) -> Vec<u8> {
    match SPARE.take() {
        Some(buf) if buf.capacity() == capacity => buf,
        _ => Vec::with_capacity(capacity),
    }
}

/// Readies the thread's spare buffer for a thread about to fork a child that will take one
/// of `capacity` (if any): the slot set up (a child that registered its destructor itself
/// would page the dynamic loader in, a dozen page faults) and the buffer allocated (a child
/// that allocated would write to the allocator's pages).
pub(crate) fn prepare(capacity: Option<usize>) {
    match capacity {
        Some(capacity) => keep(take(capacity)),
        None => SPARE.with(|_| ()),
    }
}

/// Keeps `buf` as the thread's spare buffer.
pub(crate) fn keep(buf: Vec<u8>) {
    if buf.capacity() > 0 {
        SPARE.set(Some(buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_buffer_of_the_same_capacity_is_taken_again() {
        let mut buf = take(64);
        buf.extend_from_slice(b"left over");
        let address = buf.as_ptr();
        keep(buf);
        let again = take(64);
        assert_eq!((again.as_ptr(), again.len()), (address, 9));
        keep(again);
        let other = take(32);
        assert_eq!((other.capacity(), other.len()), (32, 0));
    }
}
