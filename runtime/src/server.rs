//! `Server<T, M, H, K>`: a transport, a mixin, a handler and hooks, and the lifecycle that
//! ties them (Python's `BaseServer`).

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::address::SocketAddress;
use crate::config::ServerConfig;
use crate::error::{RequestError, Stage};
use crate::handler::{run_handler, RequestHandler};
use crate::hooks::{DefaultHooks, Hooks};
use crate::inflight::Admission;
use crate::mixin::{Mixin, Waker};
use crate::poke::Poker;
use crate::poll;
use crate::shutdown::ServerHandle;
use crate::transport::{BindAddress, Transport};

/// How long accepting pauses when the process is out of file descriptors.
const OUT_OF_FDS_PAUSE: Duration = Duration::from_millis(100);

/// Creates the handler value for each request.
type Factory<H> = Box<dyn Fn() -> H + Send + Sync>;

/// What every request needs from its server, shared with the threads or children that run it.
struct Shared<H, K> {
    create: Factory<H>,
    hooks: K,
    config: ServerConfig,
    handle: ServerHandle,
}

impl<H, K: Hooks> Shared<H, K> {
    /// Runs one request through its handler and ends it; reports a failure through
    /// `handle_error` (before the request ends, as Python does, so a client that sees its
    /// connection close knows the error was reported). Returns whether it succeeded. The
    /// request leaves the requests in flight (`admission` dropped) once it is counted.
    fn run<T: Transport>(
        &self,
        incoming: T::Incoming,
        client_address: SocketAddress,
        admission: Admission,
    ) -> bool
    where
        H: RequestHandler<T::Request>,
    {
        let report = |error: RequestError| {
            self.hooks.handle_error(&client_address, &error);
            false
        };
        let opened = T::open_request(
            incoming,
            client_address.clone(),
            self.handle.clone(),
            &self.config,
        );
        let mut request = match opened {
            Ok(request) => request,
            Err(e) => return self.count(report(RequestError::error(Stage::Setup, e))),
        };
        admission.attach(T::connection(&request));
        let handled = run_handler(&*self.create, &mut request).map_err(report);
        let closed = T::close_request(request);
        let ok = self.count(match (handled, closed) {
            (Ok(()), Ok(())) => true,
            (Ok(()), Err(e)) => report(RequestError::error(Stage::Finish, e)),
            (Err(_), _) => false,
        });
        drop(admission);
        ok
    }

    /// Counts a request that ended; returns `ok`.
    fn count(&self, ok: bool) -> bool {
        self.handle.in_flight().counters().record_end(ok)
    }
}

/// What one attempt to take a request ended with.
enum Accepted {
    /// A request was taken (and dispatched, rejected, or failed to start), nothing was
    /// pending, or a transient error (a client that gave up) was skipped.
    Done,
    /// The process or system is out of file descriptors: pause before trying again.
    OutOfFds,
}

/// A server: transport `T` (e.g. [`Tcp`](crate::transport::Tcp)), mixin `M` (e.g.
/// [`Threading`](crate::mixin::Threading)), handler `H` and hooks `K`.
///
/// ```no_run
/// use socketserver_runtime::{mixin::Threading, transport::Tcp};
/// use socketserver_runtime::{HandlerResult, RequestHandler, Server, StreamRequest};
///
/// #[derive(Default)]
/// struct Echo;
///
/// impl RequestHandler<StreamRequest> for Echo {
///     fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
///         let (rfile, wfile) = req.files();
///         std::io::copy(rfile, wfile)?;
///         Ok(())
///     }
/// }
///
/// let server = Server::<Tcp, Threading, Echo>::bind("127.0.0.1:9000")?;
/// println!("listening on {}", server.server_address());
/// server.serve_forever()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Server<T: Transport, M: Mixin, H, K: Hooks = DefaultHooks> {
    // Field order is drop order: the mixin waits for requests before the listener closes.
    mixin: M,
    listener: T::Listener,
    shared: Arc<Shared<H, K>>,
    _transport: PhantomData<T>,
}

