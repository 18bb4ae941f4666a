//! Pre-forked workers (`echo --workers N`) under a continuous load of clients that connect,
//! send, read the echo and close: a killed worker is replaced within a second, SIGHUP
//! restarts every worker without a failed connection, SIGTTIN/SIGTTOU add and remove one,
//! SIGTERM leaves no process behind.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;

/// Clients in a loop until stopped: how many exchanges succeeded and failed (with the
/// first failures' errors).
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(address: &str, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let threads = (0..clients)
            .map(|n| {
                let (stop, ok, address) = (stop.clone(), ok.clone(), address.to_string());
                std::thread::spawn(move || {
                    let mut failures = Vec::new();
                    let mut i = 0u64;
                    while !stop.load(Ordering::SeqCst) {
                        i += 1;
                        match exchange(&address, format!("client {n} message {i}\n").as_bytes()) {
                            Ok(()) => ok.fetch_add(1, Ordering::SeqCst),
                            Err(e) => {
                                failures.push(e.to_string());
                                0
                            }
                        };
                    }
                    failures
                })
            })
            .collect();
        Load { stop, ok, threads }
    }

    fn ok(&self) -> usize {
        self.ok.load(Ordering::SeqCst)
    }

    /// Waits until `more` further exchanges succeeded (at most 20 s).
    fn wait_for(&self, more: usize) {
        let target = self.ok() + more;
        let started = Instant::now();
        while self.ok() < target {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the load stalled at {}",
                self.ok()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops the clients: (succeeded, failures).
    fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        let ok = self.ok.clone();
        let failures = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        (ok.load(Ordering::SeqCst), failures)
    }
}

/// One connection: send `message`, read it back, close.
fn exchange(address: &str, message: &[u8]) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(message)?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut back = Vec::new();
    stream.read_to_end(&mut back)?;
    match back == message {
        true => Ok(()),
        false => Err(std::io::Error::other(format!("echoed {back:?}"))),
    }
}

fn start_workers(args: &[&str]) -> Running {
    let dir = temp_dir("prefork");
    let mut all = vec!["--bind", "127.0.0.1:0"];
    all.extend_from_slice(args);
    start("echo", &all, &dir)
}

/// The master's workers once there are `n` of them (at most 10 s).
fn wait_for_workers(server: &Running, n: usize) -> Vec<u32> {
    let started = Instant::now();
    loop {
        let workers = children_of(server.child.id());
        if workers.len() == n {
            return workers;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "workers: {workers:?}, not {n}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_killed_worker_is_replaced_within_a_second_and_only_its_connections_fail() {
    let server = start_workers(&["--workers", "2", "--mixin", "threading"]);
    let before = wait_for_workers(&server, 2);
    let load = Load::start(&server.address, 4);
    load.wait_for(200);
    let killed = before[0];
    // SAFETY: signals a worker of our own child.
    unsafe { libc::kill(killed as i32, libc::SIGKILL) };
    let started = Instant::now();
    let after = loop {
        let now = children_of(server.child.id());
        if now.len() == 2 && !now.contains(&killed) {
            break now;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "not replaced within 1 s: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(after.contains(&before[1]), "{before:?} -> {after:?}");
    load.wait_for(200);
    let (ok, failures) = load.finish();
    // Only what the killed worker had in flight (a few of the 4 clients' connections).
    assert!(
        failures.len() <= 4,
        "{} failed of {}: {failures:?}",
        failures.len(),
        ok
    );
    let (code, _) = server.stop(libc::SIGTERM);
    assert_eq!(code, Some(0));
}

#[test]
fn sighup_replaces_every_worker_and_fails_no_connection() {
    for mixin in ["threading", "pool", "sync"] {
        let server = start_workers(&["--workers", "2", "--mixin", mixin]);
        let before = wait_for_workers(&server, 2);
        let load = Load::start(&server.address, 4);
        load.wait_for(100);
        signal(&server, libc::SIGHUP);
        let started = Instant::now();
        loop {
            let now = children_of(server.child.id());
            if now.len() == 2 && now.iter().all(|p| !before.contains(p)) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{before:?} -> {now:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        load.wait_for(500);
        let (ok, failures) = load.finish();
        assert!(
            failures.is_empty(),
            "{mixin}: {} failed of {}: {failures:?}",
            failures.len(),
            ok + failures.len()
        );
        eprintln!("{mixin}: SIGHUP under load: 0 failed of {ok} connections");
        let (code, stderr) = server.stop(libc::SIGTERM);
        assert_eq!(code, Some(0), "{stderr}");
    }
}

#[test]
fn sigttin_adds_a_worker_and_sigttou_removes_one() {
    let server = start_workers(&["--workers", "2"]);
    let two = wait_for_workers(&server, 2);
    signal(&server, libc::SIGTTIN);
    let three = wait_for_workers(&server, 3);
    assert!(two.iter().all(|p| three.contains(p)));
    // One signal at a time (signals of a kind sent at once may arrive as one).
    signal(&server, libc::SIGTTOU);
    wait_for_workers(&server, 2);
    signal(&server, libc::SIGTTOU);
    let one = wait_for_workers(&server, 1);
    // Never fewer than one.
    signal(&server, libc::SIGTTOU);
    std::thread::sleep(Duration::from_millis(300));
    let load = Load::start(&server.address, 2);
    load.wait_for(50);
    let (_, failures) = load.finish();
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(children_of(server.child.id()), one);
    let (code, _) = server.stop(libc::SIGTERM);
    assert_eq!(code, Some(0));
}

#[test]
fn sigterm_stops_every_worker_gracefully_and_leaves_no_process() {
    let server = start_workers(&["--workers", "3", "--mixin", "pool"]);
    let workers = wait_for_workers(&server, 3);
    let load = Load::start(&server.address, 3);
    load.wait_for(100);
    let (code, stderr) = server.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{stderr}");
    let (_, failures) = load.finish();
    // After the stop, connections are refused: only those are failures.
    assert!(
        failures.iter().all(|f| f.contains("refused")),
        "{failures:?}"
    );
    for pid in workers {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "worker {pid} left"
        );
    }
}

#[test]
fn workers_with_forking_or_udp_are_usage_errors() {
    for args in [
        &["--workers", "2", "--mixin", "forking"][..],
        &["--workers", "2", "--transport", "udp"],
        &["--workers", "0"],
    ] {
        let out = std::process::Command::new(example("echo"))
            .args(["--bind", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--workers"),
            "{args:?}"
        );
    }
}
