//! TLS over real sockets, against Python's ssl module (OpenSSL) as the client, with
//! certificates the `openssl` command makes for the test: echo over every mixin and both
//! stream transports, what the handler sees, versions, ALPN, SNI, client certificates,
//! handshakes that fail or stall, reloads, and TLS after a PROXY header.
#![cfg(feature = "tls")]

mod common;
#[path = "../../tests/common/tls.rs"]
mod tls_common;

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use socketserver_runtime::mixin::{Forking, Mixin, Pool, Serial, Threading};
use socketserver_runtime::tls::{ClientAuth, TlsConfig, TlsInfo};
use socketserver_runtime::transport::{BindAddress, Tcp, Transport, UnixStream};
use socketserver_runtime::{
    DefaultHooks, HandlerResult, RequestHandler, Server, ServerConfig, StreamRequest,
};
use tls_common::{assert_echoed, certs, tls_client};

/// Says what the handshake settled in one line (`version suite alpn sni subject`), then
/// echoes the connection until it ends.
#[derive(Clone, Default)]
struct Tell;

impl RequestHandler<StreamRequest> for Tell {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        let info = req.get::<TlsInfo>().expect("a TLS request has its TlsInfo");
        let line = format!(
            "{} {} {} {} {}\n",
            info.version(),
            info.cipher_suite(),
            info.alpn_protocol()
                .map_or("-".into(), String::from_utf8_lossy),
            info.server_name().unwrap_or("-"),
            info.client_subject()
                .unwrap_or_else(|| "-".into())
                .replace(' ', "_"),
        );
        let (rfile, wfile) = req.files();
        wfile.write_all(line.as_bytes())?;
        std::io::copy(rfile, wfile)?;
        Ok(())
    }
}

/// [`Tell`], counting in [`TOLD`] the requests that reached it: their handshake is over,
/// under the configuration they got.
#[derive(Clone, Default)]
struct TellCounted;

static TOLD: AtomicUsize = AtomicUsize::new(0);

impl RequestHandler<StreamRequest> for TellCounted {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        TOLD.fetch_add(1, Ordering::SeqCst);
        Tell.handle(req)
    }
}

fn default_tls() -> TlsConfig {
    let c = certs();
    TlsConfig::from_pem_files(c.file("server.pem"), c.file("server.key")).unwrap()
}

/// A `Tell` server over `T` and `M` with `tls`, handshakes timed out after `timeout`.
fn tls_server<T, M>(
    address: impl BindAddress<T>,
    tls: TlsConfig,
    change: impl FnOnce(&mut ServerConfig),
) -> Serving<T, M, Tell, DefaultHooks>
where
    T: Transport<Request = StreamRequest>,
    M: Mixin,
{
    tls_server_of::<T, M, Tell>(address, tls, change)
}

/// [`tls_server`] with handler `H`.
fn tls_server_of<T, M, H>(
    address: impl BindAddress<T>,
    tls: TlsConfig,
    change: impl FnOnce(&mut ServerConfig),
) -> Serving<T, M, H, DefaultHooks>
where
    T: Transport<Request = StreamRequest>,
    M: Mixin,
    H: RequestHandler<StreamRequest> + Clone + Default,
{
    let server = Server::<T, M, H>::builder()
        .config(config(|c| {
            c.tls_handshake_timeout = Some(Duration::from_secs(2));
            change(c);
        }))
        .tls(tls)
        .bind(address)
        .unwrap();
    serve(server)
}

fn tcp_client<H>(
    server: &Serving<Tcp, impl Mixin, H, DefaultHooks>,
    args: &[&str],
) -> HashMap<String, String> {
    tls_client("inet", &server.address().to_string(), args)
}

fn echo_mib_over_tcp_and_unix<M: Mixin>() {
    let dir = TempDir::new();
    let tcp = tls_server::<Tcp, M>("127.0.0.1:0", default_tls(), |_| {});
    assert_echoed(&tcp_client(&tcp, &["echo=1048576"]));
    let path = dir.socket("tls.sock");
    let unix = tls_server::<UnixStream, M>(path.as_path(), default_tls(), |_| {});
    assert_echoed(&tls_client(
        "unix",
        &path.display().to_string(),
        &["echo=1048576"],
    ));
    tcp.stop();
    unix.stop();
}

