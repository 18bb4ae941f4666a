//! The driver behind `bench`: one command runs every scenario against every server,
//! alternating servers (A B C A B C ...) over repetitions, and prints medians and ratios
//! against the hand-written baseline of the same concurrency model, then server CPU per
//! operation (server and load generator pinned to CPU 0), system calls per operation
//! (`strace -f -c`, differential between two run lengths), shutdown latency and,
//! optionally, compile cost; and checks the targets.

pub mod compile;
pub mod procs;
pub mod report;
pub mod shutdown;
pub mod strace;

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::{median, percentile_sorted, Flags, Scenario, Transport};
use crate::kinds::{self, Kind, KINDS};
use crate::loadgen::{Outcome, Spec};
use procs::{Paths, Server};
use report::{num, opt, ratio, Table};
use strace::{Counts, Tracer};

/// The driver's usage.
pub const USAGE: &str = "\
usage: cargo run --release -p socketserver-bench --bin bench -- [--quick] [options]

  --quick              one short repetition of everything (a smoke run, about a minute)
  --reps N             throughput repetitions (default 3)
  --duration SECS      length of one throughput run (default 0.5)
  --cpu-reps N         pinned CPU repetitions (default 5)
  --cpu-duration SECS  length of one pinned CPU run (default 1.5)
  --only A,B           only the cases whose id contains one of these (e.g. tcp-churn)
  --kinds A,B          only these servers (and their baselines)
  --no-throughput --no-cpu --no-syscalls --no-shutdown   skip a part
  --compile            also measure compile cost (clean builds: minutes)
  --out FILE           also write the report to FILE
  --python PATH        the Python interpreter (default python3)
  --echo PATH          the echo example to measure as ours-* (default: this tree's, built
                       in release), e.g. another commit's build, to compare two builds";

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
        flags.check(&[
            "quick",
            "reps",
            "duration",
            "cpu-reps",
            "cpu-duration",
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
        ])?;
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

/// One load against a list of servers.
#[derive(Clone, Debug)]
struct Case {
    transport: Transport,
    scenario: Scenario,
    conns: usize,
    size: usize,
    kinds: Vec<&'static Kind>,
    /// Also measure CPU and system calls per operation.
    detail: bool,
}

impl Case {
    fn id(&self) -> String {
        format!("{}-{}-c{}", self.transport, self.scenario, self.conns)
    }

    fn title(&self) -> String {
        let conns = match (self.scenario, self.conns) {
            (Scenario::Churn, 1) => "1 client".to_string(),
            (Scenario::Churn, n) => format!("{n} concurrent clients"),
            (Scenario::Datagram, 1) => "1 client socket".to_string(),
            (Scenario::Datagram, n) => format!("{n} client sockets"),
            (_, 1) => "1 connection".to_string(),
            (_, n) => format!("{n} connections"),
        };
        let size = if self.size >= 1024 {
            format!("{} KiB", self.size / 1024)
        } else {
            format!("{} B", self.size)
        };
        format!("{} {}, {conns}, {size}", self.transport, self.scenario)
    }

    /// The unit of the rate column.
    fn unit(&self) -> &'static str {
        match self.scenario {
            Scenario::PingPong => "round trips/s",
            Scenario::Churn => "connections/s",
            Scenario::Datagram => "datagrams/s",
            Scenario::Stream => "MB/s",
        }
    }

    fn rate(&self, outcome: &Outcome) -> f64 {
        match self.scenario {
            Scenario::Stream => outcome.mb_per_sec(),
            _ => outcome.rate(),
        }
    }
}

/// The cases of a run: every scenario over both transports of its kind; CPU and syscalls
/// on TCP and UDP.
fn plan(config: &Config) -> Vec<Case> {
    let selected = |k: &&Kind| match &config.kinds {
        None => true,
        Some(names) => names
            .iter()
            .any(|n| n == k.name || kinds::kind(n).map(|x| x.baseline) == Some(k.name)),
    };
    let serves = |conns: usize| move |k: &&Kind| k.max_connections.is_none_or(|max| max >= conns);
    let all: Vec<&'static Kind> = KINDS.iter().filter(selected).collect();
    let mut cases = Vec::new();
    let mut add = |transport, scenario, conns, size, detail| {
        let kinds: Vec<_> = all.iter().copied().filter(serves(conns)).collect();
        if !kinds.is_empty() {
            cases.push(Case {
                transport,
                scenario,
                conns,
                size,
                kinds,
                detail,
            });
        }
    };
    for transport in [Transport::Tcp, Transport::Unix] {
        let detail = transport == Transport::Tcp;
        add(transport, Scenario::PingPong, 1, 64, detail);
        add(transport, Scenario::PingPong, 128, 64, false);
        add(transport, Scenario::Churn, 1, 64, detail);
        add(transport, Scenario::Stream, 1, 65536, false);
    }
    for transport in [Transport::Udp, Transport::UnixDgram] {
        add(
            transport,
            Scenario::Datagram,
            1,
            64,
            transport == Transport::Udp,
        );
    }
    cases.retain(|c| {
        config.only.is_empty() || config.only.iter().any(|o| c.id().contains(o.as_str()))
    });
    cases
}

