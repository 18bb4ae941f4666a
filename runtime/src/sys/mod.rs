//! Every `unsafe` of the runtime but one (the rest of the crate denies `unsafe_code`; the
//! exception is in `lib.rs`): the system
//! calls std and socket2 do not wrap (the signal that wakes a thread blocked in
//! `accept`/`recv`, thread ids, `shutdown(2)` on a raw descriptor, `poll(2)`, `fork` and what
//! a forked child does first, `waitpid`, `kill`), reads into a buffer's uninitialised spare
//! capacity, and the stream views that rfile and wfile read and write through; `signal`:
//! the actions signal-hook's handler runs, and a timer that interrupts a thread's blocking
//! call; `child_signal`: `SIGCHLD`'s own handler, the actions it runs and the stack it runs
//! on; `memory`: memory a forked child does not share.

mod child_signal;
mod memory;
mod signal;

pub(crate) use child_signal::{run_on_child_signal, ChildSignalAction, SignalAction, SignalStack};
pub(crate) use memory::{CountedArc, WipedOnFork};
pub(crate) use signal::{interrupt_on_signal, send_in_process_on_signal, WakeTimer};

use std::io;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::{Once, OnceLock};

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

/// True while the process has a single thread, as the C library says (glibc's
/// `__libc_single_threaded`, looked up once); false where it does not say. Once false it
/// stays false: another thread may have been made.
pub(crate) fn single_threaded() -> bool {
    static FLAG: OnceLock<usize> = OnceLock::new();
    let flag = *FLAG.get_or_init(|| {
        // SAFETY: a symbol lookup by a NUL-terminated name; null where there is none.
        unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__libc_single_threaded".as_ptr()) as usize }
    });
    // SAFETY: the C library's one-byte flag, which lives as long as the process; glibc
    // documents it as readable at any time (it only ever goes from true to false).
    flag != 0
        && unsafe { &*(flag as *const std::sync::atomic::AtomicU8) }.load(Ordering::Relaxed) != 0
}

/// True on the process's main thread (the thread whose id is the process id).
pub(crate) fn on_main_thread() -> bool {
    thread_local! {
        static MAIN: bool = thread_id() as u32 == std::process::id();
    }
    MAIN.with(|main| *main)
}

