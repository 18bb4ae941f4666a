//! `Server<T, M, H, K>`: a transport, a mixin, a handler and hooks, and the lifecycle that
//! ties them (Python's `BaseServer`).

use std::io;
use std::marker::PhantomData;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::address::SocketAddress;
use crate::config::ServerConfig;
use crate::error::{RequestError, Stage};
use crate::handler::{run_handler, Factory, HandlerFactory, RequestHandler};
use crate::hooks::{DefaultHooks, Hooks};
use crate::inflight::Counter;
use crate::lock::lock;
use crate::mixin::{Mixin, Waker};
use crate::proxy::ProxyLayer;
use crate::request::{Layers, StreamLayer};
use crate::shutdown::ServerHandle;
use crate::transport::{BindAddress, Transport};

/// Requests taken off the socket when it stopped listening, still to be served.
pub(crate) type Drained<I> = std::sync::Mutex<Vec<(I, SocketAddress)>>;

/// What every request needs from its server, shared with the threads or children that run it.
pub(crate) struct Context<H, K> {
    create: HandlerFactory<H>,
    pub(crate) hooks: K,
    pub(crate) config: ServerConfig,
    pub(crate) handle: ServerHandle,
    /// What each stream connection passes through before its handler (none: plaintext).
    layers: Layers,
}

/// How a request served by [`Context::serve`] ended, with the request (when it was opened)
/// for the caller to drop, which closes its connection, or to leave as it is in a child.
pub(crate) enum Ended<R> {
    /// It could not be opened (the failure was reported).
    NotOpened,
    /// A layer refused it before its handler (counted apart, reported at debug level).
    Refused(R),
    /// Its handler ran and it was closed: whether all went well.
    Handled(R, bool),
}

impl<R> Ended<R> {
    /// Whether the request succeeded.
    pub(crate) fn ok(&self) -> bool {
        matches!(self, Ended::Handled(_, true))
    }
}

impl<H, K: Hooks> Context<H, K> {
    /// Opens one request, runs its layers and its handler, and closes it (flush, `SHUT_WR`
    /// or the reply); reports a failure through `handle_error`, before the request is
    /// dropped, as Python does, so a client that sees its connection close knows the error
    /// was reported. `attach` records the connection for a graceful stop's cut while the
    /// layers and the handler run (what it returns is dropped before the connection can
    /// close). In a forked child that exits next (`in_child`), the close leaves to the exit
    /// what the exit does anyway (see [`Transport::close_request_before_exit`]). Counting
    /// the end is the caller's.
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    pub(crate) fn serve<T: Transport, G>(
        &self,
        incoming: T::Incoming,
        client_address: SocketAddress,
        server: ServerHandle,
        attach: impl FnOnce(Option<std::os::fd::RawFd>) -> G,
        in_child: bool,
    ) -> Ended<T::Request>
    where
        H: RequestHandler<T::Request>,
    {
        let report = |error: RequestError| {
            self.hooks.handle_error(&client_address, &error);
            false
        };
        let opened = T::open_request(incoming, client_address.clone(), server, &self.config);
        let mut request = match opened {
            Ok(request) => request,
            Err(e) => {
                report(RequestError::error(Stage::Setup, e));
                return Ended::NotOpened;
            }
        };
        let attached = attach(T::connection(&request));
        // Attached first: a graceful stop's cut ends a layer waiting for a header too.
        if !self.layers.is_empty() {
            if let Err(e) = T::open_layers(&mut request, &self.layers) {
                drop(attached);
                self.handle.in_flight().counters()[Counter::RefusedByLayer]
                    .fetch_add(1, Ordering::Relaxed);
                crate::report::debug(format_args!(
                    "connection from {client_address} refused before its handler: {e}"
                ));
                return Ended::Refused(request);
            }
        }
        // A load balancer's own connection (a health check) ends by hanging up, often with
        // a reset: that is no error to report.
        let probe = T::is_probe(&request);
        let report = |error: RequestError| {
            if probe && error.is_disconnect() {
                crate::report::debug(format_args!(
                    "a probe from {client_address} hung up: {error}"
                ));
                return true;
            }
            report(error)
        };
        let handled = run_handler(&self.create, &mut request).map_err(report);
        drop(attached); // forgotten before the connection can close
        let closed = match in_child {
            true => T::close_request_before_exit(&mut request),
            false => T::close_request(&mut request),
        };
        let ok = match (handled, closed) {
            (Ok(()), Ok(())) => true,
            (Ok(()), Err(e)) => report(RequestError::error(Stage::Finish, e)),
            (Err(ok), _) => ok,
        };
        Ended::Handled(request, ok)
    }
}