/// What a measurement ran in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Unpinned, for a duration.
    Throughput,
    /// Server and load generator on CPU 0, for a duration; server CPU read from /proc.
    Cpu,
    /// Under `strace -f -c`, for a number of operations.
    Syscalls(u64),
}

/// What one measurement gave.
struct Measured {
    outcome: Outcome,
    /// User and system CPU seconds of the server during the load.
    cpu_seconds: Option<(f64, f64)>,
    counts: Option<Counts>,
    server_log: Option<String>,
}

/// Per case and server: every result.
#[derive(Default)]
struct Results {
    runs: Vec<Outcome>,
    /// The repetition of each run.
    run_reps: Vec<usize>,
    failures: Vec<String>,
    notes: Vec<String>,
    cpu_us: Vec<f64>,
    cpu_user_us: Vec<f64>,
    cpu_sys_us: Vec<f64>,
    cpu_rates: Vec<f64>,
    /// The repetition of each CPU sample.
    cpu_reps: Vec<usize>,
    syscalls: Option<Result<Syscalls, String>>,
}

/// System calls per operation, from the difference between two run lengths.
#[derive(Clone, Debug)]
struct Syscalls {
    per_op: f64,
    /// Per system call, largest first (those of at least 0.01 per operation).
    by_name: Vec<(String, f64)>,
    /// Failed calls per operation, per system call.
    errors_by_name: Vec<(String, f64)>,
}

impl Syscalls {
    fn between(short: (&Outcome, &Counts), long: (&Outcome, &Counts)) -> Result<Syscalls, String> {
        let ops = long.0.ops as f64 - short.0.ops as f64;
        if ops <= 0.0 {
            return Err(format!(
                "run lengths {} and {} ops",
                short.0.ops, long.0.ops
            ));
        }
        let per = |a: &std::collections::BTreeMap<String, u64>,
                   b: &std::collections::BTreeMap<String, u64>| {
            let mut v: Vec<(String, f64)> = b
                .keys()
                .chain(a.keys())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .map(|name| {
                    let d = *b.get(name).unwrap_or(&0) as f64 - *a.get(name).unwrap_or(&0) as f64;
                    (name.clone(), d / ops)
                })
                .filter(|(_, v)| v.abs() >= 0.01)
                .collect();
            v.sort_by(|x, y| y.1.total_cmp(&x.1));
            v
        };
        Ok(Syscalls {
            per_op: (long.1.total() as f64 - short.1.total() as f64) / ops,
            by_name: per(&short.1.calls, &long.1.calls),
            errors_by_name: per(&short.1.errors, &long.1.errors),
        })
    }

    fn breakdown(&self) -> String {
        let mut s = self
            .by_name
            .iter()
            .map(|(n, v)| format!("{n} {}", num(*v)))
            .collect::<Vec<_>>()
            .join(", ");
        if !self.errors_by_name.is_empty() {
            let errors = self
                .errors_by_name
                .iter()
                .map(|(n, v)| format!("{n} {}", num(*v)))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = write!(s, " (failing: {errors})");
        }
        s
    }
}

/// The state of a run.
struct Bench {
    config: Config,
    paths: Paths,
    cases: Vec<Case>,
    results: HashMap<(String, &'static str), Results>,
    run_id: Cell<usize>,
    done: Cell<usize>,
    total: usize,
    started: Instant,
    loadavg_at_start: String,
    /// The library's commit when the run started (the binaries were just built from it).
    library: String,
    /// Measurements that started while other compilers ran.
    contended: Cell<usize>,
}

impl Bench {
    fn result(&mut self, case: &Case, kind: &Kind) -> &mut Results {
        self.results.entry((case.id(), kind.name)).or_default()
    }

    fn get(&self, case_id: &str, kind: &str) -> Option<&Results> {
        self.results
            .iter()
            .find(|((c, k), _)| c == case_id && *k == kind)
            .map(|(_, r)| r)
    }

