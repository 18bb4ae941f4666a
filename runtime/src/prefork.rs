//! Pre-forked workers (`ServerConfig::workers`): the process that bound the socket becomes
//! a master that serves nothing and supervises worker processes, each serving the shared
//! socket with the server's own mixin (`Sync`, `Threading` or `Pool`), as gunicorn's and
//! unicorn's masters do.
//!
//! [`serve_until`](crate::Server::serve_until) (and `serve_until_signal`) of a server with
//! `workers` N forks N workers and then:
//!
//! - replaces a worker that exits or is killed at once (within a few milliseconds), unless
//!   it failed before it was serving: then after 100 ms, doubling, and after five such
//!   failures in a row the master stops the others and returns an error that says so;
//! - on SIGTERM or SIGINT (or `ServerHandle::shutdown`) stops every worker gracefully
//!   (each stops accepting, serves what it had taken and lets its requests finish for up
//!   to the grace period), waits for them, stops listening and returns the requests cut;
//! - on SIGHUP re-reads the TLS files (`ServerHandle::reload`), calls `Hooks::reload`, and
//!   restarts the workers one by one: a new worker is serving before an old one is asked
//!   to stop, so no client is refused or reset;
//! - on SIGTTIN runs one worker more, on SIGTTOU one fewer (at least one);
//! - on SIGUSR2 (a binary upgrade) runs the program at the path it was started from (the
//!   new build there, not the running file) with the same arguments, passing it the socket
//!   as a service manager would (`LISTEN_FDS`: its `activate_or_bind` takes it) and a pipe;
//!   once the new master says on the pipe that a worker of its serves (and `MAINPID=` to
//!   a service manager), this one stops its workers gracefully and exits, leaving the
//!   socket listening. A new program that exits first, or does not serve within 10 s, is
//!   ended, and this master goes on serving and says so in one line. A unix socket file
//!   goes down the line of masters, and the last one removes it when it stops;
//! - counts, in its `ServerHandle::stats`, what the workers did (each reports every
//!   200 ms, and in full as it exits).
//!
//! With `workers_reuse_port` (TCP) each worker serves a listening socket of its own, all
//! bound to the address with `SO_REUSEPORT`, instead of the shared one. The master holds
//! them all, so that a socket's queue outlives its worker: a replacement (after a crash,
//! SIGHUP's) takes over the socket of the worker it replaces, and SIGUSR2 hands every
//! socket down. One worker fewer (SIGTTOU) closes a socket: it drops new SYNs first (their
//! retries reach the other sockets), its worker serves what it queued, then it closes.
//!
//! Workers die with their master (`PR_SET_PDEATHSIG`, and a worker whose master's end of
//! its control socket closes stops), so no orphan keeps the port. A worker closes the
//! shared socket for itself only when it stops, and removes no unix socket file: the master
//! does, when it stops. `SIGTERM` or `SIGINT` sent to a worker alone stops that worker
//! gracefully (and the master replaces it).
//!
//! Serve before the program starts threads of its own: `fork` copies the calling thread
//! alone, and a lock another thread held at that moment (the allocator's, a logger's)
//! stays held in the worker for good.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::handler::RequestHandler;
use crate::hooks::Hooks;
use crate::inflight::Stats;
use crate::mixin::Mixin;
use crate::notify::Notifier;
use crate::poll;
use crate::routes::{self, SignalRegistration};
use crate::server::Server;
use crate::signals::ShutdownSignals;
use crate::sys;
use crate::transport::Transport;
use crate::upgrade::{self, Program, Said, Successor};

/// Failures at start in a row after which the master gives up.
const MOST_FAILED_STARTS: u32 = 5;
/// A worker that exits sooner after it started serving failed at start.
const SETTLED: Duration = Duration::from_secs(1);
/// How often a worker reports its counters.
const REPORT_EVERY: Duration = Duration::from_millis(200);
/// How long past the grace period the master waits for a worker before it kills it.
const KILL_AFTER: Duration = Duration::from_secs(2);

