//! `StreamRequest`: one accepted connection (TCP or unix stream), Python's
//! `StreamRequestHandler` attributes as methods.

use std::io::{self, BufRead, BufWriter, Read, Write};
use std::mem::ManuallyDrop;
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::layer::{Extensions, Opening, Session, StreamLayer};
use crate::address::SocketAddress;
use crate::config::ServerConfig;
use crate::shutdown::ServerHandle;
use crate::sys;

/// An accepted stream socket: TCP or unix.
///
/// Reads and writes go through `&StreamSocket`, so a handler can keep a clone of the
/// request's socket for another thread ([`try_clone`](StreamSocket::try_clone)).
#[derive(Debug)]
pub enum StreamSocket {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A unix-domain stream connection.
    Unix(UnixStream),
}

impl StreamSocket {
    /// The TCP stream, for a `Tcp` server.
    pub fn as_tcp(&self) -> Option<&TcpStream> {
        match self {
            StreamSocket::Tcp(s) => Some(s),
            StreamSocket::Unix(_) => None,
        }
    }

    /// The unix stream, for a `UnixStream` server.
    pub fn as_unix(&self) -> Option<&UnixStream> {
        match self {
            StreamSocket::Tcp(_) => None,
            StreamSocket::Unix(s) => Some(s),
        }
    }

    /// A second handle on the same connection (`dup(2)`).
    pub fn try_clone(&self) -> io::Result<StreamSocket> {
        Ok(match self {
            StreamSocket::Tcp(s) => StreamSocket::Tcp(s.try_clone()?),
            StreamSocket::Unix(s) => StreamSocket::Unix(s.try_clone()?),
        })
    }

    /// Shuts down the read side, the write side or both (`shutdown(2)`).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            StreamSocket::Tcp(s) => s.shutdown(how),
            StreamSocket::Unix(s) => s.shutdown(how),
        }
    }

    /// Sets the read timeout (`None`: block forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            StreamSocket::Tcp(s) => s.set_read_timeout(timeout),
            StreamSocket::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    /// Sets the write timeout (`None`: block forever).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            StreamSocket::Tcp(s) => s.set_write_timeout(timeout),
            StreamSocket::Unix(s) => s.set_write_timeout(timeout),
        }
    }
}

impl Read for &StreamSocket {
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        sys::recv(self.as_raw_fd(), sys::as_uninit(buf), 0)
    }
}

impl Write for &StreamSocket {
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        sys::send(self.as_raw_fd(), buf)
    }

    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for StreamSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            StreamSocket::Tcp(s) => s.as_fd(),
            StreamSocket::Unix(s) => s.as_fd(),
        }
    }
}

impl AsRawFd for StreamSocket {
    // std's `as_raw_fd` inlines, where its `as_fd` is a call into std's code.
    #[inline]
    fn as_raw_fd(&self) -> RawFd {
        match self {
            StreamSocket::Tcp(s) => s.as_raw_fd(),
            StreamSocket::Unix(s) => s.as_raw_fd(),
        }
    }
}

/// The request's connection as `rfile` and `wfile` read and write it: a second
/// `StreamSocket` over the request's descriptor that never closes it. The `StreamRequest`
/// owns the socket and drops it after both files, and neither file can leave its request.
/// (No shared ownership: opening a request allocates nothing, which in a forked child would
/// cost page faults.)
#[derive(Debug)]
struct View(ManuallyDrop<StreamSocket>, Option<Arc<dyn Session>>);

impl View {
    /// A view of `socket`, through `session` when a layer opened one; the caller keeps
    /// `socket` open while the view lives.
    fn of(socket: &StreamSocket, session: Option<Arc<dyn Session>>) -> View {
        // The descriptor stays open while the view lives: the request owns it and drops it
        // after its files.
        let fd = socket.as_raw_fd();
        let view = match socket {
            StreamSocket::Tcp(_) => {
                StreamSocket::Tcp(ManuallyDrop::into_inner(sys::socket_view(fd)))
            }
            StreamSocket::Unix(_) => {
                StreamSocket::Unix(ManuallyDrop::into_inner(sys::socket_view(fd)))
            }
        };
        View(ManuallyDrop::new(view), session)
    }
}

