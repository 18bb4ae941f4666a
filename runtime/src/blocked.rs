//! Threads blocked in the server's `accept` or `recv`, and waking them for a stop.
//!
//! Waiting in the blocking call itself saves the `poll` a serving loop would otherwise make
//! per request; a stop then has to end the call from outside. It sends each thread that
//! waits the wake signal ([`sys::WAKE_SIGNAL`]), whose handler does nothing, so the call
//! returns `EINTR`, and it repeats the signal until every such thread has left the call (a
//! signal that came just before the thread entered the call is lost, the next one is not).
//! Nothing depends on the socket's address, path or peers. Should signals not get through
//! for a second (a program that ignores the signal or installed a restarting handler of its
//! own), the socket is shut down for reading, which ends every blocked call on it for good:
//! the server cannot serve again after that, and says so.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::lock::lock;
use crate::sys::{self, WipedOnFork};

/// How long signals may fail to wake the waiting threads before the socket is shut down.
const SIGNALS_GIVE_UP_AFTER: Duration = Duration::from_secs(1);

/// The threads of one server that may block in its `accept` or `recv`.
#[derive(Debug)]
pub(crate) struct Blocked {
    threads: Mutex<Vec<Arc<Thread>>>,
    /// The server's socket, shut down for reading as the last resort.
    socket: RawFd,
    /// The last resort was used: the socket takes no more requests.
    gave_up: AtomicBool,
}

/// A thread registered for a serving run.
#[derive(Debug)]
struct Thread {
    /// Its process: this one, or, as seen from a forked child, the child's parent.
    process: libc::pid_t,
    id: libc::pid_t,
    /// 1 while in (or about to enter) the blocking call. Written twice per request, so in
    /// memory a forked child does not share (a `Forking` server's serving thread forks
    /// between two waits, and the page would be copied on the first write after each fork).
    waiting: WipedOnFork<AtomicI32>,
}

impl Thread {
    fn is_waiting(&self) -> bool {
        self.waiting[0].load(Ordering::SeqCst) != 0
    }
}

impl Blocked {
    /// For a server whose socket is `socket`.
    pub(crate) fn new(socket: RawFd) -> Blocked {
        sys::install_wake_handler();
        Blocked {
            threads: Mutex::new(Vec::new()),
            socket,
            gave_up: AtomicBool::new(false),
        }
    }

    /// Registers the calling thread for a serving run, until the registration is dropped: it
    /// may then wait in the blocking call (see [`Registration::waiting`]).
    pub(crate) fn register(&self) -> io::Result<Registration<'_>> {
        sys::unblock_wake_signal();
        let thread = Arc::new(Thread {
            process: sys::getpid(),
            id: sys::thread_id(),
            waiting: WipedOnFork::new(1)?,
        });
        lock(&self.threads).push(thread.clone());
        Ok(Registration {
            blocked: self,
            thread,
        })
    }

    /// Wakes every thread waiting in the blocking call and returns once none waits any more.
    /// The caller has set the flag that keeps them from waiting again (`SeqCst`: a thread
    /// either sees it before it waits, or is seen waiting here).
    pub(crate) fn wake_all(&self) {
        let start = Instant::now();
        let mut pause = Duration::from_micros(20);
        loop {
            let waiting = {
                let threads = lock(&self.threads);
                let mut waiting = 0;
                for thread in threads.iter() {
                    if thread.is_waiting() {
                        sys::wake_thread(thread.process, thread.id);
                        waiting += 1;
                    }
                }
                waiting
            };
            if waiting == 0 {
                return;
            }
            if start.elapsed() >= SIGNALS_GIVE_UP_AFTER {
                // Once: every blocked call on the socket returns now; the loop waits for
                // the threads to leave.
                self.give_up();
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(1));
        }
    }

    /// In a process forked from the serving one (a `Forking` server's request): sends the
    /// wake signal to the parent's serving threads every millisecond until `asked` says the
    /// shutdown the caller asked for through the wake socket was read there, or a second
    /// passed. Their waiting marks are the parent's, out of sight here; in the serving
    /// process itself this does nothing.
    pub(crate) fn wake_parent_until(&self, asked: impl Fn() -> bool) {
        let me = sys::getpid();
        let parents: Vec<_> = lock(&self.threads)
            .iter()
            .filter(|thread| thread.process != me)
            .map(|thread| (thread.process, thread.id))
            .collect();
        let start = Instant::now();
        while !parents.is_empty() && asked() && start.elapsed() < SIGNALS_GIVE_UP_AFTER {
            for &(process, id) in &parents {
                sys::wake_thread(process, id);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// True once the last resort has shut the socket down.
    pub(crate) fn gave_up(&self) -> bool {
        self.gave_up.load(Ordering::SeqCst)
    }

    fn give_up(&self) {
        if !self.gave_up.swap(true, Ordering::SeqCst) {
            crate::report::error(format_args!(
                "a serving thread did not wake up on signal {}: shutting the server's socket down, it takes no more requests",
                sys::WAKE_SIGNAL
            ));
            let _ = sys::shut_down(self.socket, libc::SHUT_RD);
        }
    }
}

/// A thread registered for a serving run (see [`Blocked::register`]).
pub(crate) struct Registration<'a> {
    blocked: &'a Blocked,
    thread: Arc<Thread>,
}

impl Registration<'_> {
    /// Marks the thread as waiting in the blocking call until the guard is dropped.
    pub(crate) fn waiting(&self) -> Waiting<'_> {
        self.thread.waiting[0].store(1, Ordering::SeqCst);
        Waiting(&self.thread.waiting[0])
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        lock(&self.blocked.threads).retain(|t| !Arc::ptr_eq(t, &self.thread));
    }
}

/// A thread marked as waiting in the blocking call, until dropped (even if a hook panics).
pub(crate) struct Waiting<'a>(&'a AtomicI32);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::os::fd::AsRawFd;
    use std::sync::atomic::AtomicBool;

    use super::*;

    /// A thread blocked in `accept` is woken, and the listener still accepts afterwards (no
    /// last resort needed). Through socket2, as the transports do: std's `accept` retries
    /// on `EINTR`.
    #[test]
    fn a_thread_blocked_in_accept_is_woken_and_the_socket_still_works() {
        let listener = socket2::Socket::from(TcpListener::bind("127.0.0.1:0").unwrap());
        let blocked = Blocked::new(listener.as_raw_fd());
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| {
                let registration = blocked.register().unwrap();
                let mut accepted = 0;
                loop {
                    let _waiting = registration.waiting();
                    if stop.load(Ordering::SeqCst) {
                        return accepted;
                    }
                    if listener.accept().is_ok() {
                        accepted += 1;
                    }
                }
            });
            // Wait until it is in the call, then stop it.
            while !lock(&blocked.threads).iter().any(|t| t.is_waiting()) {
                std::thread::yield_now();
            }
            stop.store(true, Ordering::SeqCst);
            let started = Instant::now();
            blocked.wake_all();
            assert!(started.elapsed() < Duration::from_millis(500));
            assert_eq!(waiter.join().unwrap(), 0);
        });
        assert!(!blocked.gave_up());
        let address = listener.local_addr().unwrap().as_socket().unwrap();
        let _client = std::net::TcpStream::connect(address).unwrap();
        assert!(listener.accept().is_ok(), "the listener still serves");
    }
}
