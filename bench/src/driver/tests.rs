//! The report rendered from fabricated measurements: its sections, tables, rows and ratios
//! follow from the inputs alone.

use std::collections::HashMap;

use super::cases::{self, Case};
use super::compile::Times;
use super::machine::Facts;
use super::results::{CpuRun, Measurements, Results, Run};
use super::sections::render;
use super::strace::Syscalls;
use super::Config;
use crate::loadgen::Outcome;

/// hand-sync's rate in each repetition.
const HAND_RATES: [u64; 3] = [1000, 1000, 1000];
/// ours-sync's: over hand-sync's 1.10, 1.20 and 0.90, of which the median is 1.10x.
const OURS_RATES: [u64; 3] = [1100, 1200, 900];
/// hand-sync's user and system CPU µs per operation (10 in all).
const HAND_CPU: (f64, f64) = (6.0, 4.0);
/// ours-sync's (12 in all: 1.20x hand-sync's).
const OURS_CPU: (f64, f64) = (8.0, 4.0);

/// A run of `ops` operations (and as many MB) in one second.
fn outcome(ops: u64) -> Outcome {
    Outcome {
        ops,
        secs: 1.0,
        errors: 0,
        bytes: ops * 1_000_000,
        p50_us: Some(10.0),
        p99_us: Some(50.0),
        first_error: None,
    }
}

/// The results of one server in `case`, as the constants say.
fn results(case: &Case, ours: bool) -> Results {
    let (rates, (user_us, system_us)) = if ours {
        (OURS_RATES, OURS_CPU)
    } else {
        (HAND_RATES, HAND_CPU)
    };
    let runs = rates.iter().enumerate().map(|(rep, &ops)| Run {
        rep,
        rate: case.rate(&outcome(ops)),
        outcome: outcome(ops),
    });
    let cpu = (0..3).map(|rep| CpuRun {
        rep,
        user_us,
        system_us,
        rate: 500.0,
    });
    let syscalls = Syscalls {
        per_op: if ours { 2.0 } else { 5.0 },
        by_name: vec![("read".into(), 1.0), ("write".into(), 1.0)],
        errors_by_name: vec![],
    };
    Results {
        runs: runs.collect(),
        cpu: if case.detail { cpu.collect() } else { vec![] },
        syscalls: case.detail.then_some(Ok(syscalls)),
        ..Results::default()
    }
}

/// The measurements of hand-sync and ours-sync over the cases `args` (`bench`'s options
/// after `--kinds ours-sync`) plan.
fn measurements(args: &[&str]) -> Measurements {
    let args = ["--kinds", "ours-sync"].iter().chain(args);
    let config = Config::from_args(args.map(|a| a.to_string()).collect()).unwrap();
    let cases = cases::plan(&config);
    let mut all = HashMap::new();
    for case in &cases {
        for kind in &case.kinds {
            all.insert((case.id(), kind.name), results(case, kind.ours));
        }
    }
    Measurements {
        facts: Facts {
            machine: "- CPUs: 2 (`nproc`), a CPU".into(),
            library: "commit abc1234".into(),
            loadavg_at_start: "0.10 0.20 0.30".into(),
            loadavg_at_end: "0.40 0.50 0.60".into(),
            contended: 4,
            measurements: 123,
            seconds: 9.0,
        },
        shutdown: vec![("ours-sync".into(), Ok(vec![100.0, 300.0, 200.0]))],
        compile: vec![Times {
            name: "macros",
            depends_on: "socketserver",
            clean: Some(12.0),
            ..Times::default()
        }],
        config,
        cases,
        results: all,
    }
}

/// The part of `report` from the `## ` heading that starts with `heading` to the next one.
fn section<'a>(report: &'a str, heading: &str) -> &'a str {
    let start = report
        .find(&format!("\n## {heading}"))
        .unwrap_or_else(|| panic!("no section {heading}:\n{report}"));
    let rest = &report[start + 1..];
    rest[3..].find("\n## ").map_or(rest, |end| &rest[..end + 3])
}

/// The table rows of `text` whose first cell is `name`, split into cells.
fn rows<'a>(text: &'a str, name: &str) -> Vec<Vec<&'a str>> {
    text.lines()
        .filter(|l| l.starts_with("| ") && l[1..].split('|').next().unwrap().trim() == name)
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect()
}

#[test]
fn every_part_has_its_section_in_order() {
    let report = render(&measurements(&["--compile"]));
    let headings: Vec<&str> = report.lines().filter(|l| l.starts_with("## ")).collect();
    let expected = [
        "## Throughput and latency",
        "## Server CPU per operation",
        "## System calls per operation",
        "## Shutdown latency",
        "## Compile cost",
        "## Targets",
    ];
    assert_eq!(headings.len(), expected.len(), "{headings:?}");
    for (heading, prefix) in headings.iter().zip(expected) {
        assert!(heading.starts_with(prefix), "{heading} is not {prefix}");
    }
    assert!(report.starts_with("# socketserver benchmark report\n\nCommand: `cargo run"));
}

