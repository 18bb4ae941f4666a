//! The load generator: blocking clients, a thread each, every network operation under a
//! timeout, every failure counted, bounded in time (or in operations, under a hard time
//! limit) so that it never hangs. With the `tls` feature, TCP connections can speak TLS
//! ([`tls_client`]).

#[cfg(feature = "tls")]
pub mod tls_client;

use socketserver::proxy::{ProxiedAddresses, ProxyHeader, Version};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{percentile_sorted, Addr, Scenario, Transport};

/// How long a datagram client waits for an echo before it counts the datagram as lost.
const DATAGRAM_WAIT: Duration = Duration::from_millis(200);

/// What to run.
#[derive(Clone, Debug)]
pub struct Spec {
    /// The kind of load.
    pub scenario: Scenario,
    /// The transport (stream scenarios need a stream transport, `datagram` a datagram one).
    pub transport: Transport,
    /// The server.
    pub addr: Addr,
    /// Client threads: open connections (pingpong, stream), concurrent connectors (churn),
    /// datagram sockets (datagram).
    pub conns: usize,
    /// Message size in bytes (the chunk size for `stream`).
    pub size: usize,
    /// How long to run, when `ops` is not set.
    pub duration: Duration,
    /// Run exactly this many operations (across all clients) instead of for `duration`.
    pub ops: Option<u64>,
    /// The limit on each connect, read and write.
    pub timeout: Duration,
    /// The limit on the whole run in `ops` mode.
    pub limit: Duration,
    /// Stream scenarios: each connection starts with a PROXY v2 header (as HAProxy's
    /// `send-proxy-v2` sends), in the same write as its first message.
    pub proxy_header: bool,
    /// TCP scenarios: every connection speaks TLS with this client configuration, its
    /// handshake part of the connect (so of churn's operation, not of pingpong's).
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// The PROXY v2 header a connection starts with when `Spec::proxy_header` is set: TCP over
/// IPv4, from a made-up client.
fn proxy_header() -> Vec<u8> {
    let addresses = ProxiedAddresses::Inet {
        source: ([192, 0, 2, 1], 40000).into(),
        destination: ([127, 0, 0, 1], 443).into(),
    };
    let header = ProxyHeader {
        version: Version::V2,
        local: false,
        addresses,
        tlvs: Vec::new(),
    };
    header.to_bytes().expect("an IPv4 v2 header encodes")
}

/// What a connection of `spec` sends first: the header, if any, then `msg`.
fn first_message(spec: &Spec, msg: &[u8]) -> Vec<u8> {
    let mut first = if spec.proxy_header {
        proxy_header()
    } else {
        Vec::new()
    };
    first.extend_from_slice(msg);
    first
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Operations completed (round trips, connections, datagrams, chunks echoed).
    pub ops: u64,
    /// Seconds from the start of the load to the end of the last client.
    pub secs: f64,
    /// Failed operations (connect, read, write, timeout, wrong echo, lost datagram).
    pub errors: u64,
    /// Bytes echoed back.
    pub bytes: u64,
    /// Median latency of one operation, in microseconds.
    pub p50_us: Option<f64>,
    /// 99th percentile latency, in microseconds.
    pub p99_us: Option<f64>,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
}

impl Outcome {
    /// Operations per second.
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.ops as f64 / self.secs
        } else {
            0.0
        }
    }

    /// Echoed megabytes (10^6) per second.
    pub fn mb_per_sec(&self) -> f64 {
        if self.secs > 0.0 {
            self.bytes as f64 / self.secs / 1e6
        } else {
            0.0
        }
    }

    /// The one line the `loadgen` binary prints for the driver.
    pub fn to_line(&self) -> String {
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        format!(
            "RESULT ops={} secs={:.6} errors={} bytes={} p50_us={} p99_us={}",
            self.ops,
            self.secs,
            self.errors,
            self.bytes,
            opt(self.p50_us),
            opt(self.p99_us)
        )
    }

    /// Parses [`to_line`](Self::to_line)'s output.
    pub fn parse(line: &str) -> Option<Outcome> {
        let rest = line.trim().strip_prefix("RESULT ")?;
        let mut out = Outcome::default();
        for field in rest.split_whitespace() {
            let (key, value) = field.split_once('=')?;
            match key {
                "ops" => out.ops = value.parse().ok()?,
                "secs" => out.secs = value.parse().ok()?,
                "errors" => out.errors = value.parse().ok()?,
                "bytes" => out.bytes = value.parse().ok()?,
                "p50_us" => out.p50_us = value.parse().ok(),
                "p99_us" => out.p99_us = value.parse().ok(),
                _ => {}
            }
        }
        Some(out)
    }
}

