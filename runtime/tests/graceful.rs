//! Graceful close (`close_within`): requests in flight may finish within the grace period,
//! the rest are cut (their connections shut down so blocked handlers return), and requests
//! that start after a cut are cut at once. `ServerHandle::interrupt` is the immediate hard
//! stop. (Forking children get SIGTERM instead: see forking.rs.)

mod common;

use std::time::Duration;

use common::*;
use socketserver_runtime::mixin::{Mixin, Pool, Serial, Threading};
use socketserver_runtime::transport::Tcp;
use socketserver_runtime::{Server, ServerConfig};

/// A server of [`Greeter`]s (each holds its request until the client sends a line) with
/// quiet hooks, serving.
fn serve_greeters<M: Mixin>(
    config: ServerConfig,
) -> (Greeter, Recorder, Serving<Tcp, M, Greeter, Recorder>) {
    let greeter = Greeter::default();
    let hooks = Recorder::default();
    let server = Server::<Tcp, M, Greeter>::builder()
        .config(config)
        .handler(greeter.clone())
        .hooks(hooks.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    (greeter, hooks, serve(server))
}

/// A request released during the grace period ends normally and nothing is cut; the close
/// returns as soon as it ends, not at the end of a long grace.
fn check_request_finishing_within_the_grace_is_not_cut<M: Mixin>() {
    let (greeter, hooks, serving) = serve_greeters::<M>(ServerConfig::default());
    let mut client = greeted(&serving.address());
    let server = serving.stop();
    let handle = server.handle();
    let closing = background("close_within", move || {
        server.close_within(Duration::from_secs(600))
    });
    release(&mut client);
    assert_eq!(closing.join(), 0);
    let stats = handle.stats();
    assert_eq!((stats.cut, stats.completed, stats.active), (0, 1, 0));
    assert_eq!(
        greeter.finished.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert!(hooks.errors().is_empty(), "{:?}", hooks.errors());
}

#[test]
fn threading_request_finishing_within_the_grace_is_not_cut() {
    check_request_finishing_within_the_grace_is_not_cut::<Threading>();
}

#[test]
fn pool_request_finishing_within_the_grace_is_not_cut() {
    check_request_finishing_within_the_grace_is_not_cut::<Pool>();
}

/// A handler blocked on an idle client is cut when the grace period ends: the client reads
/// EOF, close_within says one was cut, and so do the counters.
fn check_idle_request_is_cut_at_the_deadline<M: Mixin>() {
    let (greeter, hooks, serving) = serve_greeters::<M>(ServerConfig::default());
    let mut client = greeted(&serving.address());
    let server = serving.stop();
    let handle = server.handle();
    let cut = within("close_within", move || {
        server.close_within(Duration::from_millis(200))
    });
    assert_eq!(cut, 1);
    client.assert_cut();
    let stats = handle.stats();
    assert_eq!(
        (stats.cut, stats.active, stats.completed),
        (1, 0, 0),
        "{stats:?}"
    );
    assert_eq!(
        greeter.finished.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    // The cut handler failed (its reply could not be written) and said so.
    assert_eq!(hooks.errors().len(), 1, "{:?}", hooks.errors());
}

#[test]
fn threading_idle_request_is_cut_when_the_grace_ends() {
    check_idle_request_is_cut_at_the_deadline::<Threading>();
}

#[test]
fn pool_idle_request_is_cut_when_the_grace_ends() {
    check_idle_request_is_cut_at_the_deadline::<Pool>();
}

#[test]
fn interrupt_unblocks_a_sync_handler_so_serve_forever_returns() {
    let (_greeter, _hooks, serving) = serve_greeters::<Serial>(ServerConfig::default());
    let handle = serving.handle();
    let mut client = greeted(&serving.address());
    // The handler holds the serving thread: a shutdown alone cannot end serve_forever.
    handle.shutdown();
    assert_eq!(handle.interrupt(), 1);
    client.assert_cut();
    let server = serving.join();
    assert_eq!(
        within("close_within", move || server
            .close_within(Duration::from_millis(200))),
        0,
        "nothing left to cut"
    );
    let stats = handle.stats();
    assert_eq!((stats.cut, stats.active), (1, 0), "{stats:?}");
}

#[test]
fn interrupt_while_serving_cuts_requests_in_flight_and_the_ones_after() {
    let (_greeter, _hooks, serving) = serve_greeters::<Threading>(ServerConfig::default());
    let handle = serving.handle();
    let mut clients = [greeted(&serving.address()), greeted(&serving.address())];
    assert_eq!(handle.interrupt(), 2);
    for client in &mut clients {
        client.assert_cut();
    }
    assert_eq!(handle.interrupt(), 0, "cutting twice cuts nothing more");
    // Still serving, but every new request is cut as it starts (before its greeting).
    let mut late = Client::connect(&serving.address());
    late.assert_cut();
    let server = serving.stop();
    server.close();
    assert_eq!(handle.stats().cut, 3);
    assert_eq!(handle.stats().accepted, 3);
}

/// A pool with one worker and room for one queued request.
fn one_worker() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.pool_size = 1;
    config.pool_queue_size = 1;
    config
}

/// A stopped one-worker pool server with one request running and one queued.
fn one_running_one_queued() -> (Server<Tcp, Pool, Greeter, Recorder>, Client, Client) {
    let (_greeter, _hooks, serving) = serve_greeters::<Pool>(one_worker());
    let running = greeted(&serving.address());
    let queued = Client::connect(&serving.address());
    wait_until("the second client is queued", || {
        serving.mixin().queued() == 1
    });
    (serving.stop(), running, queued)
}

#[test]
fn close_within_waits_for_queued_pool_requests_too() {
    let (server, mut running, mut queued) = one_running_one_queued();
    let handle = server.handle();
    let closing = background("close_within", move || {
        server.close_within(Duration::from_millis(300))
    });
    // The running request ends within the grace; the queued one starts, idles, and is cut
    // at the deadline: the grace covers it too, or the close would wait for it forever.
    release(&mut running);
    greeting_pid(&queued.read_line());
    assert_eq!(closing.join(), 1);
    queued.assert_cut();
    let stats = handle.stats();
    assert_eq!(
        (stats.completed, stats.cut, stats.active),
        (1, 1, 0),
        "{stats:?}"
    );
}

#[test]
fn queued_pool_requests_starting_after_a_cut_are_cut_at_once_and_counted() {
    let (server, mut running, mut queued) = one_running_one_queued();
    let handle = server.handle();
    let cut = within("close_within", move || {
        server.close_within(Duration::from_millis(200))
    });
    assert_eq!(cut, 2, "the running request and the queued one");
    running.assert_cut();
    queued.assert_cut();
    assert_eq!(handle.stats().cut, 2);
}
