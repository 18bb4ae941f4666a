//! Pre-forked workers at the runtime's level: the master's stats count what its workers
//! served, `ServerHandle::shutdown` stops master and workers, and workers that keep failing
//! as they start make the master stop with an error that says so, after backing off.
//!
//! A file of its own: the workers are forked from this test process, one master at a time
//! (`one_master`): a fork while another test's thread holds a lock (signal-hook's, the
//! allocator's) would leave the worker waiting for it forever. A program forks its workers
//! before it starts threads of its own.

mod common;

use std::time::{Duration, Instant};

use common::*;
use socketserver_runtime::mixin::Threading;
use socketserver_runtime::transport::{Tcp, Udp};
use socketserver_runtime::{Hooks, Server, ShutdownSignals};

/// Held by each test for its whole run.
fn one_master() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Hooks whose `post_fork` fails: no worker ever serves.
#[derive(Clone, Default)]
struct FailingStart;

impl Hooks for FailingStart {
    fn post_fork(&self) -> std::io::Result<()> {
        Err(std::io::Error::other("no database"))
    }
}

#[test]
fn the_masters_stats_count_what_its_workers_served_and_shutdown_stops_them_all() {
    let _one = one_master();
    let server = Server::<Tcp, Threading, Echo>::builder()
        .config(config(|c| {
            c.workers = 2;
            c.stream_timeout = Some(TIMEOUT);
        }))
        .bind("127.0.0.1:0")
        .unwrap();
    let handle = server.handle();
    let address = server.server_address().clone();
    let master = background("the master", move || {
        let signals = ShutdownSignals::catch().unwrap();
        server.serve_until(signals, Duration::from_secs(2))
    });
    for _ in 0..30 {
        assert_echoes(&address);
    }
    wait_until("the workers' 30 requests in the master's stats", || {
        handle.stats().completed == 30
    });
    assert_eq!(handle.stats().accepted, 30);
    handle.shutdown();
    assert_eq!(master.join().unwrap(), 0);
    // Stopped listening: refused.
    assert!(std::net::TcpStream::connect(address.as_inet().unwrap()).is_err());
}

#[test]
fn workers_failing_at_start_make_the_master_back_off_then_stop_with_an_error() {
    let _one = one_master();
    let server = Server::<Tcp, Threading, Echo, FailingStart>::builder()
        .config(config(|c| c.workers = 2))
        .hooks(FailingStart)
        .bind("127.0.0.1:0")
        .unwrap();
    let started = Instant::now();
    let master = background("the master", move || {
        let signals = ShutdownSignals::catch().unwrap();
        server.serve_until(signals, Duration::from_secs(1))
    });
    let error = master.join().unwrap_err();
    let took = started.elapsed();
    assert!(
        error
            .to_string()
            .contains("5 workers in a row exited as they started"),
        "{error}"
    );
    // Backing off (100, 200, 400 ms between the last ones), not a fork bomb.
    assert!(took >= Duration::from_millis(600), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn workers_on_a_datagram_transport_are_refused() {
    let _one = one_master();
    let server = Server::<Udp, Threading, Echo>::builder()
        .config(config(|c| c.workers = 2))
        .bind("127.0.0.1:0")
        .unwrap();
    let error = server
        .serve_until(ShutdownSignals::catch().unwrap(), Duration::ZERO)
        .unwrap_err();
    assert!(error.to_string().contains("stream transports"), "{error}");
}
