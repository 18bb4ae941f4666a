//! A layer between socket and handler: it reads a header before the handler (never past
//! it), tells the handler who the client is, leaves it information, runs a session that
//! rfile and wfile go through, and a refusal closes that connection only.

mod common;

use std::io::{self, BufRead, Read, Write};
use std::net::SocketAddr;
use std::sync::Mutex;

use common::*;
use socketserver_runtime::mixin::{Serial, Threading};
use socketserver_runtime::transport::Tcp;
use socketserver_runtime::{
    HandlerResult, Opening, RequestHandler, Server, Session, SocketAddress, StreamLayer,
    StreamRequest, StreamSocket,
};

/// Reads `FROM ip:port\r\n`, byte by byte so nothing after it is read, and says the client
/// is that address.
struct FromHeader;

/// What `FromHeader` leaves for the handler: the header as sent.
struct Header(String);

impl StreamLayer for FromHeader {
    fn open(&self, conn: &mut Opening<'_>) -> io::Result<Option<Box<dyn Session>>> {
        let mut line = Vec::new();
        let mut byte = [0u8];
        while !line.ends_with(b"\r\n") {
            if line.len() > 64 || conn.socket().read(&mut byte)? == 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "no header"));
            }
            line.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        let address: SocketAddr = text
            .strip_prefix("FROM ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad header"))?;
        conn.set_client_address(SocketAddress::from(address));
        conn.insert(Header(text));
        Ok(None)
    }
}

/// A toy session: every byte XORed with 0x20 on the wire, both ways.
struct Xor;

struct XorSession(Mutex<()>);

impl StreamLayer for Xor {
    fn open(&self, _conn: &mut Opening<'_>) -> io::Result<Option<Box<dyn Session>>> {
        Ok(Some(Box::new(XorSession(Mutex::new(())))))
    }
}

impl Session for XorSession {
    fn read(&self, mut socket: &StreamSocket, buf: &mut [u8]) -> io::Result<usize> {
        let n = socket.read(buf)?;
        buf[..n].iter_mut().for_each(|b| *b ^= 0x20);
        Ok(n)
    }

    fn write(&self, mut socket: &StreamSocket, buf: &[u8]) -> io::Result<usize> {
        let _only_to_show_no_lock_is_held_across_reads = self.0.lock().unwrap();
        let wire: Vec<u8> = buf.iter().map(|b| b ^ 0x20).collect();
        socket.write_all(&wire)?;
        Ok(buf.len())
    }

    fn flush(&self, _socket: &StreamSocket) -> io::Result<()> {
        Ok(())
    }

    fn close(&self, mut socket: &StreamSocket) -> io::Result<()> {
        socket.write_all(&[b'.' ^ 0x20]) // a closing mark, sent before the server's SHUT_WR
    }
}

/// Answers with who it thinks the client is, the socket's peer, the header it was left,
/// then the line it read.
#[derive(Default)]
struct Who;

impl RequestHandler<StreamRequest> for Who {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        let mut line = String::new();
        req.rfile().read_line(&mut line)?;
        let header = req.get::<Header>().map_or("-".to_owned(), |h| h.0.clone());
        let (client, peer) = (req.client_address().clone(), req.peer_address().clone());
        writeln!(req.wfile(), "{client} {peer} {header} {}", line.trim_end())?;
        Ok(())
    }
}

/// The header and the first line come in one segment: the layer takes the header only,
/// the handler gets the line intact, and sees the header's source as the client.
#[test]
fn a_layer_reads_its_header_and_the_handler_gets_the_rest_and_the_headers_client() {
    let server = Server::<Tcp, Threading, Who>::builder()
        .layer(FromHeader)
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    let reply = exchange(&serving.address(), b"FROM 192.0.2.7:4242\r\nhello\n");
    let reply = String::from_utf8(reply).unwrap();
    let mut words = reply.split_whitespace();
    assert_eq!(words.next(), Some("192.0.2.7:4242"), "{reply}");
    assert!(
        words.next().unwrap().starts_with("127.0.0.1:"),
        "the proxy's own address: {reply}"
    );
    assert_eq!(
        reply.split_once(' ').unwrap().1.split_once(' ').unwrap().1,
        "FROM 192.0.2.7:4242 hello\n"
    );
    serving.stop().close();
}

