//! A layer between a stream connection and its handler: what reads a PROXY protocol header
//! or runs a TLS session before, and while, the handler reads and writes.
//!
//! A server with no layer pays one empty-list check per connection and nothing per read.

use std::any::Any;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use super::{RFile, StreamSocket};
use crate::address::SocketAddress;

/// Opens each connection of a stream server before its handler runs, in the request's own
/// thread or child (never in the serving loop), in the order the layers were added to the
/// [`Builder`](crate::Builder::layer).
///
/// A layer may read from the socket (a header; it must never read past what it needs,
/// since what it reads the handler does not see), replace the client address the handler
/// sees, leave information for the handler ([`Opening::insert`]), and return a
/// [`Session`] that rfile and wfile then read and write through. An error closes the
/// connection before the handler runs: it is counted in
/// [`Stats::refused_by_layer`](crate::Stats::refused_by_layer) and reported at debug level
/// only (a scanner is no error of the server), and the server goes on. A layer bounds its
/// own reads in time (socket timeouts it sets and restores).
///
/// ```
/// use socketserver::{Opening, Session, StreamLayer};
/// use std::io;
///
/// /// Serves loopback peers only.
/// struct LoopbackOnly;
///
/// impl StreamLayer for LoopbackOnly {
///     fn open(&self, conn: &mut Opening<'_>) -> io::Result<Option<Box<dyn Session>>> {
///         match conn.client_address().as_inet() {
///             Some(peer) if peer.ip().is_loopback() => Ok(None),
///             _ => Err(io::Error::new(io::ErrorKind::PermissionDenied, "not a loopback peer")),
///         }
///     }
/// }
/// ```
pub trait StreamLayer: Send + Sync + 'static {
    /// Opens one connection (see the trait's documentation); `Ok(None)`: plaintext from
    /// here on.
    fn open(&self, conn: &mut Opening<'_>) -> io::Result<Option<Box<dyn Session>>>;
}

/// What rfile and wfile read and write through once a layer opened one (a TLS session). It
/// is shared by both files, which a handler may use from two threads at once: an
/// implementation locks what it must for the time of its own processing, never across a
/// blocking read or write of the socket.
pub trait Session: Send + Sync {
    /// Reads plaintext into `buf` (0 at the end of the stream).
    fn read(&self, socket: &StreamSocket, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes plaintext from `buf`; returns how much it took.
    fn write(&self, socket: &StreamSocket, buf: &[u8]) -> io::Result<usize>;
    /// Sends what `write` buffered.
    fn flush(&self, socket: &StreamSocket) -> io::Result<()>;
    /// Ends the session once the handler is done, before the server shuts the connection's
    /// write side (TLS's `close_notify`).
    fn close(&self, socket: &StreamSocket) -> io::Result<()>;
}

impl std::fmt::Debug for dyn Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session")
    }
}

/// A connection being opened by the layers: its socket, who it is from, and what the layers
/// leave for the handler.
pub struct Opening<'a> {
    socket: &'a StreamSocket,
    rfile: &'a mut RFile,
    client_address: &'a mut SocketAddress,
    peer_address: &'a mut Option<SocketAddress>,
    extensions: &'a mut Extensions,
}

