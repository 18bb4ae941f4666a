//! The facts of the machine and of the run that head the report: CPUs, kernel, tool
//! versions, the library's commit, the load average and the compilers of other users.

use std::path::Path;
use std::process::Command;
use std::thread;

/// What the report's header states besides the configuration.
#[derive(Clone, Debug)]
pub struct Facts {
    /// CPUs, kernel and tool versions, as Markdown list items ([`machine`]).
    pub machine: String,
    /// The library's commit when the run started ([`library_version`]).
    pub library: String,
    /// The load average when the run started ([`loadavg`]).
    pub loadavg_at_start: String,
    /// The load average when it ended.
    pub loadavg_at_end: String,
    /// Measurements that started while other compilers ran.
    pub contended: usize,
    /// Measurements started.
    pub measurements: usize,
    /// Seconds the whole run took.
    pub seconds: f64,
}

/// Machine facts for the report.
pub fn machine() -> String {
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
    format!(
        "- CPUs: {cpus} (`nproc`), {model}\n- kernel: Linux {}\n- {}; {}",
        kernel.trim(),
        version("rustc", "--version"),
        version("python3", "--version"),
    )
}

/// The first line `cmd arg` prints (on stdout, else on stderr), or `unknown`.
fn version(cmd: &str, arg: &str) -> String {
    Command::new(cmd)
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
}

/// The load average, and how many compilers (of other users of the machine) run now.
pub fn loadavg() -> String {
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into());
    format!("{load} ({} compiler processes running)", compilers())
}

/// The library's version under test: the commit, and whether its sources differ from it.
pub fn library_version() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let git = |args: &[&str]| {
        Command::new("git")
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
    let count = |query: &[&str]| {
        let args: Vec<&str> = query
            .iter()
            .chain(&["--", "runtime", "macros", "src"])
            .copied()
            .collect();
        git(&args).map_or(0, |s| s.lines().count())
    };
    let changed = count(&["diff", "--name-only", "HEAD"])
        + count(&["ls-files", "--others", "--exclude-standard"]);
    if changed == 0 {
        format!("commit {commit}")
    } else {
        format!("commit {commit} plus uncommitted changes to {changed} files of runtime/, macros/, src/")
    }
}

/// How many compiler processes run on the machine now.
pub fn compilers() -> usize {
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
