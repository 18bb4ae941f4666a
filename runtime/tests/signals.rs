//! `serve_until_signal`: SIGINT or SIGTERM stops accepting at once, lets requests in flight
//! finish for the grace period and cuts the rest; a second signal cuts at once.
//!
//! A binary of its own with a single test: the signals are sent to the whole process
//! (`kill(getpid())`), which would disturb any other test running beside them.

mod common;

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::*;
use socketserver_runtime::mixin::{Forking, Mixin, Pool, Serial, Threading};
use socketserver_runtime::transport::Tcp;
use socketserver_runtime::{
    Hooks, RequestError, Server, ServerHandle, ShutdownSignals, SocketAddress,
};

/// Hooks whose `service_actions` (run by the serving loop after each accept) can hold the
/// loop: while it is held, a shutdown asked for by the signal stays visible through
/// `ServerHandle::is_shutdown_requested`, so the test knows the signal was handled before
/// it goes on.
#[derive(Clone, Default)]
struct Gate(Arc<GateState>);

#[derive(Default)]
struct GateState {
    closed: Mutex<bool>,
    opened: Condvar,
    /// How many times `reload` was called.
    reloads: AtomicUsize,
}

impl Gate {
    /// From now on, the loop stops in `service_actions` until [`Gate::open`].
    fn close(&self) {
        *self.0.closed.lock().unwrap() = true;
    }

    fn open(&self) {
        *self.0.closed.lock().unwrap() = false;
        self.0.opened.notify_all();
    }
}

impl Hooks for Gate {
    fn reload(&self) {
        self.0.reloads.fetch_add(1, AtomicOrdering::SeqCst);
    }

    /// Quiet: cut requests fail, as expected here.
    fn handle_error(&self, _client_address: &SocketAddress, _error: &RequestError) {}

    fn service_actions(&self) {
        let closed = self.0.closed.lock().unwrap();
        let _ = self
            .0
            .opened
            .wait_timeout_while(closed, TIMEOUT, |closed| *closed);
    }
}

/// A [`Greeter`] server of mixin `M` running `serve_until_signal(grace)` on a thread.
struct SignalServer {
    address: SocketAddress,
    handle: ServerHandle,
    gate: Gate,
    result: Background<io::Result<usize>>,
}

fn serve_until_signal<M: Mixin>(grace: Duration, gate_closed: bool) -> SignalServer {
    let gate = Gate::default();
    if gate_closed {
        gate.close();
    }
    let server = Server::<Tcp, M, Greeter>::builder()
        .hooks(gate.clone())
        // Children and threads give up on a broken test's clients.
        .config(config(|c| c.stream_timeout = Some(TIMEOUT)))
        .bind("127.0.0.1:0")
        .unwrap();
    let address = server.server_address().clone();
    let handle = server.handle();
    let result = background("serve_until_signal", move || {
        server.serve_until_signal(grace)
    });
    SignalServer {
        address,
        handle,
        gate,
        result,
    }
}

fn send_signal(signal: i32) {
    // SAFETY: kill(2) on our own process; the server under test has handlers for it.
    assert_eq!(unsafe { libc::kill(libc::getpid(), signal) }, 0);
}

/// Sends `signal` and waits until the serving loop, held at the gate, was asked to stop.
fn signal_and_wait_for_shutdown(server: &SignalServer, signal: i32) {
    send_signal(signal);
    wait_until("the signal asks the server to stop", || {
        server.handle.is_shutdown_requested()
    });
}

/// SIGTERM while a client is mid-conversation: nothing new is accepted, the conversation
/// completes, nothing is cut.
fn request_in_flight_completes_after_sigterm() {
    let server = serve_until_signal::<Threading>(Duration::from_secs(30), true);
    let mut client = greeted(&server.address);
    signal_and_wait_for_shutdown(&server, libc::SIGTERM);
    // Stopped accepting: a new client is refused (the watcher shuts the socket down right
    // after it asked the loop to stop).
    let address = server.address.as_inet().unwrap();
    wait_until("a new client is refused", || {
        std::net::TcpStream::connect_timeout(&address, TIMEOUT)
            .is_err_and(|e| e.kind() == io::ErrorKind::ConnectionRefused)
    });
    server.gate.open();
    client.send(b"done\n");
    assert_eq!(client.read_line(), "bye\n");
    assert_eq!(client.read_to_end(), b"");
    assert_eq!(server.result.join().unwrap(), 0);
    let stats = server.handle.stats();
    assert_eq!((stats.completed, stats.cut), (1, 0), "{stats:?}");
}