impl<'a> Opening<'a> {
    pub(crate) fn new(
        socket: &'a StreamSocket,
        rfile: &'a mut RFile,
        client_address: &'a mut SocketAddress,
        peer_address: &'a mut Option<SocketAddress>,
        extensions: &'a mut Extensions,
    ) -> Opening<'a> {
        Opening {
            socket,
            rfile,
            client_address,
            peer_address,
            extensions,
        }
    }

    /// The accepted socket, to read a header from or run a handshake over.
    pub fn socket(&self) -> &StreamSocket {
        self.socket
    }

    /// Reads a header the connection starts with (a PROXY protocol header) into the
    /// handler's read buffer until `parse` finds it complete, and consumes it: what came
    /// after it, even in the same segment, stays buffered for rfile (or a later layer's
    /// `read_header`), so nothing is read past the header and a header that arrives with
    /// the first request costs no read of its own.
    ///
    /// `parse` gets the bytes so far and returns the header's value and length once
    /// complete, `None` while more must be read, or an error for bytes that cannot begin a
    /// header (decide early: a client that sends something else should not wait for the
    /// deadline). Fails with [`io::ErrorKind::InvalidData`] past `max` bytes,
    /// [`io::ErrorKind::TimedOut`] at `deadline` (`None`: no limit) and
    /// [`io::ErrorKind::UnexpectedEof`] when the peer closes first. Reads the socket's own
    /// bytes: call it before any layer opens a session.
    ///
    /// ```
    /// use socketserver::{Opening, Session, StreamLayer};
    /// use std::io;
    /// use std::time::{Duration, Instant};
    ///
    /// /// Each connection starts with a line naming its tenant.
    /// struct Tenant;
    ///
    /// impl StreamLayer for Tenant {
    ///     fn open(&self, conn: &mut Opening<'_>) -> io::Result<Option<Box<dyn Session>>> {
    ///         let deadline = Instant::now() + Duration::from_secs(2);
    ///         let name = conn.read_header(64, Some(deadline), |bytes| {
    ///             Ok(bytes.iter().position(|&b| b == b'\n').map(|end| {
    ///                 (String::from_utf8_lossy(&bytes[..end]).into_owned(), end + 1)
    ///             }))
    ///         })?;
    ///         conn.insert(name);
    ///         Ok(None)
    ///     }
    /// }
    /// ```
    pub fn read_header<V>(
        &mut self,
        max: usize,
        deadline: Option<Instant>,
        parse: impl FnMut(&[u8]) -> io::Result<Option<(V, usize)>>,
    ) -> io::Result<V> {
        self.rfile.read_header(max, deadline, parse)
    }

    /// Takes the bytes a layer before this one read past its header (with
    /// [`read_header`](Opening::read_header)) and nobody consumed yet: a layer that opens a
    /// session reads them before the socket (a TLS ClientHello that came in the same segment
    /// as a PROXY header). A session opened while such bytes are left is refused, since
    /// rfile would give them to the handler as they came.
    pub fn take_read_ahead(&mut self) -> Vec<u8> {
        self.rfile.take_read_ahead()
    }

    /// Who the handler will be told the connection is from: the socket's peer, unless a
    /// layer before this one replaced it.
    pub fn client_address(&self) -> &SocketAddress {
        self.client_address
    }

    /// Tells the handler the connection is from `address` (a PROXY header's source); the
    /// socket's own peer stays available as `StreamRequest::peer_address`.
    pub fn set_client_address(&mut self, address: SocketAddress) {
        let peer = std::mem::replace(self.client_address, address);
        self.peer_address.get_or_insert(peer);
    }

    /// Leaves `value` for the handler (`StreamRequest::get`): one value per type, a later
    /// one replacing an earlier one.
    pub fn insert<V: Any + Send + Sync>(&mut self, value: V) {
        self.extensions.insert(value);
    }
}

/// What the layers left for the handler, one value per type. Empty (no allocation) without
/// layers.
#[derive(Default)]
pub(crate) struct Extensions(Vec<Box<dyn Any + Send + Sync>>);

impl Extensions {
    fn insert<V: Any + Send + Sync>(&mut self, value: V) {
        self.0.retain(|v| !v.is::<V>());
        self.0.push(Box::new(value));
    }

    pub(crate) fn get<V: Any>(&self) -> Option<&V> {
        self.0.iter().find_map(|v| v.downcast_ref())
    }
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Extensions({})", self.0.len())
    }
}

/// The layers of a server, in order.
pub(crate) type Layers = Arc<[Arc<dyn StreamLayer>]>;
