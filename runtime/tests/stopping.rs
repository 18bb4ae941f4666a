//! The stop path under faults: a stop stops accepting at once (later clients refused, queued
//! ones served), whatever happened to a unix socket's path, and a datagram client that never
//! reads its replies holds nobody.

mod common;

use std::io;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::time::{Duration, Instant};

use common::*;
use socketserver_runtime::mixin::{Forking, Mixin, Pool, Serial, Threading};
use socketserver_runtime::transport::{Tcp, Transport, UnixDatagram as UnixDatagramT, UnixStream};
use socketserver_runtime::{
    DatagramRequest, HandlerResult, RequestHandler, Server, ServerConfig, SocketAddress,
};

/// How soon after a stop begins a new client must be refused.
const REFUSED_WITHIN: Duration = Duration::from_millis(100);

/// Connects once; `Err` with the error's kind when the connection is refused.
fn try_connect(address: &SocketAddress) -> Result<(), io::ErrorKind> {
    let result = match address {
        SocketAddress::Inet(addr) => std::net::TcpStream::connect_timeout(addr, TIMEOUT).map(drop),
        SocketAddress::Unix(unix) => {
            std::os::unix::net::UnixStream::connect(unix.as_pathname().unwrap()).map(drop)
        }
    };
    result.map_err(|e| e.kind())
}

/// A new client after `stop_accepting` (with one request in flight, which goes on) is
/// refused at once, instead of being handshaken and left waiting until the server closes.
fn check_new_clients_are_refused_once_a_stop_begins<T, M>(address: &str)
where
    T: Transport,
    M: Mixin,
    Greeter: RequestHandler<T::Request>,
    for<'a> &'a str: socketserver_runtime::transport::BindAddress<T>,
{
    let server = Server::<T, M, Greeter>::builder()
        .config(config(|c| c.stream_timeout = Some(TIMEOUT)))
        .bind(address)
        .unwrap();
    let serving = serve(server);
    let address = serving.address();
    let mut in_flight = greeted(&address);
    let stopped_at = Instant::now();
    serving.stop_accepting();
    let refused = try_connect(&address);
    let took = stopped_at.elapsed();
    assert!(
        matches!(
            refused,
            Err(io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound)
        ),
        "a client after the stop: {refused:?}"
    );
    assert!(took < REFUSED_WITHIN, "refused after {took:?}");
    // The request in flight goes on (a `Serial` server's loop returns once it ended).
    release(&mut in_flight);
    let server = serving.join();
    let handle = server.handle();
    assert_eq!(
        within("close_within", move || server.close_within(TIMEOUT)),
        0
    );
    let stats = handle.stats();
    assert_eq!((stats.accepted, stats.completed), (1, 1), "{stats:?}");
}

macro_rules! refused_once_a_stop_begins {
    ($($name:ident: $transport:ty, $mixin:ty;)*) => {$(
        #[test]
        fn $name() {
            let dir = TempDir::new();
            let address = match stringify!($transport) {
                "Tcp" => "127.0.0.1:0".to_owned(),
                _ => dir.socket("s.sock").to_str().unwrap().to_owned(),
            };
            check_new_clients_are_refused_once_a_stop_begins::<$transport, $mixin>(&address);
        }
    )*};
}

refused_once_a_stop_begins! {
    tcp_sync_refuses_new_clients_once_a_stop_begins: Tcp, Serial;
    tcp_threading_refuses_new_clients_once_a_stop_begins: Tcp, Threading;
    tcp_pool_refuses_new_clients_once_a_stop_begins: Tcp, Pool;
    tcp_forking_refuses_new_clients_once_a_stop_begins: Tcp, Forking;
    unix_sync_refuses_new_clients_once_a_stop_begins: UnixStream, Serial;
    unix_threading_refuses_new_clients_once_a_stop_begins: UnixStream, Threading;
    unix_pool_refuses_new_clients_once_a_stop_begins: UnixStream, Pool;
    unix_forking_refuses_new_clients_once_a_stop_begins: UnixStream, Forking;
}

/// Clients the kernel had queued when the stop began (a `Serial` server busy with another)
/// are taken off the socket and served by `close_within`: none is lost.
#[test]
fn clients_queued_when_a_stop_begins_are_served() {
    let server = Server::<Tcp, Serial, Greeter>::bind("127.0.0.1:0").unwrap();
    let serving = serve(server);
    let address = serving.address();
    let mut first = greeted(&address);
    // Connected (the kernel completed the handshake), waiting in the backlog.
    let mut queued: Vec<Client> = (0..3).map(|_| Client::connect(&address)).collect();
    serving.stop_accepting();
    assert!(try_connect(&address).is_err(), "refused after the stop");
    release(&mut first);
    let server = serving.join();
    let handle = server.handle();
    let closing = background("close_within", move || server.close_within(TIMEOUT));
    for client in &mut queued {
        greeting_pid(&client.read_line());
        release(client);
    }
    assert_eq!(closing.join(), 0);
    let stats = handle.stats();
    assert_eq!(
        (stats.accepted, stats.completed, stats.cut),
        (4, 4, 0),
        "{stats:?}"
    );
}

