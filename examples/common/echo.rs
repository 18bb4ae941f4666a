//! The echo handlers and the sixteen echo servers (transport x mixin), shared by
//! `examples/echo.rs` and the benchmark (`bench/src/ours.rs`), so that the benchmark measures
//! exactly what the example runs. Included with `#[path]`, not through `common/mod.rs`.
#![allow(dead_code)] // each includer calls some of the generated methods

use std::io;

use socketserver::prelude::*;

/// Stream echo: every byte back until the client stops writing.
#[derive(Default)]
pub struct StreamEcho;

#[handler]
impl StreamEcho {
    fn handle(&mut self, req: &mut StreamRequest) -> io::Result<()> {
        let (rfile, wfile) = req.files();
        io::copy(rfile, wfile)?;
        Ok(())
    }
}

/// Datagram echo: each datagram answered with its own bytes.
#[derive(Default)]
pub struct DatagramEcho;

#[handler]
impl DatagramEcho {
    fn handle(&mut self, req: &mut DatagramRequest) -> io::Result<()> {
        let (rfile, wfile) = req.files();
        io::copy(rfile, wfile)?;
        Ok(())
    }
}

/// Declares one echo server per transport x mixin.
macro_rules! echo_servers {
    ($($name:ident: $transport:ident, $mixin:ident, $handler:ident, {$($option:tt)*};)*) => {$(
        server! {
            /// An echo server: this transport and mixin.
            pub struct $name {
                transport: $transport,
                mixin: $mixin,
                handler: $handler,
                $($option)*
            }
        }
    )*};
}

// TCP servers accept a connection only once the client has said something (or after a
// minute): idle connections wait in the kernel and cannot take the threads, workers or
// children that serve clients (`defer_accept`). Echo's clients always speak first.
echo_servers! {
    TcpSync: Tcp, Sync, StreamEcho, {allow_reuse_address: true, defer_accept: 60};
    TcpThreading: Tcp, Threading, StreamEcho, {allow_reuse_address: true, defer_accept: 60};
    TcpForking: Tcp, Forking, StreamEcho, {allow_reuse_address: true, defer_accept: 60};
    TcpPool: Tcp, Pool, StreamEcho, {allow_reuse_address: true, defer_accept: 60};
    UdpSync: Udp, Sync, DatagramEcho, {};
    UdpThreading: Udp, Threading, DatagramEcho, {};
    UdpForking: Udp, Forking, DatagramEcho, {};
    UdpPool: Udp, Pool, DatagramEcho, {};
    UnixStreamSync: UnixStream, Sync, StreamEcho, {};
    UnixStreamThreading: UnixStream, Threading, StreamEcho, {};
    UnixStreamForking: UnixStream, Forking, StreamEcho, {};
    UnixStreamPool: UnixStream, Pool, StreamEcho, {};
    UnixDatagramSync: UnixDatagram, Sync, DatagramEcho, {};
    UnixDatagramThreading: UnixDatagram, Threading, DatagramEcho, {};
    UnixDatagramForking: UnixDatagram, Forking, DatagramEcho, {};
    UnixDatagramPool: UnixDatagram, Pool, DatagramEcho, {};
}