impl Read for View {
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.1 {
            None => (&*self.0).read(buf),
            Some(session) => session.read(&self.0, buf),
        }
    }
}

impl Write for View {
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &self.1 {
            None => (&*self.0).write(buf),
            Some(session) => session.write(&self.0, buf),
        }
    }

    /// std's `write_all`, in the request's section (its own is a window of code of its own
    /// to a forked child).
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "failed to write whole buffer",
                    ))
                }
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    fn flush(&mut self) -> io::Result<()> {
        match &self.1 {
            None => Ok(()),
            Some(session) => session.flush(&self.0),
        }
    }
}

/// Python's `rfile`: the connection, buffered for reading lines.
///
/// Its buffer (`rbufsize` bytes) is kept by the thread when the request ends and reused by
/// the thread's next request, so a serving thread or pool worker allocates it once, and a
/// forked child none at all.
#[derive(Debug)]
pub struct RFile {
    socket: View,
    /// Holds the bytes read and not yet consumed, `buf[pos..]`; room for `rbufsize`.
    buf: Vec<u8>,
    pos: usize,
}

impl RFile {
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    fn new(socket: View, capacity: usize) -> RFile {
        let mut buf = super::spare::take(capacity);
        buf.clear();
        RFile {
            socket,
            buf,
            pos: 0,
        }
    }
}

impl RFile {
    /// Reads one line, its `b'\n'` included, appending it to `buf`, but never more than
    /// `max` bytes of it: a bounded `read_line` for input from peers that may send a line of
    /// any length (Python's `http.server` reads lines with `readline(65537)` for the same
    /// reason). Returns the number of bytes appended; 0 at EOF. A last line that ends at EOF
    /// without `b'\n'` is returned as it is.
    ///
    /// A line longer than `max` bytes (the `b'\n'` counted) is an error of kind
    /// [`io::ErrorKind::InvalidData`], "line longer than `max` bytes", as soon as its
    /// `max + 1`-th byte arrives: `buf` then holds the line's first `max` bytes and the rest
    /// of the line is left unread, so memory stays bounded whatever the peer sends. The
    /// connection is still open: the handler can answer on `wfile` (HTTP's 431, an error
    /// line) and end the request. Other errors are the socket's, with the bytes read so far
    /// appended, as with [`BufRead::read_until`]. Reads nothing more than the line.
    ///
    /// ```no_run
    /// use socketserver::{HandlerResult, RequestHandler, StreamRequest};
    /// use std::io::{self, Write};
    ///
    /// struct Headers;
    ///
    /// impl RequestHandler<StreamRequest> for Headers {
    ///     fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
    ///         let mut line = Vec::new();
    ///         loop {
    ///             line.clear();
    ///             match req.rfile().read_line_bounded(&mut line, 65536) {
    ///                 Ok(0) => return Ok(()), // EOF
    ///                 Ok(_) if line == b"\r\n" => break,
    ///                 Ok(_) => {} // a header line, at most 64 KiB
    ///                 Err(e) if e.kind() == io::ErrorKind::InvalidData => {
    ///                     req.wfile().write_all(b"HTTP/1.0 431 Line Too Long\r\n\r\n")?;
    ///                     return Ok(());
    ///                 }
    ///                 Err(e) => return Err(e.into()),
    ///             }
    ///         }
    ///         req.wfile().write_all(b"HTTP/1.0 204 No Content\r\n\r\n")?;
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn read_line_bounded(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        let mut read = 0;
        loop {
            let available = match self.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(read);
            }
            if read == max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("line longer than {max} bytes"),
                ));
            }
            let window = &available[..available.len().min(max - read)];
            let (taken, ends) = match window.iter().position(|&b| b == b'\n') {
                Some(newline) => (newline + 1, true),
                None => (window.len(), false),
            };
            buf.extend_from_slice(&window[..taken]);
            self.consume(taken);
            read += taken;
            if ends {
                return Ok(read);
            }
        }
    }
}