#[test]
fn the_header_states_the_facts() {
    let report = render(&measurements(&[]));
    assert!(report.contains("- CPUs: 2 (`nproc`), a CPU\n- library: commit abc1234\n"));
    assert!(report.contains("at start: 0.10 0.20 0.30; at end: 0.40 0.50 0.60\n"));
    assert!(report.contains("other compilers ran on the machine: 4 of 123\n"));
    assert!(report.contains("- throughput: 3 repetitions of 0.5 s"));
    assert!(report.contains("; total 9 s\n"));
    assert!(report.contains("generator), the servers alternating; total"));
    let together = render(&measurements(&["--cpu-together"]));
    assert!(together.contains("the servers of a case served at once, each with its own load"));
}

#[test]
fn a_throughput_table_per_case_and_a_row_per_server() {
    let m = measurements(&[]);
    let report = render(&m);
    let throughput = section(&report, "Throughput");
    assert_eq!(throughput.matches("\n### ").count(), m.cases.len());
    for case in &m.cases {
        let start = throughput.find(&format!("### {}\n", case.title())).unwrap();
        let table = &throughput[start..];
        let table = &table[..table[4..].find("### ").map_or(table.len(), |end| end + 4)];
        assert!(table.contains(case.unit()), "{table}");
        // The median of 1100, 1200 and 900; the median of 1.10, 1.20 and 0.90.
        assert_eq!(
            rows(table, "ours-sync"),
            [["ours-sync", "1,100", "1.10x", "10.0", "50.0", "0", "3"]]
        );
        assert_eq!(
            rows(table, "hand-sync"),
            [["hand-sync", "1,000", "1.00x", "10.0", "50.0", "0", "3"]]
        );
    }
}

#[test]
fn cpu_and_syscall_tables_have_a_column_group_per_detailed_case() {
    let m = measurements(&[]);
    let report = render(&m);
    let cpu = section(&report, "Server CPU");
    let header = cpu.lines().find(|l| l.starts_with("| server")).unwrap();
    assert_eq!(header.matches("vs hand").count(), m.detailed().len());
    // 12 µs over 10 µs, in each detailed case.
    let ours = &rows(cpu, "ours-sync")[0];
    assert_eq!(
        ours[1..],
        ["12.0", "1.20x", "500"].repeat(m.detailed().len())
    );
    assert_eq!(
        rows(cpu, "tcp-churn-c1")[1],
        ["tcp-churn-c1", "ours-sync", "8.00", "4.00", "3"]
    );
    let syscalls = section(&report, "System calls");
    assert!(syscalls
        .contains("Run lengths: 1000 and 3000 round trips or datagrams, 200 and 600 connections."));
    assert_eq!(
        rows(syscalls, "ours-sync")[0][1..],
        ["2.00"].repeat(m.detailed().len())
    );
    assert_eq!(
        rows(syscalls, "udp-datagram-c1")[1],
        [
            "udp-datagram-c1",
            "ours-sync",
            "2.00",
            "read 1.00, write 1.00"
        ]
    );
}

#[test]
fn targets_follow_from_the_measurements() {
    let report = render(&measurements(&[]));
    let targets = section(&report, "Targets");
    let target = |what: &str| {
        let row = targets.lines().find(|l| l.contains(what)).unwrap();
        let cells: Vec<String> = row
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().into())
            .collect();
        (cells[1].clone(), cells[2].clone())
    };
    let met = |what: &str| target(what).1;
    assert_eq!(
        met("syscalls per round trip on an open connection, ours-sync"),
        "yes"
    );
    assert_eq!(
        met("syscalls per round trip on an open connection, ours-pool"),
        "not measured"
    );
    assert_eq!(met("server CPU per op, tcp-churn-c1, ours-sync"), "NO");
    let cpu = target("server CPU per op, tcp-churn-c1, ours-sync").0;
    assert_eq!(cpu, "1.20x (12.0 vs 10.0 µs)");
    let shutdown = target("shutdown latency median under 1 ms, ours-sync");
    assert_eq!(shutdown, ("200 µs".to_string(), "yes".to_string()));
}

#[test]
fn skipped_parts_have_no_section() {
    let m = measurements(&["--no-cpu", "--no-syscalls", "--no-throughput"]);
    let report = render(&m);
    let headings: Vec<&str> = report.lines().filter(|l| l.starts_with("## ")).collect();
    assert_eq!(headings.len(), 2, "{headings:?}");
    assert!(headings[0].starts_with("## Shutdown latency"));
    assert!(headings[1].starts_with("## Targets"));
}

#[test]
fn notes_keep_the_first_three_distinct_of_each_server() {
    let mut m = measurements(&[]);
    let r = m
        .results
        .get_mut(&("tcp-churn-c1".into(), "ours-sync"))
        .unwrap();
    r.failures.push("refused".into());
    r.notes
        .extend(["load: a", "load: a", "load: b", "load: c"].map(String::from));
    r.syscalls = Some(Err("strace: gone".into()));
    let report = render(&m);
    assert!(report.ends_with(
        "## Errors and notes\n\n\
         - tcp-churn-c1 ours-sync: syscalls: strace: gone\n\
         - tcp-churn-c1 ours-sync: refused\n\
         - tcp-churn-c1 ours-sync: load: a\n\
         - tcp-churn-c1 ours-sync: load: b\n\n"
    ));
    // A failed run counts in the throughput table, and the syscall cell says it failed.
    assert!(section(&report, "Throughput").contains("| 3 (1 failed) |"));
    assert_eq!(
        rows(section(&report, "System calls"), "ours-sync")[0][2],
        "failed"
    );
}