/// Options for binding a server: config, handler prototype and hooks. Start with
/// [`Server::builder`].
///
/// ```no_run
/// # use socketserver_runtime::{mixin::Sync, transport::Tcp, *};
/// # #[derive(Clone)] struct Counter;
/// # impl RequestHandler<StreamRequest> for Counter {
/// #     fn handle(&mut self, _: &mut StreamRequest) -> HandlerResult { Ok(()) }
/// # }
/// let mut config = ServerConfig::default();
/// config.allow_reuse_address = true;
/// let server = Server::<Tcp, Sync, Counter>::builder()
///     .config(config)
///     .handler(Counter)
///     .bind("127.0.0.1:0")?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Builder<T, M, H, K, C = DefaultHandler> {
    config: ServerConfig,
    create: C,
    hooks: K,
    _server: PhantomData<ServerTypes<T, M, H>>,
}

/// The type parameters a builder carries for the server it builds (`fn` keeps the builder
/// `Send` and `Sync` whatever they are).
type ServerTypes<T, M, H> = fn() -> (T, M, H);

/// How a [`Builder`] makes the handler of each request.
pub trait MakeHandler<H> {
    /// Turns this into the function called once per request.
    fn into_factory(self) -> Box<dyn Fn() -> H + Send + Sync>;
}

/// Each request gets `H::default()` (a [`Builder`] without [`Builder::handler`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultHandler;

impl<H: Default + 'static> MakeHandler<H> for DefaultHandler {
    fn into_factory(self) -> Box<dyn Fn() -> H + Send + Sync> {
        Box::new(H::default)
    }
}

/// Each request gets a clone of the prototype (set by [`Builder::handler`]).
#[derive(Clone, Debug)]
pub struct Prototype<H>(H);

impl<H: Clone + Send + std::marker::Sync + 'static> MakeHandler<H> for Prototype<H> {
    fn into_factory(self) -> Box<dyn Fn() -> H + Send + Sync> {
        let prototype = self.0;
        Box::new(move || prototype.clone())
    }
}

impl<T, M, H, K, C> Builder<T, M, H, K, C>
where
    T: Transport,
    M: Mixin,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    /// Uses `config` instead of [`ServerConfig::default`].
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Serves each request with a clone of `prototype` instead of `H::default()`, so state
    /// shared by every request can live in its `Arc` fields.
    pub fn handler(self, prototype: H) -> Builder<T, M, H, K, Prototype<H>>
    where
        H: Clone + std::marker::Sync,
    {
        Builder {
            config: self.config,
            create: Prototype(prototype),
            hooks: self.hooks,
            _server: PhantomData,
        }
    }

    /// Uses `hooks` for `verify_request`, `handle_error` and the other overridable methods.
    pub fn hooks<K2: Hooks>(self, hooks: K2) -> Builder<T, M, H, K2, C> {
        Builder {
            config: self.config,
            create: self.create,
            hooks,
            _server: PhantomData,
        }
    }

    /// Binds to `address` (and listens, for streams): Python's `server_bind` plus
    /// `server_activate`. Every address it resolves to is tried in turn; the error names the
    /// address.
    pub fn bind<A: BindAddress<T> + ?Sized>(self, address: &A) -> io::Result<Server<T, M, H, K>>
    where
        C: MakeHandler<H>,
    {
        bind_server(address, self.config, self.create.into_factory(), self.hooks)
    }
}

