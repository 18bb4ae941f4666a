//! Signals routed to sockets (signal-hook's self-pipe: the handler only writes a byte), to a
//! serving thread's interruption.

use std::io;
use std::os::unix::net::UnixStream;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::sys;

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

/// Has `signal` set `flag` and arm `timer` (which interrupts the thread that made it) in
/// this process, until the registration is dropped; in a process forked from this one the
/// signal has its default action.
pub(crate) fn interrupt_here(
    signal: libc::c_int,
    flag: Arc<AtomicBool>,
    timer: Arc<sys::WakeTimer>,
) -> io::Result<SignalRegistration> {
    sys::interrupt_on_signal(signal, flag, timer, sys::getpid()).map(SignalRegistration)
}
