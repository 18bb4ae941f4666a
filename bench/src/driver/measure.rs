//! Measuring: the passes of a run (throughput, pinned CPU, system calls, shutdown latency,
//! compile cost), each starting servers and loading them, into the [`Measurements`] the
//! report is rendered from.

use std::cell::Cell;
use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

use super::cases::{servers, Case};
use super::machine::{self, Facts};
use super::procs::{self, Paths, Server};
use super::report::num;
use super::results::{CpuRun, Measurements, Results, Run};
use super::shutdown::{self, Samples};
use super::strace::{Counts, Syscalls, Tracer};
use super::{compile, Config};
use crate::kinds::Kind;
use crate::loadgen::{Outcome, Spec};

/// What a measurement runs in.
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
    /// What the load generator measured.
    outcome: Outcome,
    /// User and system CPU seconds of the server during the load.
    cpu_seconds: Option<(f64, f64)>,
    /// The server's system calls, under strace.
    counts: Option<Counts>,
    /// What the server said on stderr.
    server_log: Option<String>,
}

/// The user and system CPU seconds spent between two readings, when both were read.
fn cpu_spent(before: Option<(f64, f64)>, after: Option<(f64, f64)>) -> Option<(f64, f64)> {
    before.zip(after).map(|(a, b)| (b.0 - a.0, b.1 - a.1))
}

/// A pass that measures its cases repetition after repetition, the servers alternating
/// within each repetition (A B C A B C ...): the throughput and the pinned CPU passes run
/// the same loop ([`Bench::alternate`]) and differ in what this says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    /// Throughput and latency: every case, unpinned.
    Throughput,
    /// Server CPU per operation: the detailed cases, pinned.
    Cpu,
}

impl Pass {
    /// The word its lines of progress start with.
    fn name(self) -> &'static str {
        match self {
            Pass::Throughput => "throughput",
            Pass::Cpu => "cpu",
        }
    }

    /// How its measurements run.
    fn mode(self) -> Mode {
        match self {
            Pass::Throughput => Mode::Throughput,
            Pass::Cpu => Mode::Cpu,
        }
    }

    /// The repetitions `config` asks of it.
    fn reps(self, config: &Config) -> usize {
        match self {
            Pass::Throughput => config.reps,
            Pass::Cpu => config.cpu_reps,
        }
    }

    /// Whether it measures `case`.
    fn measures(self, case: &Case) -> bool {
        self == Pass::Throughput || case.detail
    }

    /// The failure it notes when a measurement fails with `e`.
    fn failure(self, e: &str) -> String {
        match self {
            Pass::Throughput => e.to_string(),
            Pass::Cpu => format!("cpu: {e}"),
        }
    }

    /// Files what a measurement of `case` in repetition `rep` gave; returns its line of
    /// progress.
    fn record(self, results: &mut Results, case: &Case, rep: usize, m: Measured) -> String {
        match self {
            Pass::Throughput => record_run(results, case, rep, m),
            Pass::Cpu => record_cpu(results, case, rep, m),
        }
    }
}

/// Files a throughput run and what went wrong in it; returns its line of progress.
fn record_run(results: &mut Results, case: &Case, rep: usize, m: Measured) -> String {
    let rate = case.rate(&m.outcome);
    let line = format!(
        "{} {}/s, {} errors",
        num(rate),
        case.unit().trim_end_matches("/s"),
        m.outcome.errors
    );
    if let Some(e) = &m.outcome.first_error {
        results.notes.push(format!("load: {e}"));
    }
    if let Some(log) = m.server_log {
        results.notes.push(format!("server: {log}"));
    }
    results.runs.push(Run {
        rep,
        rate,
        outcome: m.outcome,
    });
    line
}

/// Files a pinned run's server CPU per operation; returns its line of progress.
fn record_cpu(results: &mut Results, case: &Case, rep: usize, m: Measured) -> String {
    let ops = m.outcome.ops as f64;
    let per_op = m
        .cpu_seconds
        .filter(|_| ops > 0.0)
        .map(|(user, sys)| (user * 1e6 / ops, sys * 1e6 / ops));
    let Some((user, sys)) = per_op else {
        results.failures.push("cpu: no reading".into());
        return "no CPU reading".into();
    };
    results.cpu.push(CpuRun {
        rep,
        user_us: user,
        system_us: sys,
        rate: case.rate(&m.outcome),
    });
    format!(
        "{} us/op (user {}, sys {}), {} errors",
        num(user + sys),
        num(user),
        num(sys),
        m.outcome.errors
    )
}

/// How many measurements `config` asks for over `cases`.
fn planned(config: &Config, cases: &[Case]) -> usize {
    let servers_of = |detailed: bool| {
        cases
            .iter()
            .filter(|c| c.detail || !detailed)
            .map(|c| c.kinds.len())
            .sum::<usize>()
    };
    let mut total = 0;
    if config.throughput {
        total += servers_of(false) * config.reps;
    }
    if config.cpu {
        total += servers_of(true) * config.cpu_reps;
    }
    if config.syscalls {
        total += servers_of(true) * 2;
    }
    total
}

