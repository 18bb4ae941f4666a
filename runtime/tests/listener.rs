//! A listener from anywhere: every transport serves a socket the program already holds
//! (a std listener or socket, an `OwnedFd`), checked for type and family, and never removes
//! a socket file it did not create.

mod common;

use std::io;
use std::net::{TcpListener, UdpSocket};
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixDatagram as StdUnixDatagram, UnixListener};

use common::*;
use socketserver_runtime::mixin::{Pool, Serial, Threading};
use socketserver_runtime::transport::{Tcp, Udp, UnixDatagram, UnixStream};
use socketserver_runtime::Server;

#[test]
fn tcp_serves_a_std_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let bound = listener.local_addr().unwrap();
    let server = Server::<Tcp, Threading, Echo>::from_listener(listener).unwrap();
    assert_eq!(server.server_address().as_inet(), Some(bound));
    let serving = serve(server);
    assert_echoes(&serving.address());
    serving.stop().close();
}

#[test]
fn udp_serves_a_std_socket() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let serving = serve(Server::<Udp, Pool, Echo>::from_listener(socket).unwrap());
    assert_eq!(udp_roundtrip(&serving.address(), b"ping"), b"ping");
    serving.stop().close();
}

#[test]
fn unix_stream_serves_an_inherited_descriptor_and_leaves_its_file() {
    let dir = TempDir::new();
    let path = dir.socket("s.sock");
    let fd = OwnedFd::from(UnixListener::bind(&path).unwrap());
    let serving = serve(Server::<UnixStream, Serial, Echo>::from_listener(fd).unwrap());
    assert_echoes(&serving.address());
    serving.stop().close();
    assert!(path.exists(), "the socket file belongs to whoever bound it");
}

#[test]
fn unix_datagram_serves_a_std_socket() {
    let dir = TempDir::new();
    let path = dir.socket("d.sock");
    let socket = StdUnixDatagram::bind(&path).unwrap();
    let serving = serve(Server::<UnixDatagram, Serial, Echo>::from_listener(socket).unwrap());
    let client = unix_datagram_socket(&dir.socket("client.sock"));
    client.send_to(b"ping", &path).unwrap();
    let mut buf = [0u8; 16];
    let n = retrying(|| client.recv(&mut buf)).unwrap();
    assert_eq!(&buf[..n], b"ping");
    serving.stop().close();
    assert!(path.exists());
}

/// A socket of the wrong kind is refused with a message that says what it is.
#[test]
fn a_socket_of_the_wrong_kind_is_refused_saying_what_it_is() {
    let dir = TempDir::new();
    let cases: Vec<(io::Error, &str)> = vec![
        (
            Server::<Tcp, Serial, Echo>::from_listener(UdpSocket::bind("127.0.0.1:0").unwrap())
                .unwrap_err(),
            "the socket given is a UDP socket, not a TCP listening socket",
        ),
        (
            Server::<Udp, Serial, Echo>::from_listener(TcpListener::bind("127.0.0.1:0").unwrap())
                .unwrap_err(),
            "the socket given is a TCP listening socket, not a UDP socket",
        ),
        (
            Server::<Tcp, Serial, Echo>::from_listener(
                UnixListener::bind(dir.socket("a.sock")).unwrap(),
            )
            .unwrap_err(),
            "the socket given is a unix stream listening socket, not a TCP listening socket",
        ),
        (
            Server::<Tcp, Serial, Echo>::from_listener(OwnedFd::from(
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap(),
            ))
            .unwrap_err(),
            "the socket given is a TCP socket that does not listen, not a TCP listening socket",
        ),
    ];
    for (error, message) in cases {
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(error.to_string(), message);
    }
}

/// Stopping closes the listening socket for this server only: another holder of the same
/// socket (a pre-forked worker's copy, here a clone) goes on listening and accepting.
#[test]
fn a_stop_leaves_a_shared_listening_socket_to_its_other_holders() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server =
        Server::<Tcp, Threading, Echo>::from_listener(listener.try_clone().unwrap()).unwrap();
    let serving = serve(server);
    assert_echoes(&serving.address());
    assert_eq!(serving.stop().close_within(SHORT), 0);
    let _client = std::net::TcpStream::connect_timeout(&address, TIMEOUT).unwrap();
    listener.set_nonblocking(false).unwrap();
    assert!(listener.accept().is_ok(), "the other holder still accepts");
}
