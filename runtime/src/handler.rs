//! `RequestHandler`: the trait `#[handler]` implements, and the setup -> handle -> finish
//! lifecycle around it.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{HandlerResult, RequestError, Stage};

/// Python's `BaseRequestHandler`: what the server runs for each request of kind `R`
/// ([`StreamRequest`](crate::StreamRequest) or [`DatagramRequest`](crate::DatagramRequest)).
///
/// Each request gets a fresh handler value. `setup` runs first; if it fails nothing else
/// runs. Otherwise `handle` runs, and `finish` runs after it even when `handle` fails or
/// panics. The first failure is reported once through the server's `handle_error`.
///
/// `#[handler]` writes this impl for you; by hand it reads:
///
/// ```
/// use socketserver::{HandlerResult, RequestHandler, StreamRequest};
/// use std::io::Write;
///
/// struct Hello;
///
/// impl RequestHandler<StreamRequest> for Hello {
///     fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
///         req.wfile().write_all(b"hello\n")?;
///         Ok(())
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a handler for `{R}`",
    label = "this handler does not take `{R}`",
    note = "a handler whose methods take `&mut StreamRequest` serves `Tcp` and `UnixStream`; one taking `&mut DatagramRequest` serves `Udp` and `UnixDatagram`",
    note = "declare the server with a transport of the handler's kind, or give the handler's methods the request type of this transport"
)]
pub trait RequestHandler<R>: Send + 'static {
    /// Runs before `handle` (Python: `setup`). Default: nothing.
    fn setup(&mut self, request: &mut R) -> HandlerResult {
        let _ = request;
        Ok(())
    }

    /// Serves the request (Python: `handle`).
    fn handle(&mut self, request: &mut R) -> HandlerResult;

    /// Runs after `handle`, even when it failed (Python: `finish`). Default: nothing.
    fn finish(&mut self, request: &mut R) -> HandlerResult {
        let _ = request;
        Ok(())
    }
}

/// Runs `f`, turning an error or a panic into a [`RequestError`] of `stage`.
fn guarded(stage: Stage, f: impl FnOnce() -> HandlerResult) -> Result<(), RequestError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(RequestError::error(stage, error)),
        Err(payload) => Err(RequestError::panic(stage, payload)),
    }
}

/// Creates the handler value for each request.
pub(crate) type Factory<H> = Box<dyn Fn() -> H + Send + Sync>;

/// What a server calls once per request to make its handler (see
/// [`MakeHandler`](crate::MakeHandler)).
///
/// ```
/// use socketserver_runtime::{HandlerFactory, MakeHandler};
///
/// struct Greeter {
///     name: String,
/// }
///
/// /// Every request's handler greets with this name.
/// struct Named(&'static str);
///
/// impl MakeHandler<Greeter> for Named {
///     fn into_factory(self) -> HandlerFactory<Greeter> {
///         HandlerFactory::new(move || Greeter { name: self.0.to_string() })
///     }
/// }
/// ```
pub struct HandlerFactory<H>(Making<H>);

enum Making<H> {
    /// `H::default`, through a function of the request's code section: a forked child's
    /// call runs no code of another page (a closure's call shim is wherever the compiler
    /// put it, and costs the child a page fault).
    Default(fn() -> H),
    /// Any function or closure.
    Function(Factory<H>),
}

impl<H> HandlerFactory<H> {
    /// A factory that calls `make` for each request.
    pub fn new(make: impl Fn() -> H + Send + Sync + 'static) -> HandlerFactory<H> {
        HandlerFactory(Making::Function(Box::new(make)))
    }

    /// A factory calling the boxed `make`.
    pub(crate) fn boxed(make: Factory<H>) -> HandlerFactory<H> {
        HandlerFactory(Making::Function(make))
    }

    /// A factory that makes each handler with `H::default()`.
    pub fn default_handler() -> HandlerFactory<H>
    where
        H: Default,
    {
        HandlerFactory(Making::Default(make_default::<H>))
    }

    /// Makes one handler.
    #[allow(unsafe_code)]
    #[link_section = "socketserver_request"]
    pub(crate) fn make(&self) -> H {
        match &self.0 {
            Making::Default(make) => make(),
            Making::Function(make) => make(),
        }
    }
}

impl<H> std::fmt::Debug for HandlerFactory<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Making::Default(_) => "HandlerFactory(default)",
            Making::Function(_) => "HandlerFactory(..)",
        })
    }
}

/// `H::default()`, in the request's code section.
#[allow(unsafe_code)]
#[link_section = "socketserver_request"]
fn make_default<H: Default>() -> H {
    H::default()
}

/// Creates a handler and runs it on `request` with Python's rules: setup, then handle, then
/// finish even if handle failed. Returns the first failure.
#[allow(unsafe_code)]
#[link_section = "socketserver_request"]
pub(crate) fn run_handler<R, H: RequestHandler<R>>(
    create: &HandlerFactory<H>,
    request: &mut R,
) -> Result<(), RequestError> {
    let mut handler = match catch_unwind(AssertUnwindSafe(|| create.make())) {
        Ok(handler) => handler,
        Err(payload) => return Err(RequestError::panic(Stage::Create, payload)),
    };
    guarded(Stage::Setup, || handler.setup(request))?;
    let handled = guarded(Stage::Handle, || handler.handle(request));
    let finished = guarded(Stage::Finish, || handler.finish(request));
    handled.and(finished)
}