/// Sends the wake signal to thread `tid` of process `process`.
pub(crate) fn wake_thread(process: libc::pid_t, tid: libc::pid_t) {
    // SAFETY: tgkill only sends a signal; a thread that has ended makes it fail (ESRCH).
    unsafe { libc::syscall(libc::SYS_tgkill, process, tid, WAKE_SIGNAL as libc::c_long) };
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

/// Closes, for this process, what descriptor `fd` refers to, atomically: `fd` is left open
/// on a new socket that is connected to nothing. The old socket closes unless another
/// process holds it too (a worker's copy of a shared listener keeps listening), and a
/// thread that uses `fd` later meets that inert socket, never a descriptor reused for
/// something else (the technique of the JDK's pre-close).
pub(crate) fn close_in_place(fd: RawFd) -> io::Result<()> {
    let inert = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    // SAFETY: dup3 replaces `fd` (open, the caller's) with a copy of `inert`, atomically.
    match unsafe { libc::dup3(inert.as_raw_fd(), fd, libc::O_CLOEXEC) } {
        -1 => Err(io::Error::last_os_error()),
        _ => Ok(()),
    }
}

/// This process's id.
pub(crate) fn getpid() -> libc::pid_t {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

/// Writes `n` in decimal into `buf` (NUL-padded by the caller), without allocating (a
/// forked child may not).
pub(crate) fn write_decimal(buf: &mut [u8], n: libc::pid_t) {
    let mut digits = [0u8; 12];
    let (mut n, mut len) = (n.unsigned_abs(), 0);
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for (slot, digit) in buf.iter_mut().zip(digits[..len].iter().rev()) {
        *slot = *digit;
    }
}

/// In a forked child: runs the program at `path` with `argv` and `envp` (null-terminated
/// arrays of C strings) and `fds` as its descriptors 3, 4, ... (`moved`, as long as `fds`,
/// made before the fork: the child allocates nothing), or, if it cannot, writes `E` and the
/// `errno` (4 bytes, native order) on the last of `fds` and exits with 127.
pub(crate) fn exec_with_fds(
    path: &std::ffi::CStr,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    fds: &[RawFd],
    moved: &mut [RawFd],
) -> ! {
    // SAFETY: plain system calls on descriptors of this process; the arrays are
    // null-terminated and outlive the call (execve does not return on success).
    unsafe {
        // Out of the way first: any may be 3, 4, ... already.
        let above = 3 + fds.len() as RawFd;
        for (fd, copy) in fds.iter().zip(moved.iter_mut()) {
            *copy = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, above);
        }
        for (target, &fd) in (3..).zip(moved.iter()) {
            // dup2 leaves the copy open across execve (no close-on-exec).
            libc::dup2(fd, target);
        }
        // A file still open for writing somewhere (a new build being copied into place, or a
        // copy another process's fork holds until its own exec) is `ETXTBSY` for a moment:
        // tried again every 10 ms for up to 5 s (half the time a new build has to serve).
        let pause = libc::timespec {
            tv_sec: 0,
            tv_nsec: 10_000_000,
        };
        for _ in 0..500 {
            libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
            if *libc::__errno_location() != libc::ETXTBSY {
                break;
            }
            libc::nanosleep(&pause, std::ptr::null_mut());
        }
        let errno = (*libc::__errno_location()).to_ne_bytes();
        let said = [b'E', errno[0], errno[1], errno[2], errno[3]];
        if let Some(&tell) = moved.last() {
            libc::write(tell, said.as_ptr().cast(), said.len());
        }
        libc::_exit(127)
    }
}

/// Makes descriptor `fd` (open, the caller's) refer to what `new` refers to, atomically;
/// `new` closes.
pub(crate) fn replace_fd(new: impl AsRawFd, fd: RawFd) -> io::Result<()> {
    // SAFETY: dup3 replaces `fd` with a copy of `new`, atomically.
    match unsafe { libc::dup3(new.as_raw_fd(), fd, libc::O_CLOEXEC) } {
        -1 => Err(io::Error::last_os_error()),
        _ => Ok(()),
    }
}

/// In a child right after `fork`: asks the kernel to kill it when the thread that forked it
/// ends (`PR_SET_PDEATHSIG`), and kills it at once if its parent `parent` is already gone
/// (it could have died between the fork and the `prctl`).
#[allow(unsafe_code)]
#[link_section = "socketserver_request"]
pub(crate) fn die_with_parent(parent: libc::pid_t) {
    let (die_with_parent, kill) = (
        libc::PR_SET_PDEATHSIG as libc::c_long,
        libc::SIGKILL as libc::c_long,
    );
    in_child(libc::SYS_prctl, [die_with_parent, kill, 0, 0]);
    if in_child(libc::SYS_getppid, [0; 4]) != parent as libc::c_long {
        exit_child(1);
    }
}

/// In a forked child: closes its copy of descriptor `fd`, which it never uses.
#[allow(unsafe_code)]
#[link_section = "socketserver_request"]
pub(crate) fn close_in_child(fd: RawFd) {
    in_child(libc::SYS_close, [fd as libc::c_long, 0, 0, 0]);
}

/// A system call a forked child makes first (`prctl`, `getppid`, `close`), made by the
/// instruction itself where it can be: after `fork` each 64 KiB window of code the child runs
/// is a page fault, and this one is in the request's section, where the C library's
/// wrappers (or its one `syscall(2)`) are in windows of their own. The kernel's result: -1
/// to -4095 is an error.
#[allow(unsafe_code)]
#[link_section = "socketserver_request"]
fn in_child(number: libc::c_long, args: [libc::c_long; 4]) -> libc::c_long {
    #[cfg(target_arch = "x86_64")]
    {
        let result: libc::c_long;
        // SAFETY: the callers pass a system call's number with integer arguments; the
        // kernel clobbers rcx and r11 only, and touches no memory the callers own.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") number => result,
                in("rdi") args[0],
                in("rsi") args[1],
                in("rdx") args[2],
                in("r10") args[3],
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            )
        };
        result
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: as above.
        match unsafe { libc::syscall(number, args[0], args[1], args[2], args[3]) } {
            -1 => -(io::Error::last_os_error().raw_os_error().unwrap_or(1) as libc::c_long),
            result => result,
        }
    }
}

/// Closes descriptor `fd`, which the caller owns and no one uses after (a forked child's
/// copy of a socket it does not need).
pub(crate) fn close(fd: RawFd) {
    // SAFETY: the caller owns `fd` and never uses it again.
    unsafe { libc::close(fd) };
}