/// What a worker says to its master on its status socket: `R` once it serves, `T` and
/// nine little-endian counters (`Stats`) to report them.
const READY: u8 = b'R';
const TALLY: u8 = b'T';
const TALLY_LEN: usize = 1 + 9 * 8;
/// What a master says to a worker on its control socket: stop, leaving the queue to the
/// others; stop after taking the queue (its socket closes with it); or that, while other
/// workers' sockets go on taking the port's new clients (see
/// `Server::stop_accepting_with_siblings`).
const STOP: u8 = b'S';
const DRAIN: u8 = b'D';
const DRAIN_BESIDE_OTHERS: u8 = b'd';

/// A listening socket workers serve. Without `workers_reuse_port` there is one, the
/// server's, and every worker serves it; with it, one per worker, bound to the same address
/// with `SO_REUSEPORT`, held by the master so that a worker's queue outlives the worker
/// (its replacement takes it over) and handed down by an upgrade. Slot 0 is the server's
/// own socket.
struct Slot {
    /// `None` for slot 0 (the server's listener).
    socket: Option<OwnedFd>,
    /// Its worker takes its queue and stops (one worker fewer): the socket closes once no
    /// worker holds it.
    closing: bool,
}

/// One worker process, as its master sees it.
struct Worker {
    pid: libc::pid_t,
    /// The socket it serves (see `Slot`).
    slot: usize,
    /// Writing to it (or closing it) stops the worker.
    control: UnixStream,
    status: UnixStream,
    received: Vec<u8>,
    started: Instant,
    ready: bool,
    /// Asked to stop: its exit is no failure.
    retiring: bool,
    stats: Stats,
}

impl Worker {
    /// Asks the worker to stop gracefully as `how` says (`STOP`, `DRAIN` or
    /// `DRAIN_BESIDE_OTHERS`).
    fn retire(&mut self, how: u8) {
        if !self.retiring {
            self.retiring = true;
            let _ = (&self.control).write_all(&[how]);
        }
    }

    /// Reads what the worker said; true once it said it serves (this time).
    fn read_status(&mut self) -> bool {
        let mut became_ready = false;
        let mut buf = [0u8; 512];
        while let Ok(n @ 1..) = (&self.status).read(&mut buf) {
            self.received.extend_from_slice(&buf[..n]);
        }
        loop {
            match self.received.first() {
                Some(&READY) => {
                    self.received.remove(0);
                    became_ready |= !self.ready;
                    self.ready = true;
                }
                Some(&TALLY) if self.received.len() >= TALLY_LEN => {
                    let counters = std::array::from_fn(|i| {
                        let at = 1 + i * 8;
                        u64::from_le_bytes(self.received[at..at + 8].try_into().unwrap())
                    });
                    self.stats = Stats::from_array(counters);
                    self.received.drain(..TALLY_LEN);
                }
                _ => return became_ready,
            }
        }
    }
}

/// SIGCHLD, SIGTTIN, SIGTTOU and SIGUSR2, each routed to a socket the master polls.
struct Events {
    ended: UnixStream,
    more: UnixStream,
    fewer: UnixStream,
    upgrade: UnixStream,
    registrations: Vec<SignalRegistration>,
}

impl Events {
    fn catch() -> io::Result<Events> {
        let mut registrations = Vec::new();
        let mut route = |signal| -> io::Result<UnixStream> {
            let (reader, writer) = UnixStream::pair()?;
            reader.set_nonblocking(true)?;
            registrations.push(routes::route(signal, writer)?);
            Ok(reader)
        };
        Ok(Events {
            ended: route(libc::SIGCHLD)?,
            more: route(libc::SIGTTIN)?,
            fewer: route(libc::SIGTTOU)?,
            upgrade: route(libc::SIGUSR2)?,
            registrations,
        })
    }
}