    fn progress(&self, what: &str) {
        self.done.set(self.done.get() + 1);
        eprintln!(
            "[{:>3}/{} {:>4.0}s] {what}",
            self.done.get(),
            self.total,
            self.started.elapsed().as_secs_f64()
        );
    }

    /// Starts `kind`, loads it with `case` as `mode` says, stops it.
    fn measure(&self, case: &Case, kind: &Kind, mode: Mode) -> Result<Measured, String> {
        let pinned = mode == Mode::Cpu;
        if compilers() > 0 {
            self.contended.set(self.contended.get() + 1);
        }
        let run = self.run_id.get();
        self.run_id.set(run + 1);
        let server = Server::start(&self.paths, kind, case.transport, pinned, run)?;
        let tracer = match mode {
            Mode::Syscalls(_) => {
                let out = self.paths.work.join(format!("strace{run}.txt"));
                Some(Tracer::attach(server.pid, out)?)
            }
            _ => None,
        };
        let cpu_before = server.cpu_seconds();
        let spec = Spec {
            scenario: case.scenario,
            transport: case.transport,
            addr: server.addr.clone(),
            conns: case.conns,
            size: case.size,
            duration: match mode {
                Mode::Cpu => self.config.cpu_duration,
                _ => self.config.duration,
            },
            ops: match mode {
                Mode::Syscalls(n) => Some(n),
                _ => None,
            },
            timeout: Duration::from_secs(2),
            limit: Duration::from_secs(120),
        };
        let outcome = procs::loadgen(&self.paths, &spec, pinned);
        // Let the last requests end (and their children be reaped) before reading.
        thread::sleep(Duration::from_millis(kind.settle_ms));
        let cpu_after = server.cpu_seconds();
        let counts = tracer.map(Tracer::finish).transpose();
        let server_log = server.stop();
        let outcome = outcome?;
        Ok(Measured {
            cpu_seconds: cpu_before
                .zip(cpu_after)
                .map(|(a, b)| (b.0 - a.0, b.1 - a.1)),
            counts: counts?,
            outcome,
            server_log,
        })
    }

    /// Throughput and latency: every case, `reps` times, servers alternating.
    fn throughput(&mut self) {
        let cases = self.cases.clone();
        let reps = self.config.reps;
        self.alternate(
            &cases,
            reps,
            Mode::Throughput,
            "throughput",
            |results, case, rep, measured| match measured {
                Ok(m) => {
                    let line = format!(
                        "{} {}/s, {} errors",
                        num(case.rate(&m.outcome)),
                        case.unit().trim_end_matches("/s"),
                        m.outcome.errors
                    );
                    if let Some(e) = &m.outcome.first_error {
                        results.notes.push(format!("load: {e}"));
                    }
                    if let Some(log) = m.server_log {
                        results.notes.push(format!("server: {log}"));
                    }
                    results.runs.push(m.outcome);
                    results.run_reps.push(rep);
                    line
                }
                Err(e) => {
                    let line = format!("FAILED: {e}");
                    results.failures.push(e);
                    line
                }
            },
        );
    }

    /// Server CPU per operation, pinned: the detailed cases, `cpu_reps` times, alternating.
    fn cpu(&mut self) {
        let cases: Vec<Case> = self.cases.iter().filter(|c| c.detail).cloned().collect();
        let reps = self.config.cpu_reps;
        self.alternate(
            &cases,
            reps,
            Mode::Cpu,
            "cpu",
            |results, case, rep, measured| {
                let per_op = measured.as_ref().ok().and_then(|m| {
                    let ops = m.outcome.ops as f64;
                    m.cpu_seconds
                        .filter(|_| ops > 0.0)
                        .map(|(user, sys)| (user * 1e6 / ops, sys * 1e6 / ops))
                });
                match (measured, per_op) {
                    (Ok(m), Some((user, sys))) => {
                        results.cpu_us.push(user + sys);
                        results.cpu_user_us.push(user);
                        results.cpu_sys_us.push(sys);
                        results.cpu_rates.push(case.rate(&m.outcome));
                        results.cpu_reps.push(rep);
                        format!(
                            "{} us/op (user {}, sys {}), {} errors",
                            num(user + sys),
                            num(user),
                            num(sys),
                            m.outcome.errors
                        )
                    }
                    (Ok(_), None) => {
                        results.failures.push("cpu: no reading".into());
                        "no CPU reading".into()
                    }
                    (Err(e), _) => {
                        let line = format!("FAILED: {e}");
                        results.failures.push(format!("cpu: {e}"));
                        line
                    }
                }
            },
        );
    }

