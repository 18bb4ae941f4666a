//! `ServerConfig`: Python's class attributes (`allow_reuse_address`, `timeout`, ...) as typed
//! fields with Python's defaults.

use std::io;
use std::time::Duration;

/// The options of a server, one field per Python class attribute.
///
/// Defaults follow Python's `socketserver` except `request_queue_size` (see the field).
/// Fields that do not apply to a server's transport or mixin are ignored by the runtime; the
/// `server!` macro rejects them at compile time.
///
/// ```
/// use socketserver::ServerConfig;
/// use std::time::Duration;
///
/// let mut config = ServerConfig::default();
/// config.allow_reuse_address = true;
/// config.stream_timeout = Some(Duration::from_secs(30));
/// assert_eq!(config.max_packet_size, 8192);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// `SO_REUSEADDR` on the listening socket (Python: `allow_reuse_address`, default false).
    pub allow_reuse_address: bool,
    /// `SO_REUSEPORT` on the listening socket (Python: `allow_reuse_port`, default false).
    pub allow_reuse_port: bool,
    /// The `listen(2)` backlog. Default `SOMAXCONN` (the kernel caps it at
    /// `net.core.somaxconn`), as CPython 3.15 does; Python before 3.15 used 5, which drops
    /// connections under any burst.
    pub request_queue_size: u32,
    /// For IPv6 internet transports: also accept IPv4 clients (`IPV6_V6ONLY` off). Default
    /// false, so `[::]:port` means IPv6 only whatever the system default is.
    pub dual_stack: bool,
    /// How long `handle_request` waits before calling `handle_timeout` (Python: `timeout`,
    /// default `None`, wait forever).
    pub timeout: Option<Duration>,
    /// Read and write timeout on each accepted stream socket (Python:
    /// `StreamRequestHandler.timeout`, default `None`).
    pub stream_timeout: Option<Duration>,
    /// TCP: accept a connection only once the client has sent something, or after this long
    /// (Linux `TCP_DEFER_ACCEPT`, nginx's `deferred`; whole seconds, rounded up). Clients
    /// that connect and say nothing then wait in the kernel instead of in `accept`, so they
    /// cannot take the only thread of a `Sync` server or every worker of a pool. One that
    /// is still silent when the time is up is accepted like any other (bound it with
    /// `stream_timeout`). Default `None`: accept at once.
    pub defer_accept: Option<Duration>,
    /// `TCP_NODELAY` on each accepted TCP socket (Python:
    /// `StreamRequestHandler.disable_nagle_algorithm`, default false).
    pub disable_nagle_algorithm: bool,
    /// Buffer size of `rfile` (Python: `rbufsize`, default 8 KiB).
    pub rbufsize: usize,
    /// Buffer size of `wfile`; 0 writes straight through to the socket like Python's
    /// `_SocketWriter` (Python: `wbufsize`, default 0). A buffered `wfile` is flushed at finish.
    pub wbufsize: usize,
    /// Largest datagram read; longer ones are truncated to this size and the request says so
    /// (Python: `max_packet_size`, default 8192).
    pub max_packet_size: usize,
    /// Send the reply datagram even when the handler wrote nothing to `wfile` (Python always
    /// sends it; default false).
    pub send_empty_reply: bool,
    /// Threading: do not keep track of request threads, so `close` does not wait for them
    /// (Python: `daemon_threads`, default false).
    pub daemon_threads: bool,
    /// Threading and forking: `close` waits for requests in flight (Python: `block_on_close`,
    /// default true).
    pub block_on_close: bool,
    /// Forking: most child processes at once; at the limit the server waits for one to end
    /// (Python: `max_children`, default 40).
    pub max_children: usize,
    /// Forking: each child dies with the server (`PR_SET_PDEATHSIG`), so that a server
    /// killed outright (SIGKILL) leaves no child serving on. Default true. It holds for a
    /// server served from the process's main thread (the kernel ties a child to the thread
    /// that forked it, and another thread may end first). False saves each child two system
    /// calls, for a server whose children something else ends with it: a service manager's
    /// cgroup (systemd's default `KillMode=control-group`) or a signal to its process group.
    /// Python's `ForkingMixIn` leaves its children running.
    pub tie_children: bool,
    /// Unix transports: when the socket file exists and nothing listens on it any more,
    /// remove it and bind (default false: binding fails and says the file is stale).
    pub replace_stale_socket: bool,
    /// Pool: a fixed number of worker threads, `pool_min` = `pool_max` = N (kept for
    /// compatibility: set it, or `pool_min`/`pool_max`, not both). Default 0: an elastic pool.
    pub pool_size: usize,
    /// Pool: the workers kept warm, started at bind time and never retired; idle, they wait
    /// for requests. 0 (the default) means four per available CPU
    /// (`std::thread::available_parallelism`), at least 8, and at most `pool_max`.
    pub pool_min: usize,
    /// Pool: the most workers. While every worker is busy the pool starts one more (kept
    /// connections, such as keep-alive clients, hold a worker each), up to this many; beyond
    /// it clients wait in the kernel's backlog (or the queue). 0 (the default) means 64 per
    /// available CPU, at least 256, and at least `pool_min`.
    pub pool_max: usize,
    /// Pool: how long a worker beyond `pool_min` may stay idle before it exits. Default 60 s;
    /// `None` keeps every worker started until `close`.
    pub pool_idle: Option<Duration>,
    /// Pool: how many accepted requests may wait for a busy worker. 0 (the default): none,
    /// every idle worker waits in `accept` itself and clients wait in the kernel's backlog
    /// while all are busy (the fastest: no hand-off between threads). N > 0: the serving
    /// thread accepts into a queue of N, and stops accepting while it is full.
    pub pool_queue_size: usize,
    /// Every mixin: the most requests in flight at once; at the limit the server stops
    /// accepting until one ends (clients wait in the kernel's backlog, none is refused).
    /// 0 (the default) means no limit.
    pub max_connections: usize,
    /// Threading and Pool: stack size of each request thread in bytes; 0 (the default) keeps
    /// Rust's default (2 MiB, or `RUST_MIN_STACK`). Lower it to hold many idle connections.
    pub thread_stack_size: usize,
    /// Stream transports: every connection starts with a PROXY protocol header (v1 or v2)
    /// from the load balancer in front, and the handler's `client_address` is the client it
    /// names (see [`proxy`](crate::proxy)). Default false. Binding a datagram server with it
    /// fails.
    pub proxy_protocol: bool,
    /// With `proxy_protocol`: how long a connection has to send its whole header before it
    /// is closed unserved. Default 3 s (the protocol's advice); `None` waits forever.
    pub proxy_header_timeout: Option<Duration>,
    /// With `proxy_protocol`: the peers allowed to send a header; a connection from any
    /// other is closed unserved. Empty (the default): every peer must send one, and may.
    pub trusted_proxies: Vec<crate::trust::TrustedProxy>,
    /// With TLS (`Builder::tls`, the `tls` feature): how long a connection has to complete
    /// its handshake before it is closed unserved. Default 10 s; `None` waits forever.
    pub tls_handshake_timeout: Option<Duration>,
    /// Pre-forked workers (stream transports; `Sync`, `Threading` or `Pool` inside each):
    /// `serve_until_signal` and `serve_until` fork this many worker processes that serve
    /// the socket, while this process supervises them (see [`prefork`](crate::prefork)).
    /// `std::thread::available_parallelism()` is the usual choice. Default 0: this process
    /// serves.
    pub workers: usize,
    /// With `workers` over TCP: each worker serves a listening socket of its own, all bound
    /// to the server's address with `SO_REUSEPORT` (the master holds them, so that a
    /// worker's queue outlives the worker), instead of one socket they all share. The
    /// kernel then spreads new connections over the sockets by a hash of their addresses
    /// and ports, whatever each worker is doing: a busy worker's clients wait while
    /// another is idle (head-of-line blocking), which the shared socket avoids; what it
    /// saves is the contention of every worker waiting on one queue, which matters on many
    /// cores. Default false (see [`prefork`](crate::prefork)).
    pub workers_reuse_port: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            allow_reuse_address: false,
            allow_reuse_port: false,
            request_queue_size: libc::SOMAXCONN as u32,
            dual_stack: false,
            timeout: None,
            stream_timeout: None,
            defer_accept: None,
            disable_nagle_algorithm: false,
            rbufsize: 8192,
            wbufsize: 0,
            max_packet_size: 8192,
            send_empty_reply: false,
            daemon_threads: false,
            block_on_close: true,
            max_children: 40,
            tie_children: true,
            replace_stale_socket: false,
            pool_size: 0,
            pool_min: 0,
            pool_max: 0,
            pool_idle: Some(Duration::from_secs(60)),
            pool_queue_size: 0,
            max_connections: 0,
            thread_stack_size: 0,
            proxy_protocol: false,
            proxy_header_timeout: Some(Duration::from_secs(3)),
            trusted_proxies: Vec::new(),
            tls_handshake_timeout: Some(Duration::from_secs(10)),
            workers: 0,
            workers_reuse_port: false,
        }
    }
}

