//! Shows what a handler sees: for each connection it logs the server type, the request's
//! socket, the client address and the current thread, and answers any HTTP request with a
//! `200` and a small text page (point a browser or `curl` at it).
//!
//!     cargo run --release --example inspect -- [--mixin sync|threading|forking] [--bind ADDR]

mod common;

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use socketserver::prelude::*;

const USAGE: &str =
    "inspect [--mixin sync|threading|forking] [--bind ADDR] (defaults: threading, 127.0.0.1:8000)";

/// Knows the type of the server it runs under, to show it.
#[derive(Clone)]
struct Inspect {
    server_type: &'static str,
}

#[handler]
impl Inspect {
    fn handle(&mut self, req: &mut StreamRequest) -> io::Result<()> {
        let thread = std::thread::current();
        let report = format!(
            "server: {} on {}\nsocket: {:?}\nclient: {}\nthread: {} ({:?}), process {}\n",
            self.server_type,
            req.server().server_address(),
            req.socket(),
            req.client_address(),
            thread.name().unwrap_or("unnamed"),
            thread.id(),
            std::process::id(),
        );
        eprint!("{report}");
        // Read the request line and headers, up to the blank line.
        let mut request_line = String::new();
        req.rfile().read_line(&mut request_line)?;
        let mut header = String::new();
        while req.rfile().read_line(&mut header)? > 0 && !header.trim().is_empty() {
            header.clear();
        }
        let body = format!("{}request: {}\n", report, request_line.trim());
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

/// Binds `$server`, says where it listens, serves until SIGINT/SIGTERM.
macro_rules! serve {
    ($server:ident, $address:expr) => {{
        let inspect = Inspect {
            server_type: std::any::type_name::<$server>(),
        };
        let server = $server::bind_with_handler($address, inspect)?;
        let signals = ShutdownSignals::catch()?;
        common::announce(server.server_address())?;
        server.serve_until(signals, common::GRACE).map(drop)
    }};
}

fn main() -> ExitCode {
    common::main("inspect", USAGE, &["--mixin", "--bind"], |flags| {
        let address = flags.get("--bind", "127.0.0.1:8000");
        match flags.get("--mixin", "threading") {
            "sync" => serve!(InspectSync, address),
            "threading" => serve!(InspectThreading, address),
            "forking" => serve!(InspectForking, address),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown mixin `{other}`; usage: {USAGE}"),
            )),
        }
    })
}