    /// Measures every case in `mode` `reps` times, the servers alternating within each
    /// repetition; `record` files each measurement in its results and returns the line of
    /// progress to print.
    fn alternate(
        &mut self,
        cases: &[Case],
        reps: usize,
        mode: Mode,
        what: &str,
        mut record: impl FnMut(&mut Results, &Case, usize, Result<Measured, String>) -> String,
    ) {
        for case in cases {
            for rep in 0..reps {
                for kind in &case.kinds {
                    let measured = self.measure(case, kind, mode);
                    let line = record(self.result(case, kind), case, rep, measured);
                    self.progress(&format!(
                        "{what} {} rep {} {}: {line}",
                        case.id(),
                        rep + 1,
                        kind.name
                    ));
                }
            }
        }
    }

    /// System calls per operation: the detailed cases, two run lengths each under strace.
    fn syscalls(&mut self) {
        let cases: Vec<Case> = self.cases.iter().filter(|c| c.detail).cloned().collect();
        for case in &cases {
            let (short, long) = self.config.syscall_lengths(case.scenario);
            for kind in &case.kinds {
                let a = self.measure(case, kind, Mode::Syscalls(short));
                self.progress(&format!(
                    "syscalls {} {} ({short} ops)",
                    case.id(),
                    kind.name
                ));
                let b = self.measure(case, kind, Mode::Syscalls(long));
                self.progress(&format!(
                    "syscalls {} {} ({long} ops)",
                    case.id(),
                    kind.name
                ));
                let result = match (a, b) {
                    (Ok(a), Ok(b)) => match (&a.counts, &b.counts) {
                        (Some(ca), Some(cb)) => {
                            let errors = a.outcome.errors + b.outcome.errors;
                            Syscalls::between((&a.outcome, ca), (&b.outcome, cb))
                                .map(|s| (s, errors))
                        }
                        _ => Err("no strace counts".to_string()),
                    },
                    (Err(e), _) | (_, Err(e)) => Err(e),
                };
                let results = self.result(case, kind);
                results.syscalls = Some(result.map(|(s, errors)| {
                    if errors > 0 {
                        results
                            .notes
                            .push(format!("syscalls: {errors} load errors under strace"));
                    }
                    s
                }));
            }
        }
    }

    fn median_rate(&self, case: &Case, kind: &str) -> Option<f64> {
        let r = self.get(&case.id(), kind)?;
        median(&r.runs.iter().map(|o| case.rate(o)).collect::<Vec<_>>())
    }

    fn median_cpu(&self, case_id: &str, kind: &str) -> Option<f64> {
        median(&self.get(case_id, kind)?.cpu_us)
    }

    /// Each repetition's rate of `kind` in `case`.
    fn rates_by_rep(&self, case: &Case, kind: &str) -> Vec<(usize, f64)> {
        self.get(&case.id(), kind).map_or_else(Vec::new, |r| {
            r.run_reps
                .iter()
                .copied()
                .zip(r.runs.iter().map(|o| case.rate(o)))
                .collect()
        })
    }

    /// Each repetition's CPU µs per operation of `kind` in `case_id`.
    fn cpu_by_rep(&self, case_id: &str, kind: &str) -> Vec<(usize, f64)> {
        self.get(case_id, kind).map_or_else(Vec::new, |r| {
            r.cpu_reps
                .iter()
                .copied()
                .zip(r.cpu_us.iter().copied())
                .collect()
        })
    }

    /// `kind`'s rate over `base`'s: the median of the ratios within each repetition (the two
    /// ran close in time, so a slow drift of the shared machine cancels).
    fn rate_ratio(&self, case: &Case, kind: &str, base: &str) -> Option<f64> {
        paired_ratio(
            &self.rates_by_rep(case, kind),
            &self.rates_by_rep(case, base),
        )
    }

    /// `kind`'s CPU per operation over `base`'s, paired by repetition as `rate_ratio`.
    fn cpu_ratio(&self, case_id: &str, kind: &str, base: &str) -> Option<f64> {
        paired_ratio(
            &self.cpu_by_rep(case_id, kind),
            &self.cpu_by_rep(case_id, base),
        )
    }

