//! Signals routed to sockets (signal-hook's self-pipe: the handler only writes a byte), and
//! whether a `ShutdownSignals` routes SIGINT/SIGTERM/SIGHUP now (forked children then give
//! them back their default action).

use std::io;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A signal routed to a socket; unregistered on drop.
#[derive(Debug)]
pub(crate) struct SignalRegistration(signal_hook::SigId);

impl SignalRegistration {
    /// In a forked child: the signal no longer writes to the parent's socket. (The child
    /// leaves with `_exit`: the registration is never dropped there.)
    pub(crate) fn forget_in_child(&self) {
        signal_hook::low_level::unregister(self.0);
    }
}

impl Drop for SignalRegistration {
    fn drop(&mut self) {
        signal_hook::low_level::unregister(self.0);
    }
}

/// Has `signal` write a byte to `writer`, until the registration is dropped.
pub(crate) fn route(signal: libc::c_int, writer: UnixStream) -> io::Result<SignalRegistration> {
    signal_hook::low_level::pipe::register(signal, writer).map(SignalRegistration)
}

/// Has `signal` set `flag`, until the registration is dropped.
pub(crate) fn flag(
    signal: libc::c_int,
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> io::Result<SignalRegistration> {
    signal_hook::flag::register(signal, flag).map(SignalRegistration)
}

/// How many `ShutdownSignals` are alive.
static CAUGHT: AtomicUsize = AtomicUsize::new(0);

/// Counts a `ShutdownSignals` as alive until dropped.
#[derive(Debug)]
pub(crate) struct Caught(());

impl Caught {
    pub(crate) fn new() -> Caught {
        CAUGHT.fetch_add(1, Ordering::SeqCst);
        Caught(())
    }
}

impl Drop for Caught {
    fn drop(&mut self) {
        CAUGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// True while some `ShutdownSignals` routes SIGINT/SIGTERM/SIGHUP to a serving loop.
pub(crate) fn caught() -> bool {
    CAUGHT.load(Ordering::SeqCst) > 0
}
