//! `Forking`: a child process per request (Python's `ForkingMixIn`).

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use super::children::Children;
use super::{Job, Mixin, Waker};
use crate::config::ServerConfig;
use crate::poll;
use crate::sys;

/// Runs each request in a child process forked from the serving thread (Python's
/// `ForkingMixIn`).
///
/// The child runs the handler and leaves with `_exit(0)` on success, `_exit(1)` on error or
/// panic, never returning into the parent's loop (buffered output not yet flushed is lost,
/// as with Python's `os._exit`). A connection is flushed and closes with the child's exit,
/// without Python's `SHUT_WR` first (as in a hand-written forking server): a program the
/// handler handed the connection to goes on talking to the client. At most `max_children`
/// (and `max_connections`, when lower)
/// run at once: at the limit the server stops accepting until one ends. Each child is reaped
/// as soon as it ends, by `SIGCHLD`'s handler, so none lingers as a zombie; `close` waits for
/// the rest when `block_on_close`. Only the children this server forked are ever waited for.
/// Between requests the serving thread waits in the blocking `accept` (`recv`), as a
/// hand-written forking server does.
///
/// A child closes the listening socket of every stream server of the process first, so that
/// a child that outlives its server does not keep it listening. When the server is served from the
/// process's main thread (as `serve_until_signal` in `main` does), its children die with it
/// (`PR_SET_PDEATHSIG`): a killed server leaves no child behind. The kernel ties that to the
/// thread that forks, not the process, so a server served from another thread, which may
/// end before the server closes, does not tie its children; nor does one configured with
/// `tie_children: false`, which saves each child two system calls.
#[derive(Debug)]
pub struct Forking {
    children: Children,
    block_on_close: bool,
    /// `tie_children`: children die with the server when it serves from the main thread.
    tie_children: bool,
    /// This process, the children's parent.
    pid: libc::pid_t,
    waker: Waker,
}

impl Forking {
    /// The number of children still running (or ended and not yet reaped).
    pub fn active_children(&self) -> usize {
        self.children.len()
    }
}

impl Mixin for Forking {
    const RUNS_IN_CHILDREN: bool = true;

    fn new(config: &ServerConfig, waker: Waker) -> io::Result<Self> {
        let limit = match config.max_connections {
            0 => config.max_children,
            n => config.max_children.min(n),
        };
        Ok(Forking {
            children: Children::new(limit, waker.server().clone())?,
            block_on_close: config.block_on_close,
            tie_children: config.tie_children,
            pid: std::process::id() as libc::pid_t,
            waker,
        })
    }

    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    fn process<J: Job>(&self, mut job: J) -> io::Result<()> {
        // Only at the limit (`handle_request`: the serving loop waits for room itself).
        if self.children.is_full() {
            self.children.wait_for_one();
        }
        // Before the fork: every page the child touches costs it a page fault.
        job.prepare_fork();
        let tied = self.tie_children && sys::on_main_thread();
        let signals = self.children.signals();
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
                // Not the listening socket of any stream server of the process (its own
                // among them; a datagram server's socket stays: the request replies
                // through it).
                crate::listeners::close_all_in_child();
                let ok = catch_unwind(AssertUnwindSafe(|| job.run_in_child())).unwrap_or(false);
                sys::exit_child(if ok { 0 } else { 1 })
            }
            sys::Forked::Parent(pid) => {
                self.children.add(pid, signals);
                drop(job); // the parent's copy of the connection closes here
                Ok(())
            }
        }
    }

    fn has_capacity(&self) -> bool {
        !self.children.is_full()
    }

    fn stop(&self, deadline: Instant) -> usize {
        let server = self.waker.server();
        self.children.wake_on_every_end();
        loop {
            self.children.reap(false);
            if self.children.len() == 0 {
                return 0;
            }
            let now = Instant::now();
            if now >= deadline || server.in_flight().is_cut() {
                break;
            }
            // A child's end and `interrupt` both write to the wake socket.
            let _ = poll::readable([server.wake().fd()], Some(deadline - now));
            server.wake().drain();
        }
        // Each a child this server forked and has not reaped.
        let cut = self.children.signal_all(libc::SIGTERM);
        // Reaped here whatever `block_on_close` says: a child killed and left unwaited
        // would stay a zombie.
        self.children.reap(true);
        cut
    }

    fn close(&self) {
        self.children.reap(self.block_on_close);
    }
}
