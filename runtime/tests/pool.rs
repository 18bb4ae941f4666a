//! The pool mixin (fixed with `pool_size`; elastic_pool.rs: growing and shrinking): workers
//! that take requests themselves (by default) or are fed by a bounded queue. Busy workers or a full queue stop the server accepting (clients
//! wait in the kernel's backlog) until a worker frees up; `close` serves every accepted
//! request before joining the workers, and a worker survives a panicking hook.

mod common;

use std::sync::atomic::Ordering;

use common::*;
use socketserver_runtime::mixin::{Mixin, Pool};
use socketserver_runtime::transport::Tcp;
use socketserver_runtime::{Hooks, RequestError, Server, ServerConfig, SocketAddress};

#[test]
fn by_default_the_pool_starts_four_workers_per_cpu_and_at_least_eight() {
    let server = Server::<Tcp, Pool, Echo>::bind("127.0.0.1:0").unwrap();
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(server.mixin().workers(), (4 * cpus).max(8));
    assert_eq!(server.mixin().acceptors(), (4 * cpus).max(8));
    server.close();

    let server = Server::<Tcp, Pool, Echo>::builder()
        .config(config(|c| c.pool_size = 3))
        .bind("127.0.0.1:0")
        .unwrap();
    assert_eq!(server.mixin().workers(), 3);
    assert_eq!(server.mixin().queued(), 0);
    let serving = serve(server);
    for _ in 0..10 {
        assert_echoes(&serving.address());
    }
    serving.stop().close();
}

