//! The targets, each checked against the measurements: system calls per
//! operation, server CPU against the hand-written and the Python servers, throughput
//! against tokio and shutdown latency.

use super::report::{num, opt, ratio};
use super::results::{Measurements, Metric};
use super::shutdown::Samples;
use crate::common::median;

/// A check of one of the targets.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// The target, in words.
    pub what: String,
    /// What was measured against it.
    pub measured: String,
    /// Whether it was met; `None`: not measured.
    pub met: Option<bool>,
}

/// Every target of the parts that ran, in the report's order.
pub fn check(m: &Measurements) -> Vec<Target> {
    let c = &m.config;
    let mut targets = Vec::new();
    if c.syscalls {
        targets.extend(syscalls(m));
    }
    if c.cpu {
        targets.extend(cpu_vs_hand(m));
        targets.extend(cpu_vs_python(m));
    }
    if c.throughput {
        targets.extend(throughput(m));
    }
    targets.extend(shutdown(&m.shutdown));
    targets
}

/// System calls per round trip, per connection and per datagram of our servers.
fn syscalls(m: &Measurements) -> Vec<Target> {
    let sys = |case: &str, kind: &str| m.syscalls_of(case, kind).map(|s| s.per_op);
    let mut targets = Vec::new();
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
        let hand = opt(sys("udp-datagram-c1", "hand-sync"));
        targets.push(Target {
            what: format!("syscalls per datagram, {kind}: at most 3"),
            measured: format!("{} (hand-sync: {hand})", opt(v)),
            met: v.map(|v| v <= 3.05),
        });
    }
    targets
}

/// Server CPU per operation of our servers: at most 5% over the hand-written ones.
fn cpu_vs_hand(m: &Measurements) -> Vec<Target> {
    let mut targets = Vec::new();
    for case in ["tcp-pingpong-c1", "tcp-churn-c1", "udp-datagram-c1"] {
        for (kind, hand) in [
            ("ours-sync", "hand-sync"),
            ("ours-threading", "hand-threading"),
            ("ours-forking", "hand-forking"),
            ("ours-pool", "hand-pool"),
        ] {
            let a = m.median(case, kind, Metric::Cpu);
            let b = m.median(case, hand, Metric::Cpu);
            let r = m.ratio(case, kind, hand, Metric::Cpu);
            targets.push(Target {
                what: format!("server CPU per op, {case}, {kind}: at most 1.05x {hand}"),
                measured: format!("{} ({} vs {} µs)", ratio(r), opt(a), opt(b)),
                met: r.map(|r| r <= 1.05),
            });
        }
    }
    targets
}

/// Server CPU per operation of our forking and pool servers: a factor under Python's.
fn cpu_vs_python(m: &Measurements) -> Vec<Target> {
    [
        (
            "tcp-churn-c1",
            "ours-forking",
            "python-forking",
            6.0,
            "forking: at least 6x less server CPU per connection than Python's ForkingTCPServer",
        ),
        (
            "tcp-churn-c1",
            "ours-pool",
            "python-threading",
            4.0,
            "pool: at least 4x less server CPU per connection than Python's ThreadingTCPServer",
        ),
        (
            "udp-datagram-c1",
            "ours-pool",
            "python-threading",
            10.0,
            "pool: at least 10x less server CPU per datagram than Python's ThreadingUDPServer",
        ),
    ]
    .into_iter()
    .map(|(case, ours, python, factor, what)| {
        let a = m.median(case, ours, Metric::Cpu);
        let b = m.median(case, python, Metric::Cpu);
        let r = m.ratio(case, python, ours, Metric::Cpu);
        let times = r.map_or("-".into(), |r| format!("{r:.2}"));
        Target {
            what: what.into(),
            measured: format!("{times}x less ({} vs {} µs)", opt(a), opt(b)),
            met: r.map(|r| r >= factor),
        }
    })
    .collect()
}

/// Round trips per second of the threading server at 128 connections, against tokio's.
fn throughput(m: &Measurements) -> Option<Target> {
    let case = "tcp-pingpong-c128";
    m.cases.iter().find(|c| c.id() == case)?;
    let a = m.median(case, "ours-threading", Metric::Rate);
    let b = m.median(case, "tokio", Metric::Rate);
    let r = m.ratio(case, "ours-threading", "tokio", Metric::Rate);
    Some(Target {
        what: "threading: at least 0.6x tokio's round trips/s at 128 connections".into(),
        measured: format!("{} ({} vs {})", ratio(r), opt(a), opt(b)),
        met: r.map(|r| r >= 0.6),
    })
}

/// The median shutdown latency of each of our servers: under a millisecond.
fn shutdown(samples: &[(String, Result<Samples, String>)]) -> Vec<Target> {
    samples
        .iter()
        .filter(|(n, _)| n.starts_with("ours"))
        .map(|(name, samples)| {
            let m = samples.as_ref().ok().and_then(|s| median(s));
            Target {
                what: format!("shutdown latency median under 1 ms, {name}"),
                measured: m.map_or("-".into(), |m| format!("{} µs", num(m))),
                met: m.map(|m| m < 1000.0),
            }
        })
        .collect()
}