impl RFile {
    /// Takes the bytes read and not yet consumed out of the buffer.
    pub(crate) fn take_read_ahead(&mut self) -> Vec<u8> {
        let ahead = self.buf[self.pos..].to_vec();
        self.buf.clear();
        self.pos = 0;
        ahead
    }

    /// Whether bytes read from the socket wait in the buffer.
    fn holds_read_ahead(&self) -> bool {
        self.pos < self.buf.len()
    }

    /// Reads the header the connection starts with into the buffer until `parse` finds it
    /// complete, and consumes it (see [`Opening::read_header`]). Reads the socket itself,
    /// without blocking while it has bytes: a header that came with the first request costs
    /// the one read the handler would have made.
    pub(crate) fn read_header<V>(
        &mut self,
        max: usize,
        deadline: Option<Instant>,
        mut parse: impl FnMut(&[u8]) -> io::Result<Option<(V, usize)>>,
    ) -> io::Result<V> {
        loop {
            let held = &self.buf[self.pos..];
            if !held.is_empty() {
                if let Some((value, len)) = parse(held)? {
                    self.consume(len);
                    return Ok(value);
                }
            }
            if held.len() >= max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("header longer than {max} bytes"),
                ));
            }
            self.buf.drain(..self.pos);
            self.pos = 0;
            if self.buf.len() == self.buf.capacity() {
                self.buf.reserve_exact(max - self.buf.len());
            }
            let room = max - self.buf.len();
            let fd = self.socket.0.as_raw_fd();
            let read = sys::read_into_spare(&mut self.buf, room, |spare| {
                let room = spare.len().min(room);
                Ok((sys::recv(fd, &mut spare[..room], libc::MSG_DONTWAIT)?, ()))
            });
            match read {
                Ok((0, ())) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the connection ended before its header did",
                    ))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let remaining = match deadline {
                        Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                            Some(remaining) if !remaining.is_zero() => Some(remaining),
                            _ => {
                                return Err(io::Error::new(
                                    io::ErrorKind::TimedOut,
                                    "no complete header in time",
                                ))
                            }
                        },
                        None => None,
                    };
                    crate::poll::readable([self.socket.0.as_raw_fd()], remaining)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for RFile {
    fn drop(&mut self) {
        super::spare::keep(std::mem::take(&mut self.buf));
    }
}

impl Read for RFile {
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        // Nothing buffered and a read at least as large as the buffer: skip the copy.
        if self.pos == self.buf.len() && out.len() >= self.buf.capacity() {
            return self.socket.read(out);
        }
        let n = self.fill_buf()?.read(out)?;
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for RFile {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            match &self.socket.1 {
                None => {
                    let fd = self.socket.0.as_raw_fd();
                    sys::read_into_spare(&mut self.buf, usize::MAX, |spare| {
                        Ok((sys::recv(fd, spare, 0)?, ()))
                    })?;
                }
                Some(session) => {
                    // A session reads into initialised bytes.
                    self.buf.resize(self.buf.capacity(), 0);
                    let n = session.read(&self.socket.0, &mut self.buf);
                    self.buf.truncate(*n.as_ref().unwrap_or(&0));
                    n?;
                }
            }
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.buf.len());
    }
}

/// Python's `wfile`: writes to the connection.
///
/// Unbuffered by default, like Python's `_SocketWriter`: every `write` sends all of its bytes
/// before it returns. With `wbufsize > 0` writes are buffered and flushed when the request
/// finishes.
#[derive(Debug)]
pub struct WFile(Writer);

#[derive(Debug)]
enum Writer {
    Direct(View),
    Buffered(BufWriter<View>),
}

