//! The two macros, re-exported with their documentation.

/// Makes an inherent `impl` block a request handler (Python's `BaseRequestHandler`
/// subclass).
///
/// # Grammar
///
/// ```text
/// #[handler]
/// impl<GENERICS> Type<...> WHERE {
///     fn setup(&mut self, req: &mut REQUEST) -> RETURN { ... }   // optional
///     fn handle(&mut self, req: &mut REQUEST) -> RETURN { ... }  // required
///     fn finish(&mut self, req: &mut REQUEST) -> RETURN { ... }  // optional
///     // any other methods, as usual
/// }
/// REQUEST = StreamRequest | DatagramRequest
/// RETURN  = nothing | () | io::Result<()> | Result<(), E> where E: Into<Box<dyn Error + Send + Sync>>
/// ```
///
/// # Requirements
/// - `handle` is present; `self` is borrowed (`&mut self` or `&self`); at most one parameter,
///   the request, and the same request type in every method; no `async`, no generics.
/// - A method whose name is close to a hook's (`handel`, `set_up`) is an error, since it would
///   never run; mark it `#[helper]` to keep it as an ordinary method.
/// - The type is `Send + 'static` (requests may run on other threads).
///
/// # Semantics
/// Implements `RequestHandler<StreamRequest>` (for `Tcp`, `UnixStream`) or
/// `RequestHandler<DatagramRequest>` (for `Udp`, `UnixDatagram`); a handler whose methods take
/// no request implements both. Each request gets a fresh value; `setup` runs first, and if it
/// succeeds `handle` runs and then `finish`, even when `handle` failed or panicked.
///
/// ```
/// use socketserver::prelude::*;
/// use std::io::{self, BufRead, Write};
///
/// #[derive(Default)]
/// struct Greeter {
///     name: String,
/// }
///
/// #[handler]
/// impl Greeter {
///     fn setup(&mut self, req: &mut StreamRequest) -> io::Result<()> {
///         req.rfile().read_line(&mut self.name)?;
///         Ok(())
///     }
///
///     fn handle(&mut self, req: &mut StreamRequest) -> io::Result<()> {
///         writeln!(req.wfile(), "hello, {}", self.name.trim())
///     }
/// }
/// ```
pub use socketserver_macros::handler;

/// Declares a server type: a transport, a mixin, a handler, and options checked at compile
/// time.
///
/// # Grammar
///
/// ```text
/// server! {
///     #[attributes] /// doc comments
///     VISIBILITY struct Name {
///         transport: Tcp | Udp | UnixStream | UnixDatagram,
///         mixin: Sync | Threading | Forking | Pool,   // default Sync
///         handler: HandlerType,
///         hooks: HooksType,                           // optional, implements Hooks
///         OPTION: VALUE, ...
///     }
/// }
/// ```
///
/// # Options
///
/// | option | value | applies to |
/// |---|---|---|
/// | `allow_reuse_address`, `allow_reuse_port`, `dual_stack` | `true`/`false` | `Tcp`, `Udp` |
/// | `request_queue_size` | 1 to 2^31-1 | `Tcp`, `UnixStream` |
/// | `timeout` | seconds (`5`, `0.25`) | every server (`handle_request`) |
/// | `stream_timeout` | seconds | `Tcp`, `UnixStream` |
/// | `defer_accept` | seconds (accept once the client has spoken) | `Tcp` |
/// | `disable_nagle_algorithm` | `true`/`false` | `Tcp` |
/// | `rbufsize` (1..) , `wbufsize` (0..) | bytes | `Tcp`, `UnixStream` |
/// | `max_packet_size` | 1 to 2^24 bytes | `Udp`, `UnixDatagram` |
/// | `send_empty_reply` | `true`/`false` | `Udp`, `UnixDatagram` |
/// | `daemon_threads` | `true`/`false` | `Threading` |
/// | `block_on_close` | `true`/`false` | `Threading`, `Forking` |
/// | `max_children` | 1 to 2^20 | `Forking` |
/// | `tie_children` | `true` (the default: children die with the server)/`false` | `Forking` |
/// | `pool_min`, `pool_max` (1 to 2^16: the workers kept warm, and the most the pool grows to while all are busy), `pool_idle` (seconds before a surplus worker ends), or `pool_size` (both bounds at once); `pool_queue_size` (0, the default: idle workers accept themselves; to 2^20: a queue) | count | `Pool` |
/// | `max_connections` | 1 to 2^24 | every server |
/// | `thread_stack_size` | 16 KiB to 1 GiB, bytes | `Threading`, `Pool` |
/// | `replace_stale_socket` | `true`/`false` | `UnixStream`, `UnixDatagram` |
/// | `proxy_protocol` | `true`/`false`: every connection starts with a PROXY header | `Tcp`, `UnixStream` |
/// | `proxy_header_timeout` | seconds (default 3), with `proxy_protocol` | `Tcp`, `UnixStream` |
/// | `trusted_proxies` | `["10.0.0.0/8", "::1", "unix"]`, with `proxy_protocol` | `Tcp`, `UnixStream` |
///
/// Each is the [`ServerConfig`](crate::ServerConfig) field of the same name; unset options
/// keep Python's defaults.
///
/// # Requirements
/// Every key is known and set once; `transport` and `handler` are present; values are
/// literals of the option's type and range; an option applies to the chosen transport and
/// mixin; the handler serves the transport's kind of request. Each is reported at compile
/// time, at the offending token.
///
/// # Semantics
/// Declares `struct Name` (visibility, attributes and doc comments kept) wrapping
/// [`Server`](crate::Server)`<Transport, Mixin, Handler, Hooks>`, with inlined methods that
/// delegate to it: `bind`, `bind_with_handler`, `builder`, `config`, `serve_forever`,
/// `serve_until_signal`, `serve_until`, `handle_request`, `handle`, `server_address`, `server`, `close`,
/// `close_within`; plus `From` the runtime
/// server and `Debug`. `bind` needs a `Default` handler (and hooks), `bind_with_handler` a
/// `Clone` one; hooks without `Default` go through `builder().hooks(...)` and `From`.
///
/// `#[cfg(...)]` on the struct applies to everything the macro declares. The standard
/// derives are rejected (`Debug` is already implemented; the wrapped server is neither
/// `Clone`, `Default` nor comparable); other attributes pass through. The handler and hooks
/// types are named once, in hidden aliases `__NameHandler` / `__NameHooks`, so a misspelt
/// type is reported once; a handler that is not `Send` is reported at `handler:`.
///
/// ```
/// use socketserver::prelude::*;
/// use std::io;
///
/// #[derive(Default)]
/// struct Upper;
///
/// #[handler]
/// impl Upper {
///     fn handle(&mut self, req: &mut DatagramRequest) -> io::Result<()> {
///         let reply = req.data().to_ascii_uppercase();
///         req.wfile().extend_from_slice(&reply);
///         Ok(())
///     }
/// }
///
/// server! {
///     /// Upper-cases datagrams.
///     pub struct UpperServer {
///         transport: Udp,
///         mixin: Threading,
///         handler: Upper,
///         max_packet_size: 1024,
///     }
/// }
///
/// let server = UpperServer::bind("127.0.0.1:0")?;
/// let client = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// client.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
/// client.send_to(b"hi", server.server_address().as_inet().unwrap())?;
/// server.handle_request()?;
/// let mut buf = [0; 16];
/// let n = client.recv(&mut buf)?;
/// assert_eq!(&buf[..n], b"HI");
/// # Ok::<(), io::Error>(())
/// ```
pub use socketserver_macros::server;