impl ServerConfig {
    /// The pool's bounds: the fewest and the most workers, from `pool_size`, or `pool_min`
    /// and `pool_max` with their defaults (a default yields to the other bound set). An
    /// `InvalidInput` error when `pool_size` is set with either, or `pool_min` > `pool_max`.
    pub fn pool_bounds(&self) -> io::Result<(usize, usize)> {
        let invalid = |message: String| Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (default_min, default_max) = ((cpus * 4).max(8), (cpus * 64).max(256));
        match (self.pool_size, self.pool_min, self.pool_max) {
            (0, 0, 0) => Ok((default_min, default_max)),
            (0, min, 0) => Ok((min, default_max.max(min))),
            (0, 0, max) => Ok((default_min.min(max), max)),
            (0, min, max) if min > max => invalid(format!(
                "pool_min ({min}) is more than pool_max ({max})"
            )),
            (0, min, max) => Ok((min, max)),
            (size, 0, 0) => Ok((size, size)),
            (size, _, _) => invalid(format!(
                "pool_size ({size}) fixes the pool's size: set it, or pool_min and pool_max, not both"
            )),
        }
    }
}

/// A builder for request threads with `thread_stack_size` (0: Rust's default) applied.
pub(crate) fn request_thread(stack_size: usize) -> std::thread::Builder {
    let builder = std::thread::Builder::new();
    match stack_size {
        0 => builder,
        size => builder.stack_size(size),
    }
}
