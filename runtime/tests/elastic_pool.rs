//! The elastic pool: it grows while every worker is busy (connections kept open cannot
//! exhaust it), never beyond `pool_max` (nor `max_connections`), shrinks back to `pool_min`
//! once its surplus has rested `pool_idle`, stops promptly when grown, and `close` joins
//! every worker. Bounds that contradict each other fail at bind time.

mod common;

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use socketserver_runtime::mixin::Pool;
use socketserver_runtime::transport::Tcp;
use socketserver_runtime::{
    DefaultHooks, HandlerResult, RequestHandler, Server, ServerConfig, StreamRequest,
};

/// A short `pool_idle`, so that a test sees the pool shrink.
const IDLE: Duration = Duration::from_millis(200);

/// A [`Greeter`] that also records the threads its requests ran on.
#[derive(Clone, Default)]
struct Held {
    greeter: Greeter,
    /// Each thread as `/proc/thread-self` names it (`PID/task/TID`).
    threads: Arc<Mutex<HashSet<PathBuf>>>,
}

impl Held {
    fn finished(&self) -> usize {
        self.greeter.finished.load(Ordering::SeqCst)
    }
}

impl RequestHandler<StreamRequest> for Held {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        let thread = std::fs::read_link("/proc/thread-self")?;
        self.threads.lock().unwrap().insert(thread);
        self.greeter.handle(req)
    }
}

/// A pool server of [`Held`] requests with `change` applied to the default config.
fn greeter_pool(
    change: impl FnOnce(&mut ServerConfig),
) -> (Held, Serving<Tcp, Pool, Held, DefaultHooks>) {
    let held = Held::default();
    let server = Server::<Tcp, Pool, Held>::builder()
        .config(config(change))
        .handler(held.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    (held, serve(server))
}

/// The default number of workers kept warm.
fn default_min() -> usize {
    ServerConfig::default().pool_bounds().unwrap().0
}

#[test]
fn default_bounds_are_four_to_sixty_four_workers_per_cpu() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    let (min, max) = ((4 * cpus).max(8), (64 * cpus).max(256));
    let defaults = ServerConfig::default();
    assert_eq!(defaults.pool_bounds().unwrap(), (min, max));
    assert_eq!(defaults.pool_idle, Some(Duration::from_secs(60)));
    // A bound set alone moves the other's default out of its way.
    let above = config(|c| c.pool_min = max + 1).pool_bounds().unwrap();
    assert_eq!(above, (max + 1, max + 1));
    assert_eq!(config(|c| c.pool_max = 2).pool_bounds().unwrap(), (2, 2));
    assert_eq!(config(|c| c.pool_size = 3).pool_bounds().unwrap(), (3, 3));
}

#[test]
fn bounds_that_contradict_each_other_fail_at_bind_time() {
    let changes: [fn(&mut ServerConfig); 3] = [
        |c| (c.pool_min, c.pool_max) = (4, 2),
        |c| (c.pool_size, c.pool_min) = (2, 1),
        |c| (c.pool_size, c.pool_max) = (2, 4),
    ];
    for change in changes {
        let bound = Server::<Tcp, Pool, Echo>::builder()
            .config(config(change))
            .bind("127.0.0.1:0");
        let error = bound.expect_err("contradicting pool bounds were accepted");
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{error}");
    }
}

/// Three times the default minimum of clients holding a connection each: every one is
/// served at once; once they leave and the surplus has rested, the pool is back to its
/// minimum, and still serves.
#[test]
fn keep_alive_clients_grow_the_default_pool_which_shrinks_back_when_idle() {
    let min = default_min();
    let (greeter, serving) = greeter_pool(|c| c.pool_idle = Some(IDLE));
    assert_eq!(serving.mixin().workers(), min);
    let address = serving.address();
    let mut clients: Vec<Client> = (0..3 * min).map(|_| greeted(&address)).collect();
    // A worker that takes a client while the others are still on their way back to
    // `accept` may start one more than needed: never more than the maximum.
    let grown = serving.mixin().workers();
    let max = ServerConfig::default().pool_bounds().unwrap().1;
    assert!((3 * min..=max).contains(&grown), "{grown} workers");

    for client in &mut clients {
        release(client);
    }
    wait_until("the pool is back to its minimum", || {
        serving.mixin().workers() == min
    });
    release(&mut greeted(&address));
    let server = serving.stop();
    server.close();
    assert_eq!(greeter.finished(), 3 * min + 1);
}

