//! Echo through every transport x mixin: the twelve servers Python names, and the pool.

mod common;

use std::io::{Read, Write};

use common::*;
use socketserver_runtime::mixin::{Forking, Mixin, Pool, Serial, Threading};
use socketserver_runtime::transport::{Tcp, Udp, UnixDatagram, UnixStream};
use socketserver_runtime::{DatagramRequest, HandlerResult, RequestHandler, Server, StreamRequest};

#[derive(Default)]
struct StreamEcho;

impl RequestHandler<StreamRequest> for StreamEcho {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        let (rfile, wfile) = req.files();
        std::io::copy(rfile, wfile)?;
        Ok(())
    }
}

#[derive(Default)]
struct DatagramEcho;

impl RequestHandler<DatagramRequest> for DatagramEcho {
    fn handle(&mut self, req: &mut DatagramRequest) -> HandlerResult {
        let (rfile, wfile) = req.files();
        std::io::copy(rfile, wfile)?;
        Ok(())
    }
}

/// Serves `server` on a thread, runs `client` three times, shuts down and closes.
fn serve_and<T, M, H>(
    server: Server<T, M, H>,
    client: impl Fn(&socketserver_runtime::SocketAddress),
) where
    T: socketserver_runtime::transport::Transport,
    M: Mixin,
    H: RequestHandler<T::Request>,
{
    // `Serving` shuts the server down when dropped, so a failing client fails the test
    // instead of leaving it waiting for the serving thread.
    let serving = serve(server);
    for _ in 0..3 {
        client(&serving.address());
    }
    serving.stop().close();
}

fn tcp_client(address: &socketserver_runtime::SocketAddress) {
    let mut stream = tcp_connect(address);
    stream.write_all(b"hello world\n").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"hello world\n");
}

fn unix_stream_client(address: &socketserver_runtime::SocketAddress) {
    let mut stream = unix_connect(address);
    stream.write_all(b"hello world\n").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"hello world\n");
}

fn udp_client(address: &socketserver_runtime::SocketAddress) {
    let socket = udp_socket();
    socket
        .send_to(b"hello world\n", address.as_inet().unwrap())
        .unwrap();
    let mut buf = [0u8; 64];
    let n = retrying(|| socket.recv(&mut buf)).unwrap();
    assert_eq!(&buf[..n], b"hello world\n");
}

fn unix_datagram_client(address: &socketserver_runtime::SocketAddress) {
    let dir = TempDir::new();
    let socket = unix_datagram_socket(&dir.path().join("client.sock"));
    let path = address.as_unix().unwrap().as_pathname().unwrap();
    socket.send_to(b"hello world\n", path).unwrap();
    let mut buf = [0u8; 64];
    let n = retrying(|| socket.recv(&mut buf)).unwrap();
    assert_eq!(&buf[..n], b"hello world\n");
}

macro_rules! echo_tests {
    ($($name:ident: $transport:ty, $mixin:ty, $handler:ty, $bind:expr, $client:expr;)*) => {$(
        #[test]
        fn $name() {
            let dir = TempDir::new();
            let _ = &dir;
            let server = Server::<$transport, $mixin, $handler>::bind(&$bind(&dir)).unwrap();
            serve_and(server, $client);
        }
    )*};
}

fn loopback(_: &TempDir) -> &'static str {
    "127.0.0.1:0"
}

fn socket_path(dir: &TempDir) -> std::path::PathBuf {
    dir.path().join("server.sock")
}

echo_tests! {
    tcp_sync: Tcp, Serial, StreamEcho, loopback, tcp_client;
    tcp_threading: Tcp, Threading, StreamEcho, loopback, tcp_client;
    tcp_forking: Tcp, Forking, StreamEcho, loopback, tcp_client;
    udp_sync: Udp, Serial, DatagramEcho, loopback, udp_client;
    udp_threading: Udp, Threading, DatagramEcho, loopback, udp_client;
    udp_forking: Udp, Forking, DatagramEcho, loopback, udp_client;
    unix_stream_sync: UnixStream, Serial, StreamEcho, socket_path, unix_stream_client;
    unix_stream_threading: UnixStream, Threading, StreamEcho, socket_path, unix_stream_client;
    unix_stream_forking: UnixStream, Forking, StreamEcho, socket_path, unix_stream_client;
    unix_datagram_sync: UnixDatagram, Serial, DatagramEcho, socket_path, unix_datagram_client;
    unix_datagram_threading: UnixDatagram, Threading, DatagramEcho, socket_path, unix_datagram_client;
    unix_datagram_forking: UnixDatagram, Forking, DatagramEcho, socket_path, unix_datagram_client;
    tcp_pool: Tcp, Pool, StreamEcho, loopback, tcp_client;
    udp_pool: Udp, Pool, DatagramEcho, loopback, udp_client;
    unix_stream_pool: UnixStream, Pool, StreamEcho, socket_path, unix_stream_client;
    unix_datagram_pool: UnixDatagram, Pool, DatagramEcho, socket_path, unix_datagram_client;
}
