//! Counting a server's system calls: `strace -f -c -p PID` attached for the length of one
//! load, detached with SIGTERM, its summary parsed; and the calls per operation, from the
//! counts of a short and a long run.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::report::num;

/// Calls per system call name, and the total.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counts {
    /// Calls of each system call.
    pub calls: BTreeMap<String, u64>,
    /// Calls that returned an error, per system call.
    pub errors: BTreeMap<String, u64>,
}

impl Counts {
    /// Every call.
    pub fn total(&self) -> u64 {
        self.calls.values().sum()
    }

    /// Parses the table `strace -c` writes.
    pub fn parse(summary: &str) -> Counts {
        let mut counts = Counts::default();
        for line in summary.lines() {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // % time, seconds, usecs/call, calls, [errors,] syscall
            let (calls, errors, name) = match cols.as_slice() {
                [_, _, _, calls, name] => (calls, None, name),
                [_, _, _, calls, errors, name] => (calls, Some(errors), name),
                _ => continue,
            };
            let (Ok(calls), true) = (calls.parse::<u64>(), *name != "total") else {
                continue;
            };
            counts.calls.insert(name.to_string(), calls);
            if let Some(Ok(errors)) = errors.map(|e| e.parse::<u64>()) {
                counts.errors.insert(name.to_string(), errors);
            }
        }
        counts
    }
}

/// System calls per operation, from the difference between two run lengths.
#[derive(Clone, Debug, PartialEq)]
pub struct Syscalls {
    /// Every call.
    pub per_op: f64,
    /// Per system call, largest first (those of at least 0.01 per operation).
    pub by_name: Vec<(String, f64)>,
    /// Failed calls per operation, per system call.
    pub errors_by_name: Vec<(String, f64)>,
}

impl Syscalls {
    /// The calls per operation of the long run beyond the short one (`ops` operations
    /// each, and their counts), so that starting and stopping cancel.
    pub fn between(short: (u64, &Counts), long: (u64, &Counts)) -> Result<Syscalls, String> {
        let ops = long.0 as f64 - short.0 as f64;
        if ops <= 0.0 {
            return Err(format!("run lengths {} and {} ops", short.0, long.0));
        }
        Ok(Syscalls {
            per_op: (long.1.total() as f64 - short.1.total() as f64) / ops,
            by_name: per_op_by_name(&short.1.calls, &long.1.calls, ops),
            errors_by_name: per_op_by_name(&short.1.errors, &long.1.errors, ops),
        })
    }

    /// The calls by name, and the failing ones: `read 1.00, write 1.00 (failing: ...)`.
    pub fn breakdown(&self) -> String {
        let mut s = listed(&self.by_name);
        if !self.errors_by_name.is_empty() {
            let _ = write!(s, " (failing: {})", listed(&self.errors_by_name));
        }
        s
    }
}

/// Per system call, `long` minus `short` over `ops`: those of at least 0.01, largest first.
fn per_op_by_name(
    short: &BTreeMap<String, u64>,
    long: &BTreeMap<String, u64>,
    ops: f64,
) -> Vec<(String, f64)> {
    let names: BTreeSet<&String> = long.keys().chain(short.keys()).collect();
    let mut v: Vec<(String, f64)> = names
        .into_iter()
        .map(|name| {
            let d = *long.get(name).unwrap_or(&0) as f64 - *short.get(name).unwrap_or(&0) as f64;
            (name.clone(), d / ops)
        })
        .filter(|(_, v)| v.abs() >= 0.01)
        .collect();
    v.sort_by(|x, y| y.1.total_cmp(&x.1));
    v
}

/// `name value, name value, ...`.
fn listed(per_name: &[(String, f64)]) -> String {
    per_name
        .iter()
        .map(|(n, v)| format!("{n} {}", num(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A running `strace -f -c` on a process.
pub struct Tracer {
    child: Child,
    out: PathBuf,
}

impl Tracer {
    /// Attaches to `pid` and every thread it has or will have; returns once strace says it
    /// is attached.
    pub fn attach(pid: u32, out: PathBuf) -> Result<Tracer, String> {
        let _ = std::fs::remove_file(&out);
        let mut child = Command::new("strace")
            .args(["-f", "-c", "-o"])
            .arg(&out)
            .args(["-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting strace: {e}"))?;
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let tracer = Tracer { child, out };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains("attached") => break,
                Ok(line) if line.contains("Operation not permitted") => {
                    return Err(format!("strace: {line}"));
                }
                Ok(_) => continue,
                Err(_) => return Err("strace did not attach within 10 s".into()),
            }
        }
        // Threads are attached one after the other: give it a moment for all of them.
        thread::sleep(Duration::from_millis(300));
        Ok(tracer)
    }

    /// Detaches and returns the counts.
    pub fn finish(mut self) -> Result<Counts, String> {
        // SAFETY: plain system call on our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err("strace did not detach within 20 s".into());
                }
            }
        }
        let summary = std::fs::read_to_string(&self.out)
            .map_err(|e| format!("{}: {e}", self.out.display()))?;
        let _ = std::fs::remove_file(&self.out);
        Ok(Counts::parse(&summary))
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_summary() {
        let summary = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 63.61    0.120422        1720        70        35 wait4
  7.68    0.014539          13      1050           openat
------ ----------- ----------- --------- --------- ----------------
100.00    0.189314          40      1120        35 total
";
        let c = Counts::parse(summary);
        assert_eq!(c.calls["wait4"], 70);
        assert_eq!(c.errors["wait4"], 35);
        assert_eq!(c.calls["openat"], 1050);
        assert_eq!(c.total(), 1120);
    }

    #[test]
    fn syscalls_per_op_are_the_difference_of_two_runs() {
        let counts = |read, write, failed| Counts {
            calls: [("read".into(), read), ("write".into(), write)].into(),
            errors: [("read".into(), failed)].into(),
        };
        let s =
            Syscalls::between((100, &counts(150, 120, 0)), (300, &counts(350, 320, 100))).unwrap();
        assert_eq!(s.per_op, 2.0);
        assert_eq!(s.by_name, [("read".into(), 1.0), ("write".into(), 1.0)]);
        assert_eq!(s.errors_by_name, [("read".into(), 0.5)]);
        assert_eq!(s.breakdown(), "read 1.00, write 1.00 (failing: read 0.50)");
        assert!(Syscalls::between((300, &counts(1, 1, 0)), (300, &counts(2, 2, 0))).is_err());
    }
}