/// What the clients may still do: until a deadline, or a number of operations.
struct Budget {
    start: OnceLock<Instant>,
    duration: Duration,
    ops: Option<u64>,
    taken: AtomicU64,
    hard_deadline: Instant,
}

impl Budget {
    fn new(spec: &Spec) -> Budget {
        let limit = match spec.ops {
            Some(_) => spec.limit,
            None => spec.duration + spec.timeout * 4,
        };
        Budget {
            start: OnceLock::new(),
            duration: spec.duration,
            ops: spec.ops,
            taken: AtomicU64::new(0),
            hard_deadline: Instant::now() + limit,
        }
    }

    /// Starts the clock (once).
    fn begin(&self) -> Instant {
        *self.start.get_or_init(Instant::now)
    }

    /// Claims one more operation; false when the run is over.
    fn take(&self) -> bool {
        let now = Instant::now();
        if now >= self.hard_deadline {
            return false;
        }
        match self.ops {
            Some(n) => self.taken.fetch_add(1, Ordering::Relaxed) < n,
            None => now < self.begin() + self.duration,
        }
    }
}

/// One client's counts.
#[derive(Default)]
struct Tally {
    ops: u64,
    errors: u64,
    bytes: u64,
    latencies_ns: Vec<u32>,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, what: &str, e: impl fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{what}: {e}"));
        }
    }

    fn done(&mut self, started: Instant, bytes: usize) {
        self.ops += 1;
        self.bytes += bytes as u64;
        let ns = started.elapsed().as_nanos().min(u32::MAX as u128) as u32;
        self.latencies_ns.push(ns);
    }

    fn merge(&mut self, other: Tally) {
        self.ops += other.ops;
        self.errors += other.errors;
        self.bytes += other.bytes;
        self.latencies_ns.extend(other.latencies_ns);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn into_outcome(mut self, secs: f64) -> Outcome {
        self.latencies_ns.sort_unstable();
        let us = |p| percentile_sorted(&self.latencies_ns, p).map(|ns| f64::from(ns) / 1e3);
        Outcome {
            ops: self.ops,
            secs,
            errors: self.errors,
            bytes: self.bytes,
            p50_us: us(50.0),
            p99_us: us(99.0),
            first_error: self.first_error.clone(),
        }
    }
}

/// A client connection: TCP, unix stream, or TLS over TCP.
enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
    #[cfg(feature = "tls")]
    Tls(Box<tls_client::Stream>),
}

impl Conn {
    /// Connects to the server of `spec`, under its timeout (and, for TLS, handshakes).
    fn connect(spec: &Spec) -> io::Result<Conn> {
        let conn = match &spec.addr {
            Addr::Inet(a) => {
                let s = TcpStream::connect_timeout(a, spec.timeout)?;
                s.set_nodelay(true)?;
                Conn::Tcp(s)
            }
            // A unix connect does not wait on the server (it fails when the backlog is
            // full); the watchdog covers the rest.
            Addr::Unix(p) => Conn::Unix(UnixStream::connect(p)?),
        };
        conn.set_timeouts(Some(spec.timeout))?;
        #[cfg(feature = "tls")]
        let conn = match (conn, &spec.tls) {
            (Conn::Tcp(tcp), Some(config)) => {
                Conn::Tls(Box::new(tls_client::handshake(config, tcp)?))
            }
            (conn, _) => conn,
        };
        Ok(conn)
    }

