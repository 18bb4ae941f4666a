//! What every example shares: flags, the `listening on` line, one-line errors, the grace
//! period on SIGINT/SIGTERM.
#![allow(dead_code)] // each example uses a part

use std::fmt::Display;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::Instant;

use socketserver::proxy::TrustedProxy;
use socketserver::{ServerConfig, StreamRequest};
use std::process::ExitCode;
use std::time::Duration;

/// How long requests in flight may run on after SIGINT/SIGTERM before they are cut.
pub const GRACE: Duration = Duration::from_secs(3);

mod flags;
mod tls;

pub use flags::Flags;
#[allow(unused_imports)] // the stream examples use them
pub use tls::{Tls, TLS_FLAGS};

/// Prints `listening on ADDR` and flushes, so a supervising process can read it at once.
pub fn announce(address: impl Display) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "listening on {address}")?;
    out.flush()
}

/// A usage error found once the flags are parsed (a value that names nothing): exit 2, as
/// for a flag that does not exist.
pub fn usage_error(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, UsageError(message))
}

#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The flags that take no value.
const SWITCHES: &[&str] = &["proxy-protocol", "reuse-port", "untie-children"];

/// The flags of a stream example behind a load balancer: `--proxy-protocol` and
/// `--trusted-proxy NET|unix` (repeatable).
pub const PROXY_FLAGS: &[&str] = &["proxy-protocol", "trusted-proxy"];

/// What `--proxy-protocol` and `--trusted-proxy` ask for.
pub struct Proxying {
    on: bool,
    trusted: Vec<TrustedProxy>,
}

impl Proxying {
    /// Reads the flags; a usage error for a network that is not one, for `--trusted-proxy`
    /// without `--proxy-protocol`, and for either on a datagram transport (`stream` false).
    pub fn from_flags(flags: &Flags, stream: bool) -> io::Result<Proxying> {
        let on = flags.has("proxy-protocol");
        let trusted = flags
            .values("trusted-proxy")
            .into_iter()
            .map(|t| {
                t.parse()
                    .map_err(|e| usage_error(format!("--trusted-proxy: {e}")))
            })
            .collect::<io::Result<Vec<TrustedProxy>>>()?;
        if !trusted.is_empty() && !on {
            return Err(usage_error(
                "--trusted-proxy needs --proxy-protocol".to_owned(),
            ));
        }
        if on && !stream {
            return Err(usage_error(
                "--proxy-protocol is for stream transports (tcp, unix-stream)".to_owned(),
            ));
        }
        Ok(Proxying { on, trusted })
    }

    /// Sets the server's options accordingly.
    pub fn apply(&self, config: &mut ServerConfig) {
        config.proxy_protocol = self.on;
        config.trusted_proxies = self.trusted.clone();
    }
}

/// The flags of the processes a server forks: `--workers N` and `--reuse-port` (a socket
/// each) for pre-forked workers, `--untie-children` for forked requests.
pub const WORKER_FLAGS: &[&str] = &["workers", "reuse-port", "untie-children"];

/// What the flags of a server example set in its config: the PROXY protocol
/// ([`Proxying`]), `--workers` ([`workers`]), `--reuse-port` and `--untie-children`
/// (`tie_children: false`: forked children outlive a killed server).
pub fn configure(
    flags: &Flags,
    mixin: &str,
    stream: bool,
) -> io::Result<impl Fn(&mut ServerConfig)> {
    let proxying = Proxying::from_flags(flags, stream)?;
    let workers = workers(flags, mixin, stream)?;
    let reuse_port = flags.has("reuse-port");
    if reuse_port && workers == 0 {
        return Err(usage_error(
            "--reuse-port gives each of the --workers a socket: add --workers N".to_owned(),
        ));
    }
    let untie_children = flags.has("untie-children");
    if untie_children && mixin != "forking" {
        return Err(usage_error(
            "--untie-children is for the children of --mixin forking".to_owned(),
        ));
    }
    Ok(move |config: &mut ServerConfig| {
        proxying.apply(config);
        config.workers = workers;
        config.workers_reuse_port = reuse_port;
        config.tie_children = !untie_children;
    })
}

/// `--workers N`: pre-forked worker processes (0 without the flag); a usage error for a
/// number that is not one (or 0), with `--mixin forking` and on a datagram transport.
fn workers(flags: &Flags, mixin: &str, stream: bool) -> io::Result<usize> {
    let Some(value) = flags.value("workers") else {
        return Ok(0);
    };
    let workers = match value.parse::<usize>() {
        Ok(n @ 1..=4096) => n,
        _ => {
            return Err(usage_error(format!(
                "--workers takes a number of processes from 1 to 4096, not `{value}`"
            )))
        }
    };
    if mixin == "forking" {
        return Err(usage_error(
            "--workers runs sync, threading or pool workers, not forking".to_owned(),
        ));
    }
    if !stream {
        return Err(usage_error(
            "--workers is for stream transports (tcp, unix-stream)".to_owned(),
        ));
    }
    Ok(workers)
}

/// Runs an example's `main`: usage on `--help`, one line on stderr and a non-zero status on
/// a usage error (2) or a failure (1). `known` names the flags (without `--`), each of
/// which takes a value but `--proxy-protocol`.
pub fn main(
    name: &str,
    usage: &str,
    known: &[&str],
    run: impl FnOnce(&Flags) -> io::Result<()>,
) -> ExitCode {
    let parsed = Flags::parse(std::env::args().skip(1)).and_then(|flags| {
        if flags.has("help") {
            return Ok(None);
        }
        flags.check(known)?;
        flags.check_values(SWITCHES)?;
        Ok(Some(flags))
    });
    let flags = match parsed {
        Ok(Some(flags)) => flags,
        Ok(None) => {
            println!("usage: {usage}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{name}: {message}; usage: {usage}");
            return ExitCode::from(2);
        }
    };
    match run(&flags) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            let usage = e.get_ref().is_some_and(|inner| inner.is::<UsageError>());
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

/// Ends the client's input before the connection closes: shuts the write side (the client
/// reads what was sent, then EOF) and discards what it still sends, until it closes or
/// `within` has passed. Closing a socket with unread input resets the connection, and the
/// client may lose the answer with it.
pub fn linger(req: &mut StreamRequest, within: Duration) {
    let _ = req.wfile().flush();
    let _ = req.socket().shutdown(Shutdown::Write);
    let deadline = Instant::now() + within;
    let mut sink = [0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || req.socket().set_read_timeout(Some(left)).is_err() {
            return;
        }
        match req.rfile().read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
