//! Datagram requests: truncation at `max_packet_size`, when a reply is sent (only if the
//! handler wrote something, unless `send_empty_reply`), `reply()` at once and `wfile` at
//! finish.

mod common;

use std::io::Write;
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram as StdUnixDatagram;
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};

use common::*;
use socketserver_runtime::mixin::Serial;
use socketserver_runtime::transport::{Udp, UnixDatagram};
use socketserver_runtime::{
    DatagramRequest, HandlerResult, RequestHandler, Server, ServerConfig, SocketAddress,
};

/// Answers by the datagram: `s` gets nothing written; `r` gets `first` through `reply()`,
/// then waits for the test's go-ahead and writes `second` to `wfile`; anything else gets
/// `<length> <truncated>` in `wfile`.
#[derive(Clone)]
struct Datagrams {
    go_ahead: Arc<Mutex<mpsc::Receiver<()>>>,
}

impl RequestHandler<DatagramRequest> for Datagrams {
    fn handle(&mut self, req: &mut DatagramRequest) -> HandlerResult {
        match req.data() {
            b"s" => {}
            b"r" => {
                req.reply(b"first")?;
                self.go_ahead.lock().unwrap().recv_timeout(TIMEOUT)?;
                req.wfile().write_all(b"second")?;
            }
            data => {
                let (len, truncated) = (data.len(), req.is_truncated());
                write!(req.wfile(), "{len} {truncated}")?;
            }
        }
        Ok(())
    }
}

/// A client socket of either datagram transport, talking to one server.
enum Peer {
    Udp(UdpSocket, SocketAddress),
    Unix(StdUnixDatagram, PathBuf),
}

impl Peer {
    fn send(&self, data: &[u8]) {
        match self {
            Peer::Udp(socket, to) => socket.send_to(data, to.as_inet().unwrap()),
            Peer::Unix(socket, to) => socket.send_to(data, to),
        }
        .unwrap();
    }

    fn recv(&self) -> Vec<u8> {
        let mut buf = vec![0u8; 1024];
        let n = match self {
            Peer::Udp(socket, _) => socket.recv(&mut buf),
            Peer::Unix(socket, _) => socket.recv(&mut buf),
        }
        .expect("no reply");
        buf.truncate(n);
        buf
    }

    fn ask(&self, data: &[u8]) -> Vec<u8> {
        self.send(data);
        self.recv()
    }
}

/// A serving server of [`Datagrams`] and a peer talking to it; the sender lets an `r`
/// request finish.
struct Setup<T: socketserver_runtime::transport::Transport> {
    serving: Serving<T, Serial, Datagrams, socketserver_runtime::DefaultHooks>,
    peer: Peer,
    go_ahead: mpsc::Sender<()>,
    /// Holds the unix sockets' directory.
    _dir: Option<TempDir>,
}

fn handler() -> (Datagrams, mpsc::Sender<()>) {
    let (tx, rx) = mpsc::channel();
    let handler = Datagrams {
        go_ahead: Arc::new(Mutex::new(rx)),
    };
    (handler, tx)
}

fn udp(config: ServerConfig) -> Setup<Udp> {
    let (handler, go_ahead) = handler();
    let server = Server::<Udp, Serial, Datagrams>::builder()
        .config(config)
        .handler(handler)
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    let peer = Peer::Udp(udp_socket(), serving.address());
    Setup {
        serving,
        peer,
        go_ahead,
        _dir: None,
    }
}

fn unix(config: ServerConfig) -> Setup<UnixDatagram> {
    let dir = TempDir::new();
    let path = dir.socket("server.sock");
    let (handler, go_ahead) = handler();
    let server = Server::<UnixDatagram, Serial, Datagrams>::builder()
        .config(config)
        .handler(handler)
        .bind(&path)
        .unwrap();
    let serving = serve(server);
    let peer = Peer::Unix(unix_datagram_socket(&dir.socket("client.sock")), path);
    Setup {
        serving,
        peer,
        go_ahead,
        _dir: Some(dir),
    }
}

fn check_truncation(peer: &Peer) {
    assert_eq!(peer.ask(&[b'x'; 100]), b"10 true");
    assert_eq!(peer.ask(&[b'x'; 11]), b"10 true");
    assert_eq!(peer.ask(&[b'x'; 10]), b"10 false");
    assert_eq!(peer.ask(&[b'x'; 5]), b"5 false");
}

#[test]
fn udp_datagram_longer_than_max_packet_size_is_truncated_and_says_so() {
    let setup = udp(config(|c| c.max_packet_size = 10));
    check_truncation(&setup.peer);
    setup.serving.stop().close();
}

#[test]
fn unix_datagram_longer_than_max_packet_size_is_truncated_and_says_so() {
    let setup = unix(config(|c| c.max_packet_size = 10));
    check_truncation(&setup.peer);
    setup.serving.stop().close();
}

#[test]
fn no_reply_is_sent_when_the_handler_writes_nothing() {
    let setup = udp(ServerConfig::default());
    // One at a time (sync): had the silent request been answered, that reply would come
    // first.
    setup.peer.send(b"s");
    assert_eq!(setup.peer.ask(b"x"), b"1 false");
    setup.serving.stop().close();
}

#[test]
fn send_empty_reply_sends_an_empty_datagram_when_the_handler_writes_nothing() {
    let setup = udp(config(|c| c.send_empty_reply = true));
    assert_eq!(setup.peer.ask(b"s"), b"");
    assert_eq!(setup.peer.ask(b"x"), b"1 false");
    setup.serving.stop().close();
}

#[test]
fn reply_sends_at_once_and_wfile_is_sent_at_finish() {
    for setup in [
        udp(ServerConfig::default()),
        udp(config(|c| c.send_empty_reply = true)),
    ] {
        // The handler waits for the go-ahead after reply(): `first` must already be here.
        assert_eq!(setup.peer.ask(b"r"), b"first");
        setup.go_ahead.send(()).unwrap();
        assert_eq!(setup.peer.recv(), b"second");
        assert_eq!(setup.peer.ask(b"x"), b"1 false", "no third datagram");
        setup.serving.stop().close();
    }
}
