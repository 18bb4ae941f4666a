//! The load generator: drives one server and prints one `RESULT ...` line.
//!
//!     loadgen --scenario pingpong|churn|datagram|stream --addr ADDR [--transport T]
//!             [--conns N] [--size BYTES] [--duration SECS | --ops N] [--timeout-ms MS]
//!             [--limit SECS] [--proxy-header] [--tls CA.pem [--tls12]]
//!
//! `--tls` (loadgen built with the `tls` feature): TCP connections speak TLS, trusting the
//! certificates of CA.pem, for the server name `localhost`, TLS 1.3 (`--tls12`: 1.2), no
//! session resumption; a `TLS version=... suite=... group=...` line then precedes the
//! result.
//!
//! Bounded in time: a watchdog ends the process (exit 3) if the run overstays its limit.

use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use socketserver_bench::common::{Addr, Flags, Scenario, Transport};
use socketserver_bench::loadgen::{self, Spec};

const USAGE: &str = "usage: loadgen --scenario pingpong|churn|datagram|stream --addr ADDR \
[--transport tcp|unix|udp|unix-dgram] [--conns N] [--size BYTES] [--duration SECS | --ops N] \
[--timeout-ms MS] [--limit SECS] [--proxy-header] (a PROXY v2 header first on each connection) \
[--tls CA.pem [--tls12]] (TLS to `localhost`, trusting CA.pem; built with the tls feature)";

fn spec() -> Result<Spec, String> {
    let flags = Flags::parse(std::env::args().skip(1))?;
    flags.check(&[
        "scenario",
        "addr",
        "transport",
        "conns",
        "size",
        "duration",
        "ops",
        "timeout-ms",
        "limit",
        "proxy-header",
        "tls",
        "tls12",
        "help",
    ])?;
    if flags.has("help") {
        return Err(String::new());
    }
    let scenario: Scenario = flags
        .value("scenario")
        .ok_or("--scenario is required")?
        .parse()?;
    let addr = Addr::parse(flags.value("addr").ok_or("--addr is required")?)?;
    let default_transport = match (&addr, scenario) {
        (Addr::Inet(_), Scenario::Datagram) => Transport::Udp,
        (Addr::Inet(_), _) => Transport::Tcp,
        (Addr::Unix(_), Scenario::Datagram) => Transport::UnixDgram,
        (Addr::Unix(_), _) => Transport::Unix,
    };
    let default_size = if scenario == Scenario::Stream {
        65536
    } else {
        64
    };
    if flags.has("tls") && (flags.has("proxy-header") || !matches!(addr, Addr::Inet(_))) {
        return Err("--tls is for TCP, without --proxy-header".into());
    }
    if flags.has("tls12") && !flags.has("tls") {
        return Err("--tls12 needs --tls".into());
    }
    #[cfg(not(feature = "tls"))]
    if flags.has("tls") {
        return Err("--tls needs loadgen built with `--features tls`".into());
    }
    let ops = match flags.value("ops") {
        Some(v) => Some(v.parse().map_err(|e| format!("--ops {v}: {e}"))?),
        None => None,
    };
    Ok(Spec {
        scenario,
        transport: flags.get("transport", default_transport)?,
        addr,
        conns: flags.get("conns", 1usize)?.max(1),
        size: flags.get("size", default_size)?.max(1),
        duration: Duration::from_secs_f64(flags.get("duration", 1.0f64)?),
        ops,
        timeout: Duration::from_millis(flags.get("timeout-ms", 2000u64)?),
        limit: Duration::from_secs_f64(flags.get("limit", 120.0f64)?),
        proxy_header: flags.has("proxy-header"),
        #[cfg(feature = "tls")]
        tls: match flags.value("tls") {
            Some(ca) => Some(
                loadgen::tls_client::client_config(ca.as_ref(), flags.has("tls12"))
                    .map_err(|e| format!("--tls {ca}: {e}"))?,
            ),
            None if flags.has("tls") => return Err("--tls needs a CA file".into()),
            None => None,
        },
    })
}

fn main() -> ExitCode {
    let spec = match spec() {
        Ok(spec) => spec,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("loadgen: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // The watchdog: whatever a client is stuck in, the process ends.
    let bound = match spec.ops {
        Some(_) => spec.limit,
        None => spec.duration,
    } + spec.timeout * 8
        + Duration::from_secs(5);
    thread::spawn(move || {
        thread::sleep(bound);
        eprintln!("loadgen: watchdog: still running after {bound:?}, giving up");
        std::process::exit(3);
    });
    match loadgen::run(&spec) {
        Ok(outcome) => {
            #[cfg(feature = "tls")]
            if let Some(negotiated) = loadgen::tls_client::negotiated() {
                println!("TLS {negotiated}");
            }
            println!("{}", outcome.to_line());
            if let Some(e) = &outcome.first_error {
                eprintln!("loadgen: {} errors, first: {e}", outcome.errors);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(2)
        }
    }
}
