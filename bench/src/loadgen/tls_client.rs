//! loadgen's TLS client (the `tls` feature): a rustls client configuration trusting a CA
//! file, with session resumption off (every connection a full handshake); connections that
//! handshake as they open, then run pingpong and churn as a blocking `rustls::StreamOwned`;
//! and, for `stream`, a connection split into a writer and a reader that share its rustls
//! state under a lock held only to encrypt or decrypt, each using its own socket handle.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rustls::client::Resumption;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::WriteHalf;
use crate::tls::{certificates, provider};

/// A blocking TLS client connection over TCP.
pub type Stream = StreamOwned<ClientConnection, TcpStream>;

/// The name every server's certificate is for.
const SERVER_NAME: &str = "localhost";

/// What the first handshake of the run negotiated, for loadgen's `TLS ...` line.
static NEGOTIATED: OnceLock<String> = OnceLock::new();

/// A client configuration trusting the certificates of the PEM file `ca`, on ring's
/// provider: TLS 1.3 (TLS 1.2 only, with `tls12`), and no session resumption.
pub fn client_config(ca: &Path, tls12: bool) -> io::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca)? {
        roots.add(cert).map_err(io::Error::other)?;
    }
    let builder = ClientConfig::builder_with_provider(provider());
    let builder = match tls12 {
        true => builder.with_protocol_versions(&[&rustls::version::TLS12]),
        false => builder.with_safe_default_protocol_versions(),
    };
    let mut config = builder
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

/// `version=TLSv1_3 suite=TLS13_AES_256_GCM_SHA384 group=X25519`, or `None` before the
/// first handshake.
pub fn negotiated() -> Option<&'static str> {
    NEGOTIATED.get().map(String::as_str)
}

/// Runs the handshake on `tcp` (under its timeouts) and returns the connection.
pub fn handshake(config: &Arc<ClientConfig>, tcp: TcpStream) -> io::Result<Stream> {
    let name = ServerName::try_from(SERVER_NAME).expect("a valid DNS name");
    let conn = ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    NEGOTIATED.get_or_init(|| {
        let c = &tls.conn;
        format!(
            "version={} suite={} group={}",
            shown(c.protocol_version()),
            shown(c.negotiated_cipher_suite().map(|s| s.suite())),
            shown(c.negotiated_key_exchange_group().map(|g| g.name())),
        )
    });
    Ok(tls)
}

/// `value` as Debug shows it, or `-`.
fn shown(value: Option<impl std::fmt::Debug>) -> String {
    value.map_or("-".into(), |v| format!("{v:?}"))
}

