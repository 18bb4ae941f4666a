//! Shutdown latency: how long after `handle.shutdown()` `serve_forever` returns, measured
//! in process on the `server!` types, and on Python's `socketserver` for comparison.

use std::io;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use socketserver::ServerHandle;

use super::procs::{output_within, Paths};
use crate::ours::{TcpForking, TcpSync, TcpThreading};

/// Samples in microseconds.
pub type Samples = Vec<f64>;

/// Serves on a scoped thread, calls `shutdown` once the loop sleeps in poll, and times
/// until `serve_forever` returns; `n` times on the same server.
fn measure<S: Sync>(
    server: &S,
    serve: impl Fn(&S) -> io::Result<()> + Sync,
    handle: ServerHandle,
    n: usize,
) -> Result<Samples, String> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let latency = thread::scope(|scope| {
            let serving = scope.spawn(|| {
                let result = serve(server);
                (Instant::now(), result)
            });
            // Let the loop reach poll(2).
            thread::sleep(Duration::from_millis(2));
            let start = Instant::now();
            handle.shutdown();
            let (returned, result) = serving.join().map_err(|_| "serve_forever panicked")?;
            result.map_err(|e| format!("serve_forever: {e}"))?;
            Ok::<_, String>(returned.saturating_duration_since(start))
        })?;
        samples.push(latency.as_secs_f64() * 1e6);
    }
    Ok(samples)
}

/// Shutdown latency samples of each `server!` TCP type.
pub fn ours(n: usize) -> Vec<(&'static str, Result<Samples, String>)> {
    macro_rules! one {
        ($name:literal, $server:ident) => {
            (
                $name,
                $server::bind("127.0.0.1:0")
                    .map_err(|e| format!("bind: {e}"))
                    .and_then(|server| {
                        let handle = server.handle();
                        measure(&server, |s| s.serve_forever(), handle, n)
                    }),
            )
        };
    }
    vec![
        one!("ours-sync", TcpSync),
        one!("ours-threading", TcpThreading),
        one!("ours-forking", TcpForking),
    ]
}

/// Shutdown latency samples of Python's `TCPServer` (`serve_forever` polls every 0.5 s).
pub fn python(paths: &Paths, n: usize) -> Result<Samples, String> {
    let child = Command::new(&paths.python)
        .arg(&paths.python_script)
        .args(["--shutdown-latency", &n.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("python: {e}"))?;
    let bound = Duration::from_secs(10) + Duration::from_millis(600) * n as u32;
    let output = output_within(child, bound, "python")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SHUTDOWN_US "))
        .ok_or_else(|| format!("python: {}", String::from_utf8_lossy(&output.stderr)))?;
    line.split_whitespace()
        .map(|v| v.parse().map_err(|e| format!("python sample {v}: {e}")))
        .collect()
}