    fn syscalls_of(&self, case_id: &str, kind: &str) -> Option<&Syscalls> {
        self.get(case_id, kind)?.syscalls.as_ref()?.as_ref().ok()
    }
}

/// The median over repetitions of `a / b`, pairing the values of the same repetition.
fn paired_ratio(a: &[(usize, f64)], b: &[(usize, f64)]) -> Option<f64> {
    let ratios: Vec<f64> = a
        .iter()
        .filter_map(|(rep, x)| {
            let (_, y) = b.iter().find(|(r, _)| r == rep)?;
            (*y > 0.0).then(|| x / y)
        })
        .collect();
    median(&ratios)
}

/// Machine facts for the report.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let version = |cmd: &str, arg: &str| {
        std::process::Command::new(cmd)
            .arg(arg)
            .output()
            .ok()
            .map(|o| {
                let mut s = String::from_utf8_lossy(&o.stdout).trim().to_string();
                if s.is_empty() {
                    s = String::from_utf8_lossy(&o.stderr).trim().to_string();
                }
                s.lines().next().unwrap_or("").to_string()
            })
            .unwrap_or_else(|| "unknown".into())
    };
    format!(
        "- CPUs: {cpus} (`nproc`), {model}\n- kernel: Linux {}\n- {}; {}",
        kernel.trim(),
        version("rustc", "--version"),
        version("python3", "--version"),
    )
}

/// The load average, and how many compilers (of other users of the machine) run now.
fn loadavg() -> String {
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into());
    format!("{load} ({} compiler processes running)", compilers())
}

/// The library's version under test: the commit, and whether its sources differ from it.
fn library_version() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(&root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(commit) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "unknown (not a git checkout)".into();
    };
    // Read-only queries (`git status` may rewrite the index).
    let count = |args: &[&str]| git(args).map_or(0, |s| s.lines().count());
    let changed = count(&[
        "diff",
        "--name-only",
        "HEAD",
        "--",
        "runtime",
        "macros",
        "src",
    ]) + count(&[
        "ls-files",
        "--others",
        "--exclude-standard",
        "--",
        "runtime",
        "macros",
        "src",
    ]);
    if changed == 0 {
        format!("commit {commit}")
    } else {
        format!("commit {commit} plus uncommitted changes to {changed} files of runtime/, macros/, src/")
    }
}

/// How many compiler processes run on the machine now.
fn compilers() -> usize {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
                .filter(|comm| {
                    matches!(
                        comm.trim(),
                        "rustc" | "cc1" | "cc1plus" | "ld" | "clippy-driver"
                    )
                })
                .count()
        })
        .unwrap_or(0)
}

/// A check of one of the targets.
struct Target {
    what: String,
    measured: String,
    met: Option<bool>,
}