    fn set_timeouts(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Conn::Tcp(s) => {
                s.set_read_timeout(timeout)?;
                s.set_write_timeout(timeout)
            }
            Conn::Unix(s) => {
                s.set_read_timeout(timeout)?;
                s.set_write_timeout(timeout)
            }
            #[cfg(feature = "tls")]
            Conn::Tls(s) => {
                s.sock.set_read_timeout(timeout)?;
                s.sock.set_write_timeout(timeout)
            }
        }
    }

    /// The stream scenario's two halves: the connection itself and a clone of it, or for
    /// TLS the two halves of [`tls_client::split`].
    fn split(self) -> io::Result<(Box<dyn WriteHalf>, Box<dyn Read + Send>)> {
        Ok(match self {
            Conn::Tcp(s) => (Box::new(s.try_clone()?), Box::new(s)),
            Conn::Unix(s) => (Box::new(s.try_clone()?), Box::new(s)),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => {
                let (writer, reader) = tls_client::split(*s)?;
                (Box::new(writer), Box::new(reader))
            }
        })
    }

    /// Closes the connection; TLS sends its close_notify first.
    fn close(self) {
        #[cfg(feature = "tls")]
        if let Conn::Tls(s) = self {
            tls_client::close(*s);
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            Conn::Unix(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The sending half of a stream scenario's connection, which ends its sending (the reader
/// still reading the echo).
trait WriteHalf: Write + Send {
    /// Shuts down the sending direction (after a close_notify, for TLS).
    fn finish(&mut self) -> io::Result<()>;
}

impl WriteHalf for TcpStream {
    fn finish(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl WriteHalf for UnixStream {
    fn finish(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

/// A message of `size` bytes whose first bytes carry `seq`, so that an echo of another
/// message is caught.
fn stamp(msg: &mut [u8], seq: u64) {
    let bytes = seq.to_le_bytes();
    let n = msg.len().min(8);
    msg[..n].copy_from_slice(&bytes[..n]);
}

fn message(size: usize, client: usize) -> Vec<u8> {
    (0..size).map(|i| (i + client) as u8 | 1).collect()
}

/// Runs `spec` and returns what it did. Never blocks longer than the budget's hard limit
/// plus one timeout per client.
pub fn run(spec: &Spec) -> Result<Outcome, String> {
    match (spec.scenario, spec.transport.is_stream()) {
        (Scenario::Datagram, false) => Ok(datagram(spec)),
        (Scenario::Datagram, true) => Err("datagram needs udp or unix-dgram".into()),
        (_, false) => Err(format!("{} needs tcp or unix", spec.scenario)),
        (Scenario::PingPong, true) => Ok(over_connections(spec, pingpong_client)),
        (Scenario::Churn, true) => Ok(churn(spec)),
        (Scenario::Stream, true) => Ok(over_connections(spec, stream_client)),
    }
}

/// Runs `clients` threads over `work`, all released at once; the clock starts at the
/// release. Returns the merged tally and the elapsed seconds.
fn run_clients<C: Send + 'static>(
    budget: Arc<Budget>,
    clients: Vec<C>,
    work: fn(C, usize, &Spec, &Budget) -> Tally,
    spec: &Spec,
) -> (Tally, f64) {
    let barrier = Arc::new(Barrier::new(clients.len() + 1));
    let mut threads = Vec::new();
    let mut tally = Tally::default();
    for (i, client) in clients.into_iter().enumerate() {
        let (budget, released, spec) = (budget.clone(), barrier.clone(), spec.clone());
        let spawned = thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                released.wait();
                work(client, i, &spec, &budget)
            });
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => {
                tally.error("spawn", e);
                // Keep the barrier's count right: this client will never wait on it.
                let barrier = barrier.clone();
                threads.push(thread::spawn(move || {
                    barrier.wait();
                    Tally::default()
                }));
            }
        }
    }
    let start = budget.begin();
    barrier.wait();
    for t in threads {
        match t.join() {
            Ok(t) => tally.merge(t),
            Err(_) => tally.error("client", "panicked"),
        }
    }
    (tally, start.elapsed().as_secs_f64())
}

/// Connects `spec.conns` clients; failures are counted.
fn connect_all(spec: &Spec, tally: &mut Tally) -> Vec<Conn> {
    let mut conns = Vec::new();
    for _ in 0..spec.conns {
        match Conn::connect(spec) {
            Ok(c) => conns.push(c),
            Err(e) => tally.error("connect", e),
        }
    }
    conns
}

/// Opens `spec.conns` connections (failures counted), then runs `client` on each.
fn over_connections(spec: &Spec, client: fn(Conn, usize, &Spec, &Budget) -> Tally) -> Outcome {
    let budget = Arc::new(Budget::new(spec));
    let mut tally = Tally::default();
    let conns = connect_all(spec, &mut tally);
    let (clients, secs) = run_clients(budget, conns, client, spec);
    tally.merge(clients);
    tally.into_outcome(secs)
}

fn pingpong_client(mut conn: Conn, i: usize, spec: &Spec, budget: &Budget) -> Tally {
    let mut tally = Tally::default();
    let mut msg = message(spec.size, i);
    let mut buf = vec![0u8; spec.size];
    let mut seq = 0u64;
    while budget.take() {
        seq += 1;
        stamp(&mut msg, seq);
        let started = Instant::now();
        let sent = match seq {
            1 => conn.write_all(&first_message(spec, &msg)),
            _ => conn.write_all(&msg),
        };
        if let Err(e) = sent {
            tally.error("write", e);
            break;
        }
        if let Err(e) = conn.read_exact(&mut buf) {
            tally.error("read", e);
            break;
        }
        if buf != msg {
            tally.error("echo", "bytes differ");
            break;
        }
        tally.done(started, spec.size);
    }
    conn.close();
    tally
}

fn churn(spec: &Spec) -> Outcome {
    let budget = Arc::new(Budget::new(spec));
    let (tally, secs) = run_clients(budget, vec![(); spec.conns], churn_client, spec);
    tally.into_outcome(secs)
}

fn churn_client((): (), i: usize, spec: &Spec, budget: &Budget) -> Tally {
    let mut tally = Tally::default();
    let msg = message(spec.size, i);
    let first = first_message(spec, &msg);
    let mut buf = vec![0u8; spec.size];
    while budget.take() {
        let started = Instant::now();
        let result = (|| {
            let mut conn = Conn::connect(spec)?;
            conn.write_all(&first)?;
            conn.read_exact(&mut buf)?;
            if buf != msg {
                return Err(io::Error::other("echo bytes differ"));
            }
            conn.close();
            Ok(())
        })();
        match result {
            Ok(()) => tally.done(started, spec.size),
            Err(e) => {
                tally.error("churn", e);
                thread::sleep(Duration::from_millis(1));
            }
        }
    }
    tally
}

/// A client datagram socket, connected to the server.
enum Dgram {
    Udp(UdpSocket),
    Unix(UnixDatagram, PathBuf),
}

impl Dgram {
    fn open(addr: &Addr, i: usize) -> io::Result<Dgram> {
        let socket = match addr {
            Addr::Inet(a) => {
                let s = UdpSocket::bind("127.0.0.1:0")?;
                s.connect(a)?;
                Dgram::Udp(s)
            }
            Addr::Unix(p) => {
                // A unix datagram client must be bound to be answered.
                let dir = p
                    .parent()
                    .map_or_else(std::env::temp_dir, |d| d.to_path_buf());
                let path = dir.join(format!("lg-{}-{i}.sock", std::process::id()));
                let _ = std::fs::remove_file(&path);
                let s = UnixDatagram::bind(&path)?;
                let s = Dgram::Unix(s, path);
                match &s {
                    Dgram::Unix(u, _) => u.connect(p)?,
                    Dgram::Udp(_) => unreachable!(),
                }
                s
            }
        };
        match &socket {
            Dgram::Udp(s) => s.set_read_timeout(Some(DATAGRAM_WAIT))?,
            Dgram::Unix(s, _) => s.set_read_timeout(Some(DATAGRAM_WAIT))?,
        }
        Ok(socket)
    }

    fn send(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Dgram::Udp(s) => s.send(buf),
            Dgram::Unix(s, _) => s.send(buf),
        }
    }

    fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Dgram::Udp(s) => s.recv(buf),
            Dgram::Unix(s, _) => s.recv(buf),
        }
    }
}

