//! What a run measured, kept for the report: per case and server every run, and the
//! medians and ratios (paired by repetition) the report shows of them.

use std::collections::HashMap;

use super::cases::Case;
use super::compile;
use super::machine::Facts;
use super::shutdown::Samples;
use super::strace::Syscalls;
use super::Config;
use crate::common::median;
use crate::kinds::Kind;
use crate::loadgen::Outcome;

/// One throughput run.
#[derive(Clone, Debug)]
pub struct Run {
    /// The repetition it ran in.
    pub rep: usize,
    /// Its rate, in the unit of its case.
    pub rate: f64,
    /// What the load generator measured.
    pub outcome: Outcome,
}

/// One pinned run: the server's CPU time per operation.
#[derive(Clone, Copy, Debug)]
pub struct CpuRun {
    /// The repetition it ran in.
    pub rep: usize,
    /// User time, µs per operation.
    pub user_us: f64,
    /// System time, µs per operation.
    pub system_us: f64,
    /// The rate while pinned, in the unit of its case.
    pub rate: f64,
}

/// Per case and server: every result.
#[derive(Debug, Default)]
pub struct Results {
    /// The throughput runs.
    pub runs: Vec<Run>,
    /// The pinned CPU runs.
    pub cpu: Vec<CpuRun>,
    /// Measurements that failed (those of the CPU pass start with `cpu`).
    pub failures: Vec<String>,
    /// What the load generator and the server said went wrong.
    pub notes: Vec<String>,
    /// System calls per operation, when measured.
    pub syscalls: Option<Result<Syscalls, String>>,
}

/// A value measured once a repetition, of which the report takes medians and ratios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Operations (or MB) per second, unpinned.
    Rate,
    /// Server CPU µs per operation, user and system.
    Cpu,
    /// Server user CPU µs per operation.
    CpuUser,
    /// Server system CPU µs per operation.
    CpuSystem,
    /// Operations (or MB) per second, pinned.
    PinnedRate,
}

impl Metric {
    /// Each repetition's value in `results`, in the order they ran.
    pub fn by_rep(self, results: &Results) -> Vec<(usize, f64)> {
        let cpu =
            |value: fn(&CpuRun) -> f64| results.cpu.iter().map(|c| (c.rep, value(c))).collect();
        match self {
            Metric::Rate => results.runs.iter().map(|r| (r.rep, r.rate)).collect(),
            Metric::Cpu => cpu(|c| c.user_us + c.system_us),
            Metric::CpuUser => cpu(|c| c.user_us),
            Metric::CpuSystem => cpu(|c| c.system_us),
            Metric::PinnedRate => cpu(|c| c.rate),
        }
    }

    /// The median over the repetitions in `results`.
    pub fn median(self, results: &Results) -> Option<f64> {
        let values: Vec<f64> = self.by_rep(results).into_iter().map(|(_, v)| v).collect();
        median(&values)
    }
}

/// Everything the report is rendered from: what ran, where, and what it measured.
#[derive(Debug)]
pub struct Measurements {
    /// What the run was asked to do.
    pub config: Config,
    /// The cases it loaded.
    pub cases: Vec<Case>,
    /// Per case id and server name.
    pub results: HashMap<(String, &'static str), Results>,
    /// The machine and the run.
    pub facts: Facts,
    /// Shutdown latency samples per server.
    pub shutdown: Vec<(String, Result<Samples, String>)>,
    /// Compile times per way of writing the server.
    pub compile: Vec<compile::Times>,
}

impl Measurements {
    /// The results of `kind` in the case `case_id`.
    pub fn get(&self, case_id: &str, kind: &str) -> Option<&Results> {
        self.results
            .iter()
            .find(|((c, k), _)| c == case_id && *k == kind)
            .map(|(_, r)| r)
    }

    /// The servers of `case` that have results, with them, in the order they ran.
    pub fn results_of<'a>(
        &'a self,
        case: &'a Case,
    ) -> impl Iterator<Item = (&'static Kind, &'a Results)> + 'a {
        let id = case.id();
        case.kinds
            .iter()
            .filter_map(move |kind| Some((*kind, self.get(&id, kind.name)?)))
    }

    /// The cases measured in detail (CPU and system calls).
    pub fn detailed(&self) -> Vec<&Case> {
        self.cases.iter().filter(|c| c.detail).collect()
    }

    /// The median of `metric` of `kind` in `case_id`.
    pub fn median(&self, case_id: &str, kind: &str, metric: Metric) -> Option<f64> {
        metric.median(self.get(case_id, kind)?)
    }

    /// `kind`'s `metric` over `base`'s: the median of the ratios within each repetition
    /// (the two ran close in time, so a slow drift of the shared machine cancels).
    pub fn ratio(&self, case_id: &str, kind: &str, base: &str, metric: Metric) -> Option<f64> {
        let by_rep = |kind| {
            self.get(case_id, kind)
                .map_or_else(Vec::new, |r| metric.by_rep(r))
        };
        paired_ratio(&by_rep(kind), &by_rep(base))
    }

    /// The system calls per operation of `kind` in `case_id`, when measured.
    pub fn syscalls_of(&self, case_id: &str, kind: &str) -> Option<&Syscalls> {
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
