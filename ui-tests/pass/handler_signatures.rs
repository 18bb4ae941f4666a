//! Every accepted `#[handler]` signature: with and without the request, `&mut self` and
//! `&self`, each return type, optional hooks, `#[helper]` methods and ordinary items, and
//! generic handlers. Each handler is used in a server that is bound, so the generated impls
//! are type-checked where they are used.
use socketserver::prelude::*;
use std::fmt;
use std::io::{self, Write};
use std::marker::PhantomData;

/// Serves both kinds of request: no method looks at the request.
#[derive(Default)]
struct NoRequest;

#[handler]
impl NoRequest {
    fn handle(&mut self) {}
}

/// `&self`, returning `()` explicitly.
#[derive(Default)]
struct SharedSelf;

#[handler]
impl SharedSelf {
    fn handle(&self, _req: &mut StreamRequest) -> () {}
}

/// The receiver written out in full.
#[derive(Default)]
struct ExplicitSelf;

#[handler]
impl ExplicitSelf {
    #[allow(clippy::needless_arbitrary_self_type)]
    fn handle(self: &mut Self, _req: &mut StreamRequest) {}
}

#[derive(Default)]
struct IoResult;

#[handler]
impl IoResult {
    fn handle(&mut self, req: &mut StreamRequest) -> io::Result<()> {
        req.wfile().write_all(b"hi")
    }
}

#[derive(Default)]
struct StdIoResult;

#[handler]
impl StdIoResult {
    fn handle(&mut self, req: &mut StreamRequest) -> std::io::Result<()> {
        req.wfile().flush()
    }
}

#[derive(Debug)]
struct MyError;

impl fmt::Display for MyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("my error")
    }
}

impl std::error::Error for MyError {}

#[derive(Default)]
struct CustomError;

#[handler]
impl CustomError {
    fn handle(&mut self, req: &mut DatagramRequest) -> Result<(), MyError> {
        if req.data().is_empty() {
            Err(MyError)
        } else {
            Ok(())
        }
    }
}

#[derive(Default)]
struct BoxedError;

#[handler]
impl BoxedError {
    fn handle(
        &mut self,
        req: &mut DatagramRequest,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        req.wfile().extend_from_slice(b"ok");
        Err("boxed".into())
    }
}

/// An error type the caller cannot name.
#[derive(Default)]
struct OpaqueError;

#[handler]
impl OpaqueError {
    fn handle(
        &mut self,
        _req: &mut DatagramRequest,
    ) -> Result<(), impl std::error::Error + Send + Sync + 'static> {
        Err(MyError)
    }
}

#[derive(Default)]
struct FullPathResult;

#[handler]
impl FullPathResult {
    fn handle(&mut self, _req: &mut socketserver::StreamRequest) -> socketserver::HandlerResult {
        Ok(())
    }
}

/// All three hooks, `setup` without the request, `finish` with a shared one.
#[derive(Default)]
struct AllHooks {
    log: Vec<&'static str>,
}

#[handler]
impl AllHooks {
    fn setup(&mut self) -> HandlerResult {
        self.log.push("setup");
        Ok(())
    }

    fn handle(&mut self, _: &mut StreamRequest) -> io::Result<()> {
        self.log.push("handle");
        Ok(())
    }

    fn finish(&mut self, _req: &StreamRequest) {
        self.log.push("finish");
    }
}

/// `setup` and `finish` without `handle`'s request, `&DatagramRequest` borrowed shared.
#[derive(Default)]
struct DatagramHooks;

#[handler]
impl DatagramHooks {
    fn setup(&self, _req: &DatagramRequest) {}