/// Queued clients that find no room before the grace ends are closed unserved and counted
/// as cut.
#[test]
fn queued_clients_left_when_the_grace_ends_are_cut_and_counted() {
    let server = Server::<Tcp, Serial, Greeter>::bind("127.0.0.1:0").unwrap();
    let serving = serve(server);
    let address = serving.address();
    let mut first = greeted(&address);
    let mut queued = Client::connect(&address);
    serving.stop_accepting();
    release(&mut first);
    let server = serving.join();
    // The queued client is served (greeted) but never says its line: cut at the deadline.
    let cut = within("close_within", move || server.close_within(SHORT));
    assert_eq!(cut, 1);
    greeting_pid(&queued.read_line());
    queued.assert_cut();
}

/// `shutdown` returns `serve_forever` quickly, whatever happened to the socket file.
fn check_stop_within_a_second<M: Mixin>(fault: impl FnOnce(&std::path::Path)) {
    let dir = TempDir::new();
    let path = dir.socket("s.sock");
    let server = Server::<UnixStream, M, Greeter>::bind(&path).unwrap();
    let serving = serve(server);
    // The server waits in `accept` (or its pool workers do) once it served a client.
    release(&mut greeted(&serving.address()));
    fault(&path);
    serving.stop_within(Duration::from_secs(1)).close();
}

fn removed(path: &std::path::Path) {
    std::fs::remove_file(path).unwrap();
}

macro_rules! stops_whatever_became_of_the_path {
    ($($name:ident: $mixin:ty;)*) => {$(
        mod $name {
            use super::*;

            #[test]
            fn after_the_socket_file_was_removed() {
                check_stop_within_a_second::<$mixin>(removed);
            }

            /// Another server now listens at the path: the stop neither hangs nor reaches it.
            #[test]
            fn after_another_server_took_the_path() {
                let mut other = None;
                check_stop_within_a_second::<$mixin>(|path| {
                    removed(path);
                    let listener = UnixListener::bind(path).unwrap();
                    listener.set_nonblocking(true).unwrap();
                    other = Some(listener);
                });
                let other = other.unwrap();
                assert_eq!(
                    other.accept().unwrap_err().kind(),
                    io::ErrorKind::WouldBlock,
                    "the stop connected to the other server"
                );
            }
        }
    )*};
}

stops_whatever_became_of_the_path! {
    sync_stops: Serial;
    threading_stops: Threading;
    pool_stops: Pool;
}

/// Replies with 1 KiB to every datagram.
#[derive(Clone, Default)]
struct Chatty;

impl RequestHandler<DatagramRequest> for Chatty {
    fn handle(&mut self, req: &mut DatagramRequest) -> HandlerResult {
        req.wfile().extend_from_slice(&[b'x'; 1024]);
        Ok(())
    }
}

/// A unix datagram client that never reads its replies fills its queue; the server drops
/// further replies to it (counted) instead of waiting, goes on answering another client,
/// and still stops within the grace period.
fn check_a_client_that_never_reads_replies_holds_nobody<M: Mixin>() {
    let dir = TempDir::new();
    let path = dir.socket("server.sock");
    let server = Server::<UnixDatagramT, M, Chatty>::builder()
        .config(ServerConfig::default())
        .bind(&path)
        .unwrap();
    let serving = serve(server);
    let deaf = UnixDatagram::bind(dir.socket("deaf.sock")).unwrap();
    // A server that waits on the deaf client stops taking datagrams: fail, do not hang.
    deaf.set_write_timeout(Some(TIMEOUT)).unwrap();
    // Far more than its queue holds (10 datagrams by default).
    for _ in 0..200 {
        retrying(|| deaf.send_to(b"?", &path)).unwrap();
    }
    let other = unix_datagram_socket(&dir.socket("other.sock"));
    for _ in 0..5 {
        retrying(|| other.send_to(b"?", &path)).unwrap();
        let mut buf = [0u8; 2048];
        assert_eq!(retrying(|| other.recv(&mut buf)).unwrap(), 1024);
    }
    let started = Instant::now();
    let server = serving.stop();
    let handle = server.handle();
    within("close_within", move || server.close_within(SHORT));
    assert!(started.elapsed() < SHORT + Duration::from_secs(1));
    if !M::RUNS_IN_CHILDREN {
        // A forked child's counters die with it.
        assert!(handle.stats().dropped_replies > 0, "{:?}", handle.stats());
    }
    drop(deaf);
}

#[test]
fn sync_goes_on_past_a_client_that_never_reads_replies() {
    check_a_client_that_never_reads_replies_holds_nobody::<Serial>();
}

#[test]
fn threading_goes_on_past_a_client_that_never_reads_replies() {
    check_a_client_that_never_reads_replies_holds_nobody::<Threading>();
}

#[test]
fn pool_goes_on_past_a_client_that_never_reads_replies() {
    check_a_client_that_never_reads_replies_holds_nobody::<Pool>();
}

#[test]
fn forking_goes_on_past_a_client_that_never_reads_replies() {
    check_a_client_that_never_reads_replies_holds_nobody::<Forking>();
}
