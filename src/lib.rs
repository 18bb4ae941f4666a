//! Python's `socketserver` for Rust: write a handler, declare a server, serve.
//!
//! ```no_run
//! use socketserver::prelude::*;
//! use std::io;
//!
//! #[derive(Default)]
//! struct Echo;
//!
//! #[handler]
//! impl Echo {
//!     fn handle(&mut self, req: &mut StreamRequest) -> io::Result<()> {
//!         let (rfile, wfile) = req.files();
//!         io::copy(rfile, wfile)?;
//!         Ok(())
//!     }
//! }
//!
//! server! {
//!     /// Echo over TCP, a thread per connection.
//!     pub struct EchoServer {
//!         transport: Tcp,
//!         mixin: Threading,
//!         handler: Echo,
//!         allow_reuse_address: true,
//!     }
//! }
//!
//! fn main() -> io::Result<()> {
//!     let server = EchoServer::bind("127.0.0.1:9000")?;
//!     println!("listening on {}", server.server_address());
//!     server.serve_forever()
//! }
//! ```
//!
//! The runtime underneath ([`Server`], [`transport`], [`mixin`]) is usable on its own; the
//! macros only write what you could write against it.

pub use socketserver_runtime::*;

mod macros;
pub use macros::{handler, server};

/// The names a server module needs: the macros, the request types, the transports and the
/// mixins (`Serial` is what `mixin: Sync` names in `server!`: Python's plain servers).
pub mod prelude {
    pub use crate::mixin::{Forking, Pool, Serial, Threading};
    pub use crate::transport::{Tcp, Udp, UnixDatagram, UnixStream};
    pub use crate::{
        handler, server, DatagramRequest, HandlerResult, Hooks, RequestHandler, ServerConfig,
        ServerHandle, ShutdownSignals, SocketAddress, StreamRequest,
    };
}

/// What the macros expand to. Not public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "tls")]
    pub use socketserver_runtime::tls;
    pub use socketserver_runtime::transport::{self, BindAddress, Transport};
    pub use socketserver_runtime::{
        mixin, Builder, DatagramRequest, DefaultHooks, HandlerResult, Hooks, MadeBy,
        RequestHandler, Server, ServerConfig, ServerHandle, ShutdownSignals, SocketAddress,
        StreamRequest,
    };

    use socketserver_runtime::BoxError;

    /// A trusted proxy `server!` checked already.
    pub fn trusted_proxy(text: &str) -> socketserver_runtime::proxy::TrustedProxy {
        match text.parse() {
            Ok(proxy) => proxy,
            Err(e) => panic!("server! let through {e}"),
        }
    }

    /// How a `server!` type's `bind` makes each request's handler, chosen by the handler's
    /// type (autoref specialisation: `(&HandlerSource::<H>::new()).each_request()` finds
    /// [`SharedDefault`] first when `H` is `Clone + Send + Sync`, else [`FreshDefault`]).
    pub struct HandlerSource<H>(::core::marker::PhantomData<fn() -> H>);

    impl<H> HandlerSource<H> {
        /// The source for handler `H`.
        pub fn new() -> Self {
            HandlerSource(::core::marker::PhantomData)
        }
    }

    impl<H> Default for HandlerSource<H> {
        fn default() -> Self {
            Self::new()
        }
    }

    /// One `Default` value, cloned for each request: its `Arc` fields are shared by every
    /// request, as Python's attributes of `self.server`.
    pub trait SharedDefault<H> {
        /// The function that makes each request's handler.
        fn each_request(&self) -> impl Fn() -> H + Send + Sync + 'static;
    }

    impl<H: Default + Clone + Send + Sync + 'static> SharedDefault<H> for HandlerSource<H> {
        fn each_request(&self) -> impl Fn() -> H + Send + Sync + 'static {
            let prototype = H::default();
            move || prototype.clone()
        }
    }

    /// A fresh `Default` value for each request (a handler that is not `Clone`).
    pub trait FreshDefault<H> {
        /// The function that makes each request's handler.
        fn each_request(&self) -> impl Fn() -> H + Send + Sync + 'static;
    }

    impl<H: Default + 'static> FreshDefault<H> for &HandlerSource<H> {
        fn each_request(&self) -> impl Fn() -> H + Send + Sync + 'static {
            H::default
        }
    }

    /// What a `#[handler]` method may return: `()` or a `Result<(), E>` whose error converts
    /// into a boxed error.
    #[diagnostic::on_unimplemented(
        message = "a handler method cannot return `{Self}`",
        label = "return `()`, `io::Result<()>` or `Result<(), E>` with `E: Into<Box<dyn Error + Send + Sync>>`"
    )]
    pub trait IntoHandlerResult {
        /// The value as the runtime's `HandlerResult`.
        fn into_handler_result(self) -> HandlerResult;
    }

    impl IntoHandlerResult for () {
        fn into_handler_result(self) -> HandlerResult {
            Ok(())
        }
    }

    impl<E: Into<BoxError>> IntoHandlerResult for Result<(), E> {
        fn into_handler_result(self) -> HandlerResult {
            self.map_err(Into::into)
        }
    }

    /// Compiles only when `H` handles requests of kind `R`; `server!` calls it at the
    /// handler's name so a mismatch is reported there.
    pub fn assert_handler<H: RequestHandler<R>, R>() {}

    /// Stands in for a handler `server!` could not read, so that one mistake is reported once.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct NoHandler;

    impl RequestHandler<StreamRequest> for NoHandler {
        fn handle(&mut self, _: &mut StreamRequest) -> HandlerResult {
            Ok(())
        }
    }

    impl RequestHandler<DatagramRequest> for NoHandler {
        fn handle(&mut self, _: &mut DatagramRequest) -> HandlerResult {
            Ok(())
        }
    }
}