/// A server: transport `T` (e.g. [`Tcp`](crate::transport::Tcp)), mixin `M` (e.g.
/// [`Threading`](crate::mixin::Threading)), handler `H` and hooks `K`.
///
/// ```no_run
/// use socketserver::{mixin::Threading, transport::Tcp};
/// use socketserver::{HandlerResult, RequestHandler, Server, StreamRequest};
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
    pub(crate) mixin: M,
    pub(crate) listener: Arc<T::Listener>,
    pub(crate) shared: Arc<Context<H, K>>,
    /// Set once the socket stopped listening (`stop_accepting`).
    pub(crate) stopped_listening: AtomicBool,
    /// Set once a graceful stop has closed the server.
    pub(crate) closed: AtomicBool,
    /// What the socket had queued when it stopped listening, for `close_within` to serve.
    pub(crate) drained: Drained<T::Incoming>,
    _transport: PhantomData<T>,
}

/// Options for binding a server: config, handler prototype and hooks. Start with
/// [`Server::builder`].
///
/// ```no_run
/// # use socketserver::{mixin::Serial, transport::Tcp, *};
/// # #[derive(Clone)] struct Counter;
/// # impl RequestHandler<StreamRequest> for Counter {
/// #     fn handle(&mut self, _: &mut StreamRequest) -> HandlerResult { Ok(()) }
/// # }
/// let mut config = ServerConfig::default();
/// config.allow_reuse_address = true;
/// let server = Server::<Tcp, Serial, Counter>::builder()
///     .config(config)
///     .handler(Counter)
///     .bind("127.0.0.1:0")?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Builder<T, M, H, K, C = DefaultHandler> {
    config: ServerConfig,
    create: C,
    hooks: K,
    layers: Layering,
    _server: PhantomData<ServerTypes<T, M, H>>,
}

/// The layers a builder was given: its own, and TLS.
#[derive(Default)]
struct Layering {
    added: Vec<Arc<dyn StreamLayer>>,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsConfig>,
}

/// The type parameters a builder carries for the server it builds (`fn` keeps the builder
/// `Send` and `Sync` whatever they are).
type ServerTypes<T, M, H> = fn() -> (T, M, H);

/// How a [`Builder`] makes the handler of each request.
pub trait MakeHandler<H> {
    /// Turns this into what is called once per request.
    fn into_factory(self) -> HandlerFactory<H>;
}

/// Each request gets `H::default()` (a [`Builder`] without [`Builder::handler`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultHandler;

impl<H: Default + 'static> MakeHandler<H> for DefaultHandler {
    fn into_factory(self) -> HandlerFactory<H> {
        HandlerFactory::default_handler()
    }
}

/// Each request gets a clone of the prototype (set by [`Builder::handler`]).
#[derive(Clone, Debug)]
pub struct Prototype<H>(H);

/// Each request gets what a function makes (set by [`Builder::handler_with`]).
pub struct MadeBy<H>(Factory<H>);

impl<H> std::fmt::Debug for MadeBy<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MadeBy(..)")
    }
}

impl<H> MakeHandler<H> for MadeBy<H> {
    fn into_factory(self) -> HandlerFactory<H> {
        HandlerFactory::boxed(self.0)
    }
}

impl<H: Clone + Send + Sync + 'static> MakeHandler<H> for Prototype<H> {
    fn into_factory(self) -> HandlerFactory<H> {
        let prototype = self.0;
        HandlerFactory::new(move || prototype.clone())
    }
}