#[test]
fn echoes_a_mib_of_every_byte_value_under_sync() {
    echo_mib_over_tcp_and_unix::<Serial>();
}

#[test]
fn echoes_a_mib_of_every_byte_value_under_threading() {
    echo_mib_over_tcp_and_unix::<Threading>();
}

#[test]
fn echoes_a_mib_of_every_byte_value_under_forking() {
    echo_mib_over_tcp_and_unix::<Forking>();
}

#[test]
fn echoes_a_mib_of_every_byte_value_under_pool() {
    echo_mib_over_tcp_and_unix::<Pool>();
}

#[test]
fn the_handler_sees_the_version_the_client_forces_and_the_suite() {
    let server = tls_server::<Tcp, Threading>("127.0.0.1:0", default_tls(), |_| {});
    let tls12 = tcp_client(&server, &["max=1.2"]);
    assert_eq!(tls12["version"], "TLSv1.2", "{tls12:?}");
    assert!(
        tls12["told"].starts_with("TLSv1.2 TLS_ECDHE_ECDSA_WITH_"),
        "{tls12:?}"
    );
    let tls13 = tcp_client(&server, &["min=1.3"]);
    assert_eq!(tls13["version"], "TLSv1.3", "{tls13:?}");
    let suite = tls13["told"].split(' ').nth(1).unwrap().to_string();
    // Python names TLS 1.3 suites without rustls's `TLS13_` prefix.
    assert_eq!(
        suite,
        format!("TLS13_{}", tls13["cipher"].trim_start_matches("TLS_")),
        "{tls13:?}"
    );
    assert_eq!(server.handle().stats().failed_handshakes, 0);
}

#[test]
fn a_tls13_only_server_refuses_a_tls12_client_and_counts_it() {
    let server = tls_server::<Tcp, Threading>("127.0.0.1:0", default_tls().tls13_only(), |_| {});
    let refused = tcp_client(&server, &["max=1.2"]);
    assert!(refused["error"].contains("SSL"), "{refused:?}");
    let served = tcp_client(&server, &[]);
    assert_eq!(served["version"], "TLSv1.3");
    wait_until("the failed handshake counted", || {
        server.handle().stats().failed_handshakes == 1
    });
    assert_eq!(server.handle().stats().refused_by_layer, 1);
}

#[test]
fn alpn_picks_the_servers_protocol_among_the_clients() {
    let tls = default_tls().alpn_protocols(["h2", "http/1.1"]);
    let server = tls_server::<Tcp, Threading>("127.0.0.1:0", tls, |_| {});
    let said = tcp_client(&server, &["alpn=http/1.1,spdy/3"]);
    assert_eq!(said["alpn"], "http/1.1", "{said:?}");
    assert_eq!(said["told"].split(' ').nth(2), Some("http/1.1"));
    let none = tcp_client(&server, &[]);
    assert_eq!(none["told"].split(' ').nth(2), Some("-"), "{none:?}");
    let refused = tcp_client(&server, &["alpn=spdy/3"]);
    assert!(refused.contains_key("error"), "{refused:?}");
}

#[test]
fn sni_picks_the_certificate_for_the_name_asked_for() {
    let c = certs();
    let tls = default_tls()
        .with_server_name("other.test", c.file("other.pem"), c.file("other.key"))
        .unwrap();
    let server = tls_server::<Tcp, Threading>("127.0.0.1:0", tls, |_| {});
    let other = tcp_client(&server, &["hostname=other.test"]);
    assert_eq!(other["server_cn"], "other.test", "{other:?}");
    assert_eq!(other["told"].split(' ').nth(3), Some("other.test"));
    let default = tcp_client(&server, &["hostname=localhost"]);
    assert_eq!(default["server_cn"], "localhost", "{default:?}");
    // A name with no certificate of its own gets the default, which the client rejects.
    let wrong = tcp_client(&server, &["hostname=unknown.test"]);
    assert!(
        wrong["error"].contains("CERTIFICATE_VERIFY_FAILED"),
        "{wrong:?}"
    );
    wait_until("the rejected handshake counted", || {
        server.handle().stats().failed_handshakes == 1
    });
}