impl Write for WFile {
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.0 {
            Writer::Direct(socket) => socket.write_all(buf).map(|()| buf.len()),
            Writer::Buffered(writer) => writer.write(buf),
        }
    }

    /// As `write`, for a caller of `write_all` (`io::copy`): in the request's section.
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.0 {
            Writer::Direct(socket) => socket.write_all(buf),
            Writer::Buffered(writer) => writer.write_all(buf),
        }
    }

    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.0 {
            Writer::Direct(socket) => socket.flush(),
            Writer::Buffered(writer) => writer.flush(),
        }
    }
}

/// One connection, as a stream handler sees it (Python's `StreamRequestHandler` attributes).
///
/// ```no_run
/// use socketserver::{HandlerResult, RequestHandler, StreamRequest};
/// use std::io::{self, BufRead, Write};
///
/// struct Upper;
///
/// impl RequestHandler<StreamRequest> for Upper {
///     fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
///         let mut line = String::new();
///         req.rfile().read_line(&mut line)?;
///         let client = req.client_address().clone();
///         writeln!(req.wfile(), "{client} says {}", line.trim().to_uppercase())?;
///         Ok(())
///     }
/// }
/// ```
#[derive(Debug)]
pub struct StreamRequest {
    // `rfile` and `wfile` view `socket`: declared before it, so dropped before it closes.
    rfile: RFile,
    wfile: WFile,
    socket: StreamSocket,
    client_address: SocketAddress,
    /// The socket's peer, when a layer told the handler the client is someone else.
    peer_address: Option<SocketAddress>,
    extensions: Extensions,
    session: Option<Arc<dyn Session>>,
    server: ServerHandle,
}

impl StreamRequest {
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    pub(crate) fn new(
        socket: StreamSocket,
        client_address: SocketAddress,
        server: ServerHandle,
        config: &ServerConfig,
    ) -> io::Result<StreamRequest> {
        if config.stream_timeout.is_some() {
            socket.set_read_timeout(config.stream_timeout)?;
            socket.set_write_timeout(config.stream_timeout)?;
        }
        if let (true, StreamSocket::Tcp(tcp)) = (config.disable_nagle_algorithm, &socket) {
            tcp.set_nodelay(true)?;
        }
        let rfile = RFile::new(View::of(&socket, None), config.rbufsize.max(1));
        let writer = View::of(&socket, None);
        let wfile = WFile(if config.wbufsize == 0 {
            Writer::Direct(writer)
        } else {
            Writer::Buffered(BufWriter::with_capacity(config.wbufsize, writer))
        });
        Ok(StreamRequest {
            rfile,
            wfile,
            socket,
            client_address,
            peer_address: None,
            extensions: Extensions::default(),
            session: None,
            server,
        })
    }

