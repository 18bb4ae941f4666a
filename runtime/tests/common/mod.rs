//! Helpers shared by the integration tests: clients with timeouts, temporary directories, a
//! server serving on a thread with a bounded stop, recording hooks and handlers, `/proc`
//! probes.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::ops::Deref;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socketserver_runtime::mixin::Mixin;
use socketserver_runtime::transport::Transport;
use socketserver_runtime::{
    DatagramRequest, HandlerResult, Hooks, RequestError, RequestHandler, Server, ServerConfig,
    ServerHandle, SocketAddress, Stage, StreamRequest,
};

/// Every client socket gives up after this long, so a broken server fails a test instead of
/// hanging it. Also the bound on every wait for the server.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How long a negative check ("nothing arrives") waits.
pub const SHORT: Duration = Duration::from_millis(300);

/// Runs a socket call again while a signal interrupts it. A blocking socket call with a
/// timeout is never restarted after a signal handler ran (signal(7)), and test binaries
/// that fork get SIGCHLD whenever a child of any of their tests ends.
pub fn retrying<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

pub fn tcp_connect(address: &SocketAddress) -> TcpStream {
    let stream = TcpStream::connect_timeout(&address.as_inet().unwrap(), TIMEOUT).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

pub fn unix_connect(address: &SocketAddress) -> UnixStream {
    let path = address.as_unix().unwrap().as_pathname().unwrap();
    let stream = UnixStream::connect(path).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

pub fn udp_socket() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    socket
}

pub fn unix_datagram_socket(path: &Path) -> UnixDatagram {
    let socket = UnixDatagram::bind(path).unwrap();
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    socket
}

/// A connected stream client, TCP or unix, with timeouts.
#[derive(Debug)]
pub enum Client {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Client {
    /// Connects to a stream server of either kind.
    pub fn connect(address: &SocketAddress) -> Client {
        match address {
            SocketAddress::Inet(_) => Client::Tcp(tcp_connect(address)),
            SocketAddress::Unix(_) => Client::Unix(unix_connect(address)),
        }
    }

    /// Sends all of `data`.
    pub fn send(&mut self, data: &[u8]) {
        self.write_all(data).unwrap();
    }

    /// Shuts down the sending side, so the server reads EOF.
    pub fn finish_sending(&self) {
        match self {
            Client::Tcp(s) => s.shutdown(Shutdown::Write).unwrap(),
            Client::Unix(s) => s.shutdown(Shutdown::Write).unwrap(),
        }
    }

    /// Reads one line, byte by byte (so nothing after it is consumed). Panics at EOF or on a
    /// timeout.
    pub fn read_line(&mut self) -> String {
        let mut line = Vec::new();
        let mut byte = [0u8];
        while line.last() != Some(&b'\n') {
            match self.read(&mut byte) {
                Ok(0) => panic!("EOF after {:?}", String::from_utf8_lossy(&line)),
                Ok(_) => line.push(byte[0]),
                Err(e) => panic!("reading a line: {e} after {line:?}"),
            }
        }
        String::from_utf8(line).unwrap()
    }

    /// Reads until the server closes its side; panics on a timeout or a reset.
    pub fn read_to_end(&mut self) -> Vec<u8> {
        let mut data = Vec::new();
        Read::read_to_end(self, &mut data).expect("reading until EOF");
        data
    }

    /// Expects nothing to arrive within `SHORT` (a negative check: the only sleep-like wait).
    pub fn assert_nothing_arrives(&mut self) {
        self.set_read_timeout(SHORT);
        let mut byte = [0u8];
        match self.read(&mut byte) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            other => panic!("expected nothing to arrive, got {other:?}"),
        }
        self.set_read_timeout(TIMEOUT);
    }

    /// Expects the server to have cut the connection: EOF (or a reset) before any byte.
    pub fn assert_cut(&mut self) {
        let mut buf = [0u8; 64];
        match self.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Ok(n) => panic!(
                "expected the connection to be cut, got {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) => panic!("expected the connection to be cut, got {e}"),
        }
    }

    pub fn set_read_timeout(&self, timeout: Duration) {
        match self {
            Client::Tcp(s) => s.set_read_timeout(Some(timeout)).unwrap(),
            Client::Unix(s) => s.set_read_timeout(Some(timeout)).unwrap(),
        }
    }

    pub fn local_address(&self) -> SocketAddress {
        match self {
            Client::Tcp(s) => SocketAddress::Inet(s.local_addr().unwrap()),
            Client::Unix(_) => panic!("unix clients are unnamed"),
        }
    }
}

impl Read for Client {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        retrying(|| match self {
            Client::Tcp(s) => s.read(buf),
            Client::Unix(s) => s.read(buf),
        })
    }
}