/// `recv(2)` from socket `fd` into `buf` (none of it need be initialised), with `flags`:
/// what `TcpStream::read` does, made from the request's section. In a forked child, std's
/// socket code is a 64 KiB window of code of its own: a page fault per child.
#[allow(unsafe_code)]
#[link_section = "socketserver_request"]
pub(crate) fn recv(
    fd: RawFd,
    buf: &mut [MaybeUninit<u8>],
    flags: libc::c_int,
) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its length; the kernel writes only bytes it received.
    bytes(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) })
}

/// `send(2)` of `buf` on socket `fd`, without `SIGPIPE` for a peer that has gone (EPIPE
/// instead), as `TcpStream::write` does; from the request's section, as [`recv`].
#[allow(unsafe_code)]
#[link_section = "socketserver_request"]
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is readable for its length.
    bytes(unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) })
}

/// `sendto(2)` of `buf` on socket `fd` to `to`, with `flags`; from the request's section,
/// as [`recv`] (socket2's own is a window of code of its own to a forked child).
///
/// # Safety
/// `to` points to a socket address of `len` bytes, readable for the call.
#[allow(unsafe_code)]
#[link_section = "socketserver_request"]
pub(crate) unsafe fn send_to(
    fd: RawFd,
    buf: &[u8],
    to: *const libc::sockaddr,
    len: libc::socklen_t,
    flags: libc::c_int,
) -> io::Result<usize> {
    // SAFETY: `buf` is readable for its length; `to` is the caller's to keep valid.
    let n = unsafe {
        libc::sendto(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            flags | libc::MSG_NOSIGNAL,
            to,
            len,
        )
    };
    bytes(n)
}

/// A byte count as `recv`, `send` and `sendto` return it: -1 is the error in `errno`.
#[link_section = "socketserver_request"]
#[allow(unsafe_code)]
fn bytes(n: isize) -> io::Result<usize> {
    match n {
        -1 => Err(io::Error::last_os_error()),
        n => Ok(n as usize),
    }
}