    fn handle(&mut self, req: &mut DatagramRequest) {
        let _ = req.reply(b"");
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `#[helper]` keeps methods named close to a hook; other items are left alone.
#[derive(Default)]
struct WithHelpers {
    count: u32,
}

#[handler]
impl WithHelpers {
    const GREETING: &'static str = "hello";

    fn new() -> Self {
        WithHelpers { count: 1 }
    }

    #[helper]
    fn handel(&self) -> u32 {
        self.count
    }

    #[helper]
    fn set_up(&mut self, _anything: String, _else: bool) -> bool {
        true
    }

    fn greeting(&self) -> &'static str {
        Self::GREETING
    }

    fn handle(&mut self, req: &mut StreamRequest) -> io::Result<()> {
        let _ = self.handel();
        let _ = self.set_up(String::new(), false);
        req.wfile().write_all(self.greeting().as_bytes())
    }
}

/// A generic handler with bounds inline.
#[derive(Default)]
struct Generic<T> {
    value: T,
}

#[handler]
impl<T: Send + Default + 'static> Generic<T> {
    fn handle(&mut self, _req: &mut StreamRequest) {
        let _ = &self.value;
    }
}

/// A generic handler with a where clause, serving datagrams.
struct Tagged<T>(PhantomData<fn() -> T>);

impl<T> Default for Tagged<T> {
    fn default() -> Self {
        Tagged(PhantomData)
    }
}

#[handler]
impl<T> Tagged<T>
where
    T: 'static,
{
    fn handle(&mut self, _req: &mut DatagramRequest) {}
}

fn serves_streams<H: RequestHandler<StreamRequest>>() {}
fn serves_datagrams<H: RequestHandler<DatagramRequest>>() {}

server! { struct NoRequestTcp { transport: Tcp, handler: NoRequest } }
server! { struct NoRequestUdp { transport: Udp, handler: NoRequest } }
server! { struct SharedSelfServer { transport: Tcp, handler: SharedSelf } }
server! { struct ExplicitSelfServer { transport: Tcp, handler: ExplicitSelf } }
server! { struct IoResultServer { transport: Tcp, handler: IoResult } }
server! { struct StdIoResultServer { transport: UnixStream, handler: StdIoResult } }
server! { struct CustomErrorServer { transport: Udp, handler: CustomError } }
server! { struct BoxedErrorServer { transport: UnixDatagram, handler: BoxedError } }
server! { struct OpaqueErrorServer { transport: Udp, handler: OpaqueError } }
server! { struct FullPathServer { transport: Tcp, handler: FullPathResult } }
server! { struct AllHooksServer { transport: Tcp, mixin: Threading, handler: AllHooks } }
server! { struct DatagramHooksServer { transport: Udp, handler: DatagramHooks } }
server! { struct HelpersServer { transport: Tcp, handler: WithHelpers } }
server! { struct GenericServer { transport: Tcp, handler: Generic<u32> } }
server! { struct TaggedServer { transport: Udp, mixin: Threading, handler: Tagged<String> } }

fn main() -> io::Result<()> {
    serves_streams::<NoRequest>();
    serves_datagrams::<NoRequest>();
    serves_streams::<Generic<Vec<u8>>>();
    serves_datagrams::<Tagged<std::rc::Rc<u8>>>();

    assert_eq!(WithHelpers::new().handel(), 1);
    assert_eq!(WithHelpers::default().greeting(), "hello");

    NoRequestTcp::bind("127.0.0.1:0")?.close();
    NoRequestUdp::bind("127.0.0.1:0")?.close();
    SharedSelfServer::bind("127.0.0.1:0")?.close();
    ExplicitSelfServer::bind("127.0.0.1:0")?.close();
    IoResultServer::bind("127.0.0.1:0")?.close();
    CustomErrorServer::bind("127.0.0.1:0")?.close();
    OpaqueErrorServer::bind("127.0.0.1:0")?.close();
    FullPathServer::bind("127.0.0.1:0")?.close();
    AllHooksServer::bind("127.0.0.1:0")?.close();
    DatagramHooksServer::bind("127.0.0.1:0")?.close();
    HelpersServer::bind("127.0.0.1:0")?.close();
    GenericServer::bind("127.0.0.1:0")?.close();
    TaggedServer::bind("127.0.0.1:0")?.close();
    // Unix servers: binding a path in a missing directory fails at run time, which is
    // fine here; the point is that the calls type-check.
    let _ = StdIoResultServer::bind("/nonexistent/socketserver-ui.sock");
    let _ = BoxedErrorServer::bind("/nonexistent/socketserver-ui.sock");
    Ok(())
}
