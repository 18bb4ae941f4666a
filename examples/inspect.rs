//! Shows what a handler sees: for each connection it logs the server type, the request's
//! socket, the client address and the current thread, and answers any HTTP request with a
//! `200` and a small text page (point a browser or `curl` at it).
//!
//! It reads requests within Python's `http.server` bounds: a request line longer than
//! 64 KiB gets `414 URI Too Long`, a longer header line or more than 100 headers
//! `431 Request Header Fields Too Large`, and the connection is closed; at most 64 KiB of a
//! line is ever held.
//!
//! Behind a load balancer with `--proxy-protocol`, `client:` is the client the PROXY header
//! names and `proxy:` the balancer's own address. With `--tls-cert FILE --tls-key FILE`
//! (built with `--features tls`) it speaks HTTPS and the page says what TLS settled (`tls:`);
//! `--tls-client-ca CA.pem` requires client certificates signed by that CA and the page
//! names the client's (`client certificate:`). SIGHUP re-reads the files. `--workers N`
//! serves from N pre-forked worker processes, as echo's does (the page's `process` tells
//! them apart).
//!
//!     cargo run --release --example inspect -- [--mixin sync|threading|forking|pool]
//!         [--bind ADDR] [--workers N [--reuse-port]] [--untie-children]
//!         [--proxy-protocol [--trusted-proxy NET|unix ...]]
//!         [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]

mod common;

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use socketserver::prelude::*;
use socketserver::proxy::ProxyHeader;

const USAGE: &str =
    "inspect [--mixin sync|threading|forking|pool] [--bind ADDR] [--workers N [--reuse-port]] \
[--untie-children] \
[--proxy-protocol [--trusted-proxy NET|unix ...]] \
[--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] (defaults: threading, 127.0.0.1:8000)";

/// The longest request or header line, its CRLF included (Python's `http.server._MAXLINE`).
const MAX_LINE: usize = 65536;
/// The most header lines a request may have (Python's `http.client._MAXHEADERS`).
const MAX_HEADERS: usize = 100;
/// How long a refused client's remaining input is read and discarded, so that it gets the
/// error response instead of a reset.
const LINGER: Duration = Duration::from_secs(2);

/// A request refused before it was read whole.
struct Refusal {
    status: &'static str,
    reason: String,
}

/// Reads the request line and the headers up to the blank line (a request that ends first
/// is taken as it is), within `MAX_LINE` and `MAX_HEADERS`; returns the request line.
fn read_head(req: &mut StreamRequest) -> io::Result<Result<String, Refusal>> {
    let too_long = |status, e: io::Error| {
        Ok(Err(Refusal {
            status,
            reason: e.to_string(),
        }))
    };
    let mut line = Vec::new();
    match req.rfile().read_line_bounded(&mut line, MAX_LINE) {
        Err(e) if e.kind() == io::ErrorKind::InvalidData => return too_long("414 URI Too Long", e),
        result => result?,
    };
    let request_line = String::from_utf8_lossy(&line).trim().to_owned();
    let mut headers = 0;
    loop {
        line.clear();
        match req.rfile().read_line_bounded(&mut line, MAX_LINE) {
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return too_long("431 Request Header Fields Too Large", e)
            }
            Ok(0) => break,
            Ok(_) if line.trim_ascii().is_empty() => break,
            Ok(_) => headers += 1,
            Err(e) => return Err(e),
        }
        if headers > MAX_HEADERS {
            return Ok(Err(Refusal {
                status: "431 Request Header Fields Too Large",
                reason: format!("more than {MAX_HEADERS} headers"),
            }));
        }
    }
    Ok(Ok(request_line))
}

/// Knows the type of the server it runs under, to show it.
#[derive(Clone)]
struct Inspect {
    server_type: &'static str,
}

