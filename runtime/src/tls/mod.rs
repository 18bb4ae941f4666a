//! TLS over the stream transports (the `tls` feature), with rustls and its ring provider.
//!
//! [`Builder::tls`](crate::Builder::tls) (or `transport: Tls<Tcp>` in `server!`, whose
//! `bind` then takes the [`TlsConfig`]) runs a TLS handshake on every connection, in the
//! request's own thread or child (never in the serving loop), within
//! [`tls_handshake_timeout`](crate::ServerConfig::tls_handshake_timeout) (default 10 s).
//! A handshake that fails or stalls (a plaintext client, a scanner, a client that rejects
//! the certificate, a reset) closes that connection only, counts in
//! [`Stats::failed_handshakes`](crate::Stats::failed_handshakes) (and
//! `refused_by_layer`) and is reported at debug level. The handler then reads and writes
//! plaintext through rfile and wfile as on a plain stream (from two threads at once if it
//! likes), sees what was negotiated in `req.get::<TlsInfo>()`, and the server sends
//! `close_notify` before it shuts the connection's write side. A client that closes without
//! `close_notify` ends the stream as an EOF would (Python's `suppress_ragged_eofs`).
//!
//! Behind a PROXY protocol balancer, the PROXY header is read first and TLS starts right
//! after it. [`ServerHandle::reload`](crate::ServerHandle::reload) (and SIGHUP under
//! `serve_until_signal`) re-reads the configuration's files: new connections get the new
//! certificates, open ones go on with theirs, and a broken file keeps the old
//! configuration.

mod config;
mod session;
mod subject;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use config::{ClientAuth, TlsConfig, TlsError};
pub use rustls;
pub use rustls::pki_types::CertificateDer;

use crate::inflight::Counter;
use crate::lock::lock;
use crate::request::{Opening, Session, StreamLayer};
use crate::shutdown::ServerHandle;
use session::{retry, take_records, write_out, TlsSession};

/// What a connection's TLS handshake settled, for the handler: `req.get::<TlsInfo>()`.
#[derive(Clone, Debug)]
pub struct TlsInfo {
    version: &'static str,
    cipher_suite: &'static str,
    alpn_protocol: Option<Vec<u8>>,
    server_name: Option<String>,
    client_certificates: Vec<CertificateDer<'static>>,
}

impl TlsInfo {
    fn of(tls: &rustls::ServerConnection) -> TlsInfo {
        let version = match tls.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "unknown",
        };
        let cipher_suite = tls
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            .unwrap_or("unknown");
        TlsInfo {
            version,
            cipher_suite,
            alpn_protocol: tls.alpn_protocol().map(<[u8]>::to_vec),
            server_name: tls.server_name().map(str::to_owned),
            client_certificates: tls.peer_certificates().unwrap_or_default().to_vec(),
        }
    }

    /// The protocol version, as Python's `SSLSocket.version()` names it: `"TLSv1.3"` or
    /// `"TLSv1.2"`.
    pub fn version(&self) -> &'static str {
        self.version
    }

    /// The cipher suite, as rustls names it (`"TLS13_AES_256_GCM_SHA384"`).
    pub fn cipher_suite(&self) -> &'static str {
        self.cipher_suite
    }

    /// The application protocol chosen by ALPN, if the client offered one.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.alpn_protocol.as_deref()
    }

    /// The server name the client asked for (SNI), if it did.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// The chain the client presented (its own certificate first), with client
    /// authentication on; empty otherwise.
    pub fn client_certificates(&self) -> &[CertificateDer<'static>] {
        &self.client_certificates
    }

    /// The subject of the client's certificate, as OpenSSL prints it one line
    /// (`CN=alice, O=Example`), if it presented one.
    pub fn client_subject(&self) -> Option<String> {
        subject::of(self.client_certificates.first()?)
    }
}

/// The configuration new connections get, replaced by a reload.
struct Current {
    source: TlsConfig,
    rustls: Arc<rustls::ServerConfig>,
}

/// The layer [`Builder::tls`](crate::Builder::tls) adds (after the PROXY header's, before
/// the builder's own).
pub(crate) struct TlsLayer {
    current: Arc<Mutex<Current>>,
    timeout: Option<Duration>,
    /// The socket's timeouts once the handshake is done (`stream_timeout`).
    stream_timeout: Option<Duration>,
    server: ServerHandle,
}

impl TlsLayer {
    /// The layer for `config`, counting failed handshakes in `server`'s stats and re-read by
    /// its `reload`.
    pub(crate) fn new(
        config: TlsConfig,
        timeout: Option<Duration>,
        stream_timeout: Option<Duration>,
        server: ServerHandle,
    ) -> io::Result<TlsLayer> {
        let rustls = config.to_rustls()?;
        let current = Arc::new(Mutex::new(Current {
            source: config,
            rustls,
        }));
        let reloaded = current.clone();
        server.set_reloader(Box::new(move || {
            let source = lock(&reloaded).source.reloaded()?;
            let rustls = source.to_rustls()?;
            *lock(&reloaded) = Current { source, rustls };
            Ok(())
        }));
        Ok(TlsLayer {
            current,
            timeout,
            stream_timeout,
            server,
        })
    }

    fn handshake(&self, conn: &mut Opening<'_>) -> io::Result<TlsSession> {
        let config = lock(&self.current).rustls.clone();
        let mut tls = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let mut early = io::Cursor::new(conn.take_read_ahead());
        let socket = conn.socket();
        socket.set_write_timeout(self.timeout)?;
        let mut out = Vec::new();
        while tls.is_handshaking() {
            take_records(&mut tls, &mut out)?;
            write_out(socket, &mut out)?;
            if !tls.is_handshaking() {
                break;
            }
            let read = if early.position() < early.get_ref().len() as u64 {
                tls.read_tls(&mut early)
            } else {
                let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                if left == Some(Duration::ZERO) {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                socket.set_read_timeout(left)?;
                retry(|| tls.read_tls(&mut &*socket))
            };
            match read {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::ErrorKind::TimedOut.into())
                }
                Err(e) => return Err(e),
            }
            if let Err(e) = tls.process_new_packets() {
                // The alert rustls queued tells the client why.
                let _ = tls
                    .write_tls(&mut out)
                    .and_then(|_| write_out(socket, &mut out));
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
        // What TLS 1.3 has left to send (session tickets) goes with the first records the
        // handler writes: sent alone, Nagle's algorithm would hold that answer back until
        // the client acknowledged the tickets (a delayed ACK, 40 ms). TLS 1.2's last
        // flight (the server's Finished) is what the client waits for: it goes now.
        take_records(&mut tls, &mut out)?;
        if tls.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
            write_out(socket, &mut out)?;
        }
        socket.set_read_timeout(self.stream_timeout)?;
        socket.set_write_timeout(self.stream_timeout)?;
        conn.insert(TlsInfo::of(&tls));
        // What came with the PROXY header past the handshake (the first records).
        let taken = early.position() as usize;
        let mut left = early.into_inner();
        left.drain(..taken);
        Ok(TlsSession::new(tls, left, out))
    }
}

impl StreamLayer for TlsLayer {
    fn open(&self, conn: &mut Opening<'_>) -> io::Result<Option<Box<dyn Session>>> {
        match self.handshake(conn) {
            Ok(session) => Ok(Some(Box::new(session))),
            Err(e) => {
                let counters = self.server.in_flight().counters();
                counters[Counter::FailedHandshakes]
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Err(io::Error::new(e.kind(), format!("TLS handshake: {e}")))
            }
        }
    }
}