/// A server asking for client certificates of the test CA, as `auth` says.
fn client_ca_server(auth: ClientAuth) -> Serving<Tcp, Threading, Tell, DefaultHooks> {
    let tls = default_tls()
        .with_client_ca(certs().file("ca.pem"), auth)
        .unwrap();
    tls_server::<Tcp, Threading>("127.0.0.1:0", tls, |_| {})
}

/// The client's `cert=` and `key=` for the test certificate `name`.
fn presenting(name: &str) -> [String; 2] {
    let c = certs();
    [
        format!("cert={}", c.file(&format!("{name}.pem"))),
        format!("key={}", c.file(&format!("{name}.key"))),
    ]
}

#[test]
fn required_client_certificates_admit_the_cas_clients_only() {
    let server = client_ca_server(ClientAuth::Required);
    let [alice, alice_key] = presenting("alice");
    let admitted = tcp_client(&server, &[&alice, &alice_key, "echo=1000"]);
    assert_eq!(admitted.get("error"), None, "{admitted:?}");
    assert_eq!(
        admitted["told"].split(' ').nth(4),
        Some("O=Example,_CN=alice")
    );
    // TLS 1.3 clients learn of a refusal on their first read, after the handshake.
    let anonymous = tcp_client(&server, &["echo=10"]);
    assert!(anonymous.contains_key("error"), "{anonymous:?}");
    assert!(!anonymous.contains_key("told"), "{anonymous:?}");
    let [mallory, mallory_key] = presenting("mallory");
    let stranger = tcp_client(&server, &[&mallory, &mallory_key, "echo=10"]);
    assert!(!stranger.contains_key("told"), "{stranger:?}");
    wait_until("both refusals counted", || {
        server.handle().stats().failed_handshakes == 2
    });
}

#[test]
fn optional_client_certificates_admit_clients_without_one() {
    let server = client_ca_server(ClientAuth::Optional);
    let anonymous = tcp_client(&server, &["echo=10"]);
    assert_eq!(
        anonymous["told"].split(' ').nth(4),
        Some("-"),
        "{anonymous:?}"
    );
    let [alice, alice_key] = presenting("alice");
    let named = tcp_client(&server, &[&alice, &alice_key]);
    assert_eq!(named["told"].split(' ').nth(4), Some("O=Example,_CN=alice"));
}

#[test]
fn a_plaintext_client_is_closed_while_a_tls_client_is_served() {
    let server = tls_server::<Tcp, Threading>("127.0.0.1:0", default_tls(), |_| {});
    let mut plain = tcp_connect(&server.address());
    plain.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let served = tcp_client(&server, &["echo=100000"]);
    assert_echoed(&served);
    // An alert at most, then the end: no echo, no handler.
    let answer = read_until_closed(&mut plain);
    assert!(
        answer.len() < 16 && !answer.starts_with(b"GET"),
        "{answer:?}"
    );
    wait_until("the failed handshake counted", || {
        server.handle().stats().failed_handshakes == 1
    });
}