fn bind_server<T, M, H, K, A>(
    address: &A,
    config: ServerConfig,
    create: Factory<H>,
    hooks: K,
) -> io::Result<Server<T, M, H, K>>
where
    T: Transport,
    M: Mixin,
    H: RequestHandler<T::Request>,
    K: Hooks,
    A: BindAddress<T> + ?Sized,
{
    let mut last_error = None;
    for candidate in address.resolve()? {
        match T::bind(&candidate, &config) {
            Ok(listener) => {
                let address = T::local_address(&listener)?;
                // SAFETY: the listener outlives this borrow.
                let fd = unsafe { BorrowedFd::borrow_raw(listener.as_raw_fd()) };
                let poker = Poker::new(&address, fd)?;
                let handle = ServerHandle::new(address, config.max_connections, poker)?;
                let mixin = M::new(&config, Waker::new(handle.clone()))?;
                let shared = Arc::new(Shared {
                    create,
                    hooks,
                    config,
                    handle,
                });
                return Ok(Server {
                    mixin,
                    listener,
                    shared,
                    _transport: PhantomData,
                });
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.expect("resolve returns at least one address"))
}

impl<T, M, H, K> Server<T, M, H, K>
where
    T: Transport,
    M: Mixin,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    /// Binds with the default config and hooks; each request gets `H::default()`.
    pub fn bind<A: BindAddress<T> + ?Sized>(address: &A) -> io::Result<Self>
    where
        H: Default,
        K: Default,
    {
        Self::builder().bind(address)
    }

    /// Starts a [`Builder`] for a config, a handler prototype or hooks.
    pub fn builder() -> Builder<T, M, H, K>
    where
        K: Default,
    {
        Builder {
            config: ServerConfig::default(),
            create: DefaultHandler,
            hooks: K::default(),
            _server: PhantomData,
        }
    }

    /// The address the server is bound to, port 0 resolved (Python: `server_address`).
    pub fn server_address(&self) -> &SocketAddress {
        self.shared.handle.server_address()
    }

    /// A handle to shut the server down from another thread, a handler or a signal.
    pub fn handle(&self) -> ServerHandle {
        self.shared.handle.clone()
    }

    /// The server's options.
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    /// The mixin's state (e.g. [`Threading::tracked_threads`](crate::mixin::Threading::tracked_threads)).
    pub fn mixin(&self) -> &M {
        &self.mixin
    }

    /// The hooks value.
    pub fn hooks(&self) -> &K {
        &self.shared.hooks
    }

    /// Serves requests until [`ServerHandle::shutdown`] is called (Python: `serve_forever`).
    ///
    /// Waits in the blocking `accept` (`recv`) itself, or, for `Forking` and while it has no
    /// room for a request, in `poll(2)` on a wake socket: either way a shutdown ends the
    /// wait at once (there is no poll interval). Failed requests and failed accepts are
    /// reported and skipped; running out of file descriptors pauses accepting briefly
    /// instead of spinning. Returns `Ok` after a shutdown; a shutdown requested before the
    /// call makes it return at once. Call it from one thread at a time.
    pub fn serve_forever(&self) -> io::Result<()> {
        // With `allow_reuse_port`, a poke could reach another process's socket on the port.
        let blocking = !M::WAKES_WHILE_WAITING && !self.shared.config.allow_reuse_port;
        let result = if blocking {
            T::set_blocking(&self.listener, true)?;
            let served = self.serve_until_shutdown(true);
            served.and(T::set_blocking(&self.listener, false))
        } else {
            self.serve_until_shutdown(false)
        };
        self.shared.handle.clear_shutdown();
        result
    }

    /// The serving loop; `blocking`: wait in `accept` whenever there is room for a request.
    fn serve_until_shutdown(&self, blocking: bool) -> io::Result<()> {
        let handle = &self.shared.handle;
        let wake_fd = handle.wake().fd();
        let listener_fd = self.listener.as_raw_fd();
        let mut paused_until: Option<Instant> = None;
        let mut reported_out_of_fds = false;
        // Housekeeping first: wake-ups that came between two runs (a child that ended) were
        // drained when the last run ended.
        self.mixin.service_actions();
        loop {
            if handle.is_shutdown_requested() {
                return Ok(());
            }
            // An expired pause is no pause: polling with a zero timeout would spin.
            let pause = paused_until
                .map(|t| t.saturating_duration_since(Instant::now()))
                .filter(|p| !p.is_zero());
            let listening =
                pause.is_none() && self.mixin.has_capacity() && !handle.in_flight().is_full();
            let accepted = if listening && blocking {
                match handle.wait_for_request(|| self.accept_one()) {
                    Some(accepted) => Some(accepted),
                    None => return Ok(()),
                }
            } else {
                let [woken, pending] = if listening {
                    poll::readable([wake_fd, listener_fd], None)?
                } else {
                    let [woken] = poll::readable([wake_fd], pause)?;
                    [woken, false]
                };
                if woken && handle.take_wake() {
                    return Ok(());
                }
                pending.then(|| self.accept_one())
            };
            match accepted {
                Some(Accepted::OutOfFds) => {
                    if !reported_out_of_fds {
                        crate::report::error(format_args!(
                            "out of file descriptors: accepting pauses until some are freed"
                        ));
                        reported_out_of_fds = true;
                    }
                    paused_until = Some(Instant::now() + OUT_OF_FDS_PAUSE);
                }
                Some(Accepted::Done) => {
                    paused_until = None;
                    reported_out_of_fds = false;
                }
                None => {}
            }
            self.service_actions();
        }
    }

    /// Waits up to the config's `timeout` for one request and serves it (Python:
    /// `handle_request`); calls `handle_timeout` when none came in time.
    pub fn handle_request(&self) -> io::Result<()> {
        let deadline = self.shared.config.timeout.map(|t| Instant::now() + t);
        loop {
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if remaining.is_some_and(|r| r.is_zero()) {
                self.mixin.service_actions();
                self.shared.hooks.handle_timeout();
                return Ok(());
            }
            if let [true] = poll::readable([self.listener.as_raw_fd()], remaining)? {
                self.accept_one();
                return Ok(());
            }
        }
    }

    fn service_actions(&self) {
        self.mixin.service_actions();
        self.shared.hooks.service_actions();
    }

    /// Takes one pending request, if any, and hands it to the mixin (Python:
    /// `_handle_request_noblock`).
    fn accept_one(&self) -> Accepted {
        let (incoming, client_address) = match T::accept(&self.listener, &self.shared.config) {
            Ok(Some(request)) => request,
            Ok(None) => return Accepted::Done,
            Err(e) if is_out_of_fds(&e) => return Accepted::OutOfFds,
            // A client that reset before we accepted it, or another passing error: skip it.
            Err(_) => return Accepted::Done,
        };
        let shared = &self.shared;
        if shared.handle.is_poke(&client_address) {
            return Accepted::Done; // a shutdown's wake-up call, not a client
        }
        let counters = shared.handle.in_flight().counters();
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        if !shared.hooks.verify_request(&client_address) {
            counters.rejected.fetch_add(1, Ordering::Relaxed);
            T::reject(incoming);
            return Accepted::Done;
        }
        // In flight from now on, even while it waits for a pool worker: `max_connections`
        // holds before the job starts, and a graceful close waits for it.
        let admission = Admission::new(shared.handle.clone());
        let job_shared = shared.clone();
        let job_address = client_address.clone();
        let job = move || job_shared.run::<T>(incoming, job_address, admission);
        if let Err(e) = self.mixin.process(job) {
            let error = RequestError::error(Stage::Dispatch, e);
            shared.hooks.handle_error(&client_address, &error);
            counters.record_end(false);
        }
        Accepted::Done
    }

    /// Stops serving for good: waits for requests in flight as the mixin's `block_on_close`
    /// says, closes the socket and removes a unix socket file it created (Python:
    /// `server_close`). Dropping the server does the same.
    pub fn close(self) {}

    /// Closes gracefully: lets requests in flight (including those accepted and still
    /// queued for a pool worker) finish for up to `grace`, then cuts the ones still running
    /// (their connections are shut down so blocked reads return, and queued ones are cut as
    /// they start; forked children get `SIGTERM` and are reaped), waits for them to end and
    /// closes. Returns how many were cut during this call.
    /// Call it after `serve_forever` returned, so that nothing new is accepted meanwhile.
    /// [`ServerHandle::interrupt`] from another thread ends the grace period at once.
    pub fn close_within(self, grace: Duration) -> usize {
        let deadline = Instant::now() + grace;
        let handle = &self.shared.handle;
        let cut_before = handle.stats().cut;
        if !handle.in_flight().wait_idle(deadline) {
            handle.interrupt();
        }
        let stopped = self.mixin.stop(deadline);
        let counters = handle.in_flight().counters();
        counters.cut.fetch_add(stopped as u64, Ordering::Relaxed);
        // Requests still queued for a pool worker, or not yet started on their thread, are
        // cut as they start: wait for them, so that they are counted too.
        self.mixin.close();
        (handle.stats().cut - cut_before) as usize
    }
}

fn is_out_of_fds(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

impl<T: Transport, M: Mixin, H, K: Hooks> Drop for Server<T, M, H, K> {
    fn drop(&mut self) {
        self.mixin.close();
    }
}

impl<T: Transport, M: Mixin, H, K: Hooks> std::fmt::Debug for Server<T, M, H, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("transport", &std::any::type_name::<T>())
            .field("mixin", &std::any::type_name::<M>())
            .field("handler", &std::any::type_name::<H>())
            .field("server_address", self.shared.handle.server_address())
            .finish()
    }
}
