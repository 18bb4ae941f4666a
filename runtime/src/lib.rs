//! The blocking runtime of `socketserver`: Python's `socketserver` for Rust, without macros.
//!
//! A [`Server`] is a transport ([`transport::Tcp`], [`transport::Udp`],
//! [`transport::UnixStream`], [`transport::UnixDatagram`]), a mixin that decides where each
//! request runs ([`mixin::Serial`], [`mixin::Threading`], [`mixin::Forking`]), a
//! [`RequestHandler`] created afresh for every request, and [`Hooks`] for Python's
//! overridable server methods. Data flows one way: the transport accepts, the mixin decides
//! where the request runs, the handler runs `setup`/`handle`/`finish`, the transport ends
//! the request.
//!
//! ```no_run
//! use socketserver::{HandlerResult, RequestHandler, StreamRequest, ThreadingTcpServer};
//!
//! #[derive(Default)]
//! struct Echo;
//!
//! impl RequestHandler<StreamRequest> for Echo {
//!     fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
//!         let (rfile, wfile) = req.files();
//!         std::io::copy(rfile, wfile)?;
//!         Ok(())
//!     }
//! }
//!
//! let server = ThreadingTcpServer::<Echo>::bind("127.0.0.1:9000")?;
//! let handle = server.handle(); // handle.shutdown() from anywhere stops it
//! server.serve_forever()?;
//! # Ok::<(), std::io::Error>(())
//! ```

#![warn(missing_docs)]
// `unsafe` lives in `sys`, but for the uncounted copy of a server's handle that a forked
// child's request takes (`ServerHandle::uncounted_copy`, called in `job.rs`: the child never
// drops it, and writing the count would cost it a page fault). The lint also counts
// `#[link_section]`, which the functions a request runs carry (`socketserver_request`, each
// with its `allow`): in one section of their own they are one or two 64 KiB windows of the
// program's code instead of seven, and each window a forked child runs is a page fault
// (`fork` copies no page-table entries of the program's code). BENCHMARKS.md has the figures.
#![deny(unsafe_code)]

mod activation;
mod address;
mod admission;
mod aliases;
mod blocked;
mod config;
mod error;
mod handler;
mod hooks;
mod inflight;
mod job;
mod listeners;
mod lock;
pub mod mixin;
mod notify;
mod poll;
pub mod prefork;
pub mod proxy;
mod report;
mod request;
mod routes;
mod server;
mod serving;
mod shutdown;
mod signals;
mod stopping;
#[allow(unsafe_code)] // every unsafe of the crate, each with its reason
mod sys;
#[cfg(feature = "tls")]
pub mod tls;
pub mod transport;
mod trust;
mod upgrade;
mod wake;

pub use activation::passed_sockets;
pub use address::{SocketAddress, UnixAddress};
pub use aliases::*;
pub use config::ServerConfig;
pub use error::{BoxError, HandlerResult, RequestError, Stage};
pub use handler::{HandlerFactory, RequestHandler};
pub use hooks::{DefaultHooks, Hooks};
pub use inflight::Stats;
pub use request::{
    DatagramRequest, DatagramSocket, Opening, RFile, Session, StreamLayer, StreamRequest,
    StreamSocket, WFile,
};
pub use server::{Builder, DefaultHandler, MadeBy, MakeHandler, Prototype, Server};
pub use shutdown::ServerHandle;
pub use signals::ShutdownSignals;
