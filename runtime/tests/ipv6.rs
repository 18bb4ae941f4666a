//! IPv6: servers bind `[::1]`, and `[::]` is IPv6-only unless `dual_stack` is set. Each test
//! is skipped, with a note, on a machine without an IPv6 loopback.

mod common;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};

use common::*;
use socketserver_runtime::mixin::{Serial, Threading};
use socketserver_runtime::transport::{Tcp, Udp};
use socketserver_runtime::{Server, ServerConfig};

/// Whether this machine can bind `[::1]`; prints why a test is skipped when it cannot.
fn ipv6_available(test: &str) -> bool {
    match std::net::TcpListener::bind("[::1]:0") {
        Ok(_) => true,
        Err(e) => {
            eprintln!("skipping {test}: no IPv6 loopback ({e})");
            false
        }
    }
}

#[test]
fn tcp_server_binds_the_ipv6_loopback() {
    if !ipv6_available("tcp_server_binds_the_ipv6_loopback") {
        return;
    }
    let serving = serve(Server::<Tcp, Threading, Echo>::bind("[::1]:0").unwrap());
    let address = serving.address().as_inet().unwrap();
    assert!(address.is_ipv6() && address.ip().is_loopback(), "{address}");
    assert_echoes(&serving.address());
    serving.stop().close();
}

#[test]
fn udp_server_binds_the_ipv6_loopback() {
    if !ipv6_available("udp_server_binds_the_ipv6_loopback") {
        return;
    }
    let serving = serve(Server::<Udp, Serial, Echo>::bind("[::1]:0").unwrap());
    let address = serving.address().as_inet().unwrap();
    assert!(address.is_ipv6(), "{address}");
    let client = std::net::UdpSocket::bind("[::1]:0").unwrap();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    client.send_to(b"ping6", address).unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = client.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping6");
    assert_eq!(from, address);
    serving.stop().close();
}

/// Connects to the server's port on 127.0.0.1.
fn connect_over_ipv4(server: &socketserver_runtime::SocketAddress) -> io::Result<TcpStream> {
    let port = server.as_inet().unwrap().port();
    TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), TIMEOUT)
}

#[test]
fn dual_stack_server_on_any_ipv6_address_accepts_ipv4_clients() {
    if !ipv6_available("dual_stack_server_on_any_ipv6_address_accepts_ipv4_clients") {
        return;
    }
    let server = Server::<Tcp, Threading, Echo>::builder()
        .config(config(|c| c.dual_stack = true))
        .bind("[::]:0")
        .unwrap();
    let serving = serve(server);
    let mut client = Client::Tcp(connect_over_ipv4(&serving.address()).unwrap());
    client.set_read_timeout(TIMEOUT);
    client.send(b"over IPv4");
    client.finish_sending();
    assert_eq!(client.read_to_end(), b"over IPv4");
    serving.stop().close();
}

#[test]
fn ipv6_server_on_any_address_refuses_ipv4_clients_by_default() {
    if !ipv6_available("ipv6_server_on_any_address_refuses_ipv4_clients_by_default") {
        return;
    }
    let echo = Echo::default();
    let server = Server::<Tcp, Threading, Echo>::builder()
        .config(ServerConfig::default())
        .handler(echo.clone())
        .bind("[::]:0")
        .unwrap();
    let serving = serve(server);
    let error = connect_over_ipv4(&serving.address()).expect_err("an IPv4 client got in");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    // The server itself is up, for IPv6 clients.
    let v6 = SocketAddr::from((
        std::net::Ipv6Addr::LOCALHOST,
        serving.address().as_inet().unwrap().port(),
    ));
    assert_echoes(&socketserver_runtime::SocketAddress::Inet(v6));
    serving.stop().close();
    assert_eq!(echo.handled(), 1);
}