/// The state of a run while it measures.
pub struct Bench {
    /// What to run.
    config: Config,
    /// The programs and the scratch directory.
    paths: Paths,
    /// The cases to load.
    cases: Vec<Case>,
    /// What was measured so far, per case id and server name.
    results: HashMap<(String, &'static str), Results>,
    /// Measurements started (also what numbers their scratch files).
    run_id: Cell<usize>,
    /// Measurements done, for the lines of progress.
    done: Cell<usize>,
    /// Measurements planned.
    total: usize,
    /// When the run started.
    started: Instant,
    /// The load average then.
    loadavg_at_start: String,
    /// The library's commit when the run started (the binaries were just built from it).
    library: String,
    /// Measurements that started while other compilers ran.
    contended: Cell<usize>,
}

impl Bench {
    /// Says what it will measure (on stderr) and notes the state of the machine.
    pub fn new(config: Config, paths: Paths, cases: Vec<Case>) -> Bench {
        let total = planned(&config, &cases);
        let names: Vec<&str> = servers(cases.iter()).iter().map(|k| k.name).collect();
        eprintln!(
            "bench: {} cases, {total} measurements; servers: {}",
            cases.len(),
            names.join(", ")
        );
        Bench {
            config,
            paths,
            cases,
            results: HashMap::new(),
            run_id: Cell::new(0),
            done: Cell::new(0),
            total,
            started: Instant::now(),
            loadavg_at_start: machine::loadavg(),
            library: machine::library_version(),
            contended: Cell::new(0),
        }
    }

    /// Runs every pass the configuration asks for, removes the scratch directory and
    /// returns what the passes measured.
    pub fn run(mut self) -> Measurements {
        if self.config.throughput {
            self.alternate(Pass::Throughput);
        }
        if self.config.cpu {
            self.alternate(Pass::Cpu);
        }
        if self.config.syscalls {
            self.syscalls();
        }
        let shutdown = if self.config.shutdown {
            self.shutdown_latency()
        } else {
            Vec::new()
        };
        let compile = if self.config.compile {
            eprintln!("bench: compile cost (clean builds, then incremental ones)");
            compile::measure(3)
        } else {
            Vec::new()
        };
        let _ = std::fs::remove_dir_all(&self.paths.work);
        let facts = self.facts();
        Measurements {
            config: self.config,
            cases: self.cases,
            results: self.results,
            facts,
            shutdown,
            compile,
        }
    }

    /// The facts of the machine and the run, now that it ends.
    fn facts(&self) -> Facts {
        let machine = machine::machine();
        let loadavg_at_end = machine::loadavg();
        Facts {
            machine,
            library: self.library.clone(),
            loadavg_at_start: self.loadavg_at_start.clone(),
            loadavg_at_end,
            contended: self.contended.get(),
            measurements: self.run_id.get(),
            seconds: self.started.elapsed().as_secs_f64(),
        }
    }

    /// The results of `kind` in `case`, made empty if there are none yet.
    fn result(&mut self, case: &Case, kind: &Kind) -> &mut Results {
        self.results.entry((case.id(), kind.name)).or_default()
    }

    /// Counts a measurement done and prints a line of progress about it.
    fn progress(&self, what: &str) {
        self.done.set(self.done.get() + 1);
        eprintln!(
            "[{:>3}/{} {:>4.0}s] {what}",
            self.done.get(),
            self.total,
            self.started.elapsed().as_secs_f64()
        );
    }

    /// Runs `pass`: each of its cases as many times as it repeats, the servers alternating
    /// within each repetition (or, for the CPU pass with `--cpu-together`, served at once).
    fn alternate(&mut self, pass: Pass) {
        let cases: Vec<Case> = self
            .cases
            .iter()
            .filter(|c| pass.measures(c))
            .cloned()
            .collect();
        let together = pass == Pass::Cpu && self.config.cpu_together;
        for case in &cases {
            for rep in 0..pass.reps(&self.config) {
                let mut measured = match together {
                    true => self.measure_together(case).into_iter(),
                    false => Vec::new().into_iter(),
                };
                for kind in &case.kinds {
                    let m = match together {
                        true => measured.next().expect("one per server"),
                        false => self.measure(case, kind, pass.mode()),
                    };
                    let line = match m {
                        Ok(m) => pass.record(self.result(case, kind), case, rep, m),
                        Err(e) => {
                            self.result(case, kind).failures.push(pass.failure(&e));
                            format!("FAILED: {e}")
                        }
                    };
                    let (name, id) = (pass.name(), case.id());
                    self.progress(&format!(
                        "{name} {id} rep {} {}: {line}",
                        rep + 1,
                        kind.name
                    ));
                }
            }
        }
    }