impl<T, M, H, K, C> Builder<T, M, H, K, C>
where
    T: Transport,
    M: Mixin,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    /// Uses `config` instead of the builder's (for a `server!` type's builder, the options
    /// it declares: they are all replaced; to change a few, use
    /// [`configure`](Builder::configure)).
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Changes the builder's config in place, keeping what it had (for a `server!` type,
    /// the options it declares): for options chosen at run time.
    ///
    /// ```no_run
    /// # use socketserver::{mixin::Threading, transport::Tcp, *};
    /// # #[derive(Default)] struct Echo;
    /// # impl RequestHandler<StreamRequest> for Echo {
    /// #     fn handle(&mut self, _: &mut StreamRequest) -> HandlerResult { Ok(()) }
    /// # }
    /// let timeout = std::env::var("TIMEOUT").ok().and_then(|t| t.parse().ok());
    /// let server = Server::<Tcp, Threading, Echo>::builder()
    ///     .configure(|c| c.stream_timeout = timeout.map(std::time::Duration::from_secs))
    ///     .bind("127.0.0.1:0")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn configure(mut self, change: impl FnOnce(&mut ServerConfig)) -> Self {
        change(&mut self.config);
        self
    }

    /// Serves each request with a clone of `prototype` instead of `H::default()`, so state
    /// shared by every request can live in its `Arc` fields.
    pub fn handler(self, prototype: H) -> Builder<T, M, H, K, Prototype<H>>
    where
        H: Clone + Sync,
    {
        Builder {
            config: self.config,
            create: Prototype(prototype),
            hooks: self.hooks,
            layers: self.layers,
            _server: PhantomData,
        }
    }

    /// Serves each request with a handler `make` returns.
    pub fn handler_with(
        self,
        make: impl Fn() -> H + Send + Sync + 'static,
    ) -> Builder<T, M, H, K, MadeBy<H>> {
        Builder {
            config: self.config,
            create: MadeBy(Box::new(make)),
            hooks: self.hooks,
            layers: self.layers,
            _server: PhantomData,
        }
    }

    /// Adds `layer` to what each connection passes through before its handler (after the
    /// layers added before it): a PROXY protocol header to read, a TLS session to run. For
    /// stream transports only.
    pub fn layer(mut self, layer: impl StreamLayer) -> Self
    where
        T: Transport<Request = crate::StreamRequest>,
    {
        self.layers.added.push(Arc::new(layer));
        self
    }

    /// Runs TLS over every connection with `config` (see [`tls`](crate::tls)), after a
    /// PROXY header and before the layers added with [`layer`](Self::layer). For stream
    /// transports only. `server!` declares it as `transport: Tls<Tcp>`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: crate::tls::TlsConfig) -> Self
    where
        T: Transport<Request = crate::StreamRequest>,
    {
        self.layers.tls = Some(config);
        self
    }

    /// Uses `hooks` for `verify_request`, `handle_error` and the other overridable methods.
    pub fn hooks<K2: Hooks>(self, hooks: K2) -> Builder<T, M, H, K2, C> {
        Builder {
            config: self.config,
            create: self.create,
            hooks,
            layers: self.layers,
            _server: PhantomData,
        }
    }

    /// Binds to `address` (and listens, for streams): Python's `server_bind` plus
    /// `server_activate`. Every address it resolves to is tried in turn; the error names the
    /// address.
    pub fn bind<A: BindAddress<T>>(self, address: A) -> io::Result<Server<T, M, H, K>>
    where
        C: MakeHandler<H>,
    {
        let parts = (
            self.config,
            self.create.into_factory(),
            self.hooks,
            self.layers,
        );
        bind_server(&address, parts)
    }

    /// Serves the socket a service manager passed to this process (systemd's socket
    /// activation, `systemd-socket-activate`; see [`passed_sockets`](crate::passed_sockets))
    /// if it was given one, else binds to `address`: one call for a program run both ways.
    /// The passed socket is checked as [`from_listener`](Builder::from_listener) checks one,
    /// and its unix socket file (the manager's) is never removed.
    pub fn activate_or_bind<A: BindAddress<T>>(self, address: A) -> io::Result<Server<T, M, H, K>>
    where
        C: MakeHandler<H>,
    {
        match crate::activation::take(None)? {
            Some(socket) => self.serve_passed(socket),
            None => self.bind(address),
        }
    }

    /// Serves the socket a service manager passed under `name` (`LISTEN_FDNAMES`, systemd's
    /// `FileDescriptorName=`), for a program given several; an error if there is none.
    pub fn activate(self, name: &str) -> io::Result<Server<T, M, H, K>>
    where
        C: MakeHandler<H>,
    {
        match crate::activation::take(Some(name))? {
            Some(socket) => self.serve_passed(socket),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no socket named {name:?} was passed to this process (LISTEN_FDNAMES)"),
            )),
        }
    }

    fn serve_passed(self, socket: std::os::fd::OwnedFd) -> io::Result<Server<T, M, H, K>>
    where
        C: MakeHandler<H>,
    {
        let server = self.from_listener(socket).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("the socket the service manager passed: {e}"),
            )
        })?;
        // Handed down by an upgrade: the file is ours to remove, as it was our predecessor's.
        if crate::activation::handed_down()? {
            T::own_socket_file(&server.listener)?;
        }
        Ok(server)
    }

    /// Serves a socket the program already holds instead of binding one: a
    /// `std::net::TcpListener`, `UdpSocket`, `std::os::unix::net::UnixListener` or
    /// `UnixDatagram`, or any `OwnedFd` (inherited from a service manager, a predecessor
    /// process, a test). It must be of the transport's type and family, and listening for a
    /// stream transport; the error says what it is instead. Options that apply when binding
    /// (`allow_reuse_address`, `request_queue_size`, `dual_stack`, ...) are left as the socket
    /// was made; the others apply as usual. A unix socket file it is bound to is never
    /// removed: whoever bound it owns it.
    ///
    /// ```no_run
    /// # use socketserver::{mixin::Threading, transport::Tcp, *};
    /// # #[derive(Default)] struct Echo;
    /// # impl RequestHandler<StreamRequest> for Echo {
    /// #     fn handle(&mut self, _: &mut StreamRequest) -> HandlerResult { Ok(()) }
    /// # }
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let server = Server::<Tcp, Threading, Echo>::builder().from_listener(listener)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn from_listener(
        self,
        socket: impl Into<std::os::fd::OwnedFd>,
    ) -> io::Result<Server<T, M, H, K>>
    where
        C: MakeHandler<H>,
    {
        let listener = T::adopt(socket.into())?;
        let parts = (
            self.config,
            self.create.into_factory(),
            self.hooks,
            self.layers,
        );
        serve_listener(listener, parts)
    }
}