/// `buf` as bytes that need not be initialised, for [`recv`].
pub(crate) fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<u8>` has `u8`'s layout, and every caller writes only initialised
    // bytes through it (`recv` writes what it received).
    #[allow(unsafe_code)]
    unsafe {
        &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>])
    }
}

/// Reads with `read` into `buf`'s spare capacity (never initialised: only the bytes read are
/// touched) and extends `buf` by what it read, at most `keep` bytes of it. Returns what
/// `read` returned.
pub(crate) fn read_into_spare<R>(
    buf: &mut Vec<u8>,
    keep: usize,
    read: impl FnOnce(&mut [MaybeUninit<u8>]) -> io::Result<(usize, R)>,
) -> io::Result<(usize, R)> {
    let (n, extra) = read(buf.spare_capacity_mut())?;
    let kept = n.min(keep).min(buf.capacity() - buf.len());
    // SAFETY: `read` initialised the first `n` bytes of the spare capacity, or all of it
    // when `n` is more (`MSG_TRUNC` reports a datagram's whole length); `kept` is at most
    // both.
    unsafe { buf.set_len(buf.len() + kept) };
    Ok((n, extra))
}

/// A socket of type `S` over descriptor `fd` that never closes it: the caller keeps the
/// descriptor open while the view lives, and never takes the socket out of it.
pub(crate) fn socket_view<S: FromRawFd>(fd: RawFd) -> ManuallyDrop<S> {
    // SAFETY: the descriptor is open while the view lives (the caller's contract) and the
    // view never closes it (ManuallyDrop).
    ManuallyDrop::new(unsafe { S::from_raw_fd(fd) })
}

/// `poll(2)` on `fds` for `POLLIN` with a timeout in milliseconds (-1: none); which became
/// readable. An interrupted wait reads as nothing readable.
pub(crate) fn poll_readable<const N: usize>(
    fds: [RawFd; N],
    timeout_ms: libc::c_int,
) -> io::Result<[bool; N]> {
    let mut pollfds = fds.map(readable_pollfd);
    poll_in_place(&mut pollfds, timeout_ms)?;
    Ok(pollfds.map(|p| p.revents != 0))
}

fn readable_pollfd(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// `poll(2)` on `pollfds`, their `revents` set; an interrupted wait leaves them all 0.
fn poll_in_place(pollfds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<()> {
    // SAFETY: `pollfds` is a valid array of its length for the duration of the call.
    let n = unsafe {
        libc::poll(
            pollfds.as_mut_ptr(),
            pollfds.len() as libc::nfds_t,
            timeout_ms,
        )
    };
    match n < 0 {
        false => Ok(()),
        true => match io::Error::last_os_error() {
            e if e.kind() == io::ErrorKind::Interrupted => {
                pollfds.iter_mut().for_each(|p| p.revents = 0);
                Ok(())
            }
            e => Err(e),
        },
    }
}

/// [`poll_readable`] for a number of descriptors known at run time.
pub(crate) fn poll_readable_any(fds: &[RawFd], timeout_ms: libc::c_int) -> io::Result<Vec<bool>> {
    let mut pollfds: Vec<libc::pollfd> = fds.iter().map(|&fd| readable_pollfd(fd)).collect();
    poll_in_place(&mut pollfds, timeout_ms)?;
    Ok(pollfds.iter().map(|p| p.revents != 0).collect())
}

/// Which side of a `fork` the caller is on.
pub(crate) enum Forked {
    /// In the new child process (single-threaded: only the forking thread goes on).
    Child,
    /// In the parent, with the child's pid.
    Parent(libc::pid_t),
}

/// `fork(2)`. The child must leave with [`exit_child`], never returning into the code that
/// called this (the parent's other threads, locks and destructors are not its own).
#[allow(unsafe_code)]
#[link_section = "socketserver_request"]
pub(crate) fn fork() -> io::Result<Forked> {
    // SAFETY: the child's side is the caller's contract above.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// Ends a forked child with `status`, without running the parent's destructors or atexit
/// handlers.
#[allow(unsafe_code)]
#[link_section = "socketserver_request"]
pub(crate) fn exit_child(status: libc::c_int) -> ! {
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(status) }
}

/// `waitpid(pid, flags)`, retried on `EINTR`: `Ok(None)` while it runs (`WNOHANG`),
/// `Ok(Some(exited_with_0))` once it ended, `Err` when it is not ours to wait for.
pub(crate) fn wait_child(pid: libc::pid_t, flags: libc::c_int) -> io::Result<Option<bool>> {
    loop {
        let mut status = 0;
        // SAFETY: a plain system call writing to a local.
        match unsafe { libc::waitpid(pid, &mut status, flags) } {
            0 => return Ok(None),
            -1 => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            _ => {
                return Ok(Some(
                    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                ))
            }
        }
    }
}

/// An error unless `fd` is an open descriptor.
pub(crate) fn check_open(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    match unsafe { libc::fcntl(fd, libc::F_GETFD) } {
        -1 => Err(io::Error::last_os_error()),
        _ => Ok(()),
    }
}

/// Marks `fd` close-on-exec.
pub(crate) fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_SETFD only changes the descriptor's flags.
    match unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } {
        -1 => Err(io::Error::last_os_error()),
        _ => Ok(()),
    }
}

/// Owns `fd` from now on: an open descriptor that nothing else owns or will close (one a
/// service manager passed to this process, taken once).
pub(crate) fn own_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: the caller's contract above.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Sends `signal` to process `pid`.
pub(crate) fn kill(pid: libc::pid_t, signal: libc::c_int) {
    // SAFETY: kill only sends a signal.
    unsafe { libc::kill(pid, signal) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_system_call_returns_what_the_kernel_says() {
        // SAFETY: getppid has no preconditions.
        let parent = unsafe { libc::getppid() } as libc::c_long;
        assert_eq!(in_child(libc::SYS_getppid, [0; 4]), parent);
        let bad = -(libc::EBADF as libc::c_long);
        assert_eq!(in_child(libc::SYS_close, [-1, 0, 0, 0]), bad);
    }

    #[test]
    fn recv_and_send_move_bytes_and_report_the_kernel_s_errors() {
        use std::os::unix::net::UnixStream;
        let (a, b) = UnixStream::pair().unwrap();
        assert_eq!(send(a.as_raw_fd(), b"ping").unwrap(), 4);
        let mut buf = [MaybeUninit::new(0u8); 8];
        assert_eq!(recv(b.as_raw_fd(), &mut buf, 0).unwrap(), 4);
        // SAFETY: recv initialised the first four bytes.
        let got: Vec<u8> = buf[..4]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        assert_eq!(got, b"ping");
        let nothing = recv(b.as_raw_fd(), &mut buf, libc::MSG_DONTWAIT).unwrap_err();
        assert_eq!(nothing.kind(), io::ErrorKind::WouldBlock);
        drop(b);
        assert_eq!(recv(a.as_raw_fd(), as_uninit(&mut [0; 8]), 0).unwrap(), 0);
        let gone = send(a.as_raw_fd(), b"anyone?").unwrap_err();
        assert_eq!(gone.raw_os_error(), Some(libc::EPIPE));
    }
}