/// The master: its workers and what it is doing with them.
struct Master<'a, T: Transport, M: Mixin, H, K: Hooks> {
    server: &'a Server<T, M, H, K>,
    signals: &'a ShutdownSignals,
    events: Events,
    grace: Duration,
    workers: Vec<Worker>,
    /// How many workers should serve.
    target: usize,
    /// What the workers that exited did.
    finished: Stats,
    failed_starts: u32,
    /// No worker is started before this (after a failure at start).
    hold_until: Option<Instant>,
    /// Workers a rolling restart is still to replace, and the one being replaced with the
    /// new worker that will replace it.
    to_replace: Vec<libc::pid_t>,
    replacing: Option<(libc::pid_t, libc::pid_t)>,
    said_ready: bool,
    /// Where to say this master serves, when an upgrade started it.
    ready_pipe: Option<UnixStream>,
    /// The program as it was started, for SIGUSR2 (an error: why it cannot upgrade).
    program: io::Result<&'static Program>,
    /// The new master a SIGUSR2 started, until it serves or fails.
    successor: Option<Successor>,
    /// The new master serves: this one stops, leaving it the socket.
    handed_over: bool,
    /// `workers_reuse_port`: a socket per worker.
    reuse_port: bool,
    /// The sockets the workers serve (`None`: a slot closed since).
    slots: Vec<Option<Slot>>,
}

impl<T, M, H, K> Server<T, M, H, K>
where
    T: Transport,
    M: Mixin,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    /// `serve_until` for a server with `workers`: forks them and supervises them until a
    /// stop signal; see the module's documentation.
    pub(crate) fn supervise(
        &self,
        signals: &ShutdownSignals,
        grace: Duration,
        notifier: Option<&Notifier>,
    ) -> io::Result<usize> {
        if !T::STREAM {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "workers is for stream transports (Tcp, UnixStream) only",
            ));
        }
        let reuse_port = self.shared.config.workers_reuse_port;
        let mut slots = vec![Some(Slot {
            socket: None,
            closing: false,
        })];
        if reuse_port {
            slots.extend(handed_down_slots(self)?.into_iter().map(|socket| {
                Some(Slot {
                    socket: Some(socket),
                    closing: false,
                })
            }));
        }
        let mut master = Master {
            server: self,
            signals,
            events: Events::catch()?,
            grace,
            workers: Vec::new(),
            target: self.shared.config.workers.max(slots.len()),
            finished: Stats::default(),
            failed_starts: 0,
            hold_until: None,
            to_replace: Vec::new(),
            replacing: None,
            said_ready: false,
            ready_pipe: upgrade::ready_pipe(),
            program: Program::current(),
            successor: None,
            handed_over: false,
            reuse_port,
            slots,
        };
        // Every worker's socket listens from the start (a bad one is an error before any
        // worker runs), so that the kernel spreads clients over them all at once.
        if reuse_port {
            while master.slots.len() < master.target {
                master.add_slot()?;
            }
        }
        let run = master.run(notifier);
        if let Some(notifier) = notifier {
            notifier.stopping(&self.handle().stats());
        }
        let cut = master.stop();
        run.map(|()| cut)
    }
}

