//! Echo server: stream transports send every byte back until the client stops writing;
//! datagram transports answer each datagram with its own bytes. SIGINT/SIGTERM stop it
//! gracefully.
//!
//!     cargo run --release --example echo -- [--transport tcp|udp|unix-stream|unix-datagram]
//!         [--mixin sync|threading|forking|pool] [--bind ADDR] [--workers N [--reuse-port]]
//!         [--untie-children] [--proxy-protocol [--trusted-proxy NET|unix ...]]
//!         [--tls-cert FILE --tls-key FILE]
//!
//! Each transport x mixin is its own `server!` type, picked at run time from the flags.
//! Behind a load balancer that sends PROXY protocol headers (HAProxy's `send-proxy-v2`,
//! nginx's `proxy_protocol on`), `--proxy-protocol` makes every connection start with one;
//! `--trusted-proxy` (repeatable) accepts them only from those peers. Under a service
//! manager that passes it a socket (`LISTEN_FDS`), it serves that socket and `--bind` is
//! ignored; with `NOTIFY_SOCKET` it reports when it is ready and when it stops. With
//! `--tls-cert` and `--tls-key` (built with `--features tls`) the stream transports speak
//! TLS, and SIGHUP re-reads both files. With `--workers N` (stream transports, not with
//! forking) it forks N worker processes that serve the socket while it supervises them:
//! a worker that dies is replaced, SIGHUP restarts them one by one without refusing a
//! client, SIGTTIN/SIGTTOU add or remove one, SIGUSR2 starts the program file anew (a new
//! build) with the socket and hands over to it once it serves, SIGTERM stops them all
//! gracefully. With `--reuse-port` (TCP) each worker serves a socket of its own on the
//! address (`SO_REUSEPORT`) instead of one they share. A forking echo's children die with
//! it, unless `--untie-children` (`tie_children: false`) leaves them to finish their
//! conversations.

mod common;
#[path = "common/echo.rs"]
mod echo_servers;

use echo_servers::*;

use std::io;
use std::process::ExitCode;

use socketserver::prelude::*;

const USAGE: &str = "echo [--transport tcp|udp|unix-stream|unix-datagram] \
[--mixin sync|threading|forking|pool] [--bind ADDR] [--workers N [--reuse-port]] [--untie-children] \
[--proxy-protocol [--trusted-proxy NET|unix ...]] [--tls-cert FILE --tls-key FILE] \
(defaults: tcp, threading, 127.0.0.1:9000 or echo.sock for unix transports)";

/// Binds `$server`, says where it listens, serves until SIGINT/SIGTERM, closes gracefully;
/// a stream server with the TLS the flags asked for.
macro_rules! serve {
    ($server:ident, $address:expr, $configure:expr, $tls:expr) => {
        serve!(@with $server, $address, $configure, |builder| $tls.apply(builder))
    };
    ($server:ident, $address:expr, $configure:expr) => {
        serve!(@with $server, $address, $configure, |builder| builder)
    };
    (@with $server:ident, $address:expr, $configure:expr, |$builder:ident| $layered:expr) => {{
        // Before binding: a signal from now on stops the server cleanly (no socket file left).
        let signals = ShutdownSignals::catch()?;
        let $builder = $server::builder().configure(|config| $configure(config));
        // A socket passed by a service manager (LISTEN_FDS) if any, else --bind.
        let server: $server = $layered.activate_or_bind($address)?.into();
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
    let stream = !matches!(transport, "udp" | "unix-datagram");
    let configure = common::configure(flags, mixin, stream)?;
    // Loaded before anything is bound: a bad file is one line and nothing listens.
    let tls = common::Tls::from_flags(flags, stream)?;
    match (transport, mixin) {
        ("tcp", "sync") => serve!(TcpSync, address, configure, tls),
        ("tcp", "threading") => serve!(TcpThreading, address, configure, tls),
        ("tcp", "forking") => serve!(TcpForking, address, configure, tls),
        ("tcp", "pool") => serve!(TcpPool, address, configure, tls),
        ("udp", "sync") => serve!(UdpSync, address, configure),
        ("udp", "threading") => serve!(UdpThreading, address, configure),
        ("udp", "forking") => serve!(UdpForking, address, configure),
        ("udp", "pool") => serve!(UdpPool, address, configure),
        ("unix-stream", "sync") => serve!(UnixStreamSync, address, configure, tls),
        ("unix-stream", "threading") => serve!(UnixStreamThreading, address, configure, tls),
        ("unix-stream", "forking") => serve!(UnixStreamForking, address, configure, tls),
        ("unix-stream", "pool") => serve!(UnixStreamPool, address, configure, tls),
        ("unix-datagram", "sync") => serve!(UnixDatagramSync, address, configure),
        ("unix-datagram", "threading") => serve!(UnixDatagramThreading, address, configure),
        ("unix-datagram", "forking") => serve!(UnixDatagramForking, address, configure),
        ("unix-datagram", "pool") => serve!(UnixDatagramPool, address, configure),
        (transport, mixin) => Err(common::usage_error(format!(
            "no echo server for transport `{transport}` with mixin `{mixin}`; usage: {USAGE}"
        ))),
    }
}

fn main() -> ExitCode {
    let known = [
        &["transport", "mixin", "bind"],
        common::WORKER_FLAGS,
        common::PROXY_FLAGS,
        common::TLS_FLAGS,
    ]
    .concat();
    common::main("echo", USAGE, &known, run)
}