impl Write for Client {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        retrying(|| match self {
            Client::Tcp(s) => s.write(buf),
            Client::Unix(s) => s.write(buf),
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One request to a stream server: connects, sends `data`, shuts down its sending side and
/// returns everything the server sent until it closed.
/// Reads what the server sends until it closes the connection; a reset (a connection closed
/// with bytes unread, as one refused before its handler is) ends it as a close does, with
/// what came before it. Panics on any other error (a timeout).
pub fn read_until_closed(client: &mut impl Read) -> Vec<u8> {
    let mut reply = Vec::new();
    match client.read_to_end(&mut reply) {
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        other => {
            other.unwrap();
        }
    }
    reply
}

/// Sends `sent` on a new TCP connection, ends the sending side, and reads the answer until
/// the server closes or resets the connection ([`read_until_closed`]).
pub fn exchange(address: &SocketAddress, sent: &[u8]) -> Vec<u8> {
    let mut client = tcp_connect(address);
    client.write_all(sent).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    read_until_closed(&mut client)
}

pub fn roundtrip(address: &SocketAddress, data: &[u8]) -> Vec<u8> {
    let mut client = Client::connect(address);
    client.send(data);
    client.finish_sending();
    client.read_to_end()
}

/// Connects and resets at once (`SO_LINGER` 0, then close: the kernel sends RST, once no
/// other process holds a copy of the socket).
pub fn connect_and_reset(address: &SocketAddress) {
    let client = tcp_connect(address);
    socket2::SockRef::from(&client)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client);
}

/// Checks that a stream server running [`Echo`] echoes.
pub fn assert_echoes(address: &SocketAddress) {
    assert_eq!(roundtrip(address, b"hello world\n"), b"hello world\n");
}

/// Sends one datagram to a UDP server and returns its reply.
pub fn udp_roundtrip(address: &SocketAddress, data: &[u8]) -> Vec<u8> {
    let socket = udp_socket();
    socket.send_to(data, address.as_inet().unwrap()).unwrap();
    let mut buf = vec![0u8; 65536];
    let n = retrying(|| socket.recv(&mut buf)).unwrap();
    buf.truncate(n);
    buf
}

/// A directory under the system's temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "socketserver-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A path for a socket file in this directory.
    pub fn socket(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A config with `change` applied to Python's defaults (`ServerConfig` is
/// `#[non_exhaustive]`, so it cannot be written as a literal).
pub fn config(change: impl FnOnce(&mut ServerConfig)) -> ServerConfig {
    let mut config = ServerConfig::default();
    change(&mut config);
    config
}

/// Runs `f` on its own thread and waits at most `TIMEOUT` for it, so that a call that never
/// returns fails the test instead of hanging it.
pub fn within<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    background(what, f).join()
}

/// A call running on a thread of its own while the test goes on; [`Background::join`]
/// waits for it at most `TIMEOUT`.
pub struct Background<R> {
    what: String,
    result: mpsc::Receiver<R>,
    thread: JoinHandle<()>,
}

/// Starts `f` on its own thread (e.g. a `close_within` that waits for the test to release a
/// request).
pub fn background<R: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> R + Send + 'static,
) -> Background<R> {
    let (tx, result) = mpsc::channel();
    let thread = thread::spawn(move || {
        let _ = tx.send(f());
    });
    Background {
        what: what.to_owned(),
        result,
        thread,
    }
}

impl<R> Background<R> {
    /// Waits (at most `TIMEOUT`) for the call to return and gives its result.
    pub fn join(self) -> R {
        match self.result.recv_timeout(TIMEOUT) {
            Ok(r) => {
                self.thread.join().unwrap();
                r
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("{} did not return within {TIMEOUT:?}", self.what)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                std::panic::resume_unwind(self.thread.join().unwrap_err())
            }
        }
    }

