//! Signal plumbing: actions run by signal-hook's handler, and a signal held back from a
//! thread except while it waits in `poll`.
//!
//! A `Forking` server's serving thread holds `SIGCHLD` back while it serves and lets it in
//! only inside `ppoll`, so that a child's end interrupts the wait itself: no byte has to go
//! through the wake socket for it (one `sendto`, one `recvfrom` and one `poll` fewer per
//! child), and no `fork` is restarted by a `SIGCHLD` arriving during it.

use std::cell::Cell;
use std::io;
use std::marker::PhantomData;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::WipedOnFork;

thread_local! {
    /// While the thread holds a signal back: its signal mask from before, which `poll`
    /// waits with.
    static WAIT_MASK: Cell<Option<libc::sigset_t>> = const { Cell::new(None) };
}

/// A signal held back from the calling thread except while it waits in the crate's `poll`,
/// until dropped (on the same thread).
pub(crate) struct HeldBack {
    previous: libc::sigset_t,
    _on_this_thread: PhantomData<*const ()>,
}

/// Holds `signal` back from the calling thread (see [`HeldBack`]). One at a time per thread.
pub(crate) fn hold_back(signal: libc::c_int) -> io::Result<HeldBack> {
    // SAFETY: sigsets on the stack, initialised by sigemptyset before use.
    let previous = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        match libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous) {
            0 => previous,
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    };
    WAIT_MASK.set(Some(previous));
    Ok(HeldBack {
        previous,
        _on_this_thread: PhantomData,
    })
}

impl Drop for HeldBack {
    fn drop(&mut self) {
        // Not holding first: a signal let in by the next call finds the thread outside a
        // wait, and its action wakes the thread's loop the usual way.
        WAIT_MASK.set(None);
        // SAFETY: restores the mask saved by `hold_back` on this thread.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut()) };
    }
}

/// In a child forked by a thread holding a signal back: lets it in again (the child runs
/// with the mask its parent had before it held the signal back).
#[allow(unsafe_code)]
#[link_section = "socketserver_request"]
pub(crate) fn release_held_in_child() {
    if let Some(previous) = WAIT_MASK.get() {
        // The kernel's sigset is 8 bytes, the first of libc's `sigset_t`.
        let set = libc::SIG_SETMASK as libc::c_long;
        let mask = &previous as *const libc::sigset_t as libc::c_long;
        super::in_child(libc::SYS_rt_sigprocmask, [set, mask, 0, 8]);
    }
}

/// `poll(2)`, or `ppoll(2)` with the thread's mask from before while it holds a signal back;
/// what the call returned (-1 with `errno` on failure).
pub(super) fn poll_with_wait_mask(pollfds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> i32 {
    let (fds, count) = (pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t);
    match WAIT_MASK.get() {
        // SAFETY: `pollfds` is a valid array of its length for the duration of the call.
        None => unsafe { libc::poll(fds, count, timeout_ms) },
        Some(mask) => {
            let timeout = (timeout_ms >= 0).then(|| libc::timespec {
                tv_sec: (timeout_ms / 1000) as libc::time_t,
                tv_nsec: (timeout_ms % 1000) as libc::c_long * 1_000_000,
            });
            let timeout = timeout.as_ref().map_or(std::ptr::null(), |t| t as *const _);
            // SAFETY: as above; `timeout` is null or points to a local, `mask` is a local.
            unsafe { libc::ppoll(fds, count, timeout, &mask) }
        }
    }
}

/// Has `signal` send a byte on `socket` (until the returned registration is unregistered,
/// which closes it), except on a thread holding `signal` back: the signal reached that
/// thread inside its `ppoll`, which it interrupts by itself.
pub(crate) fn send_unless_waiting_on_signal(
    signal: libc::c_int,
    socket: UnixStream,
) -> io::Result<signal_hook::SigId> {
    let action = move || {
        if WAIT_MASK.with(|mask| mask.get().is_none()) {
            send_byte(&socket);
        }
    };
    // SAFETY: the action is async-signal-safe: a thread-local read (const-initialised,
    // without destructor: a plain TLS load) and `send`.
    unsafe { signal_hook::low_level::register(signal, action) }
}

/// Has `signal` send a byte on `socket` while the process is `owner`, and take its default
/// action in any process forked from it (whose `socket` is a copy of the owner's), until the
/// returned registration is unregistered (which closes `socket`).
pub(crate) fn send_in_process_on_signal(
    signal: libc::c_int,
    socket: UnixStream,
    owner: libc::pid_t,
) -> io::Result<signal_hook::SigId> {
    let action = move || {
        if super::getpid() == owner {
            send_byte(&socket);
        } else {
            let _ = signal_hook::low_level::emulate_default_handler(signal);
        }
    };
    // SAFETY: the action is async-signal-safe: getpid, send, and signal-hook's emulation of
    // the default action (sigaction, sigprocmask, raise).
    unsafe { signal_hook::low_level::register(signal, action) }
}

/// Has `signal` store 1 in `memory[index]`, until the returned registration is unregistered.
pub(crate) fn mark_on_signal(
    signal: libc::c_int,
    memory: Arc<WipedOnFork>,
    index: usize,
) -> io::Result<signal_hook::SigId> {
    assert!(index < memory.len());
    let action = move || memory[index].store(1, Ordering::SeqCst);
    // SAFETY: the action is async-signal-safe: an atomic store.
    unsafe { signal_hook::low_level::register(signal, action) }
}

/// One byte on `socket`, without blocking (a full socket already wakes its reader).
fn send_byte(socket: &UnixStream) {
    // SAFETY: a one-byte send from a static buffer, on a socket the caller's action owns
    // (closed when it is unregistered, after any handler still running it).
    unsafe {
        libc::send(
            socket.as_raw_fd(),
            b"X".as_ptr().cast(),
            1,
            libc::MSG_DONTWAIT,
        )
    };
}