impl Bench {
    fn report(
        &self,
        shutdown: &[(String, Result<Vec<f64>, String>)],
        compile: &[compile::Times],
    ) -> String {
        let mut out = String::new();
        let c = &self.config;
        let _ = writeln!(out, "# socketserver benchmark report\n");
        let _ = writeln!(out, "Command: `{}`\n", c.command);
        let _ = writeln!(
            out,
            "{}\n- library: {}\n- load average (1, 5, 15 min) at start: {}; at end: {}\n- measurements started while other compilers ran on the machine: {} of {}",
            machine(),
            self.library,
            self.loadavg_at_start,
            loadavg(),
            self.contended.get(),
            self.run_id.get()
        );
        let _ = writeln!(
            out,
            "- throughput: {} repetitions of {:.1} s per server and case, servers alternating; CPU: {} repetitions of {:.1} s pinned (`taskset -c 0`, server and load generator); total {:.0} s\n",
            c.reps,
            c.duration.as_secs_f64(),
            c.cpu_reps,
            c.cpu_duration.as_secs_f64(),
            self.started.elapsed().as_secs_f64()
        );
        if c.throughput {
            let _ = writeln!(out, "## Throughput and latency (medians; `vs hand`: median over repetitions of the ratio to the hand-written server of the same model in the same repetition)\n");
            for case in &self.cases {
                let mut t = Table::new(&[
                    "server",
                    case.unit(),
                    "vs hand",
                    "p50 µs",
                    "p99 µs",
                    "errors",
                    "runs",
                ]);
                for kind in &case.kinds {
                    let Some(r) = self.get(&case.id(), kind.name) else {
                        continue;
                    };
                    let rate = self.median_rate(case, kind.name);
                    let vs = self.rate_ratio(case, kind.name, kind.baseline);
                    let p = |f: fn(&Outcome) -> Option<f64>| {
                        median(&r.runs.iter().filter_map(f).collect::<Vec<_>>())
                    };
                    let errors: u64 = r.runs.iter().map(|o| o.errors).sum();
                    let failed = r.failures.iter().filter(|f| !f.starts_with("cpu")).count();
                    t.row(vec![
                        kind.name.to_string(),
                        opt(rate),
                        ratio(vs),
                        opt(p(|o| o.p50_us)),
                        opt(p(|o| o.p99_us)),
                        errors.to_string(),
                        if failed > 0 {
                            format!("{} ({failed} failed)", r.runs.len())
                        } else {
                            r.runs.len().to_string()
                        },
                    ]);
                }
                let _ = writeln!(out, "### {}\n\n{}", case.title(), t.render());
            }
        }
        let detailed: Vec<&Case> = self.cases.iter().filter(|c| c.detail).collect();
        if c.cpu && !detailed.is_empty() {
            let _ = writeln!(out, "## Server CPU per operation, µs (pinned to CPU 0; medians; `vs hand` paired by repetition as above)\n");
            let mut header = vec!["server".to_string()];
            for case in &detailed {
                header.push(format!("{} {}", case.transport, case.scenario));
                header.push("vs hand".into());
                header.push("pinned rate".into());
            }
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            let mut t = Table::new(&header);
            for kind in KINDS {
                if !detailed.iter().any(|c| c.kinds.contains(&kind)) {
                    continue;
                }
                let mut row = vec![kind.name.to_string()];
                for case in &detailed {
                    let us = self.median_cpu(&case.id(), kind.name);
                    let vs = self.cpu_ratio(&case.id(), kind.name, kind.baseline);
                    let rate = self
                        .get(&case.id(), kind.name)
                        .and_then(|r| median(&r.cpu_rates));
                    row.push(opt(us));
                    row.push(ratio(vs));
                    row.push(opt(rate));
                }
                t.row(row);
            }
            let _ = writeln!(out, "{}", t.render());
            let mut split = Table::new(&["case", "server", "user µs/op", "system µs/op", "runs"]);
            for case in &detailed {
                for kind in &case.kinds {
                    let Some(r) = self.get(&case.id(), kind.name) else {
                        continue;
                    };
                    split.row(vec![
                        case.id(),
                        kind.name.to_string(),
                        opt(median(&r.cpu_user_us)),
                        opt(median(&r.cpu_sys_us)),
                        r.cpu_us.len().to_string(),
                    ]);
                }
            }
            let _ = writeln!(out, "User and system time (medians). The kernel splits a process's time by 10 ms tick samples; a forked child lives less than a tick, so the kernel books all of its time as user time: the split means little for the forking servers, their totals are exact:\n\n{}", split.render());
        }
        if c.syscalls && !detailed.is_empty() {
            let _ = writeln!(out, "## System calls per operation (`strace -f -c -p`, difference between two run lengths)\n");
            let mut header = vec!["server".to_string()];
            for case in &detailed {
                header.push(format!("{} {}", case.transport, case.scenario));
            }
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            let mut t = Table::new(&header);
            let mut details = Table::new(&["case", "server", "per op", "by system call, per op"]);
            for kind in KINDS {
                if !detailed.iter().any(|c| c.kinds.contains(&kind)) {
                    continue;
                }
                let mut row = vec![kind.name.to_string()];
                for case in &detailed {
                    let cell = match self
                        .get(&case.id(), kind.name)
                        .and_then(|r| r.syscalls.as_ref())
                    {
                        Some(Ok(s)) => {
                            details.row(vec![
                                case.id(),
                                kind.name.to_string(),
                                num(s.per_op),
                                s.breakdown(),
                            ]);
                            num(s.per_op)
                        }
                        Some(Err(_)) => "failed".into(),
                        None => "-".into(),
                    };
                    row.push(cell);
                }
                t.row(row);
            }
            let (short, long) = (
                c.syscall_lengths(Scenario::PingPong),
                c.syscall_lengths(Scenario::Churn),
            );
            let _ =
                writeln!(
                out,
                "Run lengths: {} and {} round trips or datagrams, {} and {} connections.\n\n{}\n{}",
                short.0, short.1, long.0, long.1, t.render(), details.render()
            );
        }
        if c.shutdown && !shutdown.is_empty() {
            let _ = writeln!(
                out,
                "## Shutdown latency (`handle.shutdown()` to `serve_forever` returning, TCP)\n"
            );
            let mut t = Table::new(&["server", "samples", "p50 µs", "p90 µs", "p99 µs", "max µs"]);
            for (name, samples) in shutdown {
                match samples {
                    Ok(s) => {
                        let mut s = s.clone();
                        s.sort_by(f64::total_cmp);
                        let p = |q| opt(percentile_sorted(&s, q));
                        t.row(vec![
                            name.clone(),
                            s.len().to_string(),
                            p(50.0),
                            p(90.0),
                            p(99.0),
                            p(100.0),
                        ]);
                    }
                    Err(e) => t.row(vec![name.clone(), format!("failed: {e}")]),
                }
            }
            let _ = writeln!(out, "{}", t.render());
        }
        if c.compile {
            let _ = writeln!(
                out,
                "## Compile cost (debug profile; the same threading TCP echo server)\n"
            );
            let mut t = Table::new(&[
                "written with",
                "depends on",
                "clean build s",
                "crate only s",
                "incremental s",
            ]);
            for times in compile {
                t.row(vec![
                    times.name.to_string(),
                    times.depends_on.to_string(),
                    opt(times.clean),
                    opt(times.crate_only),
                    times
                        .error
                        .as_ref()
                        .map_or_else(|| opt(times.incremental), |e| format!("failed: {e}")),
                ]);
            }
            let _ = writeln!(out, "{}", t.render());
        }
        let targets = self.targets(shutdown);
        if !targets.is_empty() {
            let _ = writeln!(out, "## Targets\n");
            let mut t = Table::new(&["target", "measured", "met"]);
            for target in &targets {
                let met = match target.met {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None => "not measured",
                };
                t.row(vec![
                    target.what.clone(),
                    target.measured.clone(),
                    met.into(),
                ]);
            }
            let _ = writeln!(out, "{}", t.render());
        }
        let mut notes = Vec::new();
        for case in &self.cases {
            for kind in &case.kinds {
                let Some(r) = self.get(&case.id(), kind.name) else {
                    continue;
                };
                let mut seen = Vec::new();
                for n in r.failures.iter().chain(&r.notes) {
                    if !seen.contains(&n) {
                        seen.push(n);
                    }
                }
                if let Some(Err(e)) = &r.syscalls {
                    notes.push(format!("- {} {}: syscalls: {e}", case.id(), kind.name));
                }
                for n in seen.iter().take(3) {
                    notes.push(format!("- {} {}: {n}", case.id(), kind.name));
                }
            }
        }
        if !notes.is_empty() {
            let _ = writeln!(out, "## Errors and notes\n\n{}\n", notes.join("\n"));
        }
        out
    }