fn stalled_clients_wait_no_one<M: Mixin>() {
    let server = tls_server::<Tcp, M>("127.0.0.1:0", default_tls(), |c| {
        c.tls_handshake_timeout = Some(Duration::from_secs(1));
    });
    // Fifty clients that send half a ClientHello's record header and then nothing.
    let stalled: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = tcp_connect(&server.address());
            s.write_all(&[0x16, 0x03, 0x01]).unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    assert_echoed(&tcp_client(&server, &["echo=1000"]));
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    for mut s in stalled {
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut buf = [0; 64];
        // Closed by the server after the timeout (an alert at most).
        while let Ok(n @ 1..) = s.read(&mut buf) {
            assert!(n < 16);
        }
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
    wait_until("fifty handshakes counted", || {
        server.handle().stats().failed_handshakes == 50
    });
}

#[test]
fn fifty_stalled_handshakes_keep_no_client_waiting_under_threading() {
    stalled_clients_wait_no_one::<Threading>();
}

#[test]
fn fifty_stalled_handshakes_keep_no_client_waiting_under_the_pool() {
    stalled_clients_wait_no_one::<Pool>();
}

/// Certificate files a test may overwrite.
fn own_certificate_files(dir: &TempDir) -> (String, String) {
    let c = certs();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::copy(c.file("server.pem"), &cert).unwrap();
    std::fs::copy(c.file("server.key"), &key).unwrap();
    (cert.display().to_string(), key.display().to_string())
}

#[test]
fn a_reload_serves_new_connections_the_new_certificate_and_open_ones_go_on() {
    let dir = TempDir::new();
    let (cert, key) = own_certificate_files(&dir);
    let tls = TlsConfig::from_pem_files(&cert, &key).unwrap();
    let server = tls_server_of::<Tcp, Threading, TellCounted>("127.0.0.1:0", tls, |_| {});
    let address = server.address().to_string();
    // A connection open across the reload: it echoes after it, under the old certificate.
    let open =
        std::thread::spawn(move || tls_client("inet", &address, &["hold=1.5", "echo=50000"]));
    // In its handler: its handshake is over (`active` counts it from the accept on).
    wait_until("the first connection in its handler", || {
        TOLD.load(Ordering::SeqCst) == 1
    });
    std::fs::copy(certs().file("second.pem"), &cert).unwrap();
    std::fs::copy(certs().file("second.key"), &key).unwrap();
    server.handle().reload().unwrap();
    let after = tcp_client(&server, &[]);
    assert_eq!(after["server_o"], "Second", "{after:?}");
    let open = open.join().unwrap();
    assert_eq!(open["server_o"], "-", "{open:?}");
    assert_echoed(&open);
}

#[test]
fn a_broken_reload_keeps_the_old_certificate_and_names_the_file() {
    let dir = TempDir::new();
    let (cert, key) = own_certificate_files(&dir);
    let tls = TlsConfig::from_pem_files(&cert, &key).unwrap();
    let server = tls_server::<Tcp, Threading>("127.0.0.1:0", tls, |_| {});
    std::fs::copy(certs().file("second.pem"), &cert).unwrap();
    std::fs::write(&key, "not a key\n").unwrap();
    let error = server.handle().reload().unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with(&format!("{key}: no private key")),
        "{error}"
    );
    let served = tcp_client(&server, &["echo=1000"]);
    assert_eq!(served["server_o"], "-", "the old certificate: {served:?}");
    assert_echoed(&served);
    // A key that belongs to another certificate is refused too.
    std::fs::copy(certs().file("other.key"), &key).unwrap();
    let error = server.handle().reload().unwrap_err();
    assert!(
        error.to_string().contains("not a key for the certificate"),
        "{error}"
    );
}

#[test]
fn bad_files_are_refused_before_anything_is_bound_naming_the_file() {
    let c = certs();
    let missing = TlsConfig::from_pem_files("/nonexistent/cert.pem", c.file("server.key"));
    let error = missing.unwrap_err();
    assert_eq!(
        error.file(),
        Some(std::path::Path::new("/nonexistent/cert.pem"))
    );
    assert!(error.to_string().contains("cannot read it"), "{error}");
    let swapped = TlsConfig::from_pem_files(c.file("server.key"), c.file("server.pem"));
    assert!(swapped
        .unwrap_err()
        .to_string()
        .contains("no certificate in it"));
    let ca = default_tls().with_client_ca(c.file("server.key"), ClientAuth::Required);
    assert!(ca
        .unwrap_err()
        .to_string()
        .contains("server.key: no certificate in it"));
}

/// Reads and writes from two threads at once: one blocked reading while the other writes
/// half a MiB, which a lock held across the read would keep from ever being sent.
#[derive(Clone, Default)]
struct Duplex {
    done: Arc<AtomicUsize>,
}

