//! The report, a Markdown section per part of the suite, rendered from the
//! [`Measurements`] alone (nothing here measures or reads the machine).

use std::fmt::Write as _;

use super::cases::{servers, Case};
use super::compile::Times;
use super::report::{num, opt, ratio, Table};
use super::results::{Measurements, Metric};
use super::shutdown::Samples;
use super::targets::{self, Target};
use crate::common::{median, percentile_sorted, Scenario};
use crate::kinds::Kind;
use crate::loadgen::Outcome;

/// The whole report: the header, then the section of each part that ran and measured
/// something, the targets and the errors.
pub fn render(m: &Measurements) -> String {
    let c = &m.config;
    let detailed = m.detailed();
    let sections = [
        Some(header(m)),
        c.throughput.then(|| throughput(m)),
        (c.cpu && !detailed.is_empty()).then(|| cpu(m, &detailed)),
        (c.syscalls && !detailed.is_empty()).then(|| syscalls(m, &detailed)),
        (c.shutdown && !m.shutdown.is_empty()).then(|| shutdown(&m.shutdown)),
        c.compile.then(|| compile(&m.compile)),
        targets(&targets::check(m)),
        notes(m),
    ];
    sections.into_iter().flatten().collect()
}

/// A section: `## heading`, then `body`.
fn section(heading: &str, body: &str) -> String {
    format!("## {heading}\n\n{body}\n")
}

/// The title, the command, the machine and how the run went.
fn header(m: &Measurements) -> String {
    let (c, f) = (&m.config, &m.facts);
    let mut out = String::new();
    let _ = writeln!(out, "# socketserver benchmark report\n");
    let _ = writeln!(out, "Command: `{}`\n", c.command);
    let _ = writeln!(
        out,
        "{}\n- library: {}\n- load average (1, 5, 15 min) at start: {}; at end: {}\n- measurements started while other compilers ran on the machine: {} of {}",
        f.machine, f.library, f.loadavg_at_start, f.loadavg_at_end, f.contended, f.measurements
    );
    let _ = writeln!(
        out,
        "- throughput: {} repetitions of {:.1} s per server and case, servers alternating; CPU: {} repetitions of {:.1} s pinned (`taskset -c 0`, server and load generator){}; total {:.0} s\n",
        c.reps,
        c.duration.as_secs_f64(),
        c.cpu_reps,
        c.cpu_duration.as_secs_f64(),
        if c.cpu_together {
            ", the servers of a case served at once, each with its own load generator"
        } else {
            ", the servers alternating"
        },
        f.seconds
    );
    out
}

/// A throughput table per case.
fn throughput(m: &Measurements) -> String {
    let mut out = String::from("## Throughput and latency (medians; `vs hand`: median over repetitions of the ratio to the hand-written server of the same model in the same repetition)\n\n");
    for case in &m.cases {
        let table = throughput_table(m, case).render();
        let _ = writeln!(out, "### {}\n\n{table}", case.title());
    }
    out
}

/// A row per server of `case` that has results: its median rate, the ratio to its
/// baseline, median latencies, errors and runs.
fn throughput_table(m: &Measurements, case: &Case) -> Table {
    let id = case.id();
    let header = [
        "server",
        case.unit(),
        "vs hand",
        "p50 µs",
        "p99 µs",
        "errors",
        "runs",
    ];
    let mut t = Table::new(&header);
    for (kind, r) in m.results_of(case) {
        let latency = |f: fn(&Outcome) -> Option<f64>| {
            median(
                &r.runs
                    .iter()
                    .filter_map(|run| f(&run.outcome))
                    .collect::<Vec<_>>(),
            )
        };
        let errors: u64 = r.runs.iter().map(|run| run.outcome.errors).sum();
        let failed = r.failures.iter().filter(|f| !f.starts_with("cpu")).count();
        let runs = if failed > 0 {
            format!("{} ({failed} failed)", r.runs.len())
        } else {
            r.runs.len().to_string()
        };
        t.row(vec![
            kind.name.to_string(),
            opt(m.median(&id, kind.name, Metric::Rate)),
            ratio(m.ratio(&id, kind.name, kind.baseline, Metric::Rate)),
            opt(latency(|o| o.p50_us)),
            opt(latency(|o| o.p99_us)),
            errors.to_string(),
            runs,
        ]);
    }
    t
}

/// A table with a row per server that ran in any of `cases` and a group of columns per
/// case: one named after the case, then those `more` names; `cells` fills one group.
fn by_server_and_case(
    cases: &[&Case],
    more: &[&str],
    mut cells: impl FnMut(&Case, &Kind) -> Vec<String>,
) -> Table {
    let mut header = vec!["server".to_string()];
    for case in cases {
        header.push(format!("{} {}", case.transport, case.scenario));
        header.extend(more.iter().map(|h| h.to_string()));
    }
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut t = Table::new(&header);
    for kind in servers(cases.iter().copied()) {
        let mut row = vec![kind.name.to_string()];
        for case in cases {
            row.extend(cells(case, kind));
        }
        t.row(row);
    }
    t
}