impl<T, M, H, K> Master<'_, T, M, H, K>
where
    T: Transport,
    M: Mixin,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    /// Supervises until a stop is asked for (`Ok`) or workers keep failing at start.
    fn run(&mut self, notifier: Option<&Notifier>) -> io::Result<()> {
        let handle = self.server.handle();
        let (stops, reloads) = self.signals.fds();
        // The service manager's watchdog, if it asked for one: the master pings it.
        let watchdog = notifier.and_then(Notifier::watchdog_interval);
        let mut next_ping = watchdog.map(|every| Instant::now() + every);
        loop {
            if let (Some(notifier), Some(every), Some(at)) = (notifier, watchdog, next_ping) {
                if Instant::now() >= at {
                    notifier.alive(&handle.stats());
                    next_ping = Some(Instant::now() + every);
                }
            }
            self.balance()?;
            let mut fds = vec![
                stops,
                reloads,
                handle.wake().fd(),
                self.events.ended.as_raw_fd(),
                self.events.more.as_raw_fd(),
                self.events.fewer.as_raw_fd(),
                self.events.upgrade.as_raw_fd(),
                // poll(2) skips a negative descriptor.
                self.successor.as_ref().map_or(-1, Successor::fd),
            ];
            fds.extend(self.workers.iter().map(|w| w.status.as_raw_fd()));
            let successor = self.successor.as_ref().map(|s| s.deadline);
            let until = [self.hold_until, successor, next_ping]
                .into_iter()
                .flatten()
                .min();
            let wait = until.map(|t| t.saturating_duration_since(Instant::now()));
            let ready = poll::readable_any(&fds, wait)?;
            if ready[0] && self.signals.take(true) > 0 {
                return Ok(());
            }
            if ready[2] && handle.take_wake() {
                return Ok(());
            }
            if ready[1] && self.signals.take(false) > 0 {
                self.reload();
            }
            if ready[4] {
                self.target += crate::wake::count(&self.events.more);
            }
            if ready[5] {
                let fewer = crate::wake::count(&self.events.fewer);
                self.target = self.target.saturating_sub(fewer).max(1);
            }
            if ready[6] && crate::wake::count(&self.events.upgrade) > 0 {
                self.start_successor();
            }
            if self.successor_serves(ready[7]) {
                self.handed_over = true;
                return Ok(());
            }
            let became_ready: Vec<libc::pid_t> = (self.workers.iter_mut().enumerate())
                .filter(|(at, _)| ready.get(8 + at) == Some(&true))
                .filter_map(|(_, worker)| worker.read_status().then_some(worker.pid))
                .collect();
            for pid in became_ready {
                self.serving(pid, notifier);
            }
            if ready[3] {
                crate::wake::count(&self.events.ended);
            }
            self.reap()?;
            self.tally();
        }
    }

    /// Worker `pid` serves: failures at start are over, the worker it replaces (in a
    /// rolling restart) is asked to stop, and the service manager hears of the first.
    fn serving(&mut self, pid: libc::pid_t, notifier: Option<&Notifier>) {
        self.failed_starts = 0;
        if let Some((new, old)) = self.replacing {
            if new == pid {
                self.replacing = None;
                self.to_replace.retain(|&p| p != old);
                if let Some(old) = self.workers.iter_mut().find(|w| w.pid == old) {
                    old.retire(STOP);
                }
            }
        }
        if !self.said_ready {
            self.said_ready = true;
            if let Some(notifier) = notifier {
                notifier.ready(&self.server.handle().stats());
            }
            if let Some(pipe) = self.ready_pipe.take() {
                upgrade::say_ready(pipe);
            }
        }
    }

    /// SIGUSR2: runs the program again (a new build at the path it was started from),
    /// handing it the socket; this master goes on serving until it says it serves.
    fn start_successor(&mut self) {
        if self.successor.is_some() {
            return;
        }
        let started = match &self.program {
            Ok(program) => upgrade::start(program, &self.slot_fds()),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        };
        match started {
            Ok(successor) => self.successor = Some(successor),
            Err(e) => crate::report::error(format_args!(
                "SIGUSR2: cannot start the program again ({e}); still serving"
            )),
        }
    }

    /// Whether the new master serves now (`said`: its pipe is readable); one that failed
    /// or did not serve within `upgrade::READY_WITHIN` is ended, and this master goes on.
    fn successor_serves(&mut self, said: bool) -> bool {
        let Some(successor) = &self.successor else {
            return false;
        };
        let failure = match (said, Instant::now() >= successor.deadline) {
            (true, _) => match successor.said() {
                Said::Ready => return true,
                Said::Nothing => return false,
                Said::NotRun(e) => format!("could not be run ({e})"),
                Said::Failed => "exited before it served".to_owned(),
            },
            (false, true) => format!("did not serve within {} s", upgrade::READY_WITHIN.as_secs()),
            (false, false) => return false,
        };
        let pid = successor.pid;
        crate::report::error(format_args!(
            "SIGUSR2: the new program (pid {pid}) {failure}; still serving"
        ));
        sys::kill(pid, libc::SIGKILL);
        let _ = sys::wait_child(pid, 0);
        self.successor = None;
        false
    }

    /// SIGHUP: the configuration's files again, the hook, and every worker replaced.
    fn reload(&mut self) {
        if let Err(e) = self.server.handle().reload() {
            crate::report::error(format_args!(
                "reload failed, still serving the configuration loaded before: {e}"
            ));
        }
        self.server.shared.hooks.reload();
        self.to_replace = self
            .workers
            .iter()
            .filter(|w| !w.retiring)
            .map(|w| w.pid)
            .collect();
    }

    /// Starts or retires workers until as many serve as should, one replacement of a
    /// rolling restart at a time.
    fn balance(&mut self) -> io::Result<()> {
        if self.hold_until.is_some_and(|t| Instant::now() < t) {
            return Ok(());
        }
        self.hold_until = None;
        let old = self.replacing.map(|(_, old)| old);
        let serving = |w: &&Worker| !w.retiring && Some(w.pid) != old;
        while self.workers.iter().filter(serving).count() < self.target {
            let slot = self.free_slot(old)?;
            self.spawn(slot)?;
        }
        while self.workers.iter().filter(serving).count() > self.target {
            // The newest worker on the last socket.
            let last = (self.workers.iter().enumerate())
                .filter(|(_, w)| serving(w))
                .max_by_key(|(at, w)| (w.slot, *at))
                .map(|(at, _)| at);
            let Some(at) = last else { break };
            let slot = self.workers[at].slot;
            let alone = !(self.workers.iter().enumerate())
                .any(|(other, w)| other != at && w.slot == slot && serving(&w));
            let closes = self.reuse_port && slot > 0 && alone;
            if closes {
                self.close_slot(slot);
            }
            self.workers[at].retire(if closes { DRAIN_BESIDE_OTHERS } else { STOP });
        }
        if self.replacing.is_none() {
            self.to_replace
                .retain(|&pid| self.workers.iter().any(|w| w.pid == pid && !w.retiring));
            if let Some(&old) = self.to_replace.first() {
                let slot = self
                    .workers
                    .iter()
                    .find(|w| w.pid == old)
                    .map_or(0, |w| w.slot);
                let new = self.spawn(slot)?;
                self.replacing = Some((new, old));
            }
        }
        Ok(())
    }

    /// The socket for a new worker: the server's, or with `workers_reuse_port` the first
    /// open one no worker serves (`old`, being replaced, aside), or a new one.
    fn free_slot(&mut self, old: Option<libc::pid_t>) -> io::Result<usize> {
        if !self.reuse_port {
            return Ok(0);
        }
        let served = |slot: usize| {
            (self.workers.iter()).any(|w| w.slot == slot && !w.retiring && Some(w.pid) != old)
        };
        let free = (self.slots.iter().enumerate())
            .position(|(at, s)| s.as_ref().is_some_and(|s| !s.closing) && !served(at));
        match free {
            Some(at) => Ok(at),
            None => self.add_slot(),
        }
    }

    /// Opens one more socket on the server's address (`workers_reuse_port`), in the first
    /// closed slot or a new one.
    fn add_slot(&mut self) -> io::Result<usize> {
        let socket = T::reuse_port_twin(&self.server.listener, &self.server.shared.config)?;
        let slot = Some(Slot {
            socket: Some(socket),
            closing: false,
        });
        match self.slots.iter().position(Option::is_none) {
            Some(at) => {
                self.slots[at] = slot;
                Ok(at)
            }
            None => {
                self.slots.push(slot);
                Ok(self.slots.len() - 1)
            }
        }
    }

    /// Slot `at` is to close: its socket takes no new handshake from now on (a client's SYN
    /// is dropped, and its retry reaches another socket once this one is closed), its
    /// worker takes what is queued, and the socket closes once that worker exited.
    fn close_slot(&mut self, at: usize) {
        if let Some(slot) = self.slots[at].as_mut() {
            slot.closing = true;
            if let Some(socket) = &slot.socket {
                crate::transport::refuse_handshakes(socket.as_fd());
            }
        }
    }

    /// Every open slot's descriptor, the server's first.
    fn slot_fds(&self) -> Vec<RawFd> {
        let fd = |slot: &Slot| match &slot.socket {
            Some(socket) => socket.as_raw_fd(),
            None => self.server.listener.as_raw_fd(),
        };
        self.slots.iter().flatten().map(fd).collect()
    }

    /// Forks a worker to serve slot `slot`'s socket.
    fn spawn(&mut self, slot: usize) -> io::Result<libc::pid_t> {
        let (control, worker_control) = UnixStream::pair()?;
        let (status, worker_status) = UnixStream::pair()?;
        status.set_nonblocking(true)?;
        let master = std::process::id() as libc::pid_t;
        let forking = crate::listeners::forking();
        let forked = sys::fork();
        drop(forking);
        match forked? {
            sys::Forked::Child => {
                sys::die_with_parent(master);
                // The master's signals and sockets are not the worker's.
                self.signals.forget_in_child();
                for registration in &self.events.registrations {
                    registration.forget_in_child();
                }
                for worker in &self.workers {
                    sys::close(worker.control.as_raw_fd());
                    sys::close(worker.status.as_raw_fd());
                }
                sys::close(control.as_raw_fd());
                sys::close(status.as_raw_fd());
                let upgrade_fds = [
                    self.successor.as_ref().map(Successor::fd),
                    self.ready_pipe.as_ref().map(AsRawFd::as_raw_fd),
                ];
                for fd in upgrade_fds.into_iter().flatten() {
                    sys::close(fd);
                }
                // Its own socket in place of the server's, and no other worker's.
                for (at, other) in self.slots.iter().enumerate() {
                    let Some(socket) = other.as_ref().and_then(|s| s.socket.as_ref()) else {
                        continue;
                    };
                    if at == slot
                        && sys::replace_fd(socket.as_fd(), self.server.listener.as_raw_fd())
                            .is_err()
                    {
                        sys::exit_child(1);
                    }
                    sys::close(socket.as_raw_fd());
                }
                let ok = serve_as_worker(self.server, worker_control, worker_status, self.grace);
                sys::exit_child(if ok { 0 } else { 1 })
            }
            sys::Forked::Parent(pid) => {
                self.workers.push(Worker {
                    pid,
                    slot,
                    control,
                    status,
                    received: Vec::new(),
                    started: Instant::now(),
                    ready: false,
                    retiring: false,
                    stats: Stats::default(),
                });
                Ok(pid)
            }
        }
    }

    /// Waits for the workers that exited; one that was not asked to is replaced (by
    /// `balance`), after a pause if it failed at start, and too many such failures in a
    /// row are an error.
    fn reap(&mut self) -> io::Result<()> {
        let mut at = 0;
        while at < self.workers.len() {
            let worker = &mut self.workers[at];
            let ended = match sys::wait_child(worker.pid, libc::WNOHANG) {
                Ok(None) => {
                    at += 1;
                    continue;
                }
                Ok(Some(ok)) => ok,
                Err(_) => false,
            };
            worker.read_status();
            let worker = self.workers.remove(at);
            self.finished = self.finished.plus(worker.stats);
            let held = self.workers.iter().any(|w| w.slot == worker.slot);
            if !held && self.slots[worker.slot].as_ref().is_some_and(|s| s.closing) {
                self.slots[worker.slot] = None;
            }
            if let Some((new, old)) = self.replacing {
                if new == worker.pid || old == worker.pid {
                    self.replacing = None;
                }
            }
            if worker.retiring {
                continue;
            }
            let failed_at_start = !worker.ready || worker.started.elapsed() < SETTLED;
            if !failed_at_start {
                crate::report::error(format_args!(
                    "worker {} exited ({}); starting another",
                    worker.pid,
                    if ended {
                        "status 0"
                    } else {
                        "failed or killed"
                    }
                ));
                continue;
            }
            self.failed_starts += 1;
            if self.failed_starts >= MOST_FAILED_STARTS {
                return Err(io::Error::other(format!(
                    "{MOST_FAILED_STARTS} workers in a row exited as they started (the last, {}): stopping",
                    worker.pid
                )));
            }
            let pause = Duration::from_millis(100) * 2u32.pow(self.failed_starts - 1);
            crate::report::error(format_args!(
                "worker {} exited within {} s of starting; another in {} ms",
                worker.pid,
                SETTLED.as_secs(),
                pause.as_millis()
            ));
            self.hold_until = Some(Instant::now() + pause);
        }
        Ok(())
    }

    /// Puts what the workers did into the master's stats.
    fn tally(&self) {
        let live = self
            .workers
            .iter()
            .fold(Stats::default(), |s, w| s.plus(w.stats));
        self.server
            .handle()
            .set_worker_stats(self.finished.plus(live));
    }

    /// Stops every worker gracefully (those still running past the grace period, and a
    /// little more, are killed), then the socket; the requests the workers cut.
    fn stop(&mut self) -> usize {
        if self.handed_over {
            // The socket is the new master's now: closed here for this process alone.
            let _ = T::share(&self.server.listener);
        } else {
            // New clients are refused from here on (a TCP socket drops their SYNs until it
            // stops listening), the workers take what is queued.
            T::stop_handshakes(&self.server.listener);
            for at in 1..self.slots.len() {
                self.close_slot(at);
            }
        }
        let cut_before = self.finished.cut + self.workers.iter().map(|w| w.stats.cut).sum::<u64>();
        // With a socket each, each worker takes its queue (the sockets close), unless the
        // new master's workers go on serving them.
        let draining = self.reuse_port && !self.handed_over;
        for worker in &mut self.workers {
            worker.retire(if draining { DRAIN } else { STOP });
        }
        let deadline = Instant::now() + self.grace + KILL_AFTER;
        while !self.workers.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                for worker in &self.workers {
                    sys::kill(worker.pid, libc::SIGKILL);
                }
            }
            let mut fds = vec![self.events.ended.as_raw_fd()];
            fds.extend(self.workers.iter().map(|w| w.status.as_raw_fd()));
            let wait = deadline
                .saturating_duration_since(now)
                .max(Duration::from_millis(10));
            let _ = poll::readable_any(&fds, Some(wait.min(Duration::from_millis(100))));
            crate::wake::count(&self.events.ended);
            for worker in &mut self.workers {
                worker.read_status();
            }
            let _ = self.reap();
        }
        self.tally();
        let cut = self.finished.cut - cut_before.min(self.finished.cut);
        if self.handed_over {
            // Nothing taken off the socket: what it queued is the new master's workers'.
            T::stop_listening(&self.server.listener);
            self.server.stopped_listening.store(true, Ordering::SeqCst);
            self.server.closed.store(true, Ordering::SeqCst);
        } else {
            // What came after the workers took the queue is served here, within the grace.
            self.server.close_gracefully(self.grace);
        }
        cut as usize
    }
}

