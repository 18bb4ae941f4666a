//! The TLS reference servers of `bench/tls.sh` (built with the `tls` feature): `hand`, the
//! blocking rustls echo server with a thread per connection, and `tokio`, the tokio-rustls
//! one with a task per connection. Each prints `listening on ADDR` and serves TLS echo
//! until killed.
//!
//!     tls_servers hand|tokio --cert CERT.pem --key KEY.pem [--bind ADDR]
//!
//! `--bind` defaults to 127.0.0.1:0 (any free port).

use std::path::Path;
use std::process::ExitCode;

use socketserver_bench::common::Flags;
use socketserver_bench::tls;

/// The usage line.
const USAGE: &str = "usage: tls_servers hand|tokio --cert CERT.pem --key KEY.pem [--bind ADDR]";

/// Starts the server the command line names; returns only on an error.
fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let kind = args.next().unwrap_or_default();
    let flags = Flags::parse(args)?;
    flags.check(&["cert", "key", "bind", "help"])?;
    if kind == "--help" || kind == "-h" || flags.has("help") {
        println!("{USAGE}");
        return Ok(());
    }
    let path = |name| {
        flags
            .value(name)
            .map(Path::new)
            .ok_or(format!("--{name} is required"))
    };
    let config = tls::server_config(path("cert")?, path("key")?).map_err(|e| e.to_string())?;
    let address = flags.value_or("bind", "127.0.0.1:0");
    let served = match kind.as_str() {
        "hand" => tls::hand::serve(config, address),
        "tokio" => tls::tokio_echo::serve(config, address),
        _ => return Err(format!("unknown server `{kind}`")),
    };
    served.map_err(|e| format!("{kind} at {address}: {e}"))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls_servers: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}
