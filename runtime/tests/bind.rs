//! Binding: failures come back as `io::Error`s naming the address, and neither a failed bind
//! nor a bind-and-close leaks a file descriptor.
//!
//! One test only: it counts this process's descriptors, which concurrent tests in the same
//! binary would disturb.

mod common;

use std::io;
use std::net::{TcpListener, UdpSocket};

use common::*;
use socketserver_runtime::mixin::{Forking, Mixin, Serial, Threading};
use socketserver_runtime::transport::{BindAddress, Tcp, Transport, Udp, UnixDatagram, UnixStream};
use socketserver_runtime::{RequestHandler, Server};

/// Binds a server of `T` and `M` to `address`, expecting it to fail; checks the error's kind
/// and that its message names `names`.
fn expect_bind_error<T, M, A>(address: A, kind: Option<io::ErrorKind>, names: &str)
where
    T: Transport,
    M: Mixin,
    Echo: RequestHandler<T::Request>,
    A: BindAddress<T>,
{
    let error = Server::<T, M, Echo>::bind(address).expect_err("bind should fail");
    if let Some(kind) = kind {
        assert_eq!(error.kind(), kind, "{error}");
    }
    let message = error.to_string();
    assert!(
        message.contains(names),
        "{message:?} does not name {names:?}"
    );
}

fn bind_and_close<T, M, A>(address: A)
where
    T: Transport,
    M: Mixin,
    Echo: RequestHandler<T::Request>,
    A: BindAddress<T>,
{
    Server::<T, M, Echo>::bind(address).unwrap().close();
}

#[test]
fn bind_failures_return_errors_naming_the_address_and_leak_no_fd() {
    let dir = TempDir::new();
    let taken_tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_in_use = taken_tcp.local_addr().unwrap().to_string();
    let taken_udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_in_use = taken_udp.local_addr().unwrap().to_string();
    let no_dir = dir.socket("no/such/dir/server.sock");
    let no_dir_name = no_dir.display().to_string();

    let failures = || {
        use io::ErrorKind::*;
        expect_bind_error::<Tcp, Serial, _>(&*tcp_in_use, Some(AddrInUse), &tcp_in_use);
        expect_bind_error::<Tcp, Threading, _>(&*tcp_in_use, Some(AddrInUse), &tcp_in_use);
        expect_bind_error::<Tcp, Forking, _>(&*tcp_in_use, Some(AddrInUse), &tcp_in_use);
        expect_bind_error::<Udp, Serial, _>(&*udp_in_use, Some(AddrInUse), &udp_in_use);
        expect_bind_error::<Tcp, Serial, _>("127.0.0.1:notaport", None, "127.0.0.1:notaport");
        expect_bind_error::<Udp, Serial, _>("127.0.0.1:notaport", None, "127.0.0.1:notaport");
        expect_bind_error::<Tcp, Serial, _>(
            "no-such-host.invalid:80",
            None,
            "no-such-host.invalid",
        );
        expect_bind_error::<UnixStream, Serial, _>(&no_dir, Some(NotFound), &no_dir_name);
        expect_bind_error::<UnixDatagram, Serial, _>(&no_dir, Some(NotFound), &no_dir_name);
    };
    let successes = || {
        bind_and_close::<Tcp, Serial, _>("127.0.0.1:0");
        bind_and_close::<Tcp, Threading, _>("127.0.0.1:0");
        bind_and_close::<Tcp, Forking, _>("127.0.0.1:0");
        bind_and_close::<Udp, Forking, _>("127.0.0.1:0");
        bind_and_close::<UnixStream, Threading, _>(&dir.socket("stream.sock"));
        bind_and_close::<UnixDatagram, Serial, _>(&dir.socket("datagram.sock"));
    };

    // Warm up: the first calls may load resolver modules or create global signal state.
    failures();
    successes();
    let before = fd_count();
    for _ in 0..10 {
        failures();
    }
    assert_eq!(fd_count(), before, "failed binds leaked descriptors");
    for _ in 0..10 {
        successes();
    }
    assert_eq!(fd_count(), before, "bind and close leaked descriptors");
    assert!(!dir.socket("stream.sock").exists());
}