/// A refused connection is closed before the handler runs, counted, reported to no
/// `handle_error`, and the next client is served.
#[test]
fn a_refusal_closes_that_connection_only_and_is_counted() {
    let hooks = Recorder::default();
    let server = Server::<Tcp, Serial, Who>::builder()
        .layer(FromHeader)
        .hooks(hooks.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    assert_eq!(exchange(&serving.address(), b"GET / HTTP/1.0\r\n\r\n"), b"");
    let served = exchange(&serving.address(), b"FROM 192.0.2.8:1\r\nagain\n");
    assert!(
        served.starts_with(b"192.0.2.8:1 "),
        "{:?}",
        String::from_utf8_lossy(&served)
    );
    let server = serving.stop();
    let stats = server.handle().stats();
    server.close();
    assert_eq!(
        (stats.refused_by_layer, stats.completed, stats.failed),
        (1, 1, 0),
        "{stats:?}"
    );
    assert!(hooks.errors().is_empty(), "a refusal is no handler error");
}

/// Layers run in order, and the session one opens carries rfile and wfile both ways, its
/// close before the server's end of the stream.
#[test]
fn layers_compose_and_rfile_and_wfile_go_through_the_session() {
    let server = Server::<Tcp, Threading, Who>::builder()
        .layer(FromHeader)
        .layer(Xor)
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    let mut sent = b"FROM 192.0.2.9:9\r\n".to_vec();
    sent.extend(b"secret\n".iter().map(|b| b ^ 0x20));
    let reply: Vec<u8> = exchange(&serving.address(), &sent)
        .iter()
        .map(|b| b ^ 0x20)
        .collect();
    let reply = String::from_utf8(reply).unwrap();
    assert!(reply.starts_with("192.0.2.9:9 "), "{reply:?}");
    assert!(reply.ends_with("FROM 192.0.2.9:9 secret\n."), "{reply:?}");
    serving.stop().close();
}

/// Without layers nothing changes: the client is the socket's peer, nothing is left.
#[test]
fn without_layers_the_client_is_the_peer() {
    let serving = serve(Server::<Tcp, Serial, Who>::bind("127.0.0.1:0").unwrap());
    let reply = String::from_utf8(exchange(&serving.address(), b"plain\n")).unwrap();
    let words: Vec<&str> = reply.split_whitespace().collect();
    assert_eq!(words[0], words[1], "{reply}");
    assert_eq!(&words[2..], ["-", "plain"]);
    serving.stop().close();
}

/// `Xor`, after a PROXY header: the session decodes first what came with the header.
struct XorAfterHeader;

struct XorAhead {
    ahead: Mutex<Vec<u8>>,
}

impl StreamLayer for XorAfterHeader {
    fn open(&self, conn: &mut Opening<'_>) -> io::Result<Option<Box<dyn Session>>> {
        let ahead = Mutex::new(conn.take_read_ahead());
        Ok(Some(Box::new(XorAhead { ahead })))
    }
}

impl Session for XorAhead {
    fn read(&self, socket: &StreamSocket, buf: &mut [u8]) -> io::Result<usize> {
        let mut ahead = self.ahead.lock().unwrap();
        if ahead.is_empty() {
            drop(ahead); // never held across a blocking read
            return XorSession(Mutex::new(())).read(socket, buf);
        }
        let n = ahead.len().min(buf.len());
        for (out, b) in buf.iter_mut().zip(ahead.drain(..n)) {
            *out = b ^ 0x20;
        }
        Ok(n)
    }

    fn write(&self, socket: &StreamSocket, buf: &[u8]) -> io::Result<usize> {
        XorSession(Mutex::new(())).write(socket, buf)
    }

    fn flush(&self, _socket: &StreamSocket) -> io::Result<()> {
        Ok(())
    }

    fn close(&self, _socket: &StreamSocket) -> io::Result<()> {
        Ok(())
    }
}

/// A PROXY header, then a session over the rest (as TLS will be): the header is read
/// first, the session gets the bytes that came in the same segment, and the handler sees
/// the header's client through the session. A session layer that leaves those bytes in
/// rfile is refused rather than served garbage.
#[test]
fn a_session_after_a_proxy_header_gets_the_bytes_that_came_with_it() {
    let proxied = |layer| {
        let mut config = socketserver_runtime::ServerConfig::default();
        config.proxy_protocol = true;
        let builder = Server::<Tcp, Threading, Who>::builder().config(config);
        let server = match layer {
            true => builder.layer(XorAfterHeader),
            false => builder.layer(Xor),
        };
        serve(server.bind("127.0.0.1:0").unwrap())
    };
    let mut sent = b"PROXY TCP4 192.0.2.9 127.0.0.1 5000 443\r\n".to_vec();
    sent.extend(b"hello\n".iter().map(|b| b ^ 0x20));
    let serving = proxied(true);
    let reply: Vec<u8> = exchange(&serving.address(), &sent)
        .iter()
        .map(|b| b ^ 0x20)
        .collect();
    let reply = String::from_utf8(reply).unwrap();
    assert!(reply.starts_with("192.0.2.9:5000 127.0.0.1:"), "{reply}");
    assert!(reply.ends_with(" - hello\n"), "{reply}");
    serving.stop().close();
    let careless = proxied(false);
    assert_eq!(exchange(&careless.address(), &sent), b"");
    wait_until("the refusal is counted", || {
        careless.handle().stats().refused_by_layer == 1
    });
}
