//! Echo server: stream transports send every byte back until the client stops writing;
//! datagram transports answer each datagram with its own bytes. SIGINT/SIGTERM stop it
//! gracefully.
//!
//!     cargo run --release --example echo -- [--transport tcp|udp|unix-stream|unix-datagram]
//!         [--mixin sync|threading|forking|pool] [--bind ADDR]
//!
//! Each transport x mixin is its own `server!` type, picked at run time from the flags.

mod common;
#[path = "common/echo.rs"]
mod echo_servers;

use echo_servers::*;

use std::io;
use std::process::ExitCode;

use socketserver::prelude::*;

const USAGE: &str = "echo [--transport tcp|udp|unix-stream|unix-datagram] \
[--mixin sync|threading|forking|pool] [--bind ADDR] \
(defaults: tcp, threading, 127.0.0.1:9000 or echo.sock for unix transports)";

/// Binds `$server`, says where it listens, serves until SIGINT/SIGTERM, closes gracefully.
macro_rules! serve {
    ($server:ident, $address:expr) => {{
        // Before binding: a signal from now on stops the server cleanly (no socket file left).
        let signals = ShutdownSignals::catch()?;
        // A socket passed by a service manager (LISTEN_FDS) if any, else --bind.
        let server = $server::activate_or_bind($address)?;
        common::announce(server.server_address())?;
        let cut = server.serve_until(signals, common::GRACE)?;
        if cut > 0 {
            eprintln!("echo: {cut} connection(s) cut at shutdown");
        }
        Ok(())
    }};
}

fn run(flags: &common::Flags) -> io::Result<()> {
    let transport = flags.value_or("transport", "tcp");
    let mixin = flags.value_or("mixin", "threading");
    let default = if transport.starts_with("unix") {
        "echo.sock"
    } else {
        "127.0.0.1:9000"
    };
    let address = flags.value_or("bind", default);
    match (transport, mixin) {
        ("tcp", "sync") => serve!(TcpSync, address),
        ("tcp", "threading") => serve!(TcpThreading, address),
        ("tcp", "forking") => serve!(TcpForking, address),
        ("tcp", "pool") => serve!(TcpPool, address),
        ("udp", "sync") => serve!(UdpSync, address),
        ("udp", "threading") => serve!(UdpThreading, address),
        ("udp", "forking") => serve!(UdpForking, address),
        ("udp", "pool") => serve!(UdpPool, address),
        ("unix-stream", "sync") => serve!(UnixStreamSync, address),
        ("unix-stream", "threading") => serve!(UnixStreamThreading, address),
        ("unix-stream", "forking") => serve!(UnixStreamForking, address),
        ("unix-stream", "pool") => serve!(UnixStreamPool, address),
        ("unix-datagram", "sync") => serve!(UnixDatagramSync, address),
        ("unix-datagram", "threading") => serve!(UnixDatagramThreading, address),
        ("unix-datagram", "forking") => serve!(UnixDatagramForking, address),
        ("unix-datagram", "pool") => serve!(UnixDatagramPool, address),
        (transport, mixin) => Err(common::usage_error(format!(
            "no echo server for transport `{transport}` with mixin `{mixin}`; usage: {USAGE}"
        ))),
    }
}

fn main() -> ExitCode {
    common::main("echo", USAGE, &["transport", "mixin", "bind"], run)
}
