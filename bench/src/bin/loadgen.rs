//! The load generator: drives one server and prints one `RESULT ...` line.
//!
//!     loadgen --scenario pingpong|churn|datagram|stream --addr ADDR [--transport T]
//!             [--conns N] [--size BYTES] [--duration SECS | --ops N] [--timeout-ms MS]
//!             [--limit SECS] [--proxy-header]
//!
//! Bounded in time: a watchdog ends the process (exit 3) if the run overstays its limit.

use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use socketserver_bench::common::{Addr, Flags, Scenario, Transport};
use socketserver_bench::loadgen::{self, Spec};

const USAGE: &str = "usage: loadgen --scenario pingpong|churn|datagram|stream --addr ADDR \
[--transport tcp|unix|udp|unix-dgram] [--conns N] [--size BYTES] [--duration SECS | --ops N] \
[--timeout-ms MS] [--limit SECS] [--proxy-header] (a PROXY v2 header first on each connection)";

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