/// A worker's life: serves the shared socket until its master (or a SIGTERM or SIGINT of
/// its own) stops it, reporting its counters, then stops gracefully. Whether it ended well.
fn serve_as_worker<T, M, H, K>(
    server: &Server<T, M, H, K>,
    control: UnixStream,
    status: UnixStream,
    grace: Duration,
) -> bool
where
    T: Transport,
    M: Mixin,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    let own = T::share(&server.listener)
        .and_then(|()| server.handle().wake().renew_in_child())
        .and_then(|()| server.mixin.after_fork());
    if let Err(e) = own {
        crate::report::error(format_args!("worker {}: {e}", std::process::id()));
        return false;
    }
    if let Err(e) = server.shared.hooks.post_fork() {
        crate::report::error(format_args!(
            "worker {}: post_fork failed: {e}",
            std::process::id()
        ));
        return false;
    }
    let Ok(own_signals) = ShutdownSignals::catch() else {
        return false;
    };
    let Ok((done, done_writer)) = UnixStream::pair() else {
        return false;
    };
    std::thread::scope(|scope| {
        scope.spawn(|| watch_as_worker(server, &control, &status, &own_signals, &done));
        let _ = (&status).write_all(&[READY]);
        let served = server.serve_forever();
        server.close_gracefully(grace);
        report_stats(&status, server.handle().stats());
        drop(done_writer);
        served.is_ok()
    })
}