/// More clients than `pool_max`: the extra one waits in the backlog, unaccepted, and is
/// served when another leaves.
#[test]
fn the_pool_never_exceeds_its_maximum() {
    let (greeter, serving) = greeter_pool(|c| (c.pool_min, c.pool_max) = (1, 3));
    let address = serving.address();
    let mut held: Vec<Client> = (0..3).map(|_| greeted(&address)).collect();
    let mut extra = Client::connect(&address);
    extra.assert_nothing_arrives();
    assert_eq!(serving.mixin().workers(), 3);
    assert_eq!(serving.handle().stats().accepted, 3);

    release(&mut held[0]);
    greeting_pid(&extra.read_line());
    assert_eq!(serving.mixin().workers(), 3);
    for client in held[1..].iter_mut().chain([&mut extra]) {
        release(client);
    }
    serving.stop().close();
    assert_eq!(greeter.finished(), 4);
}

/// `max_connections` bounds the growth as it bounds a fixed pool.
#[test]
fn max_connections_caps_the_growth() {
    let (_, serving) = greeter_pool(|c| (c.pool_min, c.max_connections) = (1, 2));
    let address = serving.address();
    let mut held: Vec<Client> = (0..2).map(|_| greeted(&address)).collect();
    let mut extra = Client::connect(&address);
    extra.assert_nothing_arrives();
    assert_eq!(serving.mixin().workers(), 2);
    release(&mut held[0]);
    greeting_pid(&extra.read_line());
    for client in held[1..].iter_mut().chain([&mut extra]) {
        release(client);
    }
    serving.stop().close();
}

/// A grown pool, half its workers resting and half serving: the shutdown returns at once,
/// and `close` waits for the requests still running, then joins every worker.
#[test]
fn a_grown_pool_stops_promptly_and_close_joins_every_worker() {
    let min = default_min();
    let (greeter, serving) = greeter_pool(|_| {});
    let address = serving.address();
    let mut clients: Vec<Client> = (0..3 * min).map(|_| greeted(&address)).collect();
    let mut still_held = clients.split_off(3 * min / 2);
    for client in &mut clients {
        release(client);
    }
    assert!(serving.mixin().workers() >= 3 * min);

    let server = serving.stop_within(Duration::from_secs(1));
    let closing = background("close", move || server.close());
    for client in &mut still_held {
        release(client);
    }
    closing.join();
    assert_eq!(greeter.finished(), 3 * min);
    let threads = greeter.threads.lock().unwrap();
    assert!(threads.len() >= 3 * min, "{} workers served", threads.len());
    let running: Vec<_> = threads
        .iter()
        .filter(|t| Path::new("/proc").join(t).exists())
        .collect();
    assert!(
        running.is_empty(),
        "close left workers running: {running:?}"
    );
}

/// With a queue, a request queued while no worker is idle starts one more, up to
/// `pool_max`; the surplus exits once idle.
#[test]
fn a_pool_with_a_queue_grows_and_shrinks_too() {
    let (greeter, serving) = greeter_pool(|c| {
        (c.pool_min, c.pool_max, c.pool_queue_size) = (1, 4, 1);
        c.pool_idle = Some(IDLE);
    });
    let address = serving.address();
    let mut held: Vec<Client> = (0..4).map(|_| greeted(&address)).collect();
    assert_eq!(serving.mixin().workers(), 4);
    let mut queued = Client::connect(&address);
    wait_until("the fifth client is queued", || {
        serving.mixin().queued() == 1
    });
    assert_eq!(serving.mixin().workers(), 4);

    release(&mut held[0]);
    greeting_pid(&queued.read_line());
    for client in held[1..].iter_mut().chain([&mut queued]) {
        release(client);
    }
    wait_until("the pool is back to its minimum", || {
        serving.mixin().workers() == 1
    });
    serving.stop().close();
    assert_eq!(greeter.finished(), 5);
}