    fn targets(&self, shutdown: &[(String, Result<Vec<f64>, String>)]) -> Vec<Target> {
        let mut targets = Vec::new();
        let c = &self.config;
        if c.syscalls {
            let sys = |case: &str, kind: &str| self.syscalls_of(case, kind).map(|s| s.per_op);
            for kind in ["ours-sync", "ours-threading", "ours-forking", "ours-pool"] {
                let v = sys("tcp-pingpong-c1", kind);
                targets.push(Target {
                    what: format!("syscalls per round trip on an open connection, {kind}: 2"),
                    measured: opt(v),
                    met: v.map(|v| v <= 2.05),
                });
            }
            for (kind, limit, hand) in [
                ("ours-sync", 7.0, "hand-sync"),
                ("ours-pool", 7.0, "hand-sync"),
                ("ours-threading", 23.0, "hand-threading"),
                ("ours-forking", 15.0, "hand-forking"),
            ] {
                let v = sys("tcp-churn-c1", kind);
                targets.push(Target {
                    what: format!("syscalls per connection, {kind}: at most {limit}"),
                    measured: format!("{} ({hand}: {})", opt(v), opt(sys("tcp-churn-c1", hand))),
                    met: v.map(|v| v <= limit + 0.05),
                });
            }
            for kind in ["ours-sync", "ours-pool"] {
                let v = sys("udp-datagram-c1", kind);
                targets.push(Target {
                    what: format!("syscalls per datagram, {kind}: at most 3"),
                    measured: format!(
                        "{} (hand-sync: {})",
                        opt(v),
                        opt(sys("udp-datagram-c1", "hand-sync"))
                    ),
                    met: v.map(|v| v <= 3.05),
                });
            }
        }
        if c.cpu {
            for case in ["tcp-pingpong-c1", "tcp-churn-c1", "udp-datagram-c1"] {
                for (kind, hand) in [
                    ("ours-sync", "hand-sync"),
                    ("ours-threading", "hand-threading"),
                    ("ours-forking", "hand-forking"),
                ] {
                    let (a, b) = (self.median_cpu(case, kind), self.median_cpu(case, hand));
                    let r = self.cpu_ratio(case, kind, hand);
                    targets.push(Target {
                        what: format!("server CPU per op, {case}, {kind}: at most 1.05x {hand}"),
                        measured: format!("{} ({} vs {} µs)", ratio(r), opt(a), opt(b)),
                        met: r.map(|r| r <= 1.05),
                    });
                }
            }
            for (case, ours, python, factor, what) in [
                ("tcp-churn-c1", "ours-forking", "python-forking", 6.0, "forking: at least 6x less server CPU per connection than Python's ForkingTCPServer"),
                ("tcp-churn-c1", "ours-pool", "python-threading", 4.0, "pool: at least 4x less server CPU per connection than Python's ThreadingTCPServer"),
                ("udp-datagram-c1", "ours-pool", "python-threading", 10.0, "pool: at least 10x less server CPU per datagram than Python's ThreadingUDPServer"),
            ] {
                let (a, b) = (self.median_cpu(case, ours), self.median_cpu(case, python));
                let r = self.cpu_ratio(case, python, ours);
                targets.push(Target {
                    what: what.into(),
                    measured: format!("{}x less ({} vs {} µs)", r.map_or("-".into(), |r| format!("{r:.2}")), opt(a), opt(b)),
                    met: r.map(|r| r >= factor),
                });
            }
        }
        if c.throughput {
            if let Some(case) = self.cases.iter().find(|c| c.id() == "tcp-pingpong-c128") {
                let (a, b) = (
                    self.median_rate(case, "ours-threading"),
                    self.median_rate(case, "tokio"),
                );
                let r = self.rate_ratio(case, "ours-threading", "tokio");
                targets.push(Target {
                    what: "threading: at least 0.6x tokio's round trips/s at 128 connections"
                        .into(),
                    measured: format!("{} ({} vs {})", ratio(r), opt(a), opt(b)),
                    met: r.map(|r| r >= 0.6),
                });
            }
        }
        for (name, samples) in shutdown.iter().filter(|(n, _)| n.starts_with("ours")) {
            let m = samples.as_ref().ok().and_then(|s| median(s));
            targets.push(Target {
                what: format!("shutdown latency median under 1 ms, {name}"),
                measured: m.map_or("-".into(), |m| format!("{} µs", num(m))),
                met: m.map(|m| m < 1000.0),
            });
        }
        targets
    }
}

