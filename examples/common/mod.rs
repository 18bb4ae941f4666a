//! What every example shares: flags, the `listening on` line, one-line errors, the grace
//! period on SIGINT/SIGTERM.
#![allow(dead_code)] // each example uses a part

use std::fmt::Display;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

/// How long requests in flight may run on after SIGINT/SIGTERM before they are cut.
pub const GRACE: Duration = Duration::from_secs(3);

/// `--flag value` pairs from the command line, checked against the flags an example takes.
pub struct Flags {
    values: Vec<(String, String)>,
}

impl Flags {
    /// Parses `std::env::args()`; `Err` holds the message to print (`--help` gives the usage
    /// with an empty error).
    pub fn parse(known: &[&str]) -> Result<Flags, String> {
        let mut values = Vec::new();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                return Err(String::new());
            }
            // `--flag value` or `--flag=value`.
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                None => (arg, None),
            };
            if !known.contains(&flag.as_str()) {
                return Err(format!("unknown argument `{flag}`"));
            }
            let value = match inline {
                Some(value) => value,
                None => args.next().ok_or(format!("`{flag}` needs a value"))?,
            };
            values.push((flag, value));
        }
        Ok(Flags { values })
    }

    /// The value of `flag`, or `default`.
    pub fn get<'a>(&'a self, flag: &str, default: &'a str) -> &'a str {
        self.values
            .iter()
            .rev()
            .find(|(f, _)| f == flag)
            .map_or(default, |(_, v)| v)
    }
}

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

/// Runs an example's `main`: usage on `--help`, one line on stderr and a non-zero status on
/// a usage error (2) or a failure (1).
pub fn main(
    name: &str,
    usage: &str,
    known: &[&str],
    run: impl FnOnce(&Flags) -> io::Result<()>,
) -> ExitCode {
    let flags = match Flags::parse(known) {
        Ok(flags) => flags,
        Err(message) if message.is_empty() => {
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
