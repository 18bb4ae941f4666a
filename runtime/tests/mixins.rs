//! The threading mixin: threads are forgotten once they end, `close` waits for requests in
//! flight unless told not to. (The forking mixin has forking.rs to itself.)

mod common;

use std::sync::atomic::Ordering;

use common::*;
use socketserver_runtime::mixin::Threading;
use socketserver_runtime::transport::Tcp;
use socketserver_runtime::{Server, ServerConfig};

#[test]
fn threads_do_not_accumulate_over_1000_sequential_connections() {
    let serving = serve(Server::<Tcp, Threading, Echo>::bind("127.0.0.1:0").unwrap());
    let threads_before = thread_count();
    for _ in 0..1000 {
        assert_echoes(&serving.address());
    }
    let tracked = serving.mixin().tracked_threads();
    assert!(tracked < 10, "{tracked} request threads still tracked");
    // Other tests of this binary run threads too, but nowhere near a thousand.
    let grown = thread_count().saturating_sub(threads_before);
    assert!(grown < 100, "the process grew by {grown} threads");
    serving.stop().close();
}

/// A Threading server of [`Greeter`]s with `config`; one client, greeted, left in flight.
fn request_in_flight(config: ServerConfig) -> (Greeter, Server<Tcp, Threading, Greeter>, Client) {
    let greeter = Greeter::default();
    let server = Server::<Tcp, Threading, Greeter>::builder()
        .config(config)
        .handler(greeter.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    let mut client = Client::connect(&serving.address());
    client.read_line(); // the handler is running
    let server = serving.stop();
    (greeter, server, client)
}

#[test]
fn close_waits_for_requests_in_flight() {
    let (greeter, server, mut client) = request_in_flight(ServerConfig::default());
    assert_eq!(server.mixin().tracked_threads(), 1);
    let finished = greeter.finished.clone();
    let closing = std::thread::spawn(move || {
        server.close();
        finished.load(Ordering::SeqCst)
    });
    client.send(b"done\n");
    assert_eq!(client.read_line(), "bye\n");
    let finished_at_close = closing.join().unwrap();
    assert_eq!(
        finished_at_close, 1,
        "close returned before the request ended"
    );
}

#[test]
fn close_does_not_wait_for_daemon_threads_nor_without_block_on_close() {
    let daemon = config(|c| c.daemon_threads = true);
    let no_block = config(|c| c.block_on_close = false);
    for config in [daemon, no_block] {
        let (greeter, server, mut client) = request_in_flight(config);
        assert_eq!(server.mixin().tracked_threads(), 0);
        within("close", move || server.close());
        assert_eq!(greeter.finished.load(Ordering::SeqCst), 0);
        // The request goes on after close.
        client.send(b"done\n");
        assert_eq!(client.read_line(), "bye\n");
        assert_eq!(client.read_to_end(), b"");
    }
}
