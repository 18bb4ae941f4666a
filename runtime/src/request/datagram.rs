//! `DatagramRequest`: one received datagram (UDP or unix datagram), Python's
//! `DatagramRequestHandler` attributes as methods.

use std::io::{self, Cursor};
use std::net::UdpSocket;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::address::SocketAddress;
use crate::inflight::Counter;
use crate::shutdown::ServerHandle;

/// The server's datagram socket, shared by every request (replies are sent from it).
#[derive(Debug)]
pub enum DatagramSocket {
    /// A UDP socket.
    Udp(UdpSocket),
    /// A unix-domain datagram socket.
    Unix(UnixDatagram),
}

impl DatagramSocket {
    /// The UDP socket, for a `Udp` server.
    pub fn as_udp(&self) -> Option<&UdpSocket> {
        match self {
            DatagramSocket::Udp(s) => Some(s),
            DatagramSocket::Unix(_) => None,
        }
    }

    /// The unix datagram socket, for a `UnixDatagram` server.
    pub fn as_unix(&self) -> Option<&UnixDatagram> {
        match self {
            DatagramSocket::Udp(_) => None,
            DatagramSocket::Unix(s) => Some(s),
        }
    }

    /// Sends one datagram to `to`; returns the number of bytes sent.
    pub fn send_to(&self, buf: &[u8], to: &SocketAddress) -> io::Result<usize> {
        self.send_with_flags(buf, to, 0)
    }

    /// `sendto(2)` of `buf` to `to` with `flags`, from the request's section (a forked
    /// child's replies go through it; socket2's own is a window of code of its own).
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    fn send_with_flags(
        &self,
        buf: &[u8],
        to: &SocketAddress,
        flags: libc::c_int,
    ) -> io::Result<usize> {
        let fd = self.as_raw_fd();
        to.with_raw(|to, len| {
            // SAFETY: `with_raw` passes an address of `len` bytes, alive during the call.
            unsafe { crate::sys::send_to(fd, buf, to, len, flags) }
        })
    }
}

impl AsFd for DatagramSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            DatagramSocket::Udp(s) => s.as_fd(),
            DatagramSocket::Unix(s) => s.as_fd(),
        }
    }
}

impl AsRawFd for DatagramSocket {
    // std's `as_raw_fd` inlines, where its `as_fd` is a call into std's code.
    #[inline]
    fn as_raw_fd(&self) -> RawFd {
        match self {
            DatagramSocket::Udp(s) => s.as_raw_fd(),
            DatagramSocket::Unix(s) => s.as_raw_fd(),
        }
    }
}

/// One datagram, as a datagram handler sees it (Python's `DatagramRequestHandler`).
///
/// `rfile()` reads the datagram; what is written to `wfile()` is sent back to the sender as
/// one datagram when the request finishes (nothing is sent if nothing was written, unless
/// `send_empty_reply` is set). `reply()` sends a datagram at once.
///
/// ```no_run
/// use socketserver::{DatagramRequest, HandlerResult, RequestHandler};
///
/// struct Upper;
///
/// impl RequestHandler<DatagramRequest> for Upper {
///     fn handle(&mut self, req: &mut DatagramRequest) -> HandlerResult {
///         let upper = req.data().to_ascii_uppercase();
///         req.reply(&upper)?;
///         Ok(())
///     }
/// }
/// ```
#[derive(Debug)]
pub struct DatagramRequest {
    rfile: Cursor<Vec<u8>>,
    wfile: Vec<u8>,
    truncated: bool,
    socket: Arc<DatagramSocket>,
    client_address: SocketAddress,
    server: ServerHandle,
    send_empty_reply: bool,
}

impl DatagramRequest {
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    pub(crate) fn new(
        data: Vec<u8>,
        reply: Option<Vec<u8>>,
        truncated: bool,
        socket: Arc<DatagramSocket>,
        client_address: SocketAddress,
        server: ServerHandle,
        send_empty_reply: bool,
    ) -> DatagramRequest {
        DatagramRequest {
            rfile: Cursor::new(data),
            wfile: reply.unwrap_or_else(super::spare::take_reply),
            truncated,
            socket,
            client_address,
            server,
            send_empty_reply,
        }
    }

    /// The datagram's bytes (Python: `self.request[0]`).
    pub fn data(&self) -> &[u8] {
        self.rfile.get_ref()
    }

    /// True when the datagram was longer than `max_packet_size` and `data()` holds only its
    /// first `max_packet_size` bytes.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// The datagram as a reader (Python: `self.rfile`).
    pub fn rfile(&mut self) -> &mut Cursor<Vec<u8>> {
        &mut self.rfile
    }

    /// The reply, sent to the client as one datagram when the request finishes (Python:
    /// `self.wfile`).
    pub fn wfile(&mut self) -> &mut Vec<u8> {
        &mut self.wfile
    }

    /// Both files at once, for `io::copy(rfile, wfile)` and the like.
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    pub fn files(&mut self) -> (&mut Cursor<Vec<u8>>, &mut Vec<u8>) {
        (&mut self.rfile, &mut self.wfile)
    }

    /// Sends `data` to the client now, as its own datagram. Never waits: when the client's
    /// queue (or the socket's send buffer) is full, the datagram is dropped, counted in
    /// [`Stats::dropped_replies`](crate::Stats::dropped_replies), and the error is
    /// [`io::ErrorKind::WouldBlock`]. A client that does not read its replies cannot hold
    /// the server.
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    pub fn reply(&self, data: &[u8]) -> io::Result<usize> {
        let sent = self
            .socket
            .send_with_flags(data, &self.client_address, libc::MSG_DONTWAIT);
        if let Err(e) = &sent {
            if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ENOBUFS)) {
                let counters = self.server.in_flight().counters();
                counters[Counter::DroppedReplies].fetch_add(1, Ordering::Relaxed);
                crate::report::debug(format_args!(
                    "reply to {} dropped: its queue is full",
                    self.client_address
                ));
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
        sent
    }

    /// The server's socket (Python: `self.request[1]`).
    pub fn socket(&self) -> &DatagramSocket {
        &self.socket
    }

    /// The sender's address (Python: `self.client_address`).
    pub fn client_address(&self) -> &SocketAddress {
        &self.client_address
    }

    /// The server this request came to (Python: `self.server`).
    pub fn server(&self) -> &ServerHandle {
        &self.server
    }

    /// Sends what was written to `wfile` (Python: `DatagramRequestHandler.finish`); a reply
    /// dropped because the client's queue is full is no error of the request.
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    pub(crate) fn close(&self) -> io::Result<()> {
        if !self.wfile.is_empty() || self.send_empty_reply {
            match self.reply(&self.wfile) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                sent => {
                    sent?;
                }
            }
        }
        Ok(())
    }
}

impl Drop for DatagramRequest {
    /// The datagram's and the reply's buffers serve the thread's next datagram.
    fn drop(&mut self) {
        super::spare::keep(std::mem::take(self.rfile.get_mut()));
        super::spare::keep_reply(std::mem::take(&mut self.wfile));
    }
}
