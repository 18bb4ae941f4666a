//! A UDP service: answers each datagram with the same text in upper case, as one reply
//! datagram; a datagram longer than `max_packet_size` gets an error reply instead.
//!
//!     cargo run --release --example upper -- [--bind ADDR]      (default 127.0.0.1:9002)
//!     echo hello | nc -u -q1 127.0.0.1 9002

mod common;

use std::io::{self, Write};
use std::process::ExitCode;

use socketserver::prelude::*;

#[derive(Default)]
struct Upper;

#[handler]
impl Upper {
    fn handle(&mut self, req: &mut DatagramRequest) -> io::Result<()> {
        if req.is_truncated() {
            return writeln!(
                req.wfile(),
                "error: datagram longer than {} bytes",
                UpperServer::config().max_packet_size
            );
        }
        let upper = req.data().to_ascii_uppercase();
        req.wfile().write_all(&upper)
    }
}

server! {
    /// Upper-cases datagrams on a pool of worker threads.
    struct UpperServer {
        transport: Udp,
        mixin: Pool,
        handler: Upper,
        max_packet_size: 1024,
    }
}

fn main() -> ExitCode {
    common::main(
        "upper",
        "upper [--bind ADDR] (default 127.0.0.1:9002)",
        &["bind"],
        |flags| {
            // Before binding: a signal from now on stops the server cleanly (no socket file left).
            let signals = ShutdownSignals::catch()?;
            // A socket passed by a service manager (LISTEN_FDS) if any, else --bind.
            let server = UpperServer::activate_or_bind(flags.value_or("bind", "127.0.0.1:9002"))?;
            common::announce(server.server_address())?;
            server.serve_until(signals, common::GRACE).map(drop)
        },
    )
}