    /// Whether the call has returned already (without waiting).
    pub fn has_returned(&self) -> bool {
        self.thread.is_finished()
    }
}

/// Polls `condition` every few milliseconds until it holds, for at most `TIMEOUT`. Only for
/// state the test cannot be signalled about (the server reaping children).
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// A server running `serve_forever` on a thread of its own. Derefs to the server, so its
/// mixin and hooks can be inspected while it serves. Dropping it (a failed test) asks the
/// server to shut down without waiting.
pub struct Serving<T: Transport, M: Mixin, H, K: Hooks> {
    server: Option<Arc<Server<T, M, H, K>>>,
    handle: ServerHandle,
    address: SocketAddress,
    done: mpsc::Receiver<io::Result<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Starts `serve_forever` on a new thread.
pub fn serve<T, M, H, K>(server: Server<T, M, H, K>) -> Serving<T, M, H, K>
where
    T: Transport,
    M: Mixin,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    let handle = server.handle();
    let address = server.server_address().clone();
    let server = Arc::new(server);
    let serving = server.clone();
    let (tx, done) = mpsc::channel();
    let thread = thread::spawn(move || {
        let result = serving.serve_forever();
        drop(serving);
        let _ = tx.send(result);
    });
    Serving {
        server: Some(server),
        handle,
        address,
        done,
        thread: Some(thread),
    }
}

impl<T: Transport, M: Mixin, H, K: Hooks> Serving<T, M, H, K> {
    pub fn address(&self) -> SocketAddress {
        self.address.clone()
    }

    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Waits (at most `TIMEOUT`) for `serve_forever` to return, checks it returned `Ok`, and
    /// gives the server back.
    pub fn join(mut self) -> Server<T, M, H, K> {
        let result = self
            .done
            .recv_timeout(TIMEOUT)
            .expect("serve_forever did not return");
        result.expect("serve_forever failed");
        self.thread.take().unwrap().join().unwrap();
        let server = self.server.take().unwrap();
        Arc::try_unwrap(server).expect("the server is still shared")
    }

    /// Whether `serve_forever` has returned already (without waiting).
    pub fn has_returned(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Shuts the server down, waits for `serve_forever` to return and gives the server back.
    pub fn stop(self) -> Server<T, M, H, K> {
        self.handle.shutdown();
        self.join()
    }

    /// `stop`, checking that `serve_forever` returned within `bound` of the shutdown.
    pub fn stop_within(self, bound: Duration) -> Server<T, M, H, K> {
        let started = Instant::now();
        let server = self.stop();
        let took = started.elapsed();
        assert!(
            took < bound,
            "serve_forever returned {took:?} after the shutdown"
        );
        server
    }
}

impl<T: Transport, M: Mixin, H, K: Hooks> Deref for Serving<T, M, H, K> {
    type Target = Server<T, M, H, K>;