impl RequestHandler<StreamRequest> for Duplex {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        let (rfile, wfile) = req.files();
        std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut line = String::new();
                rfile.read_line(&mut line).map(|_| line)
            });
            wfile.write_all(b"ready\n")?;
            for _ in 0..32 {
                wfile.write_all(&[7; 16384])?;
            }
            wfile.flush()?;
            let line = reader.join().unwrap()?;
            wfile.write_all(format!("got {line}").as_bytes())
        })?;
        self.done.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn a_handler_reading_and_writing_from_two_threads_never_deadlocks() {
    let server = Server::<Tcp, Threading, Duplex>::builder()
        .tls(default_tls())
        .handler(Duplex::default())
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    let script = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
host, port = sys.argv[1].rsplit(":", 1)
with ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=10), server_hostname="localhost") as s:
    f = s.makefile("rb")
    assert f.readline() == b"ready\n"
    assert f.read(32 * 16384) == bytes([7]) * (32 * 16384)
    s.sendall(b"done\n")
    print(f.readline().decode().strip())
"#;
    let out = Command::new("python3")
        .args([
            "-c",
            script,
            &serving.address().to_string(),
            &certs().file("ca.pem"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "got done",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tls_starts_right_after_a_proxy_header_in_the_same_segment() {
    let server = tls_server::<Tcp, Threading>("127.0.0.1:0", default_tls(), |c| {
        c.proxy_protocol = true;
    });
    // PROXY v1 for 203.0.113.7:4000, sent with the ClientHello in one write.
    let header: String = b"PROXY TCP4 203.0.113.7 127.0.0.1 4000 443\r\n"
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let said = tcp_client(&server, &[&format!("preface={header}"), "echo=20000"]);
    assert_echoed(&said);
    assert_eq!(said["version"], "TLSv1.3");
}

#[test]
fn a_graceful_stop_ends_a_connection_stalled_in_its_handshake() {
    let server = tls_server::<Tcp, Threading>("127.0.0.1:0", default_tls(), |c| {
        c.tls_handshake_timeout = None;
    });
    let mut stalled = tcp_connect(&server.address());
    stalled.write_all(&[0x16]).unwrap();
    wait_until("the stalled connection in flight", || {
        server.handle().stats().active == 1
    });
    let started = Instant::now();
    let cut = server.stop().close_within(Duration::from_millis(200));
    assert_eq!(cut, 1);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(read_until_closed(&mut stalled).len() < 16);
}

#[test]
fn a_reset_mid_handshake_is_counted_and_no_error_is_reported() {
    let recorder = Recorder::default();
    let server = Server::<Tcp, Threading, Tell, Recorder>::builder()
        .tls(default_tls())
        .hooks(recorder.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    let mut resetting = tcp_connect(&serving.address());
    resetting.write_all(&[0x16, 0x03, 0x01, 0x00]).unwrap();
    socket2::SockRef::from(&resetting)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(resetting);
    wait_until("the reset handshake counted", || {
        serving.handle().stats().failed_handshakes == 1
    });
    assert_echoed(&tls_client(
        "inet",
        &serving.address().to_string(),
        &["echo=1000"],
    ));
    assert!(recorder.errors().is_empty(), "{:?}", recorder.errors());
}

#[test]
fn a_configuration_from_memory_serves_and_a_reload_keeps_it() {
    let c = certs();
    let cert = std::fs::read(c.file("server.pem")).unwrap();
    let key = std::fs::read(c.file("server.key")).unwrap();
    let tls = TlsConfig::from_pem(&cert, &key).unwrap();
    let server = tls_server::<Tcp, Threading>("127.0.0.1:0", tls, |_| {});
    server.handle().reload().unwrap();
    assert_echoed(&tcp_client(&server, &["echo=1000"]));
    let error = TlsConfig::from_pem(&key, &key).unwrap_err();
    assert_eq!(error.file(), None);
    assert_eq!(
        error.to_string(),
        "the certificate PEM: no certificate in it"
    );
}