#[handler]
impl Inspect {
    fn handle(&mut self, req: &mut StreamRequest) -> io::Result<()> {
        let thread = std::thread::current();
        // The balancer's address, when a PROXY header named someone else.
        let proxy = match req.get::<ProxyHeader>() {
            Some(header) => format!(
                "proxy: {} (PROXY {:?})\n",
                req.peer_address(),
                header.version
            ),
            None => String::new(),
        };
        let tls = tls_lines(req);
        let report = format!(
            "server: {} on {}\nsocket: {:?}\nclient: {}\n{proxy}{tls}thread: {} ({:?}), process {}\n",
            self.server_type,
            req.server().server_address(),
            req.socket(),
            req.client_address(),
            thread.name().unwrap_or("unnamed"),
            thread.id(),
            std::process::id(),
        );
        eprint!("{report}");
        let request_line = match read_head(req)? {
            Ok(request_line) => request_line,
            Err(Refusal { status, reason }) => {
                eprintln!("refused: {status} ({reason})");
                let body = format!("{reason}\n");
                write!(
                    req.wfile(),
                    "HTTP/1.0 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )?;
                common::linger(req, LINGER);
                return Ok(());
            }
        };
        let body = format!("{report}request: {request_line}\n");
        write!(
            req.wfile(),
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }
}

server! {
    struct InspectSync { transport: Tcp, mixin: Sync, handler: Inspect, allow_reuse_address: true }
}
server! {
    struct InspectThreading { transport: Tcp, mixin: Threading, handler: Inspect, allow_reuse_address: true }
}
server! {
    struct InspectForking { transport: Tcp, mixin: Forking, handler: Inspect, allow_reuse_address: true }
}
server! {
    struct InspectPool { transport: Tcp, mixin: Pool, handler: Inspect, allow_reuse_address: true }
}

/// What TLS settled, when the connection is TLS: `tls: VERSION SUITE`, and the client's
/// certificate when it presented one.
#[cfg(feature = "tls")]
fn tls_lines(req: &StreamRequest) -> String {
    let Some(info) = req.get::<socketserver::tls::TlsInfo>() else {
        return String::new();
    };
    let mut lines = format!("tls: {} {}\n", info.version(), info.cipher_suite());
    if let Some(subject) = info.client_subject() {
        lines += &format!("client certificate: {subject}\n");
    }
    lines
}

#[cfg(not(feature = "tls"))]
fn tls_lines(_: &StreamRequest) -> String {
    String::new()
}

/// Binds `$server`, says where it listens, serves until SIGINT/SIGTERM.
macro_rules! serve {
    ($server:ident, $address:expr, $configure:expr, $tls:expr) => {{
        let inspect = Inspect {
            server_type: std::any::type_name::<$server>(),
        };
        // Before binding: a signal from now on stops the server cleanly (no socket file left).
        let signals = ShutdownSignals::catch()?;
        // A socket passed by a service manager (LISTEN_FDS) if any, else --bind.
        let builder = $server::builder()
            .handler(inspect)
            .configure(|config| $configure(config));
        let server: $server = $tls.apply(builder).activate_or_bind($address)?.into();
        common::announce(server.server_address())?;
        server.serve_until(signals, common::GRACE).map(drop)
    }};
}

fn main() -> ExitCode {
    let known = [
        &["mixin", "bind"],
        common::WORKER_FLAGS,
        common::PROXY_FLAGS,
        common::TLS_FLAGS,
    ]
    .concat();
    common::main("inspect", USAGE, &known, |flags| {
        let address = flags.value_or("bind", "127.0.0.1:8000");
        let mixin = flags.value_or("mixin", "threading");
        let configure = common::configure(flags, mixin, true)?;
        let tls = common::Tls::from_flags(flags, true)?;
        match mixin {
            "sync" => serve!(InspectSync, address, configure, tls),
            "threading" => serve!(InspectThreading, address, configure, tls),
            "forking" => serve!(InspectForking, address, configure, tls),
            "pool" => serve!(InspectPool, address, configure, tls),
            other => Err(common::usage_error(format!(
                "unknown mixin `{other}`; usage: {USAGE}"
            ))),
        }
    })
}
