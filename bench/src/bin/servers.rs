//! The reference servers, one per `--kind`: the hand-written `std::net` baselines
//! (`hand-sync`, `hand-threading`, `hand-forking`, `hand-pool`) and `tokio`. Each prints
//! `listening on ADDR` and serves echo until killed. The `server!` servers (`ours-*`) are the
//! echo example itself (`examples/echo.rs`), which the driver runs as users do.
//!
//!     servers --kind KIND [--transport tcp|unix|udp|unix-dgram] [--bind ADDR]
//!
//! `--bind` defaults to 127.0.0.1:0 (any free port); unix transports need a path.

use std::process::ExitCode;

use socketserver_bench::common::{Flags, Transport};
use socketserver_bench::{hand, kinds};

fn run() -> Result<(), String> {
    let flags = Flags::parse(std::env::args().skip(1))?;
    flags.check(&["kind", "transport", "bind", "help"])?;
    if flags.has("help") {
        println!(
            "usage: servers --kind KIND [--transport tcp|unix|udp|unix-dgram] [--bind ADDR]\nkinds: {}",
            kinds::names()
        );
        return Ok(());
    }
    let kind = flags.value("kind").ok_or("--kind is required")?;
    let transport: Transport = flags.get("transport", Transport::Tcp)?;
    let address = match (flags.value("bind"), transport.is_unix()) {
        (Some(a), _) => a.to_string(),
        (None, false) => "127.0.0.1:0".to_string(),
        (None, true) => return Err("unix transports need --bind PATH".into()),
    };
    let served = match kind {
        "hand-sync" => hand::serve(hand::Model::Sync, transport, &address),
        "hand-threading" => hand::serve(hand::Model::Threading, transport, &address),
        "hand-forking" => hand::serve(hand::Model::Forking, transport, &address),
        "hand-pool" => hand::serve(hand::Model::Pool, transport, &address),
        #[cfg(feature = "tokio")]
        "tokio" => socketserver_bench::tokio_echo::serve(transport, &address),
        #[cfg(not(feature = "tokio"))]
        "tokio" => return Err("built without the `tokio` feature (the driver builds it with)".into()),
        _ => {
            return Err(format!(
                "unknown kind `{kind}` (Python's run from bench/python/echo_server.py, ours-* from examples/echo.rs); kinds: {}",
                kinds::names()
            ))
        }
    };
    served.map_err(|e| format!("{kind} over {transport}: {e}"))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("servers: {e}");
            ExitCode::FAILURE
        }
    }
}