/// A worker's watcher: stops the worker when its master asks (or is gone) or a stop
/// signal reaches it, and reports its counters every `REPORT_EVERY` until `done` closes.
fn watch_as_worker<T, M, H, K>(
    server: &Server<T, M, H, K>,
    control: &UnixStream,
    status: &UnixStream,
    signals: &ShutdownSignals,
    done: &UnixStream,
) where
    T: Transport,
    M: Mixin,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    let (stops, _) = signals.fds();
    let mut reported = None;
    loop {
        let fds = [control.as_raw_fd(), stops, done.as_raw_fd()];
        let Ok([asked, signalled, finished]) = poll::readable(fds, Some(REPORT_EVERY)) else {
            return;
        };
        if finished {
            return;
        }
        if asked || signalled {
            // A byte from the master, or its end of the socket closed (it is gone).
            let said = if asked { control_said(control) } else { STOP };
            if said != STOP {
                T::drain_at_stop(&server.listener);
            }
            match said {
                DRAIN_BESIDE_OTHERS => server.stop_accepting_with_siblings(),
                _ => server.stop_accepting(),
            }
            signals.take(true);
        }
        let stats = server.handle().stats();
        if reported != Some(stats) {
            report_stats(status, stats);
            reported = Some(stats);
        }
        if asked || signalled {
            // Stopping: the serving thread reports in full as it ends.
            let _ = poll::readable([done.as_raw_fd()], None);
            return;
        }
    }
}

