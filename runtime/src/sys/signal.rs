//! Signal plumbing: actions run by signal-hook's handler, and a timer that interrupts a
//! thread's blocking call with the wake signal.
//!
//! signal-hook installs its handler with `SA_RESTART`, so a signal that comes while the
//! serving thread waits in `accept` or `recv` has its action run and the call goes on. A
//! `Forking` server's serving thread waits in that call and watches its stop and reload
//! signals itself (a second thread would make every `fork` slower), so those signals'
//! action arms a [`WakeTimer`]: the wake signal, whose handler does not restart the call,
//! comes shortly after and again every millisecond until the thread has seen the signal,
//! so that one that came just before the thread entered the call is not lost either.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A timer that sends the wake signal to the thread that made it, armed from a signal
/// handler and disarmed by that thread; deleted on drop. Timers are not inherited by a
/// forked child.
#[derive(Debug)]
pub(crate) struct WakeTimer(libc::timer_t);

// SAFETY: the timer id is a kernel handle, valid from any thread of the process.
unsafe impl Send for WakeTimer {}
// SAFETY: as above; `timer_settime` may be called from any thread at once.
unsafe impl Sync for WakeTimer {}

impl WakeTimer {
    /// A timer for the calling thread (disarmed).
    pub(crate) fn for_this_thread() -> io::Result<WakeTimer> {
        // SAFETY: a zeroed sigevent is valid; the fields set ask for the wake signal to be
        // sent to this thread; `timer` is written by the call.
        unsafe {
            let mut event: libc::sigevent = std::mem::zeroed();
            event.sigev_notify = libc::SIGEV_THREAD_ID;
            event.sigev_signo = super::WAKE_SIGNAL;
            event.sigev_notify_thread_id = super::thread_id();
            let mut timer: libc::timer_t = std::mem::zeroed();
            match libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut timer) {
                0 => Ok(WakeTimer(timer)),
                _ => Err(io::Error::last_os_error()),
            }
        }
    }

    /// Sends the wake signal in 50 µs and then every millisecond (async-signal-safe).
    pub(crate) fn arm(&self) {
        self.set(50_000, 1_000_000);
    }

    /// No more wake signals.
    pub(crate) fn disarm(&self) {
        self.set(0, 0);
    }

    fn set(&self, first_ns: libc::c_long, every_ns: libc::c_long) {
        let time = |ns| libc::timespec {
            tv_sec: 0,
            tv_nsec: ns,
        };
        let setting = libc::itimerspec {
            it_interval: time(every_ns),
            it_value: time(first_ns),
        };
        // SAFETY: a live timer; timer_settime is async-signal-safe.
        unsafe { libc::timer_settime(self.0, 0, &setting, std::ptr::null_mut()) };
    }
}

impl Drop for WakeTimer {
    fn drop(&mut self) {
        // SAFETY: the timer is this value's and is not used after.
        unsafe { libc::timer_delete(self.0) };
    }
}

/// Has `signal` set `flag` and arm `timer` while the process is `owner`, and take its
/// default action in any process forked from it, until the returned registration is
/// unregistered.
pub(crate) fn interrupt_on_signal(
    signal: libc::c_int,
    flag: Arc<AtomicBool>,
    timer: Arc<WakeTimer>,
    owner: libc::pid_t,
) -> io::Result<signal_hook::SigId> {
    // An atomic store and timer_settime: async-signal-safe.
    in_process_on_signal(signal, owner, move || {
        flag.store(true, Ordering::SeqCst);
        timer.arm();
    })
}

/// Has `signal` send a byte on `socket` while the process is `owner`, and take its default
/// action in any process forked from it (whose `socket` is a copy of the owner's), until the
/// returned registration is unregistered (which closes `socket`).
pub(crate) fn send_in_process_on_signal(
    signal: libc::c_int,
    socket: UnixStream,
    owner: libc::pid_t,
) -> io::Result<signal_hook::SigId> {
    // A send: async-signal-safe.
    in_process_on_signal(signal, owner, move || send_byte(&socket))
}

/// Has `signal` run `here` while the process is `owner`, and take its default action in any
/// process forked from it. `here` must be async-signal-safe (both callers' are).
fn in_process_on_signal(
    signal: libc::c_int,
    owner: libc::pid_t,
    here: impl Fn() + Send + Sync + 'static,
) -> io::Result<signal_hook::SigId> {
    let action = move || {
        if super::getpid() == owner {
            here();
        } else {
            let _ = signal_hook::low_level::emulate_default_handler(signal);
        }
    };
    // SAFETY: the action is async-signal-safe: getpid, `here` (the callers' contract), and
    // signal-hook's emulation of the default action (sigaction, sigprocmask, raise).
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