    /// Runs the server's layers over the connection, in order (see [`StreamLayer`]); from
    /// then on rfile and wfile read and write through the session one of them opened. An
    /// error is the refusal of a layer.
    pub(crate) fn open_layers(&mut self, layers: &[Arc<dyn StreamLayer>]) -> io::Result<()> {
        for layer in layers {
            let mut opening = Opening::new(
                &self.socket,
                &mut self.rfile,
                &mut self.client_address,
                &mut self.peer_address,
                &mut self.extensions,
            );
            if let Some(opened) = layer.open(&mut opening)? {
                self.session = Some(Arc::<dyn Session>::from(opened));
            }
        }
        if let Some(session) = &self.session {
            // rfile would hand them to the handler as they came, not through the session.
            if self.rfile.holds_read_ahead() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a layer opened a session and left bytes read past a header in rfile \
                     (a session takes them with Opening::take_read_ahead)",
                ));
            }
            self.rfile.socket.1 = Some(session.clone());
            match &mut self.wfile.0 {
                Writer::Direct(view) => view.1 = Some(session.clone()),
                Writer::Buffered(writer) => writer.get_mut().1 = Some(session.clone()),
            }
        }
        Ok(())
    }

    /// The connection, buffered for reading (Python: `self.rfile`).
    pub fn rfile(&mut self) -> &mut RFile {
        &mut self.rfile
    }

    /// The connection for writing (Python: `self.wfile`).
    pub fn wfile(&mut self) -> &mut WFile {
        &mut self.wfile
    }

    /// Both files at once, for `io::copy(rfile, wfile)` and the like.
    ///
    /// ```no_run
    /// # fn echo(req: &mut socketserver::StreamRequest) -> std::io::Result<u64> {
    /// let (rfile, wfile) = req.files();
    /// std::io::copy(rfile, wfile)
    /// # }
    /// ```
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    pub fn files(&mut self) -> (&mut RFile, &mut WFile) {
        (&mut self.rfile, &mut self.wfile)
    }

    /// The connected socket (Python: `self.request`).
    pub fn socket(&self) -> &StreamSocket {
        &self.socket
    }

    /// The connection's descriptor, open until the request is dropped.
    pub(crate) fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// The client's address (Python: `self.client_address`): the socket's peer, or who a
    /// layer says the client is (a PROXY header's source).
    pub fn client_address(&self) -> &SocketAddress {
        &self.client_address
    }

    /// The socket's own peer (a proxy's address when a layer replaced the client address).
    pub fn peer_address(&self) -> &SocketAddress {
        self.peer_address.as_ref().unwrap_or(&self.client_address)
    }

    /// What a layer left for the handler, by type (a PROXY header's TLVs, a TLS session's
    /// negotiated protocol).
    pub fn get<V: std::any::Any>(&self) -> Option<&V> {
        self.extensions.get()
    }

    /// The server this request came to (Python: `self.server`).
    pub fn server(&self) -> &ServerHandle {
        &self.server
    }

    /// Flushes `wfile`, then shuts the write side so the client reads EOF (Python's
    /// `StreamRequestHandler.finish` plus `TCPServer.shutdown_request`); the socket closes
    /// when the request is dropped. Errors are ignored as in Python: the client may
    /// be gone.
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    pub(crate) fn close(&mut self) {
        self.finish_writing();
        let _ = self.socket.shutdown(Shutdown::Write);
    }

    /// Flushes `wfile` and closes the TLS session (if any), leaving the socket as it is.
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    pub(crate) fn finish_writing(&mut self) {
        let _ = self.wfile.flush();
        if let Some(session) = &self.session {
            let _ = session.close(&self.socket);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection with `data` to read, then EOF.
    fn connection_with(data: &[u8]) -> StreamSocket {
        let (ours, theirs) = UnixStream::pair().unwrap();
        (&theirs).write_all(data).unwrap();
        StreamSocket::Unix(ours)
    }

    #[test]
    fn rfile_reads_lines_across_buffer_boundaries_and_large_reads_directly() {
        let socket = connection_with(b"first line\nsecond\n0123456789");
        let mut rfile = RFile::new(View::of(&socket, None), 4);
        let mut line = String::new();
        rfile.read_line(&mut line).unwrap();
        assert_eq!(line, "first line\n");
        line.clear();
        rfile.read_line(&mut line).unwrap();
        assert_eq!(line, "second\n");
        let mut rest = [0u8; 10];
        rfile.read_exact(&mut rest).unwrap();
        assert_eq!(&rest, b"0123456789");
        assert_eq!(rfile.read(&mut rest).unwrap(), 0, "EOF");
    }

    /// Every line `read_line_bounded(.., max)` returns until EOF or an error, with an
    /// `rbufsize` of `capacity`.
    fn bounded_lines(data: &[u8], capacity: usize, max: usize) -> (Vec<Vec<u8>>, io::Result<()>) {
        let socket = connection_with(data);
        let mut rfile = RFile::new(View::of(&socket, None), capacity);
        let mut lines = Vec::new();
        loop {
            let mut line = Vec::new();
            match rfile.read_line_bounded(&mut line, max) {
                Ok(0) => return (lines, Ok(())),
                Ok(n) => {
                    assert_eq!(n, line.len());
                    lines.push(line);
                }
                Err(e) => {
                    assert_eq!(line.len(), max, "the line's first max bytes are kept");
                    lines.push(line);
                    return (lines, Err(e));
                }
            }
        }
    }

    #[test]
    fn bounded_lines_up_to_the_limit_are_read_whole_across_buffer_boundaries() {
        for capacity in [1, 3, 4, 8192] {
            let (lines, end) = bounded_lines(b"abc\n\nabcdefg\nlast", capacity, 8);
            assert!(end.is_ok(), "{capacity}");
            assert_eq!(lines, [&b"abc\n"[..], b"\n", b"abcdefg\n", b"last"]);
        }
        // Exactly `max` bytes unterminated at EOF is a line, not an overflow.
        let (lines, end) = bounded_lines(b"12345678", 4, 8);
        assert!(end.is_ok());
        assert_eq!(lines, [b"12345678"]);
    }

    #[test]
    fn a_bounded_line_longer_than_the_limit_is_invalid_data_and_the_rest_stays_unread() {
        for capacity in [1, 4, 8192] {
            let (lines, end) = bounded_lines(b"ok\n12345678\nrest\n", capacity, 8);
            let error = end.unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
            assert_eq!(error.to_string(), "line longer than 8 bytes");
            assert_eq!(lines, [&b"ok\n"[..], b"12345678"], "{capacity}");
        }
        let socket = connection_with(b"0123456789\nnext\n");
        let mut rfile = RFile::new(View::of(&socket, None), 4);
        let mut line = b"kept ".to_vec();
        assert!(rfile.read_line_bounded(&mut line, 4).is_err());
        assert_eq!(line, b"kept 0123", "appended to what buf held");
        let mut rest = String::new();
        rfile.read_to_string(&mut rest).unwrap();
        assert_eq!(
            rest, "456789\nnext\n",
            "nothing past the limit was consumed"
        );
    }

    #[test]
    fn after_an_overlong_line_the_handler_can_still_answer() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        theirs
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let sender = std::thread::spawn({
            let theirs = theirs.try_clone().unwrap();
            move || {
                // Far more than a socket buffer holds: the reader must not wait for all of it.
                let chunk = vec![b'x'; 1 << 16];
                for _ in 0..1024 {
                    if (&theirs).write_all(&chunk).is_err() {
                        break;
                    }
                }
            }
        });
        let socket = StreamSocket::Unix(ours);
        let mut rfile = RFile::new(View::of(&socket, None), 8192);
        let mut line = Vec::new();
        let error = rfile.read_line_bounded(&mut line, 65536).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(error.to_string(), "line longer than 65536 bytes");
        assert_eq!((line.len(), line.capacity() <= 2 * 65536), (65536, true));
        let mut wfile = WFile(Writer::Direct(View::of(&socket, None)));
        wfile.write_all(b"431\n").unwrap();
        drop((rfile, wfile));
        drop(socket); // the sender's next write fails
        let mut answer = [0u8; 4];
        (&theirs).read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"431\n");
        sender.join().unwrap();
    }

    #[test]
    fn the_next_request_on_a_thread_reuses_the_buffer_and_sees_only_its_own_bytes() {
        let (one, two) = (connection_with(b"abcdefgh"), connection_with(b"xy"));
        let mut first = RFile::new(View::of(&one, None), 8);
        let mut byte = [0u8];
        first.read_exact(&mut byte).unwrap(); // 7 bytes left unread in the buffer
        let address = first.buf.as_ptr();
        drop(first);
        let mut second = RFile::new(View::of(&two, None), 8);
        assert!(second.buf.is_empty());
        assert_eq!(second.buf.as_ptr(), address, "the buffer was reused");
        let mut all = Vec::new();
        second.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"xy");
    }
}
