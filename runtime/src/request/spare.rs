//! Spare buffers, kept per thread: a request's buffers outlive the request, for the thread's
//! next one. A serving thread or pool worker then allocates them once instead of per request,
//! and a forked child not at all (an allocation there writes to the allocator's pages, each
//! write a copy-on-write page fault).
//!
//! Two kinds: a read buffer of a fixed capacity (`rbufsize`, `max_packet_size`), and a
//! datagram's reply buffer, which grows as the handler writes.

use std::cell::Cell;

thread_local! {
    static READ: Cell<Option<Vec<u8>>> = const { Cell::new(None) };
    static REPLY: Cell<Option<Vec<u8>>> = const { Cell::new(None) };
    /// The capacity of the spare read buffer (0: none), read without taking it: readying a
    /// thread that has it then writes nothing (see [`prepare`]).
    static READ_CAPACITY: Cell<usize> = const { Cell::new(0) };
    /// False on a thread that serves one request and ends. (No destructor: reading it
    /// registers nothing.)
    static KEEPS: Cell<bool> = const { Cell::new(true) };
}

/// For a thread that serves one request and ends (`Threading`): its buffers are freed with
/// the request instead of kept, which would register thread-local destructors for nothing.
pub(crate) fn keep_none() {
    KEEPS.set(false);
}

/// A read buffer with room for exactly `capacity` bytes: the thread's spare one if it has
/// that room, else a new one. Its length is whatever its last user left.
#[allow(unsafe_code)]
#[link_section = "socketserver_request"]
pub(crate) fn take(capacity: usize) -> Vec<u8> {
    if !KEEPS.get() {
        return Vec::with_capacity(capacity);
    }
    READ_CAPACITY.set(0);
    match READ.take() {
        Some(buf) if buf.capacity() == capacity => buf,
        _ => Vec::with_capacity(capacity),
    }
}

/// Keeps `buf` as the thread's spare read buffer.
pub(crate) fn keep(buf: Vec<u8>) {
    if buf.capacity() > 0 && KEEPS.get() {
        READ_CAPACITY.set(buf.capacity());
        READ.set(Some(buf));
    }
}

/// An empty reply buffer: the thread's spare one, or a new one.
#[allow(unsafe_code)]
#[link_section = "socketserver_request"]
pub(crate) fn take_reply() -> Vec<u8> {
    if !KEEPS.get() {
        return Vec::new();
    }
    let mut buf = REPLY.take().unwrap_or_default();
    buf.clear();
    buf
}

/// Keeps `buf` as the thread's spare reply buffer.
pub(crate) fn keep_reply(buf: Vec<u8>) {
    if buf.capacity() > 0 && KEEPS.get() {
        REPLY.set(Some(buf));
    }
}

/// The room a reply buffer is readied with: what `io::copy` into a `Vec` reserves.
const REPLY_ROOM: usize = 8 * 1024;

/// Readies the thread's spare read buffer for a thread about to fork a child that will take
/// one of `capacity` bytes: the slot set up (a child that registered its destructor itself
/// would page the dynamic loader in, a dozen page faults) and the buffer allocated (a child
/// that allocated would write to the allocator's pages). A thread whose buffer is ready
/// already writes nothing: after its previous `fork`, each page it writes is a copy-on-write
/// fault.
pub(crate) fn prepare(capacity: usize) {
    if READ_CAPACITY.get() != capacity {
        keep(take(capacity));
    } else {
        READ.with(|_| ());
    }
}

/// A reply buffer for a child about to be forked, taken by the thread that forks (the child
/// then runs no thread-local's accessor, a window of code of its own): the thread's spare
/// one, with room for a reply so that the child allocates nothing. The parent's copy comes
/// back with [`keep_reply`].
pub(crate) fn take_reply_for_child() -> Vec<u8> {
    let mut buf = take_reply();
    buf.reserve(REPLY_ROOM);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_read_buffer_of_the_same_capacity_is_taken_again() {
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

    #[test]
    fn a_kept_reply_buffer_comes_back_empty() {
        let mut reply = take_reply();
        reply.extend_from_slice(b"sent");
        let address = reply.as_ptr();
        keep_reply(reply);
        let again = take_reply();
        assert_eq!((again.as_ptr(), again.len()), (address, 0));
    }

    #[test]
    fn a_thread_that_keeps_none_frees_its_buffers() {
        keep_none();
        keep(take(64));
        keep_reply(Vec::with_capacity(16));
        assert!(READ.take().is_none() && REPLY.take().is_none());
    }

    #[test]
    fn prepared_buffers_are_there_to_take() {
        prepare(128);
        assert_eq!(take(128).capacity(), 128);
        let reply = take_reply_for_child();
        assert!(reply.capacity() >= REPLY_ROOM && reply.is_empty());
        let address = reply.as_ptr();
        keep_reply(reply);
        let again = take_reply_for_child();
        assert_eq!(again.as_ptr(), address, "the same buffer again");
    }
}