/// SIGTERM, then SIGINT during a long grace period: the idle request is cut at once.
fn second_signal_cuts_at_once() {
    let started = Instant::now();
    let server = serve_until_signal::<Pool>(Duration::from_secs(30), true);
    let mut client = greeted(&server.address);
    signal_and_wait_for_shutdown(&server, libc::SIGTERM);
    server.gate.open();
    send_signal(libc::SIGINT);
    client.assert_cut();
    assert_eq!(server.result.join().unwrap(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "waited for the grace period"
    );
    assert_eq!(server.handle.stats().cut, 1);
}

/// SIGINT alone with an idle client and a short grace: cut when the grace ends, even though
/// a `Serial` server's handler holds the serving thread.
fn idle_request_is_cut_when_the_grace_ends() {
    let server = serve_until_signal::<Serial>(Duration::from_millis(300), false);
    let mut client = greeted(&server.address);
    send_signal(libc::SIGINT);
    client.assert_cut();
    assert_eq!(server.result.join().unwrap(), 1);
    assert_eq!(server.handle.stats().cut, 1);
}

/// SIGHUP is a reload, never a stop: the hook is called, the request in flight goes on, a
/// new client is served, and only SIGTERM then stops the server.
fn sighup_reloads_and_keeps_serving() {
    let server = serve_until_signal::<Threading>(Duration::from_secs(30), false);
    let mut in_flight = greeted(&server.address);
    send_signal(libc::SIGHUP);
    wait_until("SIGHUP calls reload", || {
        server.gate.0.reloads.load(AtomicOrdering::SeqCst) == 1
    });
    send_signal(libc::SIGHUP);
    wait_until("a second SIGHUP reloads again", || {
        server.gate.0.reloads.load(AtomicOrdering::SeqCst) == 2
    });
    assert!(!server.handle.is_shutdown_requested());
    release(&mut greeted(&server.address));
    release(&mut in_flight);
    send_signal(libc::SIGTERM);
    assert_eq!(server.result.join().unwrap(), 0);
    assert_eq!(server.handle.stats().completed, 2);
}

/// One `ShutdownSignals`, cloned for a second server: a single SIGTERM stops both, and a
/// stopped server refuses to serve again.
fn one_signal_stops_two_servers() {
    let signals = ShutdownSignals::catch().unwrap();
    let second = signals.try_clone().unwrap();
    let bind = || Server::<Tcp, Threading, Greeter>::bind("127.0.0.1:0").unwrap();
    let (a, b) = (bind(), bind());
    let (a_address, b_address) = (a.server_address().clone(), b.server_address().clone());
    std::thread::scope(|scope| {
        let a_served = scope.spawn(|| a.serve_until(signals, Duration::from_secs(30)));
        let b_served = scope.spawn(|| b.serve_until(second, Duration::from_secs(30)));
        release(&mut greeted(&a_address));
        release(&mut greeted(&b_address));
        send_signal(libc::SIGTERM);
        assert_eq!(a_served.join().unwrap().unwrap(), 0);
        assert_eq!(b_served.join().unwrap().unwrap(), 0);
    });
    let again = a.serve_forever().unwrap_err();
    assert!(again.to_string().contains("cannot serve again"), "{again}");
}

/// SIGTERM and SIGINT back to back, maybe read together by the server: still a second
/// signal, which cuts at once.
fn two_signals_at_once_cut_at_once() {
    let server = serve_until_signal::<Threading>(Duration::from_secs(30), false);
    let mut client = greeted(&server.address);
    send_signal(libc::SIGTERM);
    send_signal(libc::SIGINT);
    client.assert_cut();
    assert_eq!(server.result.join().unwrap(), 1);
}

/// A forked child still serving when the grace ends gets SIGTERM and dies of it (the
/// parent's handlers, which only write a byte, are not inherited), and is reaped.
fn forked_child_is_terminated_when_the_grace_ends() {
    let server = serve_until_signal::<Forking>(Duration::from_millis(300), false);
    let mut client = Client::connect(&server.address);
    let pid = greeting_pid(&client.read_line());
    assert_ne!(pid, std::process::id() as i32);
    send_signal(libc::SIGTERM);
    assert_eq!(server.result.join().unwrap(), 1);
    assert!(!is_zombie_child(pid), "the child was not reaped");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the child still runs"
    );
    client.assert_cut();
}

/// SIGTERM or SIGHUP sent to one forked child (not to the server) ends that child, as the
/// signal's default action would: the server neither stops nor reloads, and serves on.
fn signal_to_a_forked_child_ends_that_child_only() {
    let server = serve_until_signal::<Forking>(Duration::from_secs(30), false);
    for signal in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT] {
        let mut client = Client::connect(&server.address);
        let pid = greeting_pid(&client.read_line());
        assert_ne!(pid, std::process::id() as i32);
        // SAFETY: kill(2) on the child this test's server forked for `client`.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        client.assert_cut();
        wait_until("the child is reaped", || !is_zombie_child(pid));
        assert!(!server.handle.is_shutdown_requested(), "signal {signal}");
        release(&mut greeted(&server.address));
    }
    assert_eq!(server.gate.0.reloads.load(AtomicOrdering::SeqCst), 0);
    // The server's own SIGHUP: one reload, and nothing the children got is taken as the
    // server's.
    send_signal(libc::SIGHUP);
    wait_until("the server reloads", || {
        server.gate.0.reloads.load(AtomicOrdering::SeqCst) > 0
    });
    release(&mut greeted(&server.address));
    assert_eq!(server.gate.0.reloads.load(AtomicOrdering::SeqCst), 1);
    assert!(!server.handle.is_shutdown_requested());
    send_signal(libc::SIGTERM);
    assert_eq!(server.result.join().unwrap(), 0);
}

#[test]
fn serve_until_signal_stops_on_sigint_or_sigterm_and_closes_gracefully() {
    request_in_flight_completes_after_sigterm();
    second_signal_cuts_at_once();
    idle_request_is_cut_when_the_grace_ends();
    two_signals_at_once_cut_at_once();
    sighup_reloads_and_keeps_serving();
    one_signal_stops_two_servers();
    // Last: the children of a forking server inherit every descriptor open at the time.
    signal_to_a_forked_child_ends_that_child_only();
    forked_child_is_terminated_when_the_grace_ends();
}
