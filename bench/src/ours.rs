//! The servers under test: `server!` echo types, written exactly as `examples/echo.rs`
//! writes them (the same handlers, the same options).

use std::io;

use crate::common::Transport;

#[path = "../../examples/common/echo.rs"]
mod echo;

pub use echo::*;

// A new mixin: add its four types to `examples/common/echo.rs`, four arms in `serve` below and
// a kind in `kinds::KINDS` (the `servers` binary maps `--kind ours-NAME` to mixin `NAME`).

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
