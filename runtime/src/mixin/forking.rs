//! `Forking`: a child process per request (Python's `ForkingMixIn`).

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use super::children::Children;
use super::{Job, Mixin, Waker};
use crate::config::ServerConfig;
use crate::poll;
use crate::routes::SignalRegistration;
use crate::sys;

/// Runs each request in a child process forked from the serving thread (Python's
/// `ForkingMixIn`).
///
/// The child runs the handler and leaves with `_exit(0)` on success, `_exit(1)` on error or
/// panic, never returning into the parent's loop (buffered output not yet flushed is lost,
/// as with Python's `os._exit`). At most `max_children` (and `max_connections`, when lower)
/// run at once: at the limit the server stops accepting until one ends. Ended children are
/// reaped as soon as `SIGCHLD` wakes the loop, so none lingers as a zombie; `close` waits
/// for the rest when `block_on_close`. Only the children this server forked are ever
/// waited for. While it serves, the serving thread lets `SIGCHLD` in only as it waits in
/// `poll`: a child's end ends the wait, and never restarts a `fork`.
///
/// A child closes the listening socket of every stream server of the process first, so that
/// a child that outlives its server does not keep it listening. When the server is served from the
/// process's main thread (as `serve_until_signal` in `main` does), its children die with it
/// (`PR_SET_PDEATHSIG`): a killed server leaves no child behind. The kernel ties that to the
/// thread that forks, not the process, so a server served from another thread, which may
/// end before the server closes, does not tie its children.
#[derive(Debug)]
pub struct Forking {
    children: Children,
    /// The most children at once: `max_children`, or `max_connections` when lower.
    limit: usize,
    block_on_close: bool,
    /// This process, the children's parent.
    pid: libc::pid_t,
    waker: Waker,
    _sigchld_wake: SignalRegistration,
}

impl Forking {
    /// The number of children still running (or ended and not yet reaped).
    pub fn active_children(&self) -> usize {
        self.children.len()
    }

    /// Reaps ended children without blocking; at `max_children` or more, first blocks until
    /// one of them ends when `wait_for_room`.
    fn reap(&self, wait_for_room: bool) {
        while wait_for_room && self.children.len() >= self.limit {
            let Some(child) = self.children.first() else {
                break;
            };
            self.wait(child, 0);
            self.children.remove(child);
        }
        self.children.take_ended();
        self.children
            .remove_ended(|pid| self.wait(pid, libc::WNOHANG));
    }

    /// `waitpid` for one child; true once it has ended (or is not ours to wait for any
    /// more). Its exit status counts as a completed (0) or failed request.
    fn wait(&self, pid: libc::pid_t, flags: libc::c_int) -> bool {
        match sys::wait_child(pid, flags) {
            Ok(None) => false,
            Ok(Some(ok)) => {
                self.waker.server().in_flight().counters().record_end(ok);
                true
            }
            Err(_) => true,
        }
    }
}

impl Mixin for Forking {
    const WAKES_WHILE_WAITING: bool = true;
    const RUNS_IN_CHILDREN: bool = true;

    fn new(config: &ServerConfig, waker: Waker) -> io::Result<Self> {
        let limit = match config.max_connections {
            0 => config.max_children,
            n => config.max_children.min(n),
        }
        .max(1);
        Ok(Forking {
            children: Children::new(limit)?,
            limit,
            block_on_close: config.block_on_close,
            pid: std::process::id() as libc::pid_t,
            _sigchld_wake: waker.on_signal(libc::SIGCHLD)?,
            waker,
        })
    }

    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    fn process<J: Job>(&self, job: J) -> io::Result<()> {
        // Only at the limit: the serving loop reaps on SIGCHLD, and a sweep before every
        // fork would cost a `wait4` per child per connection.
        if self.children.len() >= self.limit {
            self.reap(true);
        }
        // Before the fork: every page the child touches costs it a page fault.
        job.prepare_fork();
        let tied = sys::on_main_thread();
        // From the serving thread; the child only runs the job and leaves with `_exit`. No
        // listening socket is being made meanwhile (see `listeners`).
        let forking = crate::listeners::forking();
        let forked = sys::fork();
        drop(forking);
        match forked? {
            sys::Forked::Child => {
                if tied {
                    sys::die_with_parent(self.pid);
                }
                sys::release_held_in_child();
                // Not the listening socket of any stream server of the process (its own
                // among them; a datagram server's socket stays: the request replies
                // through it).
                crate::listeners::close_all_in_child();
                let ok = catch_unwind(AssertUnwindSafe(|| job.run_in_child())).unwrap_or(false);
                sys::exit_child(if ok { 0 } else { 1 })
            }
            sys::Forked::Parent(pid) => {
                if !self.children.insert(pid) {
                    self.wait(pid, 0); // a full table: only a miscount could make it so
                }
                drop(job); // the parent's copy of the connection closes here
                Ok(())
            }
        }
    }

    fn has_capacity(&self) -> bool {
        self.children.len() < self.limit
    }

    fn service_actions(&self) {
        if self.children.take_ended() {
            self.reap(false);
        }
    }

    fn stop(&self, deadline: Instant) -> usize {
        let server = self.waker.server();
        loop {
            self.reap(false);
            if self.children.len() == 0 {
                return 0;
            }
            let now = Instant::now();
            if now >= deadline || server.in_flight().is_cut() {
                break;
            }
            // SIGCHLD and `interrupt` both write to the wake socket.
            let _ = poll::readable([server.wake().fd()], Some(deadline - now));
            server.wake().drain();
        }
        // Each a child this server forked and has not reaped.
        self.children.each(|pid| sys::kill(pid, libc::SIGTERM));
        let cut = self.children.len();
        // Reaped here whatever `block_on_close` says: a child killed and left unwaited
        // would stay a zombie.
        self.children.remove_ended(|pid| self.wait(pid, 0));
        cut
    }

    fn close(&self) {
        let flags = if self.block_on_close {
            0
        } else {
            libc::WNOHANG
        };
        self.children.remove_ended(|pid| self.wait(pid, flags));
    }
}
