//! `SIGCHLD`'s handler: the crate's own, for the tables of children of its `Forking`
//! servers, so that a child's end costs the serving thread no page fault.
//!
//! A forking server's parent writes, after every `fork`, only pages it must: each page it
//! shares copy-on-write with the child just forked costs a fault on its first write. Run by
//! signal-hook, the handler wrote three of them on every `SIGCHLD`: signal-hook's lock (on
//! the heap), `errno` (restored whether it changed or not) and the stack page below the
//! one `accept` waits on, where the kernel writes the signal frame. Here the handler reads
//! its actions from a static (written only by registering), counts the handlers running in
//! memory a fork does not share, restores `errno` only when it changed, and runs on an
//! alternate stack in such memory while a forking server serves ([`SignalStack`]). The
//! handler is installed once per process and never removed, as signal-hook's is; it calls
//! the handler that was installed before it (signal-hook's among them) after its actions.

use std::io;
use std::marker::PhantomData;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::WipedOnFork;

/// What `SIGCHLD` does in this process, run by its handler.
///
/// # Safety
/// `run` is called in a signal handler, on whichever thread took the signal, maybe while
/// another runs it: it must be async-signal-safe (atomics and the system calls POSIX lists,
/// no allocation, no lock).
pub(crate) unsafe trait SignalAction: Send + Sync + 'static {
    /// Does what the signal asks.
    fn run(&self);
}

/// At most this many actions at once (one per `Forking` server the process has).
const MOST: usize = 64;

/// The actions, each an `Arc` boxed to fit one pointer; null: a free slot.
static ACTIONS: [AtomicPtr<Arc<dyn SignalAction>>; MOST] =
    [const { AtomicPtr::new(null_mut()) }; MOST];

/// What the handler needs besides its actions, set once before it is installed.
struct Installed {
    /// The disposition before it, called after the actions.
    previous: libc::sigaction,
    /// One counter: how many handlers are running now (an action is freed only at 0).
    running: WipedOnFork<AtomicUsize>,
}

// SAFETY: `previous` is plain data (a function address, a mask and flags), only read.
unsafe impl Send for Installed {}
// SAFETY: as above.
unsafe impl Sync for Installed {}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

/// Runs an action on every `SIGCHLD` until dropped.
#[derive(Debug)]
pub(crate) struct ChildSignalAction {
    slot: usize,
}

/// Has every `SIGCHLD` run `action` (on whichever thread takes it), until the returned value
/// is dropped.
pub(crate) fn run_on_child_signal(action: Arc<dyn SignalAction>) -> io::Result<ChildSignalAction> {
    install()?;
    let boxed = Box::into_raw(Box::new(action));
    for (slot, place) in ACTIONS.iter().enumerate() {
        let free = place.compare_exchange(null_mut(), boxed, Ordering::SeqCst, Ordering::SeqCst);
        if free.is_ok() {
            return Ok(ChildSignalAction { slot });
        }
    }
    // SAFETY: the box was made above and published nowhere.
    drop(unsafe { Box::from_raw(boxed) });
    Err(io::Error::other(format!(
        "more than {MOST} Forking servers at once in this process"
    )))
}

impl Drop for ChildSignalAction {
    fn drop(&mut self) {
        let boxed = ACTIONS[self.slot].swap(null_mut(), Ordering::SeqCst);
        if let Some(installed) = INSTALLED.get() {
            // A handler that counted itself before the swap may still hold the action; one
            // that counts itself after it finds the slot empty. Handlers are short.
            while installed.running[0].load(Ordering::SeqCst) != 0 {
                std::thread::yield_now();
            }
        }
        // SAFETY: made by `run_on_child_signal`, out of the table and of every handler now.
        drop(unsafe { Box::from_raw(boxed) });
    }
}

/// Installs the handler, once per process.
fn install() -> io::Result<&'static Installed> {
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(installed) = INSTALLED.get() {
        return Ok(installed);
    }
    // SAFETY: zeroed sigactions are valid; the first call only reads the disposition, the
    // second installs `on_child_signal`, which is async-signal-safe (see there).
    unsafe {
        let mut previous: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut previous) != 0 {
            return Err(io::Error::last_os_error());
        }
        let running = WipedOnFork::new(1)?;
        let installed = INSTALLED.get_or_init(|| Installed { previous, running });
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_child_signal as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART | libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGCHLD, &action, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(installed)
    }
}

