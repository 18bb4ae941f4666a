//! The PROXY protocol over real sockets, with headers made by hand here (independent of the
//! library's own encoder): the handler sees the header's client, whatever follows the header
//! reaches it intact, and a connection without a valid header in time (or from a peer that
//! is not trusted) is closed before its handler, counted, while the server goes on.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::time::{Duration, Instant};

use common::*;
use socketserver_runtime::mixin::Threading;
use socketserver_runtime::proxy::{ProxyHeader, TrustedProxy};
use socketserver_runtime::transport::{Tcp, Udp, UnixStream};
use socketserver_runtime::{
    HandlerResult, RequestHandler, Server, ServerConfig, SocketAddress, StreamRequest,
};

/// Answers `client=<client_address> peer=<peer_address> local=<LOCAL or UNKNOWN>
/// authority=<TLV>`, then echoes the rest of the connection.
#[derive(Clone, Default)]
struct Tell;

impl RequestHandler<StreamRequest> for Tell {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        let header = req.get::<ProxyHeader>();
        let line = format!(
            "client={} peer={} local={} authority={}\n",
            req.client_address(),
            req.peer_address(),
            header.is_some_and(|h| h.local),
            header.and_then(|h| h.authority()).unwrap_or("-"),
        );
        let (rfile, wfile) = req.files();
        wfile.write_all(line.as_bytes())?;
        std::io::copy(rfile, wfile)?;
        Ok(())
    }
}

fn proxied(change: impl FnOnce(&mut ServerConfig)) -> ServerConfig {
    config(|c| {
        c.proxy_protocol = true;
        c.proxy_header_timeout = Some(Duration::from_millis(500));
        change(c);
    })
}

fn tcp_server(
    change: impl FnOnce(&mut ServerConfig),
) -> common::Serving<Tcp, Threading, Tell, socketserver_runtime::DefaultHooks> {
    let server = Server::<Tcp, Threading, Tell>::builder()
        .config(proxied(change))
        .bind("127.0.0.1:0")
        .unwrap();
    serve(server)
}

/// The v2 signature.
const SIG: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

/// A v2 PROXY header over TCP/IPv4, with `tlvs` (kind, value) after the addresses.
fn v2_inet4(source: [u8; 4], sport: u16, tlvs: &[(u8, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&source);
    body.extend_from_slice(&[127, 0, 0, 1]);
    body.extend_from_slice(&sport.to_be_bytes());
    body.extend_from_slice(&443u16.to_be_bytes());
    for (kind, value) in tlvs {
        body.push(*kind);
        body.extend_from_slice(&(value.len() as u16).to_be_bytes());
        body.extend_from_slice(value);
    }
    v2(0x21, 0x11, &body)
}

fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
    let mut header = SIG.to_vec();
    header.push(command);
    header.push(family);
    header.extend_from_slice(&(body.len() as u16).to_be_bytes());
    header.extend_from_slice(body);
    header
}

/// What the server answered to `bytes` sent as one write, as text ("" when it closed the
/// connection unserved).
fn reply_to(address: &SocketAddress, bytes: &[u8]) -> String {
    String::from_utf8_lossy(&exchange(address, bytes)).into_owned()
}

/// What the server sends on `client` until it closes, as text.
fn text_until_closed(client: &mut impl Read) -> String {
    String::from_utf8_lossy(&read_until_closed(client)).into_owned()
}

/// Waits until the server has refused `n` connections before their handlers.
fn wait_refused<T: socketserver_runtime::transport::Transport, H>(
    server: &common::Serving<T, Threading, H, socketserver_runtime::DefaultHooks>,
    n: u64,
) where
    H: RequestHandler<T::Request>,
{
    wait_until("the refusals are counted", || {
        server.handle().stats().refused_by_layer == n
    });
}

