//! The server's lifecycle: bind, serve_forever, shutdown (from anywhere, at any time),
//! handle_request with a timeout, close and drop.
//!
//! No forking server here: a forked child inherits every descriptor of the test process, so
//! a listener closed here could stay open in a child (see forking.rs).

mod common;

use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use socketserver_runtime::mixin::{Mixin, Serial, Threading};
use socketserver_runtime::transport::{Tcp, Transport, Udp};
use socketserver_runtime::{HandlerResult, RequestHandler, Server, StreamRequest};

fn tcp_threading() -> Server<Tcp, Threading, Echo> {
    Server::bind("127.0.0.1:0").unwrap()
}

fn udp_sync() -> Server<Udp, Serial, Echo> {
    Server::bind("127.0.0.1:0").unwrap()
}

/// Python's test_shutdown (bpo-2302): start serving and shut down at once, 20 times; every
/// shutdown must make serve_forever return, even one that comes before serve_forever polls.
/// Every other cycle serves a request first.
fn start_and_shutdown_cycles<T, M>(
    bind: fn() -> Server<T, M, Echo>,
    request: fn(&Server<T, M, Echo>),
) where
    T: Transport,
    M: Mixin,
    Echo: RequestHandler<T::Request>,
{
    for cycle in 0..20 {
        let serving = serve(bind());
        if cycle % 2 == 1 {
            request(&serving);
        }
        serving.stop().close();
    }
}

#[test]
fn tcp_threading_server_starts_and_shuts_down_20_times() {
    start_and_shutdown_cycles(tcp_threading, |s| assert_echoes(s.server_address()));
}

#[test]
fn udp_sync_server_starts_and_shuts_down_20_times() {
    start_and_shutdown_cycles(udp_sync, |s| {
        assert_eq!(udp_roundtrip(s.server_address(), b"ping"), b"ping");
    });
}

/// The TCP port is free again: binding it succeeds.
fn assert_tcp_port_released(address: &socketserver_runtime::SocketAddress) {
    TcpListener::bind(address.as_inet().unwrap()).expect("the port is still bound");
}

#[test]
fn close_without_serving_releases_the_port() {
    let server = tcp_threading();
    let address = server.server_address().clone();
    server.close();
    assert_tcp_port_released(&address);

    let server = udp_sync();
    let address = server.server_address().clone();
    server.close();
    UdpSocket::bind(address.as_inet().unwrap()).expect("the UDP port is still bound");
}

#[test]
fn drop_without_close_releases_the_port() {
    let server = tcp_threading();
    let address = server.server_address().clone();
    drop(server);
    assert_tcp_port_released(&address);

    // Also after serving.
    let serving = serve(tcp_threading());
    let address = serving.address();
    assert_echoes(&address);
    drop(serving.stop());
    assert_tcp_port_released(&address);
}

/// Shuts its server down from inside the handler, then answers `bye`.
#[derive(Default)]
struct ShutdownFromHandler;

impl RequestHandler<StreamRequest> for ShutdownFromHandler {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        req.server().shutdown();
        req.wfile().write_all(b"bye\n")?;
        Ok(())
    }
}

fn check_shutdown_from_handler<M: Mixin>() {
    let serving = serve(Server::<Tcp, M, ShutdownFromHandler>::bind("127.0.0.1:0").unwrap());
    // The request that asked for the shutdown is still served in full.
    assert_eq!(roundtrip(&serving.address(), b""), b"bye\n");
    serving.join().close();
}

#[test]
fn shutdown_inside_a_sync_handler_stops_serve_forever() {
    check_shutdown_from_handler::<Serial>();
}

#[test]
fn shutdown_inside_a_threading_handler_stops_serve_forever() {
    check_shutdown_from_handler::<Threading>();
}

#[test]
fn shutdown_before_serve_forever_returns_at_once_and_serving_again_works() {
    let server = tcp_threading();
    server.handle().shutdown();
    let serving = serve(server);
    let server = serving.join();

    // The early shutdown is spent: the next serve_forever serves until the next shutdown.
    let serving = serve(server);
    assert_echoes(&serving.address());
    assert!(!serving.has_returned());
    let server = serving.stop();

    // And once more after a plain shutdown.
    let serving = serve(server);
    assert_echoes(&serving.address());
    serving.stop().close();
}

#[test]
fn serving_again_after_a_shutdown_from_a_handler_works() {
    let mut server = Server::<Tcp, Serial, ShutdownFromHandler>::bind("127.0.0.1:0").unwrap();
    for _ in 0..3 {
        let serving = serve(server);
        assert_eq!(roundtrip(&serving.address(), b""), b"bye\n");
        server = serving.join();
    }
}

#[test]
fn shutdown_latency_is_well_under_python_poll_interval() {
    let mut latencies: Vec<Duration> = (0..10)
        .map(|_| {
            let serving = serve(tcp_threading());
            // A served request proves the loop is running, so only the shutdown is timed.
            assert_echoes(&serving.address());
            let asked = Instant::now();
            serving.handle().shutdown();
            let server = serving.join();
            let latency = asked.elapsed();
            server.close();
            latency
        })
        .collect();
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    assert!(
        median < Duration::from_millis(200),
        "median shutdown latency {median:?} (all: {latencies:?})"
    );
}

#[test]
fn handle_request_calls_handle_timeout_when_no_client_comes() {
    let hooks = Recorder::default();
    let timeout = Duration::from_millis(100);
    let server = Server::<Tcp, Serial, Echo>::builder()
        .config(config(|c| c.timeout = Some(timeout)))
        .hooks(hooks.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    let server = Arc::new(server);
    let started = Instant::now();
    let waiting = server.clone();
    within("handle_request", move || waiting.handle_request()).unwrap();
    let waited = started.elapsed();
    assert_eq!(hooks.timeouts(), 1);
    assert!(
        waited >= timeout,
        "handle_request returned after {waited:?}"
    );
    assert!(hooks.errors().is_empty());
}

#[test]
fn handle_request_serves_exactly_one_client() {
    let hooks = Recorder::default();
    let echo = Echo::default();
    let server = Server::<Tcp, Serial, Echo>::builder()
        .config(config(|c| c.timeout = Some(TIMEOUT)))
        .handler(echo.clone())
        .hooks(hooks.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    let server = Arc::new(server);
    let mut clients: Vec<Client> = [b"first\n", b"second"]
        .iter()
        .map(|data| {
            let mut client = Client::connect(server.server_address());
            client.send(*data);
            client.finish_sending();
            client
        })
        .collect();

    let s = server.clone();
    within("handle_request", move || s.handle_request()).unwrap();
    assert_eq!(echo.handled(), 1);
    assert_eq!(clients[0].read_to_end(), b"first\n");

    let s = server.clone();
    within("handle_request", move || s.handle_request()).unwrap();
    assert_eq!(echo.handled(), 2);
    assert_eq!(clients[1].read_to_end(), b"second");
    assert_eq!(hooks.timeouts(), 0);
}

#[test]
fn service_actions_runs_on_every_turn_of_serve_forever() {
    let hooks = Recorder::default();
    let server = Server::<Tcp, Serial, Echo>::builder()
        .hooks(hooks.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    for _ in 0..5 {
        assert_echoes(&serving.address());
    }
    // Serial: each request is one turn, its service_actions done before the next accept.
    assert!(
        hooks.service_turns() >= 4,
        "{} turns",
        hooks.service_turns()
    );
    serving.stop().close();
}
