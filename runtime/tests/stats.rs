//! `ServerHandle::stats`: accepted, active, completed, failed, rejected and cut, counted
//! under every in-process mixin. (Forking counts from exit statuses: see forking.rs.)

mod common;

use std::io::{BufRead, Write};

use common::*;
use socketserver_runtime::mixin::{Mixin, Pool, Serial, Threading};
use socketserver_runtime::transport::{Tcp, Udp};
use socketserver_runtime::{HandlerResult, RequestHandler, Server, StreamRequest};

/// Echoes each line until EOF; fails on a line saying `fail`.
#[derive(Default)]
struct LineEcho;

impl RequestHandler<StreamRequest> for LineEcho {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        loop {
            let mut line = String::new();
            if req.rfile().read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line.trim() == "fail" {
                return Err("failed on purpose".into());
            }
            req.wfile().write_all(line.as_bytes())?;
        }
    }
}

/// Three good requests, one failing, one rejected by `verify_request`.
fn check_counters<M: Mixin>() {
    let hooks = Recorder::default();
    let server = Server::<Tcp, M, LineEcho>::builder()
        .config(config(|c| c.pool_size = 2))
        .hooks(hooks.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    let address = serving.address();
    let handle = serving.handle();
    assert_eq!(handle.stats(), Default::default());

    hooks.reject_next(1);
    assert_eq!(Client::connect(&address).read_to_end(), b"");
    for _ in 0..3 {
        // The client reads EOF a moment before its request leaves the requests in flight.
        wait_until("the previous request has ended", || {
            handle.stats().active == 0
        });
        let mut client = Client::connect(&address);
        client.send(b"hi\n");
        assert_eq!(client.read_line(), "hi\n");
        // Replied: the request runs now.
        assert_eq!(handle.stats().active, 1);
        client.finish_sending();
        assert_eq!(client.read_to_end(), b"");
    }
    assert_eq!(roundtrip(&address, b"fail\n"), b"");

    // Closing waits for every request: the counters are final.
    let server = serving.stop();
    server.close();
    let stats = handle.stats();
    assert_eq!(stats.accepted, 5, "{stats:?}");
    assert_eq!(stats.completed, 3, "{stats:?}");
    assert_eq!(stats.failed, 1, "{stats:?}");
    assert_eq!(stats.rejected, 1, "{stats:?}");
    assert_eq!(stats.active, 0, "{stats:?}");
    assert_eq!(stats.cut, 0, "{stats:?}");
    assert_eq!(hooks.errors().len(), 1, "{:?}", hooks.errors());
}

#[test]
fn sync_server_counts_accepted_completed_failed_and_rejected() {
    check_counters::<Serial>();
}

#[test]
fn threading_server_counts_accepted_completed_failed_and_rejected() {
    check_counters::<Threading>();
}

#[test]
fn pool_server_counts_accepted_completed_failed_and_rejected() {
    check_counters::<Pool>();
}

#[test]
fn datagram_requests_are_counted_too() {
    let serving = serve(Server::<Udp, Threading, Echo>::bind("127.0.0.1:0").unwrap());
    for _ in 0..3 {
        assert_eq!(udp_roundtrip(&serving.address(), b"ping"), b"ping");
    }
    let server = serving.stop();
    let handle = server.handle();
    server.close();
    let stats = handle.stats();
    assert_eq!(
        (stats.accepted, stats.completed, stats.failed, stats.active),
        (3, 3, 0, 0),
        "{stats:?}"
    );
}