    fn deref(&self) -> &Self::Target {
        self.server.as_ref().unwrap()
    }
}

impl<T: Transport, M: Mixin, H, K: Hooks> Drop for Serving<T, M, H, K> {
    fn drop(&mut self) {
        if self.server.is_some() {
            self.handle.shutdown();
        }
    }
}

/// Echoes a stream until EOF, or a datagram back; counts the requests it handled.
#[derive(Clone, Default)]
pub struct Echo {
    pub handled: Arc<AtomicUsize>,
}

impl Echo {
    pub fn handled(&self) -> usize {
        self.handled.load(Ordering::SeqCst)
    }
}

impl RequestHandler<StreamRequest> for Echo {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        self.handled.fetch_add(1, Ordering::SeqCst);
        let (rfile, wfile) = req.files();
        io::copy(rfile, wfile)?;
        Ok(())
    }
}

impl RequestHandler<DatagramRequest> for Echo {
    fn handle(&mut self, req: &mut DatagramRequest) -> HandlerResult {
        self.handled.fetch_add(1, Ordering::SeqCst);
        let (rfile, wfile) = req.files();
        io::copy(rfile, wfile)?;
        Ok(())
    }
}

/// Greets with `hello <pid>`, then holds the connection until the client sends a line (or
/// closes), answers `bye` and counts itself finished. Lets a test keep requests in flight.
#[derive(Clone, Default)]
pub struct Greeter {
    pub finished: Arc<AtomicUsize>,
}

impl RequestHandler<StreamRequest> for Greeter {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        use std::io::BufRead;
        writeln!(req.wfile(), "hello {}", std::process::id())?;
        let mut line = String::new();
        req.rfile().read_line(&mut line)?;
        writeln!(req.wfile(), "bye")?;
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Fails every request with the error "failed on purpose".
#[derive(Default)]
pub struct Failing;

impl RequestHandler<StreamRequest> for Failing {
    fn handle(&mut self, _req: &mut StreamRequest) -> HandlerResult {
        Err("failed on purpose".into())
    }
}

/// The pid in a [`Greeter`]'s greeting.
pub fn greeting_pid(line: &str) -> i32 {
    line.trim()
        .strip_prefix("hello ")
        .unwrap_or_else(|| panic!("not a greeting: {line:?}"))
        .parse()
        .unwrap()
}

/// Connects to a [`Greeter`] server and waits for the greeting: the request is in flight
/// (it holds a thread, worker or child) until [`release`]d.
pub fn greeted(address: &SocketAddress) -> Client {
    let mut client = Client::connect(address);
    greeting_pid(&client.read_line());
    client
}

/// Ends a [`Greeter`] request normally: sends a line, expects `bye` and EOF.
pub fn release(client: &mut Client) {
    client.send(b"done\n");
    assert_eq!(client.read_line(), "bye\n");
    assert_eq!(client.read_to_end(), b"");
}

/// One call of `handle_error`, as recorded by [`Recorder`].
#[derive(Clone, Debug)]
pub struct Report {
    pub client: SocketAddress,
    pub stage: Stage,
    pub is_panic: bool,
    pub message: String,
    /// The kind of the `io::Error` the handler failed with, if it was one.
    pub io_kind: Option<io::ErrorKind>,
}

/// Hooks that record what the server reports, quietly: `handle_error` calls, timeouts and
/// loop turns. `verify_request` rejects as many upcoming clients as `reject_next` said.
#[derive(Clone, Default)]
pub struct Recorder(Arc<RecorderState>);

#[derive(Default)]
struct RecorderState {
    errors: Mutex<Vec<Report>>,
    error_reported: Condvar,
    timeouts: AtomicUsize,
    service_turns: AtomicUsize,
    to_reject: AtomicUsize,
    verified: AtomicUsize,
}

impl Recorder {
    /// The errors reported so far.
    pub fn errors(&self) -> Vec<Report> {
        self.0.errors.lock().unwrap().clone()
    }

    /// Waits (at most `TIMEOUT`) until `n` errors have been reported; returns them all.
    pub fn wait_for_errors(&self, n: usize) -> Vec<Report> {
        let errors = self.0.errors.lock().unwrap();
        let (errors, _) = self
            .0
            .error_reported
            .wait_timeout_while(errors, TIMEOUT, |e| e.len() < n)
            .unwrap();
        assert!(
            errors.len() >= n,
            "only {} errors reported: {errors:?}",
            errors.len()
        );
        errors.clone()
    }

    pub fn timeouts(&self) -> usize {
        self.0.timeouts.load(Ordering::SeqCst)
    }

    pub fn service_turns(&self) -> usize {
        self.0.service_turns.load(Ordering::SeqCst)
    }

    /// Clients `verify_request` saw.
    pub fn verified(&self) -> usize {
        self.0.verified.load(Ordering::SeqCst)
    }

    /// Has `verify_request` reject the next `n` clients.
    pub fn reject_next(&self, n: usize) {
        self.0.to_reject.store(n, Ordering::SeqCst);
    }
}

impl Hooks for Recorder {
    fn verify_request(&self, _client_address: &SocketAddress) -> bool {
        self.0.verified.fetch_add(1, Ordering::SeqCst);
        let reject = self
            .0
            .to_reject
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        reject.is_err()
    }

    fn handle_error(&self, client_address: &SocketAddress, error: &RequestError) {
        let io_kind = std::error::Error::source(error)
            .and_then(|e| e.downcast_ref::<io::Error>())
            .map(io::Error::kind);
        let report = Report {
            client: client_address.clone(),
            stage: error.stage(),
            is_panic: error.is_panic(),
            message: error.to_string(),
            io_kind,
        };
        self.0.errors.lock().unwrap().push(report);
        self.0.error_reported.notify_all();
    }

    fn handle_timeout(&self) {
        self.0.timeouts.fetch_add(1, Ordering::SeqCst);
    }

    fn service_actions(&self) {
        self.0.service_turns.fetch_add(1, Ordering::SeqCst);
    }
}

/// The number of open file descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The number of threads of this process.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// True when `pid` is a child of this process that ended and was not reaped (a zombie).
pub fn is_zombie_child(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false; // gone: reaped
    };
    // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next().unwrap();
    let ppid: u32 = fields.next().unwrap().parse().unwrap();
    state == "Z" && ppid == std::process::id()
}
