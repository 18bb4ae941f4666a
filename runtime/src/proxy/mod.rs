//! The PROXY protocol (HAProxy's, v1 and v2): behind a load balancer that speaks it, a
//! stream server learns each client's own address from the header the balancer sends first.
//!
//! Turned on by [`ServerConfig::proxy_protocol`](crate::ServerConfig::proxy_protocol) (the
//! `proxy_protocol` option of `server!`). Every connection must then start with a complete,
//! valid header within
//! [`proxy_header_timeout`](crate::ServerConfig::proxy_header_timeout) (it is never detected:
//! a client cannot pass itself off as someone else by sending one where none is expected),
//! and, when [`trusted_proxies`](crate::ServerConfig::trusted_proxies) is not empty, come
//! from one of them. The header is read in the request's own thread or child, into rfile's
//! buffer: whatever follows it, even in the same segment, reaches the handler, and a header
//! that comes with the first request costs no system call of its own. A connection that
//! breaks these rules is closed before its handler runs, counted in
//! [`Stats::refused_by_layer`](crate::Stats::refused_by_layer) and reported at debug level
//! only.
//!
//! The handler then sees the header's source as [`StreamRequest::client_address`]
//! (the proxy's own address stays [`StreamRequest::peer_address`]) and the whole header,
//! TLVs included, as `req.get::<ProxyHeader>()`. A `LOCAL` (v2) or `UNKNOWN` (v1) header, a
//! balancer's health check, is served with the real peer address and no error.
//!
//! [`StreamRequest::client_address`]: crate::StreamRequest::client_address
//! [`StreamRequest::peer_address`]: crate::StreamRequest::peer_address

mod header;

use std::io;
use std::time::{Duration, Instant};

pub use crate::trust::{TrustedProxy, TrustedProxyError};
pub use header::*;

use crate::address::SocketAddress;
use crate::request::{Opening, Session, StreamLayer};

/// The longest header read: v2's fixed part and the longest payload accepted.
const MAX_HEADER: usize = 16 + V2_MAX_PAYLOAD;

/// The layer `proxy_protocol` adds in front of a stream server's others (see
/// `server::layers_for`).
pub(crate) struct ProxyLayer {
    trusted: Vec<TrustedProxy>,
    timeout: Option<Duration>,
}

impl ProxyLayer {
    /// The layer for a server that trusts `trusted` (any peer when empty) and waits for a
    /// header until `timeout`.
    pub(crate) fn new(trusted: Vec<TrustedProxy>, timeout: Option<Duration>) -> ProxyLayer {
        ProxyLayer { trusted, timeout }
    }
}

impl StreamLayer for ProxyLayer {
    fn open(&self, conn: &mut Opening<'_>) -> io::Result<Option<Box<dyn Session>>> {
        let peer = conn.client_address();
        if !self.trusted.is_empty() && !self.trusted.iter().any(|t| t.contains(peer)) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{peer} is not a trusted proxy"),
            ));
        }
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let header = conn.read_header(MAX_HEADER, deadline, |bytes| {
            ProxyHeader::parse(bytes).map_err(io::Error::from)
        })?;
        if let Some(source) = source_address(&header) {
            conn.set_client_address(source);
        }
        conn.insert(header);
        Ok(None)
    }
}

/// Who the header says the client is: `None` for a proxy's own connection (`LOCAL`,
/// `UNKNOWN`), and for a unix source without a name.
fn source_address(header: &ProxyHeader) -> Option<SocketAddress> {
    if header.local {
        return None;
    }
    match &header.addresses {
        ProxiedAddresses::Unspecified => None,
        ProxiedAddresses::Inet { source, .. } => Some(SocketAddress::Inet(*source)),
        ProxiedAddresses::Unix { source, .. } => SocketAddress::unix_from_bytes(source),
    }
}
