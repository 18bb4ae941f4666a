//! The system calls the runtime makes that std and socket2 do not wrap: the signal that wakes
//! a thread blocked in `accept`/`recv`, thread ids, `shutdown(2)` on a raw descriptor, and
//! what a forked child does first.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Once;

/// The signal that interrupts a thread blocked in the server's `accept` or `recv`. `SIGURG`
/// is ignored by default and sent by the kernel only to a process that asked for it
/// (`F_SETOWN`), which is why Go's runtime chose it for the same purpose. Its handler does
/// nothing: what matters is that the blocked call returns `EINTR` (no `SA_RESTART`).
pub(crate) const WAKE_SIGNAL: libc::c_int = libc::SIGURG;

extern "C" fn on_wake_signal(_: libc::c_int) {}

/// Installs the wake signal's handler, once per process.
pub(crate) fn install_wake_handler() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: a zeroed sigaction is valid; the handler is async-signal-safe (it does
        // nothing), and no flag asks for the interrupted call to be restarted.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_wake_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(WAKE_SIGNAL, &action, std::ptr::null_mut());
        }
    });
}

/// Unblocks the wake signal in the calling thread (a program may block signals in its
/// threads to handle them elsewhere).
pub(crate) fn unblock_wake_signal() {
    // SAFETY: a sigset on the stack, initialised by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, WAKE_SIGNAL);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// The kernel's id of the calling thread.
pub(crate) fn thread_id() -> libc::pid_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// True on the process's main thread (the thread whose id is the process id).
pub(crate) fn on_main_thread() -> bool {
    thread_local! {
        static MAIN: bool = thread_id() as u32 == std::process::id();
    }
    MAIN.with(|main| *main)
}

/// Sends the wake signal to thread `tid` of this process.
pub(crate) fn wake_thread(tid: libc::pid_t) {
    // SAFETY: tgkill only sends a signal; a thread that has ended makes it fail (ESRCH).
    unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            libc::getpid(),
            tid,
            WAKE_SIGNAL as libc::c_long,
        )
    };
}

/// `TCP_DEFER_ACCEPT` on a listening TCP socket: accept once data came, or after `wait`
/// (whole seconds, rounded up).
pub(crate) fn set_defer_accept(socket: &impl AsRawFd, wait: std::time::Duration) -> io::Result<()> {
    let seconds = wait.as_secs_f64().ceil().min(libc::c_int::MAX as f64) as libc::c_int;
    // SAFETY: an int option from a valid pointer and length, on an open socket.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&seconds as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    match r {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// `shutdown(2)` on a descriptor that is open: it only changes the socket's state (blocked
/// reads and writes on it return).
pub(crate) fn shut_down(fd: RawFd, how: libc::c_int) -> io::Result<()> {
    // SAFETY: shutdown on an open descriptor has no effect on memory.
    match unsafe { libc::shutdown(fd, how) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// In a child right after `fork`: asks the kernel to kill it when the thread that forked it
/// ends (`PR_SET_PDEATHSIG`), and kills it at once if its parent `parent` is already gone
/// (it could have died between the fork and the `prctl`).
pub(crate) fn die_with_parent(parent: libc::pid_t) {
    // SAFETY: prctl with an integer argument; getppid and _exit have no preconditions.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        if libc::getppid() != parent {
            libc::_exit(1);
        }
    }
}

/// Closes descriptor `fd`, which the caller owns and no one uses after (a forked child's
/// copy of a socket it does not need).
pub(crate) fn close(fd: RawFd) {
    // SAFETY: the caller owns `fd` and never uses it again.
    unsafe { libc::close(fd) };
}