/// What a server is made of besides its socket: config, handler factory, hooks, layers.
type Parts<H, K> = (ServerConfig, HandlerFactory<H>, K, Layering);

fn bind_server<T, M, H, K, A>(address: &A, parts: Parts<H, K>) -> io::Result<Server<T, M, H, K>>
where
    T: Transport,
    M: Mixin,
    H: RequestHandler<T::Request>,
    K: Hooks,
    A: BindAddress<T>,
{
    let mut last_error = None;
    for candidate in address.resolve()? {
        match T::bind(&candidate, &parts.0) {
            Ok(listener) => return serve_listener(listener, parts),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.expect("resolve returns at least one address"))
}

/// The layers of a server of transport `T` with `config`: the PROXY header first when
/// `proxy_protocol` is on, then TLS, then the builder's own. An error for options that do
/// not fit the transport (the `server!` macro rejects them at compile time).
fn layers_for<T: Transport>(
    config: &ServerConfig,
    given: Layering,
    #[cfg_attr(not(feature = "tls"), allow(unused_variables))] server: &ServerHandle,
) -> io::Result<Layers> {
    let mut layers = Vec::new();
    let invalid = |message: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, message));
    if config.proxy_protocol && !T::STREAM {
        return invalid("proxy_protocol is for stream transports (Tcp, UnixStream) only");
    }
    if !config.trusted_proxies.is_empty() && !config.proxy_protocol {
        return invalid("trusted_proxies is set but proxy_protocol is off");
    }
    if config.proxy_protocol {
        let trusted = config.trusted_proxies.clone();
        let layer = ProxyLayer::new(trusted, config.proxy_header_timeout);
        layers.push(Arc::new(layer) as Arc<dyn StreamLayer>);
    }
    #[cfg(feature = "tls")]
    if let Some(tls) = given.tls {
        let (timeout, stream_timeout) = (config.tls_handshake_timeout, config.stream_timeout);
        let layer = crate::tls::TlsLayer::new(tls, timeout, stream_timeout, server.clone())?;
        layers.push(Arc::new(layer));
    }
    layers.extend(given.added);
    Ok(layers.into())
}

