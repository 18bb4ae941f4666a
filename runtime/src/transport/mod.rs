//! Transports: how a server binds, takes the next request and ends it. `Tcp` and
//! `UnixStream` accept connections ([`StreamRequest`]); `Udp` and `UnixDatagram` receive
//! datagrams ([`DatagramRequest`]).

/// Defines a transport: the unit type `$name`, its `Transport` impl made of the items of
/// its kind (`stream_items!` or `datagram_items!`, which say how its sockets are wrapped),
/// and what it binds to (`BindAddress`, resolved by `$resolve`).
macro_rules! transport {
    ($(#[$doc:meta])* $name:ident binds [$($bound:path),+] by $resolve:ident, $items:ident!($($args:tt)*)) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;

        impl Transport for $name {
            $items!($($args)*);
        }

        impl<A: $($bound +)+ ?Sized> BindAddress<$name> for A {
            fn resolve(&self) -> io::Result<Vec<SocketAddress>> {
                $resolve(self)
            }
        }
    };
}

mod datagram;
mod socket;
mod stream;

use std::io;
use std::os::fd::{AsRawFd, RawFd};

pub use datagram::{Datagram, DatagramListener, Udp, UnixDatagram};
pub(crate) use stream::refuse_handshakes;
pub use stream::{StreamListener, Tcp, UnixStream};

use crate::address::SocketAddress;
use crate::config::ServerConfig;
use crate::shutdown::ServerHandle;
#[allow(unused_imports)] // for the doc links
use crate::{DatagramRequest, StreamRequest};

/// A way of receiving requests (Python's `TCPServer`, `UDPServer`, `UnixStreamServer`,
/// `UnixDatagramServer`). The server calls these in order: `bind` once, then per request
/// `accept` (when the listener is readable), `open_request`, the handler, `close_request`.
pub trait Transport: Send + Sync + Sized + 'static {
    /// What a handler of this transport receives.
    type Request: Send + 'static;
    /// The bound socket.
    type Listener: AsRawFd + Send + Sync + 'static;
    /// An accepted connection or a received datagram, before it becomes a request.
    type Incoming: Send + 'static;

    /// Whether requests are connections, which layers (a PROXY header, TLS) can open.
    const STREAM: bool;

    /// Creates the socket, applies `config` and binds (and listens, for streams).
    fn bind(address: &SocketAddress, config: &ServerConfig) -> io::Result<Self::Listener>;

    /// Serves a socket the program already holds (see [`Server::from_listener`](crate::Server::from_listener)):
    /// checks it is of this transport's type and family, and never removes a unix socket
    /// file it was bound to (whoever bound it owns the file).
    fn adopt(socket: std::os::fd::OwnedFd) -> io::Result<Self::Listener>;

    /// The address the listener is bound to, port 0 resolved.
    fn local_address(listener: &Self::Listener) -> io::Result<SocketAddress>;

    /// Makes `accept` wait for a request (`true`) or return `Ok(None)` at once when there is
    /// none (`false`, the state after `bind`).
    fn set_blocking(listener: &Self::Listener, blocking: bool) -> io::Result<()>;

    /// Takes the next request; without blocking unless `set_blocking(true)` was called
    /// (`Ok(None)` when there is none).
    fn accept(
        listener: &Self::Listener,
        config: &ServerConfig,
    ) -> io::Result<Option<(Self::Incoming, SocketAddress)>>;

    /// Readies what `open_request` will take for `incoming` in a child about to be forked:
    /// its buffers allocated and set up ahead, in `incoming` or as the calling thread's spare
    /// ones (see `request/spare.rs`), since each page the child writes is a copy-on-write
    /// page fault, and each 64 KiB window of code it runs (a thread-local's accessor among
    /// them) another. Default: nothing to ready.
    fn prepare_child(incoming: &mut Self::Incoming, config: &ServerConfig) {
        let _ = (incoming, config);
    }

    /// Turns what `accept` returned into the handler's request (applying per-request
    /// options such as timeouts).
    fn open_request(
        incoming: Self::Incoming,
        client_address: SocketAddress,
        server: ServerHandle,
        config: &ServerConfig,
    ) -> io::Result<Self::Request>;

    /// Runs `layers` over a request just opened (see [`StreamLayer`](crate::StreamLayer)),
    /// before its handler; only stream servers have layers. Default: nothing to run.
    fn open_layers(
        request: &mut Self::Request,
        layers: &[std::sync::Arc<dyn crate::request::StreamLayer>],
    ) -> io::Result<()> {
        let _ = (request, layers);
        Ok(())
    }

    /// Whether the request is a load balancer's own connection (a PROXY `LOCAL` or
    /// `UNKNOWN` header: a health check), whose hanging up is no error. Default: false.
    fn is_probe(request: &Self::Request) -> bool {
        let _ = request;
        false
    }

    /// The connection of a request (its descriptor, open until the request is dropped),
    /// which a graceful shutdown shuts down when the request outlives its grace period;
    /// `None` for requests that cannot linger (datagrams).
    fn connection(request: &Self::Request) -> Option<RawFd>;

    /// Ends a request after its handler: flushes and shuts a connection down so the client
    /// reads EOF, or sends a datagram's reply.
    fn close_request(request: &mut Self::Request) -> io::Result<()>;

    /// `close_request` in a forked child that exits next, leaving to its exit what the exit
    /// does anyway. Default: `close_request`.
    fn close_request_before_exit(request: &mut Self::Request) -> io::Result<()> {
        Self::close_request(request)
    }

    /// Called at the start of a graceful stop, before the requests already queued are
    /// taken: has the socket queue no new request, where it can, so that what is taken is
    /// all there will be (TCP: no handshake completes any more; see `stop_listening`).
    /// Default: nothing.
    fn stop_handshakes(listener: &Self::Listener) {
        let _ = listener;
    }

    /// Stops taking requests for good, at once, at the start of a graceful stop (after the
    /// requests already queued were taken): a stream socket stops listening, so that a new
    /// client is refused at once instead of being handshaken and left waiting, and a unix
    /// socket file is removed. Requests in flight keep their connections (and a datagram
    /// server its socket, for their replies).
    fn stop_listening(listener: &Self::Listener);

    /// The listener was handed down by a predecessor of this program (a binary upgrade):
    /// its unix socket file is this server's to remove when it stops, as the predecessor's
    /// was. Default: nothing (no file).
    fn own_socket_file(listener: &Self::Listener) -> io::Result<()> {
        let _ = listener;
        Ok(())
    }

    /// Whether a graceful stop takes the requests the socket queued, to serve them: not in
    /// a pre-forked worker, whose siblings and master go on serving the queue. Default:
    /// true.
    fn drains_at_stop(listener: &Self::Listener) -> bool {
        let _ = listener;
        true
    }

    /// In a pre-forked worker: the listener is one of several processes' from now on, so
    /// that stopping takes nothing off its queue and closes it for this process only (its
    /// master and the other workers go on listening), and removes no socket file. An error for a transport that cannot be
    /// served by workers. Default: datagram transports cannot (yet).
    fn share(listener: &Self::Listener) -> io::Result<()> {
        let _ = listener;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "pre-forked workers serve stream transports (Tcp, UnixStream) only",
        ))
    }

    /// In a pre-forked worker whose socket closes with it (`workers_reuse_port`, one
    /// worker fewer): its stop takes the requests the socket queued, to serve them, as a
    /// server alone on its socket does. Default: nothing.
    fn drain_at_stop(listener: &Self::Listener) {
        let _ = listener;
    }

    /// For `workers_reuse_port`: a new listening socket bound to the listener's address
    /// with `SO_REUSEPORT` (which the listener has), for one more worker. Default: an
    /// error (TCP only).
    fn reuse_port_twin(
        listener: &Self::Listener,
        config: &ServerConfig,
    ) -> io::Result<std::os::fd::OwnedFd> {
        let _ = (listener, config);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "workers_reuse_port is for TCP only",
        ))
    }

    /// Ends a request that never reached a handler (rejected by `verify_request`, or not
    /// started).
    fn reject(incoming: Self::Incoming);
}

/// What `bind` accepts for transport `T`: for `Tcp` and `Udp` anything that implements
/// [`ToSocketAddrs`](std::net::ToSocketAddrs) and `Debug`, so that errors can name it
/// (`"127.0.0.1:0"`, `("::1", 8080)`, every std address type); for the unix transports a path.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an address a `{T}` server can bind to",
    note = "`Tcp` and `Udp` bind to a `host:port` string, a `(host, port)` tuple or a `SocketAddr`; `UnixStream` and `UnixDatagram` bind to a path"
)]
pub trait BindAddress<T> {
    /// The addresses to try, in order.
    fn resolve(&self) -> io::Result<Vec<SocketAddress>>;
}