    /// Starts `kind`, loads it with `case` as `mode` says, stops it.
    fn measure(&self, case: &Case, kind: &Kind, mode: Mode) -> Result<Measured, String> {
        let pinned = mode == Mode::Cpu;
        if machine::compilers() > 0 {
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
        let outcome = procs::loadgen(&self.paths, &self.spec(case, &server, mode), pinned);
        // Let the last requests end (and their children be reaped) before reading.
        thread::sleep(Duration::from_millis(kind.settle_ms));
        let cpu_after = server.cpu_seconds();
        let counts = tracer.map(Tracer::finish).transpose();
        let server_log = server.stop();
        Ok(Measured {
            outcome: outcome?,
            cpu_seconds: cpu_spent(cpu_before, cpu_after),
            counts: counts?,
            server_log,
        })
    }

    /// Starts every server of `case` pinned, loads each with its own pinned load generator
    /// at the same time (a CPU pass), stops them; what each measured, in `case.kinds` order.
    fn measure_together(&self, case: &Case) -> Vec<Result<Measured, String>> {
        if machine::compilers() > 0 {
            self.contended.set(self.contended.get() + case.kinds.len());
        }
        let servers: Vec<Result<Server, String>> = case
            .kinds
            .iter()
            .map(|kind| {
                let run = self.run_id.get();
                self.run_id.set(run + 1);
                Server::start(&self.paths, kind, case.transport, true, run)
            })
            .collect();
        let loads: Vec<_> = thread::scope(|scope| {
            let running: Vec<_> = servers
                .iter()
                .map(|server| {
                    let server = server.as_ref().ok()?;
                    let spec = self.spec(case, server, Mode::Cpu);
                    let before = server.cpu_seconds();
                    let paths = &self.paths;
                    Some((
                        before,
                        scope.spawn(move || procs::loadgen(paths, &spec, true)),
                    ))
                })
                .collect();
            running
                .into_iter()
                .map(|load| load.map(|(before, done)| (before, done.join().expect("loadgen"))))
                .collect()
        });
        let settle = case.kinds.iter().map(|k| k.settle_ms).max().unwrap_or(0);
        thread::sleep(Duration::from_millis(settle));
        servers
            .into_iter()
            .zip(loads)
            .map(|(server, load)| {
                let server = server?;
                let (before, outcome) = load.expect("a started server was loaded");
                let after = server.cpu_seconds();
                let server_log = server.stop();
                Ok(Measured {
                    outcome: outcome?,
                    cpu_seconds: cpu_spent(before, after),
                    counts: None,
                    server_log,
                })
            })
            .collect()
    }

    /// The load of `case` on `server`, for as long as `mode` says.
    fn spec(&self, case: &Case, server: &Server, mode: Mode) -> Spec {
        Spec {
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
            proxy_header: false,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// System calls per operation: the detailed cases, two run lengths each under strace.
    fn syscalls(&mut self) {
        let cases: Vec<Case> = self.cases.iter().filter(|c| c.detail).cloned().collect();
        for case in &cases {
            for kind in &case.kinds {
                let traced = self.trace(case, kind);
                let results = self.result(case, kind);
                results.syscalls = Some(traced.map(|(syscalls, errors)| {
                    if errors > 0 {
                        results
                            .notes
                            .push(format!("syscalls: {errors} load errors under strace"));
                    }
                    syscalls
                }));
            }
        }
    }

    /// Traces `kind` under the short and the long run of `case`; returns its system calls
    /// per operation and the load errors of both runs.
    fn trace(&self, case: &Case, kind: &Kind) -> Result<(Syscalls, u64), String> {
        let (short, long) = self.config.syscall_lengths(case.scenario);
        let a = self.traced_run(case, kind, short);
        let b = self.traced_run(case, kind, long);
        let (a, b) = (a?, b?);
        let (Some(ca), Some(cb)) = (&a.counts, &b.counts) else {
            return Err("no strace counts".to_string());
        };
        let errors = a.outcome.errors + b.outcome.errors;
        Syscalls::between((a.outcome.ops, ca), (b.outcome.ops, cb)).map(|s| (s, errors))
    }

    /// One run of `ops` operations under strace, with its line of progress.
    fn traced_run(&self, case: &Case, kind: &Kind, ops: u64) -> Result<Measured, String> {
        let measured = self.measure(case, kind, Mode::Syscalls(ops));
        self.progress(&format!("syscalls {} {} ({ops} ops)", case.id(), kind.name));
        measured
    }

    /// Shutdown latency samples of our servers (in process) and of Python's.
    fn shutdown_latency(&self) -> Vec<(String, Result<Samples, String>)> {
        let (n, py) = if self.config.quick {
            (50, 4)
        } else {
            (200, 20)
        };
        eprintln!("bench: shutdown latency, {n} samples per server ({py} for Python, whose loop polls every 0.5 s)");
        let mut samples: Vec<(String, Result<Samples, String>)> = shutdown::ours(n)
            .into_iter()
            .map(|(name, samples)| (name.to_string(), samples))
            .collect();
        samples.push((
            "python-sync (TCPServer)".to_string(),
            shutdown::python(&self.paths, py),
        ));
        samples
    }
}
