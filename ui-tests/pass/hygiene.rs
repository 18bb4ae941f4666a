//! The expansions name everything by absolute path: a crate's own `__private`, `Server`,
//! `Tcp`, `io`, `Result`, `Option`, `Default`, `Box`, ... in scope change nothing. The
//! handler is even named like the generic parameters the expansion could have used.
#![allow(dead_code, non_camel_case_types, clippy::all)]

use socketserver::{handler, server, StreamRequest};

mod __private {}
mod io {}
mod core {}
mod std {}
mod socketserver_runtime {}

struct Server;
struct Tcp;
struct Udp;
struct Sync;
struct Threading;
struct Send;
struct Sized;
struct Clone;
struct Default;
struct From;
struct Into;
struct Box;
struct Vec;
struct Some;
struct None;
struct Ok;
struct Err;
struct Debug;
struct Formatter;
struct HandlerResult;
struct RequestHandler;
struct IntoHandlerResult;
struct ServerConfig;
struct Duration;
type Result = ();
type Option = ();
// Unit structs named like the locals an expansion could use: a parameter or `let` pattern
// would match them instead of binding. (The public methods' documented parameters,
// `address` and `prototype`, keep their names.)
struct config;
struct request;
struct server;
struct f;
trait Hooks {}

/// Named like the type parameter a generated method might declare.
#[derive(::core::default::Default, ::core::clone::Clone)]
struct A;

#[handler]
impl A {
    fn setup(&mut self, req: &mut StreamRequest) {
        let _ = req;
    }

    fn handle(&mut self, _req: &mut StreamRequest) -> ::std::io::Result<()> {
        ::core::result::Result::Ok(())
    }
}

#[derive(::core::default::Default, ::core::clone::Clone)]
struct K;

#[handler]
impl K {
    fn handle(&mut self) {}
}

server! {
    struct Plain {
        transport: Tcp,
        mixin: Threading,
        handler: A,
        timeout: 1,
        rbufsize: 64,
    }
}

server! {
    struct DatagramServer {
        transport: Udp,
        mixin: Sync,
        handler: K,
    }
}

fn main() -> ::std::io::Result<()> {
    let plain = Plain::bind("127.0.0.1:0")?;
    let _ = ::std::format!("{plain:?}");
    plain.close();
    Plain::bind_with_handler("127.0.0.1:0", A)?.close();
    DatagramServer::bind("127.0.0.1:0")?.close();
    ::core::result::Result::Ok(())
}
