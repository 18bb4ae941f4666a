//! The driver behind `bench`: one command runs every scenario against every server,
//! alternating servers (A B C A B C ...) over repetitions, and prints medians and ratios
//! against the hand-written baseline of the same concurrency model, then server CPU per
//! operation (server and load generator pinned to CPU 0), system calls per operation
//! (`strace -f -c`, differential between two run lengths), shutdown latency and,
//! optionally, compile cost; and checks the targets.
//!
//! A run goes in three steps, a module each: plan the cases (`cases`), measure them
//! (`measure`, starting the servers of [`procs`], under the tracer of [`strace`] for the
//! system calls; [`shutdown`] and [`compile`] measure their parts) into the `results`, and
//! render those as Markdown (`sections`, with the `targets` checked and the tables and
//! numbers of [`report`]). `machine` reads the facts of the machine for the header.

mod cases;
pub mod compile;
mod machine;
mod measure;
pub mod procs;
pub mod report;
mod results;
mod sections;
pub mod shutdown;
pub mod strace;
mod targets;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use crate::common::{Flags, Scenario};
use crate::kinds;
use procs::Paths;

/// The driver's usage.
pub const USAGE: &str = "\
usage: cargo run --release -p socketserver-bench --bin bench -- [--quick] [options]

  --quick              one short repetition of everything (a smoke run, about a minute)
  --reps N             throughput repetitions (default 3)
  --duration SECS      length of one throughput run (default 0.5)
  --cpu-reps N         pinned CPU repetitions (default 5)
  --cpu-duration SECS  length of one pinned CPU run (default 1.5)
  --cpu-together       in each CPU repetition, serve every server of a case at once, each
                       with its own load generator, all on CPU 0: the machine's noise then
                       hits a server and its baseline alike (steadier ratios on a shared host)
  --only A,B           only the cases whose id contains one of these (e.g. tcp-churn)
  --kinds A,B          only these servers (and their baselines)
  --no-throughput --no-cpu --no-syscalls --no-shutdown   skip a part
  --compile            also measure compile cost (clean builds: minutes)
  --out FILE           also write the report to FILE
  --python PATH        the Python interpreter (default python3)
  --echo PATH          the echo example to measure as ours-* (default: this tree's, built
                       in release), e.g. another commit's build, to compare two builds";

/// The options [`Config::from_args`] takes.
const FLAGS: &[&str] = &[
    "quick",
    "reps",
    "duration",
    "cpu-reps",
    "cpu-duration",
    "cpu-together",
    "only",
    "kinds",
    "no-throughput",
    "no-cpu",
    "no-syscalls",
    "no-shutdown",
    "compile",
    "out",
    "python",
    "echo",
    "help",
];

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// A smoke run.
    pub quick: bool,
    /// Throughput repetitions.
    pub reps: usize,
    /// One throughput run.
    pub duration: Duration,
    /// CPU repetitions.
    pub cpu_reps: usize,
    /// One CPU run.
    pub cpu_duration: Duration,
    /// CPU runs serve every server of a case at once.
    pub cpu_together: bool,
    /// Run the throughput part.
    pub throughput: bool,
    /// Run the CPU part.
    pub cpu: bool,
    /// Run the syscall part.
    pub syscalls: bool,
    /// Run the shutdown latency part.
    pub shutdown: bool,
    /// Run the compile cost part.
    pub compile: bool,
    /// Case id filters.
    pub only: Vec<String>,
    /// Server filter.
    pub kinds: Option<Vec<String>>,
    /// Where to write the report too.
    pub out: Option<PathBuf>,
    /// The Python interpreter.
    pub python: String,
    /// Another build of the echo example to measure.
    pub echo: Option<PathBuf>,
    /// The command line, for the report.
    pub command: String,
}

impl Config {
    /// Reads the command line (without the program name).
    pub fn from_args(args: Vec<String>) -> Result<Config, String> {
        let command =
            std::iter::once("cargo run --release -p socketserver-bench --bin bench --".to_string())
                .chain(args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" ");
        let flags = Flags::parse(args)?;
        flags.check(FLAGS)?;
        if flags.has("help") {
            return Err(String::new());
        }
        let quick = flags.has("quick");
        let list = |name: &str| -> Vec<String> {
            flags
                .value(name)
                .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
                .unwrap_or_default()
        };
        let kinds = flags.has("kinds").then(|| list("kinds"));
        if let Some(names) = &kinds {
            if let Some(bad) = names.iter().find(|n| kinds::kind(n).is_none()) {
                return Err(format!("unknown kind `{bad}`; kinds: {}", kinds::names()));
            }
        }
        Ok(Config {
            quick,
            reps: flags.get("reps", if quick { 1 } else { 3 })?.max(1),
            duration: Duration::from_secs_f64(
                flags.get("duration", if quick { 0.3 } else { 0.5 })?,
            ),
            cpu_reps: flags.get("cpu-reps", if quick { 1 } else { 5 })?.max(1),
            cpu_duration: Duration::from_secs_f64(
                flags.get("cpu-duration", if quick { 0.5 } else { 1.5 })?,
            ),
            cpu_together: flags.has("cpu-together"),
            throughput: !flags.has("no-throughput"),
            cpu: !flags.has("no-cpu"),
            syscalls: !flags.has("no-syscalls"),
            shutdown: !flags.has("no-shutdown"),
            compile: flags.has("compile"),
            only: list("only"),
            kinds,
            out: flags.value("out").map(PathBuf::from),
            python: flags.value("python").unwrap_or("python3").to_string(),
            echo: flags.value("echo").map(PathBuf::from),
            command,
        })
    }

    /// The two run lengths (operations) of the syscall differential for `scenario`.
    fn syscall_lengths(&self, scenario: Scenario) -> (u64, u64) {
        let (short, long) = match scenario {
            Scenario::Churn => (200, 600),
            _ => (1000, 3000),
        };
        if self.quick {
            (short / 2, long / 2)
        } else {
            (short, long)
        }
    }
}

/// Runs the whole suite as `config` says; returns the report.
pub fn run(config: Config) -> Result<String, String> {
    let paths = Paths::discover(&config.python, config.echo.as_deref())?;
    let cases = cases::plan(&config);
    let measurements = measure::Bench::new(config, paths, cases).run();
    let report = sections::render(&measurements);
    if let Some(path) = &measurements.config.out {
        std::fs::write(path, &report).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(report)
}