impl Drop for Dgram {
    fn drop(&mut self) {
        if let Dgram::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn datagram(spec: &Spec) -> Outcome {
    let budget = Arc::new(Budget::new(spec));
    let mut tally = Tally::default();
    let mut sockets = Vec::new();
    for i in 0..spec.conns {
        match Dgram::open(&spec.addr, i) {
            Ok(s) => sockets.push(s),
            Err(e) => tally.error("socket", e),
        }
    }
    let (clients, secs) = run_clients(budget, sockets, datagram_client, spec);
    tally.merge(clients);
    tally.into_outcome(secs)
}

fn datagram_client(socket: Dgram, i: usize, spec: &Spec, budget: &Budget) -> Tally {
    let mut tally = Tally::default();
    let size = spec.size.max(8);
    let mut msg = message(size, i);
    let mut buf = vec![0u8; size + 1];
    let mut seq = 0u64;
    while budget.take() {
        seq += 1;
        stamp(&mut msg, seq);
        let started = Instant::now();
        if let Err(e) = socket.send(&msg) {
            tally.error("send", e);
            thread::sleep(Duration::from_millis(1));
            continue;
        }
        // Replies to earlier (timed-out) datagrams are skipped.
        loop {
            match socket.recv(&mut buf) {
                Ok(n) if buf[..n] == msg[..] => {
                    tally.done(started, size);
                    break;
                }
                Ok(_) if started.elapsed() < DATAGRAM_WAIT => continue,
                Ok(_) => {
                    tally.error("recv", "no echo of this datagram");
                    break;
                }
                Err(e) => {
                    tally.error("recv", e);
                    break;
                }
            }
        }
    }
    tally
}

/// Writes chunks while the budget lasts, then shuts its write side; a reader thread counts
/// the echo until EOF. An op is a chunk echoed back whole.
fn stream_client(conn: Conn, i: usize, spec: &Spec, budget: &Budget) -> Tally {
    let mut tally = Tally::default();
    let (mut conn, mut reader) = match conn.split() {
        Ok(halves) => halves,
        Err(e) => {
            tally.error("clone", e);
            return tally;
        }
    };
    let reading = thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        let mut total = 0u64;
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => total += n as u64,
                Err(e) => return Err((total, e)),
            }
        }
    });
    let chunk = message(spec.size, i);
    let mut written = 0u64;
    while budget.take() {
        if let Err(e) = conn.write_all(&chunk) {
            tally.error("write", e);
            break;
        }
        written += chunk.len() as u64;
    }
    if let Err(e) = conn.finish() {
        tally.error("shutdown", e);
    }
    let read = match reading.join() {
        Ok(Ok(n)) => n,
        Ok(Err((n, e))) => {
            tally.error("read", e);
            n
        }
        Err(_) => {
            tally.error("reader", "panicked");
            0
        }
    };
    if read != written {
        tally.error("echo", format!("wrote {written} bytes, read {read}"));
    }
    tally.ops += read / spec.size.max(1) as u64;
    tally.bytes += read;
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_line_round_trips() {
        let o = Outcome {
            ops: 10,
            secs: 1.5,
            errors: 2,
            bytes: 640,
            p50_us: Some(12.5),
            p99_us: None,
            first_error: None,
        };
        assert_eq!(Outcome::parse(&o.to_line()), Some(o));
    }
}