/// Runs the whole suite as `config` says; returns the report.
pub fn run(config: Config) -> Result<String, String> {
    let paths = Paths::discover(&config.python, config.echo.as_deref())?;
    let cases = plan(&config);
    let detailed = cases
        .iter()
        .filter(|c| c.detail)
        .map(|c| c.kinds.len())
        .sum::<usize>();
    let mut total = 0;
    if config.throughput {
        total += cases.iter().map(|c| c.kinds.len()).sum::<usize>() * config.reps;
    }
    if config.cpu {
        total += detailed * config.cpu_reps;
    }
    if config.syscalls {
        total += detailed * 2;
    }
    eprintln!(
        "bench: {} cases, {total} measurements; servers: {}",
        cases.len(),
        KINDS
            .iter()
            .filter(|k| cases.iter().any(|c| c.kinds.contains(k)))
            .map(|k| k.name)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut bench = Bench {
        config,
        paths,
        cases,
        results: HashMap::new(),
        run_id: Cell::new(0),
        done: Cell::new(0),
        total,
        started: Instant::now(),
        loadavg_at_start: loadavg(),
        library: library_version(),
        contended: Cell::new(0),
    };
    if bench.config.throughput {
        bench.throughput();
    }
    if bench.config.cpu {
        bench.cpu();
    }
    if bench.config.syscalls {
        bench.syscalls();
    }
    let mut shutdown_samples = Vec::new();
    if bench.config.shutdown {
        let (n, py) = if bench.config.quick {
            (50, 4)
        } else {
            (200, 20)
        };
        eprintln!("bench: shutdown latency, {n} samples per server ({py} for Python, whose loop polls every 0.5 s)");
        for (name, samples) in shutdown::ours(n) {
            shutdown_samples.push((name.to_string(), samples));
        }
        shutdown_samples.push((
            "python-sync (TCPServer)".to_string(),
            shutdown::python(&bench.paths, py),
        ));
    }
    let compile_times = if bench.config.compile {
        eprintln!("bench: compile cost (clean builds, then incremental ones)");
        compile::measure(3)
    } else {
        Vec::new()
    };
    let report = bench.report(&shutdown_samples, &compile_times);
    let _ = std::fs::remove_dir_all(&bench.paths.work);
    if let Some(path) = &bench.config.out {
        std::fs::write(path, &report).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(report)
}