/// Two workers and room for one request in the queue; handlers are [`Greeter`]s, which hold
/// their worker until the client sends a line.
fn small_pool() -> (Greeter, Recorder, Serving<Tcp, Pool, Greeter, Recorder>) {
    let greeter = Greeter::default();
    let hooks = Recorder::default();
    let server = Server::<Tcp, Pool, Greeter>::builder()
        .config(config(|c| {
            c.pool_size = 2;
            c.pool_queue_size = 1;
        }))
        .handler(greeter.clone())
        .hooks(hooks.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    assert_eq!(serving.mixin().workers(), 2);
    (greeter, hooks, serving)
}

#[test]
fn full_queue_stops_accepting_until_a_worker_takes_a_request() {
    let (greeter, hooks, serving) = small_pool();
    let address = serving.address();
    let mut first = greeted(&address);
    let mut second = greeted(&address);
    let mut third = Client::connect(&address);
    wait_until("the third client is queued", || {
        serving.mixin().queued() == 1
    });

    // Two running, one queued: the fourth client stays in the kernel's backlog.
    let mut fourth = Client::connect(&address);
    fourth.assert_nothing_arrives();
    third.assert_nothing_arrives();
    assert_eq!(serving.handle().stats().accepted, 3);
    assert_eq!(serving.mixin().queued(), 1);

    // A worker frees up: it takes the third request, which wakes the loop to accept the
    // fourth into the queue.
    release(&mut first);
    greeting_pid(&third.read_line());
    wait_until("the fourth client is accepted and queued", || {
        serving.handle().stats().accepted == 4 && serving.mixin().queued() == 1
    });
    fourth.assert_nothing_arrives();

    release(&mut second);
    greeting_pid(&fourth.read_line());
    release(&mut third);
    release(&mut fourth);

    let server = serving.stop();
    let handle = server.handle();
    server.close();
    assert_eq!(greeter.finished.load(Ordering::SeqCst), 4);
    let stats = handle.stats();
    assert_eq!((stats.accepted, stats.completed, stats.failed), (4, 4, 0));
    assert!(hooks.errors().is_empty(), "{:?}", hooks.errors());
}

#[test]
fn close_serves_every_queued_request_before_joining_the_workers() {
    let (greeter, hooks, serving) = small_pool();
    let address = serving.address();
    let mut first = greeted(&address);
    let mut second = greeted(&address);
    let mut queued = Client::connect(&address);
    wait_until("the third client is queued", || {
        serving.mixin().queued() == 1
    });
    let server = serving.stop();
    assert_eq!(server.mixin().queued(), 1);

    let finished = greeter.finished.clone();
    let closing = background("close", move || {
        server.close();
        finished.load(Ordering::SeqCst)
    });
    release(&mut first);
    // The queued request is served after the server stopped serving.
    greeting_pid(&queued.read_line());
    release(&mut second);
    assert!(
        !closing.has_returned(),
        "close returned with a request in flight"
    );
    release(&mut queued);
    assert_eq!(
        closing.join(),
        3,
        "close returned before every request ended"
    );
    assert!(hooks.errors().is_empty(), "{:?}", hooks.errors());
}

/// Without a queue (the default), each idle worker takes a client itself: with both
/// workers busy, a third client is not even accepted until one frees up.
#[test]
fn without_a_queue_busy_workers_leave_clients_in_the_backlog() {
    assert_eq!(ServerConfig::default().pool_queue_size, 0);
    let greeter = Greeter::default();
    let server = Server::<Tcp, Pool, Greeter>::builder()
        .config(config(|c| c.pool_size = 2))
        .handler(greeter.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    assert_eq!(server.mixin().acceptors(), 2);
    let serving = serve(server);
    let address = serving.address();
    let mut first = greeted(&address);
    let mut second = greeted(&address);
    let mut third = Client::connect(&address);
    third.assert_nothing_arrives();
    assert_eq!(serving.handle().stats().accepted, 2);
    assert_eq!(serving.mixin().queued(), 0);

    release(&mut first);
    greeting_pid(&third.read_line());
    release(&mut second);
    release(&mut third);
    let server = serving.stop();
    let handle = server.handle();
    server.close(); // waits for the requests still ending: their counts are in
    let stats = handle.stats();
    assert_eq!(greeter.finished.load(Ordering::SeqCst), 3);
    assert_eq!((stats.accepted, stats.completed, stats.failed), (3, 3, 0));
}

/// With `max_connections` below `pool_size`, only that many workers take requests.
#[test]
fn without_a_queue_max_connections_caps_the_workers() {
    let server = Server::<Tcp, Pool, Echo>::builder()
        .config(config(|c| {
            c.pool_size = 6;
            c.max_connections = 2;
        }))
        .bind("127.0.0.1:0")
        .unwrap();
    assert_eq!(server.mixin().workers(), 2);
    server.close();
}

/// Hooks whose `handle_error` panics.
#[derive(Clone, Copy, Default)]
struct PanickingHooks;

impl Hooks for PanickingHooks {
    fn handle_error(&self, _client_address: &SocketAddress, _error: &RequestError) {
        panic!("handle_error panicked on purpose");
    }
}

#[test]
fn a_panicking_handle_error_does_not_cost_the_pool_its_worker() {
    let server = Server::<Tcp, Pool, Failing>::builder()
        .config(config(|c| c.pool_size = 1))
        .hooks(PanickingHooks)
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    // With its only worker gone, the second request would never be served.
    for _ in 0..3 {
        assert_eq!(roundtrip(&serving.address(), b""), b"");
    }
    let server = serving.stop();
    assert_eq!(server.handle().stats().accepted, 3);
    server.close();
}

/// Hooks whose `verify_request` panics.
#[derive(Clone, Copy, Default)]
struct PanickingVerify;

impl Hooks for PanickingVerify {
    fn verify_request(&self, _client_address: &SocketAddress) -> bool {
        panic!("verify_request panicked on purpose");
    }
}

/// A worker taking requests itself survives a hook that panics while it takes one, and the
/// shutdown still finds it out of `accept`.
#[test]
fn a_panicking_verify_request_costs_neither_a_worker_nor_the_shutdown() {
    let server = Server::<Tcp, Pool, Echo>::builder()
        .config(config(|c| c.pool_size = 1))
        .hooks(PanickingVerify)
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    for _ in 0..2 {
        let mut client = Client::connect(&serving.address());
        client.finish_sending();
        assert_eq!(
            client.read_to_end(),
            b"",
            "the connection is closed unserved"
        );
    }
    let server = serving.stop();
    assert_eq!(server.handle().stats().accepted, 2);
    server.close();
}