/// Reads what the master sent: how to stop (`STOP` for the end of its socket, too).
fn control_said(control: &UnixStream) -> u8 {
    let mut buf = [0u8; 16];
    let n = (&*control).read(&mut buf).unwrap_or(0);
    let said = &buf[..n];
    [DRAIN_BESIDE_OTHERS, DRAIN]
        .into_iter()
        .find(|how| said.contains(how))
        .unwrap_or(STOP)
}

/// The sockets a predecessor handed down beside the server's (its workers' with
/// `workers_reuse_port`), checked to listen on the server's address.
fn handed_down_slots<T, M, H, K>(server: &Server<T, M, H, K>) -> io::Result<Vec<OwnedFd>>
where
    T: Transport,
    M: Mixin,
    K: Hooks,
{
    let mut sockets = Vec::new();
    if !crate::activation::handed_down()? {
        return Ok(sockets);
    }
    let address = T::local_address(&server.listener)?;
    while let Some(socket) = crate::activation::take(None)? {
        let same = socket2::SockRef::from(&socket);
        let local = crate::address::SocketAddress::from_sockaddr(same.local_addr()?);
        if !same.is_listener()? || local != address {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a socket handed down is not listening on the server's address",
            ));
        }
        sockets.push(socket);
    }
    Ok(sockets)
}

fn report_stats(status: &UnixStream, stats: Stats) {
    let mut frame = Vec::with_capacity(TALLY_LEN);
    frame.push(TALLY);
    for counter in stats.to_array() {
        frame.extend_from_slice(&counter.to_le_bytes());
    }
    let _ = (&*status).write_all(&frame);
}
