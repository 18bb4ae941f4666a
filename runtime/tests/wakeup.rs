//! A serving thread waits in the blocking `accept` or `recv` itself; a shutdown wakes it
//! with a signal that interrupts the call (`blocked.rs`). On every transport, the shutdown
//! ends `serve_forever`, and its wake-up never reaches a handler, the counters or a later
//! `serve_forever`.

mod common;

use common::*;
use socketserver_runtime::mixin::{Mixin, Pool, Serial, Threading};
use socketserver_runtime::transport::{Tcp, Transport, Udp, UnixDatagram, UnixStream};
use socketserver_runtime::{RequestHandler, Server, SocketAddress};

const CYCLES: usize = 5;

/// Serves `CYCLES` times; each cycle makes one exchange, then shuts down while the serving
/// thread waits for the next request. Every request reached the handler, nothing else did.
fn wakeups_never_reach_the_handler<T, M>(
    bind: impl FnOnce(Echo) -> Server<T, M, Echo>,
    exchange: impl Fn(&SocketAddress),
) where
    T: Transport,
    M: Mixin,
    Echo: RequestHandler<T::Request>,
{
    let echo = Echo::default();
    let mut server = bind(echo.clone());
    for _ in 0..CYCLES {
        let serving = serve(server);
        exchange(&serving.address());
        server = serving.stop();
    }
    let serving = serve(server);
    exchange(&serving.address());
    let server = serving.stop();
    let handle = server.handle();
    server.close(); // waits for the requests still ending: their counts are in
    let stats = handle.stats();
    assert_eq!(echo.handled(), CYCLES + 1, "handled requests");
    assert_eq!(
        (stats.accepted, stats.completed, stats.failed),
        ((CYCLES + 1) as u64, (CYCLES + 1) as u64, 0),
        "{stats:?}"
    );
}

fn builder<T: Transport, M: Mixin>(
    echo: Echo,
) -> socketserver_runtime::Builder<
    T,
    M,
    Echo,
    socketserver_runtime::DefaultHooks,
    socketserver_runtime::Prototype<Echo>,
>
where
    Echo: RequestHandler<T::Request>,
{
    Server::<T, M, Echo>::builder().handler(echo)
}

fn stream_exchange(address: &SocketAddress) {
    assert_eq!(roundtrip(address, b"ping"), b"ping");
}

#[test]
fn tcp_sync() {
    wakeups_never_reach_the_handler(
        |echo| builder::<Tcp, Serial>(echo).bind("127.0.0.1:0").unwrap(),
        stream_exchange,
    );
}

#[test]
fn tcp_on_ipv6_threading() {
    wakeups_never_reach_the_handler(
        |echo| builder::<Tcp, Threading>(echo).bind("[::]:0").unwrap(),
        |address| {
            let port = address.as_inet().unwrap().port();
            let loopback = SocketAddress::from(std::net::SocketAddr::from((
                [0u16, 0, 0, 0, 0, 0, 0, 1],
                port,
            )));
            stream_exchange(&loopback);
        },
    );
}

#[test]
fn tcp_pool() {
    wakeups_never_reach_the_handler(
        |echo| builder::<Tcp, Pool>(echo).bind("127.0.0.1:0").unwrap(),
        stream_exchange,
    );
}

#[test]
fn udp_sync_bound_to_every_address() {
    wakeups_never_reach_the_handler(
        |echo| builder::<Udp, Serial>(echo).bind("0.0.0.0:0").unwrap(),
        |address| {
            let port = address.as_inet().unwrap().port();
            let loopback = SocketAddress::from(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
            assert_eq!(udp_roundtrip(&loopback, b"ping"), b"ping");
        },
    );
}

#[test]
fn unix_stream_sync() {
    let dir = TempDir::new();
    wakeups_never_reach_the_handler(
        |echo| {
            builder::<UnixStream, Serial>(echo)
                .bind(dir.socket("server.sock"))
                .unwrap()
        },
        stream_exchange,
    );
}

#[test]
fn unix_datagram_sync() {
    let dir = TempDir::new();
    let client = unix_datagram_socket(&dir.socket("client.sock"));
    wakeups_never_reach_the_handler(
        |echo| {
            builder::<UnixDatagram, Serial>(echo)
                .bind(dir.socket("server.sock"))
                .unwrap()
        },
        |address| {
            client
                .send_to(b"ping", address.as_unix().unwrap().as_pathname().unwrap())
                .unwrap();
            let mut buf = [0u8; 16];
            let n = client.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"ping");
        },
    );
}
