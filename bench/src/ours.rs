//! The servers under test: `server!` echo types, written exactly as `examples/echo.rs`
//! writes them (the same handlers, the same options).

use std::io;

use socketserver::prelude::*;

use crate::common::Transport;

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
            /// An echo server of the benchmark.
            pub struct $name {
                transport: $transport,
                mixin: $mixin,
                handler: $handler,
                $($option)*
            }
        }
    )*};
}

echo_servers! {
    TcpSync: Tcp, Sync, StreamEcho, {allow_reuse_address: true};
    TcpThreading: Tcp, Threading, StreamEcho, {allow_reuse_address: true};
    TcpForking: Tcp, Forking, StreamEcho, {allow_reuse_address: true};
    UdpSync: Udp, Sync, DatagramEcho, {};
    UdpThreading: Udp, Threading, DatagramEcho, {};
    UdpForking: Udp, Forking, DatagramEcho, {};
    UnixStreamSync: UnixStream, Sync, StreamEcho, {};
    UnixStreamThreading: UnixStream, Threading, StreamEcho, {};
    UnixStreamForking: UnixStream, Forking, StreamEcho, {};
    UnixDatagramSync: UnixDatagram, Sync, DatagramEcho, {};
    UnixDatagramThreading: UnixDatagram, Threading, DatagramEcho, {};
    UnixDatagramForking: UnixDatagram, Forking, DatagramEcho, {};
    TcpPool: Tcp, Pool, StreamEcho, {allow_reuse_address: true};
    UdpPool: Udp, Pool, DatagramEcho, {};
    UnixStreamPool: UnixStream, Pool, StreamEcho, {};
    UnixDatagramPool: UnixDatagram, Pool, DatagramEcho, {};
    // A new mixin: add its four types here, four arms in `serve` below and a kind in
    // `kinds::KINDS` (the `servers` binary maps `--kind ours-NAME` to mixin `NAME`).
}

/// Binds `$server`, prints `listening on ADDR`, serves until killed.
macro_rules! serve {
    ($server:ident, $address:expr) => {{
        let server = $server::bind($address)?;
        println!("listening on {}", server.server_address());
        io::Write::flush(&mut io::stdout())?;
        server.serve_forever()?;
        server.close();
        Ok(())
    }};
}

/// Serves echo with `mixin` (`sync`, `threading`, `forking`, `pool`) over `transport` at `address`
/// (a `host:port`, or a socket path for the unix transports) until the process is killed.
pub fn serve(mixin: &str, transport: Transport, address: &str) -> io::Result<()> {
    match (transport, mixin) {
        (Transport::Tcp, "sync") => serve!(TcpSync, address),
        (Transport::Tcp, "threading") => serve!(TcpThreading, address),
        (Transport::Tcp, "forking") => serve!(TcpForking, address),
        (Transport::Udp, "sync") => serve!(UdpSync, address),
        (Transport::Udp, "threading") => serve!(UdpThreading, address),
        (Transport::Udp, "forking") => serve!(UdpForking, address),
        (Transport::Unix, "sync") => serve!(UnixStreamSync, address),
        (Transport::Unix, "threading") => serve!(UnixStreamThreading, address),
        (Transport::Unix, "forking") => serve!(UnixStreamForking, address),
        (Transport::UnixDgram, "sync") => serve!(UnixDatagramSync, address),
        (Transport::UnixDgram, "threading") => serve!(UnixDatagramThreading, address),
        (Transport::UnixDgram, "forking") => serve!(UnixDatagramForking, address),
        (Transport::Tcp, "pool") => serve!(TcpPool, address),
        (Transport::Udp, "pool") => serve!(UdpPool, address),
        (Transport::Unix, "pool") => serve!(UnixStreamPool, address),
        (Transport::UnixDgram, "pool") => serve!(UnixDatagramPool, address),
        (transport, mixin) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no `server!` echo for mixin `{mixin}` over {transport}"),
        )),
    }
}