/// Server CPU per operation of the `detailed` cases: totals with ratios, then the split.
fn cpu(m: &Measurements, detailed: &[&Case]) -> String {
    let table = by_server_and_case(detailed, &["vs hand", "pinned rate"], |case, kind| {
        let id = case.id();
        vec![
            opt(m.median(&id, kind.name, Metric::Cpu)),
            ratio(m.ratio(&id, kind.name, kind.baseline, Metric::Cpu)),
            opt(m.median(&id, kind.name, Metric::PinnedRate)),
        ]
    });
    let mut split = Table::new(&["case", "server", "user µs/op", "system µs/op", "runs"]);
    for case in detailed {
        for (kind, r) in m.results_of(case) {
            split.row(vec![
                case.id(),
                kind.name.to_string(),
                opt(Metric::CpuUser.median(r)),
                opt(Metric::CpuSystem.median(r)),
                r.cpu.len().to_string(),
            ]);
        }
    }
    section(
        "Server CPU per operation, µs (pinned to CPU 0; medians; `vs hand` paired by repetition as above)",
        &format!("{}\nUser and system time (medians). The kernel splits a process's time by 10 ms tick samples; a forked child lives less than a tick, so the kernel books all of its time as user time: the split means little for the forking servers, their totals are exact:\n\n{}", table.render(), split.render()),
    )
}

/// System calls per operation of the `detailed` cases, then by system call.
fn syscalls(m: &Measurements, detailed: &[&Case]) -> String {
    let table = by_server_and_case(detailed, &[], |case, kind| {
        let syscalls = m
            .get(&case.id(), kind.name)
            .and_then(|r| r.syscalls.as_ref());
        vec![match syscalls {
            Some(Ok(s)) => num(s.per_op),
            Some(Err(_)) => "failed".into(),
            None => "-".into(),
        }]
    });
    let mut details = Table::new(&["case", "server", "per op", "by system call, per op"]);
    for kind in servers(detailed.iter().copied()) {
        for case in detailed {
            if let Some(s) = m.syscalls_of(&case.id(), kind.name) {
                let row = vec![
                    case.id(),
                    kind.name.to_string(),
                    num(s.per_op),
                    s.breakdown(),
                ];
                details.row(row);
            }
        }
    }
    let short = m.config.syscall_lengths(Scenario::PingPong);
    let long = m.config.syscall_lengths(Scenario::Churn);
    section(
        "System calls per operation (`strace -f -c -p`, difference between two run lengths)",
        &format!(
            "Run lengths: {} and {} round trips or datagrams, {} and {} connections.\n\n{}\n{}",
            short.0,
            short.1,
            long.0,
            long.1,
            table.render(),
            details.render()
        ),
    )
}

/// Percentiles of each server's shutdown latency.
fn shutdown(samples: &[(String, Result<Samples, String>)]) -> String {
    let mut t = Table::new(&["server", "samples", "p50 µs", "p90 µs", "p99 µs", "max µs"]);
    for (name, samples) in samples {
        match samples {
            Ok(s) => {
                let mut s = s.clone();
                s.sort_by(f64::total_cmp);
                let p = |q| opt(percentile_sorted(&s, q));
                let count = s.len().to_string();
                t.row(vec![
                    name.clone(),
                    count,
                    p(50.0),
                    p(90.0),
                    p(99.0),
                    p(100.0),
                ]);
            }
            Err(e) => t.row(vec![name.clone(), format!("failed: {e}")]),
        }
    }
    section(
        "Shutdown latency (`handle.shutdown()` to `serve_forever` returning, TCP)",
        &t.render(),
    )
}

/// Build times of each way of writing the server.
fn compile(times: &[Times]) -> String {
    let mut t = Table::new(&[
        "written with",
        "depends on",
        "clean build s",
        "crate only s",
        "incremental s",
    ]);
    for times in times {
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
    section(
        "Compile cost (debug profile; the same threading TCP echo server)",
        &t.render(),
    )
}

/// The targets checked, if any.
fn targets(targets: &[Target]) -> Option<String> {
    if targets.is_empty() {
        return None;
    }
    let mut t = Table::new(&["target", "measured", "met"]);
    for target in targets {
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
    Some(section("Targets", &t.render()))
}

/// What failed and what the servers and the load generator said, if anything: per case
/// and server, the failed syscall measurement and the first three distinct notes.
fn notes(m: &Measurements) -> Option<String> {
    let mut notes = Vec::new();
    for case in &m.cases {
        for (kind, r) in m.results_of(case) {
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
    (!notes.is_empty()).then(|| section("Errors and notes", &format!("{}\n", notes.join("\n"))))
}