#[test]
fn a_v1_header_and_the_request_in_one_segment_reach_the_handler_apart() {
    let server = tcp_server(|_| {});
    let answer = reply_to(
        &server.address(),
        b"PROXY TCP4 192.0.2.7 127.0.0.1 5555 443\r\nhello\nPROXY is data now\n",
    );
    let peer = answer
        .split("peer=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert_eq!(
        answer,
        format!(
            "client=192.0.2.7:5555 peer={peer} local=false authority=-\nhello\nPROXY is data now\n"
        )
    );
    assert!(peer.starts_with("127.0.0.1:"), "{answer}");
    wait_until("the request is counted", || {
        server.handle().stats().completed == 1
    });
    assert_eq!(server.stop().handle().stats().refused_by_layer, 0);
}

#[test]
fn a_v2_header_gives_the_client_and_its_tlvs_even_sent_byte_by_byte() {
    let server = tcp_server(|_| {});
    let header = v2_inet4(
        [198, 51, 100, 9],
        40000,
        &[(0x02, b"example.com"), (0x04, b"")],
    );
    let mut client = tcp_connect(&server.address());
    client.set_nodelay(true).unwrap();
    for byte in header.iter().chain(b"after") {
        client.write_all(&[*byte]).unwrap();
        std::thread::sleep(Duration::from_millis(1)); // apart on the wire
    }
    client.shutdown(Shutdown::Write).unwrap();
    let answer = text_until_closed(&mut client);
    assert!(
        answer.starts_with("client=198.51.100.9:40000 peer=127.0.0.1:"),
        "{answer}"
    );
    assert!(
        answer.ends_with(" local=false authority=example.com\nafter"),
        "{answer}"
    );
}

#[test]
fn an_ipv6_v2_header_names_an_ipv6_client() {
    let server = tcp_server(|_| {});
    let mut body = Vec::new();
    body.extend_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    body.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    body.extend_from_slice(&8080u16.to_be_bytes());
    body.extend_from_slice(&80u16.to_be_bytes());
    let answer = reply_to(
        &server.address(),
        &[v2(0x21, 0x21, &body), b"x".to_vec()].concat(),
    );
    assert!(answer.starts_with("client=[2001:db8::1]:8080 "), "{answer}");
    assert!(answer.ends_with("\nx"), "{answer}");
}

#[test]
fn health_checks_are_served_with_the_real_peer_and_no_error() {
    let recorder = Recorder::default();
    let server = Server::<Tcp, Threading, Tell, Recorder>::builder()
        .config(proxied(|_| {}))
        .hooks(recorder.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    let server = serve(server);
    // HAProxy's `check` with `send-proxy-v2`: LOCAL, family UNSPEC, no address.
    let local = reply_to(
        &server.address(),
        &[v2(0x20, 0x00, b""), b"ok".to_vec()].concat(),
    );
    let unknown = reply_to(&server.address(), b"PROXY UNKNOWN\r\nok");
    for answer in [local, unknown] {
        assert!(answer.starts_with("client=127.0.0.1:"), "{answer}");
        assert!(answer.contains(" local=true "), "{answer}");
        assert!(answer.ends_with("\nok"), "{answer}");
    }
    // Counted when the request thread ends, which may be after the client saw EOF.
    wait_until("both requests are counted", || {
        server.handle().stats().completed == 2
    });
    server.stop();
    assert!(recorder.errors().is_empty(), "{:?}", recorder.errors());
}

#[test]
fn bad_headers_are_closed_unserved_and_counted_while_others_are_served() {
    let server = tcp_server(|_| {});
    let mut too_long = b"PROXY TCP4 ".to_vec();
    too_long.resize(108, b'1');
    let mut wrong_signature = v2_inet4([10, 0, 0, 1], 1, &[]);
    wrong_signature[5] = b'X';
    let truncated = v2_inet4([10, 0, 0, 1], 1, &[])[..20].to_vec();
    let mut too_large = SIG.to_vec();
    too_large.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("v1 over 107 bytes without CRLF", too_long),
        ("wrong v2 signature", wrong_signature),
        ("truncated v2", truncated),
        ("v2 length too large", too_large),
        ("plain HTTP", b"GET / HTTP/1.0\r\n\r\n".to_vec()),
        (
            "v1 with a lone LF",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n".to_vec(),
        ),
    ];
    for (i, (what, bytes)) in bad.iter().enumerate() {
        let started = Instant::now();
        let answer = reply_to(&server.address(), bytes);
        assert_eq!(answer, "", "{what}: served");
        // Refused on sight or at the end of the stream, not at the header deadline.
        assert!(started.elapsed() < Duration::from_millis(400), "{what}");
        wait_refused(&server, i as u64 + 1);
        let good = reply_to(
            &server.address(),
            b"PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\nok",
        );
        assert!(good.ends_with("\nok"), "after {what}: {good}");
    }
    wait_until("the good requests are counted", || {
        server.handle().stats().completed == bad.len() as u64
    });
    assert_eq!(server.stop().handle().stats().failed, 0);
}

