//! Signals routed to sockets (signal-hook's self-pipe: the handler only writes a byte) or to
//! flags.

use std::io;
use std::os::unix::net::UnixStream;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::sys::{self, WipedOnFork};

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

/// Has `signal` write a byte to `writer` in this process, until the registration is dropped.
/// In a process forked from this one, whose `writer` is a copy of this process's, the signal
/// has its default action instead (a stop signal ends a forked request rather than reaching
/// its server twice), at no cost to the child until a signal comes.
pub(crate) fn route_here(
    signal: libc::c_int,
    writer: UnixStream,
) -> io::Result<SignalRegistration> {
    sys::send_in_process_on_signal(signal, writer, sys::getpid()).map(SignalRegistration)
}

/// Has `signal` write a byte to `writer`, until the registration is dropped, except on a
/// thread that holds `signal` back (`sys::hold_back`): it reached that thread inside its
/// `poll`, which it ends by itself.
pub(crate) fn route_unless_waiting(
    signal: libc::c_int,
    writer: UnixStream,
) -> io::Result<SignalRegistration> {
    sys::send_unless_waiting_on_signal(signal, writer).map(SignalRegistration)
}

/// Has `signal` set `flag`, until the registration is dropped.
pub(crate) fn flag(signal: libc::c_int, flag: Arc<AtomicBool>) -> io::Result<SignalRegistration> {
    signal_hook::flag::register(signal, flag).map(SignalRegistration)
}

/// Has `signal` set `memory[index]` to 1, until the registration is dropped.
pub(crate) fn mark(
    signal: libc::c_int,
    memory: Arc<WipedOnFork>,
    index: usize,
) -> io::Result<SignalRegistration> {
    sys::mark_on_signal(signal, memory, index).map(SignalRegistration)
}
