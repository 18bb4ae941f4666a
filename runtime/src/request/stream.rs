//! `StreamRequest`: one accepted connection (TCP or unix stream), Python's
//! `StreamRequestHandler` attributes as methods.

use std::io::{self, BufRead, BufWriter, Read, Write};
use std::mem::ManuallyDrop;
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use socket2::SockRef;

use crate::address::SocketAddress;
use crate::config::ServerConfig;
use crate::shutdown::ServerHandle;

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

    fn reader(&self) -> &dyn ReadWrite {
        match self {
            StreamSocket::Tcp(s) => s,
            StreamSocket::Unix(s) => s,
        }
    }
}

/// `Read + Write` through a shared reference, as both std stream types allow.
trait ReadWrite {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn write(&self, buf: &[u8]) -> io::Result<usize>;
}

impl ReadWrite for TcpStream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(&mut &*self, buf)
    }
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        Write::write(&mut &*self, buf)
    }
}

impl ReadWrite for UnixStream {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(&mut &*self, buf)
    }
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        Write::write(&mut &*self, buf)
    }
}

impl Read for &StreamSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader().read(buf)
    }
}

impl Write for &StreamSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.reader().write(buf)
    }

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
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// The request's connection as `rfile` and `wfile` read and write it: a second
/// `StreamSocket` over the request's descriptor that never closes it. The `StreamRequest`
/// owns the socket and drops it after both files, and neither file can leave its request.
/// (No shared ownership: opening a request allocates nothing, which in a forked child would
/// cost page faults.)
#[derive(Debug)]
struct View(ManuallyDrop<StreamSocket>);

impl View {
    /// A view of `socket`; the caller keeps `socket` open while the view lives.
    fn of(socket: &StreamSocket) -> View {
        let fd = socket.as_raw_fd();
        // SAFETY: the descriptor is open, and stays open while the view lives (the request
        // owns it and drops it after its files); the view never closes it (ManuallyDrop).
        let view = unsafe {
            match socket {
                StreamSocket::Tcp(_) => StreamSocket::Tcp(TcpStream::from_raw_fd(fd)),
                StreamSocket::Unix(_) => StreamSocket::Unix(UnixStream::from_raw_fd(fd)),
            }
        };
        View(ManuallyDrop::new(view))
    }
}

impl Read for View {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for View {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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

impl Drop for RFile {
    fn drop(&mut self) {
        super::spare::keep(std::mem::take(&mut self.buf));
    }
}

impl Read for RFile {
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
            // Into the spare capacity, never initialised: only the bytes read are touched.
            let n = SockRef::from(&*self.socket.0).recv(self.buf.spare_capacity_mut())?;
            // SAFETY: `recv` initialised the first `n` bytes of the spare capacity.
            unsafe { self.buf.set_len(n) };
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
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.0 {
            Writer::Direct(socket) => socket.write_all(buf).map(|()| buf.len()),
            Writer::Buffered(writer) => writer.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.0 {
            Writer::Direct(_) => Ok(()),
            Writer::Buffered(writer) => writer.flush(),
        }
    }
}

/// One connection, as a stream handler sees it (Python's `StreamRequestHandler` attributes).
///
/// ```no_run
/// use socketserver_runtime::{HandlerResult, RequestHandler, StreamRequest};
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
    server: ServerHandle,
}

impl StreamRequest {
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
        let rfile = RFile::new(View::of(&socket), config.rbufsize.max(1));
        let writer = View::of(&socket);
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
            server,
        })
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
    /// # fn echo(req: &mut socketserver_runtime::StreamRequest) -> std::io::Result<u64> {
    /// let (rfile, wfile) = req.files();
    /// std::io::copy(rfile, wfile)
    /// # }
    /// ```
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

    /// The peer's address (Python: `self.client_address`).
    pub fn client_address(&self) -> &SocketAddress {
        &self.client_address
    }

    /// The server this request came to (Python: `self.server`).
    pub fn server(&self) -> &ServerHandle {
        &self.server
    }

    /// Flushes `wfile`, then shuts the write side so the client reads EOF (Python's
    /// `StreamRequestHandler.finish` plus `TCPServer.shutdown_request`); the socket closes
    /// when the request is dropped. Errors are ignored as in Python: the client may
    /// be gone.
    pub(crate) fn close(&mut self) {
        let _ = self.wfile.flush();
        let _ = self.socket.shutdown(Shutdown::Write);
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
        let mut rfile = RFile::new(View::of(&socket), 4);
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

    #[test]
    fn the_next_request_on_a_thread_reuses_the_buffer_and_sees_only_its_own_bytes() {
        let (one, two) = (connection_with(b"abcdefgh"), connection_with(b"xy"));
        let mut first = RFile::new(View::of(&one), 8);
        let mut byte = [0u8];
        first.read_exact(&mut byte).unwrap(); // 7 bytes left unread in the buffer
        let address = first.buf.as_ptr();
        drop(first);
        let mut second = RFile::new(View::of(&two), 8);
        assert!(second.buf.is_empty());
        assert_eq!(second.buf.as_ptr(), address, "the buffer was reused");
        let mut all = Vec::new();
        second.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"xy");
    }
}