/// The handler: every action, then the disposition installed before.
#[link_section = "socketserver_request"]
extern "C" fn on_child_signal(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: errno is this thread's; read, and written back only if an action changed it.
    let errno = unsafe { *libc::__errno_location() };
    let Some(installed) = INSTALLED.get() else {
        return;
    };
    installed.running[0].fetch_add(1, Ordering::SeqCst);
    for place in &ACTIONS {
        let boxed = place.load(Ordering::SeqCst);
        if !boxed.is_null() {
            // SAFETY: a registered action, not freed while `running` counts this handler.
            unsafe { (*boxed).run() };
        }
    }
    installed.running[0].fetch_sub(1, Ordering::SeqCst);
    let previous = &installed.previous;
    let handler = previous.sa_sigaction;
    if handler != libc::SIG_DFL && handler != libc::SIG_IGN {
        // SAFETY: the previous handler, called as the kernel would have called it.
        unsafe {
            if previous.sa_flags & libc::SA_SIGINFO != 0 {
                let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    std::mem::transmute(handler);
                handler(signal, info, context);
            } else {
                let handler: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
                handler(signal);
            }
        }
    }
    // SAFETY: as above.
    unsafe {
        let now = libc::__errno_location();
        if *now != errno {
            *now = errno;
        }
    }
}

/// The calling thread's alternate signal stack while the value lives, in memory a forked
/// child does not share (the thread's previous one back on drop): `SIGCHLD`'s frame and
/// handler then write none of the pages the thread's children share with it.
pub(crate) struct SignalStack {
    /// Unmapped on drop, after the previous stack is back.
    _memory: WipedOnFork<AtomicU64>,
    previous: libc::stack_t,
    /// Restored on the thread that set it.
    _this_thread: PhantomData<*const ()>,
}

/// The stack's size: the signal frame with the widest vector state is a few KiB.
const STACK_BYTES: usize = 64 * 1024;

impl SignalStack {
    /// Sets the calling thread's alternate signal stack.
    pub(crate) fn set() -> io::Result<SignalStack> {
        let memory: WipedOnFork<AtomicU64> = WipedOnFork::new(STACK_BYTES / 8)?;
        let stack = libc::stack_t {
            ss_sp: memory.as_ptr().cast_mut().cast(),
            ss_flags: 0,
            ss_size: STACK_BYTES,
        };
        // SAFETY: a zeroed stack_t is valid; `stack` is mapped until the previous one is
        // back (the value's drop, on this thread: it is not `Send`).
        let mut previous: libc::stack_t = unsafe { std::mem::zeroed() };
        if unsafe { libc::sigaltstack(&stack, &mut previous) } != 0 {
            return Err(io::Error::last_os_error());
        }
        previous.ss_flags &= libc::SS_DISABLE;
        Ok(SignalStack {
            _memory: memory,
            previous,
            _this_thread: PhantomData,
        })
    }
}

impl Drop for SignalStack {
    fn drop(&mut self) {
        // SAFETY: the stack this thread had before; ours is unmapped only after, with
        // `memory`. No handler runs on it now: this code is not in one.
        unsafe { libc::sigaltstack(&self.previous, std::ptr::null_mut()) };
    }
}

impl std::fmt::Debug for SignalStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignalStack")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// Where on its stack the action ran, when it ran on thread `thread`.
    struct Where {
        thread: libc::pid_t,
        address: AtomicUsize,
    }

    // SAFETY: `run` makes the `gettid` system call and stores to an atomic.
    unsafe impl SignalAction for Where {
        fn run(&self) {
            let local = 0u8;
            if super::super::thread_id() == self.thread {
                let address = std::hint::black_box(&local) as *const u8 as usize;
                self.address.store(address, Ordering::SeqCst);
            }
        }
    }

    /// While a `SignalStack` is set, `SIGCHLD`'s actions run on it, and the thread's own
    /// stack is back afterwards.
    #[test]
    fn the_action_runs_on_the_signal_stack_while_it_is_set() {
        let seen = Arc::new(Where {
            thread: super::super::thread_id(),
            address: AtomicUsize::new(0),
        });
        let _action = run_on_child_signal(seen.clone()).unwrap();
        let stack = SignalStack::set().unwrap();
        let start = stack._memory.as_ptr() as usize;
        // SAFETY: a signal to this thread, whose handler is installed above.
        unsafe { libc::raise(libc::SIGCHLD) };
        let address = seen.address.swap(0, Ordering::SeqCst);
        assert!(
            (start..start + STACK_BYTES).contains(&address),
            "the action ran at {address:#x}, not on the signal stack at {start:#x}"
        );
        drop(stack);
        // SAFETY: as above.
        unsafe { libc::raise(libc::SIGCHLD) };
        let address = seen.address.load(Ordering::SeqCst);
        assert!(address != 0, "the action ran");
        assert!(
            !(start..start + STACK_BYTES).contains(&address),
            "the stack was not given back"
        );
    }
}