/// Ends `tls` politely: a close_notify, then the socket closes.
pub fn close(mut tls: Stream) {
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

/// Splits `tls` for the stream scenario's writer and reader threads.
pub fn split(tls: Stream) -> io::Result<(Writer, Reader)> {
    let StreamOwned { conn, sock } = tls;
    let conn = Arc::new(Mutex::new(conn));
    let reader = Reader {
        conn: conn.clone(),
        sock: sock.try_clone()?,
        buf: vec![0; 65536],
        start: 0,
        end: 0,
    };
    let writer = Writer {
        conn,
        sock,
        out: Vec::new(),
    };
    Ok((writer, reader))
}

/// Locks the shared rustls state (a panicked holder leaves it usable for counting).
fn lock(conn: &Mutex<ClientConnection>) -> MutexGuard<'_, ClientConnection> {
    conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The sending half: encrypts under the lock, writes the records outside it.
pub struct Writer {
    /// The rustls state, shared with the reader.
    conn: Arc<Mutex<ClientConnection>>,
    /// The socket (the reader has a clone).
    sock: TcpStream,
    /// The records of the last write.
    out: Vec<u8>,
}

impl Writer {
    /// Writes out every record rustls has queued (after `queue` ran on its state, under the
    /// lock); returns what `queue` returned.
    fn send<T>(
        &mut self,
        queue: impl FnOnce(&mut ClientConnection) -> io::Result<T>,
    ) -> io::Result<T> {
        self.out.clear();
        let queued = {
            let mut conn = lock(&self.conn);
            let queued = queue(&mut conn)?;
            while conn.wants_write() {
                conn.write_tls(&mut self.out)?;
            }
            queued
        };
        self.sock.write_all(&self.out)?;
        Ok(queued)
    }
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send(|conn| conn.writer().write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl WriteHalf for Writer {
    fn finish(&mut self) -> io::Result<()> {
        self.send(|conn| {
            conn.send_close_notify();
            Ok(())
        })?;
        self.sock.shutdown(Shutdown::Write)
    }
}

/// Decrypts the records rustls has read (a TLS error as `InvalidData`, as rustls' own
/// `complete_io` reports it).
fn process(conn: &mut ClientConnection) -> io::Result<()> {
    conn.process_new_packets()
        .map(drop)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The receiving half: reads records outside the lock, decrypts them under it. Reads 0 at
/// the server's close_notify, and at the end of the stream without one (nginx's
/// `proxy_half_close` ends it so): the stream scenario counts the bytes echoed anyway.
pub struct Reader {
    /// The rustls state, shared with the writer.
    conn: Arc<Mutex<ClientConnection>>,
    /// A clone of the writer's socket.
    sock: TcpStream,
    /// What the last socket read read.
    buf: Vec<u8>,
    /// `buf[start..end]`: records read from the socket and not yet handed to rustls.
    start: usize,
    /// The end of what the last socket read read.
    end: usize,
}

impl Read for Reader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut conn = lock(&self.conn);
                match conn.reader().read(out) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                    done => return done,
                }
                if self.start < self.end {
                    let mut records = &self.buf[self.start..self.end];
                    self.start += conn.read_tls(&mut records)?;
                    process(&mut conn)?;
                    continue;
                }
            }
            let n = self.sock.read(&mut self.buf)?;
            (self.start, self.end) = (0, n);
            if n == 0 {
                // The end of the stream: rustls reads it as such.
                let mut conn = lock(&self.conn);
                conn.read_tls(&mut &[][..])?;
                process(&mut conn)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::path::PathBuf;
    use std::process::Command;
    use std::thread;
    use std::time::Duration;

    use super::client_config;
    use crate::common::{Addr, Scenario, Transport};
    use crate::loadgen::{run, Spec};
    use crate::tls;

    /// A CA and a P-256 server certificate for localhost, made with the openssl CLI in a
    /// new directory (as bench/tls.sh makes them); `None` without openssl.
    fn certificates() -> Option<PathBuf> {
        let dir = std::env::temp_dir().join(format!("tls-client-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let ext = "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n";
        std::fs::write(dir.join("server.ext"), ext).ok()?;
        let steps = [
            "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key",
            "req -x509 -new -key ca.key -sha256 -days 1 -subj /CN=test-ca -out ca.pem",
            "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key",
            "req -new -key server.key -subj /CN=localhost -out server.csr",
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
             -sha256 -extfile server.ext -out server.pem",
        ];
        for step in steps {
            let status = Command::new("openssl")
                .args(step.split_whitespace())
                .current_dir(&dir)
                .output()
                .ok()?
                .status;
            if !status.success() {
                return None;
            }
        }
        Some(dir)
    }

    /// A free port on 127.0.0.1 (bound, then released).
    fn free_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    /// Every TLS scenario, over TLS 1.3 and 1.2, against the hand-written and the tokio TLS
    /// servers: as many operations as asked, no error.
    #[test]
    fn every_scenario_runs_against_both_tls_servers() {
        let Some(dir) = certificates() else {
            eprintln!("skipped: no openssl");
            return;
        };
        let config = tls::server_config(&dir.join("server.pem"), &dir.join("server.key")).unwrap();
        let servers: [fn(_, &str) -> _; 2] = [tls::hand::serve, tls::tokio_echo::serve];
        for serve in servers {
            let address = format!("127.0.0.1:{}", free_port());
            let (config, bind) = (config.clone(), address.clone());
            thread::spawn(move || serve(config, &bind));
            thread::sleep(Duration::from_millis(200));
            for tls12 in [false, true] {
                let client = client_config(&dir.join("ca.pem"), tls12).unwrap();
                for (scenario, size) in [
                    (Scenario::PingPong, 64),
                    (Scenario::Churn, 64),
                    (Scenario::Stream, 65536),
                ] {
                    let spec = Spec {
                        scenario,
                        transport: Transport::Tcp,
                        addr: Addr::parse(&address).unwrap(),
                        conns: 2,
                        size,
                        duration: Duration::from_secs(1),
                        ops: (scenario != Scenario::Stream).then_some(20),
                        timeout: Duration::from_secs(5),
                        limit: Duration::from_secs(30),
                        proxy_header: false,
                        tls: Some(client.clone()),
                    };
                    let outcome = run(&spec).unwrap();
                    let what = format!("{scenario} tls12={tls12}: {outcome:?}");
                    assert_eq!(outcome.errors, 0, "{what}");
                    assert!(outcome.ops >= 20, "{what}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