#[test]
fn silence_past_the_header_timeout_is_closed_while_another_client_is_served() {
    let server = tcp_server(|c| c.proxy_header_timeout = Some(Duration::from_millis(300)));
    let mut silent = tcp_connect(&server.address());
    let started = Instant::now();
    let good = reply_to(
        &server.address(),
        b"PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\nok",
    );
    assert!(good.ends_with("\nok"), "{good}");
    assert_eq!(text_until_closed(&mut silent), "");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "closed after {waited:?}"
    );
    wait_refused(&server, 1);
}

#[test]
fn peers_outside_the_trusted_proxies_are_closed_and_inside_served() {
    let lan: TrustedProxy = "10.0.0.0/8".parse().unwrap();
    let refusing = tcp_server(|c| c.trusted_proxies = vec![lan]);
    let header = b"PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\nok";
    assert_eq!(reply_to(&refusing.address(), header), "");
    wait_refused(&refusing, 1);
    let loopback: TrustedProxy = "127.0.0.0/8".parse().unwrap();
    let accepting = tcp_server(|c| c.trusted_proxies = vec![lan, loopback]);
    assert!(reply_to(&accepting.address(), header).ends_with("\nok"));
}

#[test]
fn a_unix_stream_server_takes_v2_unix_addresses_from_a_trusted_unix_peer() {
    let dir = TempDir::new();
    let path = dir.path().join("proxied.sock");
    let server = Server::<UnixStream, Threading, Tell>::builder()
        .config(proxied(|c| {
            c.trusted_proxies = vec!["unix".parse().unwrap()]
        }))
        .bind(&path)
        .unwrap();
    let server = serve(server);
    let mut body = vec![0u8; 216];
    body[..12].copy_from_slice(b"/run/app.sck");
    body[108..112].copy_from_slice(b"/lb0");
    let mut client = StdUnixStream::connect(&path).unwrap();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    client
        .write_all(&[v2(0x21, 0x31, &body), b"u".to_vec()].concat())
        .unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut reader = BufReader::new(client);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("client=/run/app.sck peer="), "{line}");
    assert_eq!(text_until_closed(&mut reader), "u");
    drop(server);
}

#[test]
fn proxy_protocol_on_a_datagram_server_or_trust_without_it_fails_to_bind() {
    let bound = Server::<Udp, Threading, Echo>::builder()
        .config(proxied(|_| {}))
        .bind("127.0.0.1:0");
    let Err(udp) = bound else {
        panic!("a UDP server with proxy_protocol bound")
    };
    assert!(udp.to_string().contains("stream transports"), "{udp}");
    let config = config(|c| c.trusted_proxies = vec!["unix".parse().unwrap()]);
    let bound = Server::<Tcp, Threading, Tell>::builder()
        .config(config)
        .bind("127.0.0.1:0");
    let Err(tcp) = bound else {
        panic!("trusted_proxies without proxy_protocol bound")
    };
    assert!(tcp.to_string().contains("proxy_protocol is off"), "{tcp}");
}

#[test]
fn a_graceful_stop_ends_a_connection_waiting_for_its_header() {
    let server = tcp_server(|c| c.proxy_header_timeout = None);
    let mut waiting = tcp_connect(&server.address());
    waiting.write_all(b"PROXY TCP4 ").unwrap();
    wait_until("the connection is in flight", || {
        server.handle().stats().active == 1
    });
    let started = Instant::now();
    let cut = server.stop().close_within(Duration::from_millis(100));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!((cut, text_until_closed(&mut waiting).as_str()), (1, ""));
}