/// A server over `listener`, bound already.
fn serve_listener<T, M, H, K>(
    listener: T::Listener,
    (config, create, hooks, layers): Parts<H, K>,
) -> io::Result<Server<T, M, H, K>>
where
    T: Transport,
    M: Mixin,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    if config.workers > 0 {
        // Before the program can announce the server: a new build may replace the file
        // once it has (see `upgrade::Program::current`).
        crate::upgrade::Program::remember();
    }
    let address = T::local_address(&listener)?;
    let socket = listener.as_raw_fd();
    let handle = ServerHandle::new(address, config.max_connections, socket)?;
    let layers = layers_for::<T>(&config, layers, &handle)?;
    let mixin = M::new(&config, Waker::new(handle.clone()))?;
    let shared = Arc::new(Context {
        create,
        hooks,
        config,
        handle,
        layers,
    });
    Ok(Server {
        mixin,
        listener: Arc::new(listener),
        shared,
        stopped_listening: AtomicBool::new(false),
        closed: AtomicBool::new(false),
        drained: Drained::default(),
        _transport: PhantomData,
    })
}

impl<T, M, H, K> Server<T, M, H, K>
where
    T: Transport,
    M: Mixin,
    H: RequestHandler<T::Request>,
    K: Hooks,
{
    /// Binds with the default config and hooks; each request gets a fresh `H::default()`.
    ///
    /// Fresh means that an `Arc` field of the handler is a new one for every request, not
    /// state shared between requests: for that, give a prototype to clone
    /// ([`Builder::handler`]), or bind the `server!` type, whose `bind` clones one
    /// `Default` value when the handler is `Clone`.
    pub fn bind<A: BindAddress<T>>(address: A) -> io::Result<Self>
    where
        H: Default,
        K: Default,
    {
        Self::builder().bind(address)
    }

    /// Serves a socket the program already holds, with the default config and hooks (see
    /// [`Builder::from_listener`]); each request gets a fresh `H::default()`.
    pub fn from_listener(socket: impl Into<std::os::fd::OwnedFd>) -> io::Result<Self>
    where
        H: Default,
        K: Default,
    {
        Self::builder().from_listener(socket)
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
            layers: Layering::default(),
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

    /// Stops serving for good: stops listening at once (connections still queued in the
    /// kernel are reset, as with Python's `server_close`; [`close_within`](Server::close_within)
    /// serves them), removes a unix socket file it created, waits for requests in flight as
    /// the mixin's `block_on_close` says and closes the socket. Dropping the server does the
    /// same.
    pub fn close(self) {}
}

impl<T: Transport, M: Mixin, H, K: Hooks> Drop for Server<T, M, H, K> {
    fn drop(&mut self) {
        if !self.stopped_listening.swap(true, Ordering::SeqCst) {
            T::stop_listening(&self.listener);
        }
        // Taken but never served (`stop_accepting` without `close_within`).
        for (incoming, _) in std::mem::take(&mut *lock(&self.drained)) {
            T::reject(incoming);
        }
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
