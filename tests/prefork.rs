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

    /// Stops the clients, asserts none of their connections failed, and says how many
    /// succeeded (through `what`); the number.
    fn finish_without_failure(self, what: &str) -> usize {
        let (ok, failures) = self.finish();
        assert!(
            failures.is_empty(),
            "{what}: {} failed of {}: {failures:?}",
            failures.len(),
            ok + failures.len()
        );
        eprintln!("{what} under load: 0 failed of {ok} connections");
        ok
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

/// The fields of `/proc/PID/stat` after the command's name (which may hold spaces): state
/// first, then the parent's pid, ...; none for a process that is gone.
fn stat_fields(pid: impl std::fmt::Display) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    after.split_whitespace().map(str::to_owned).collect()
}

/// The CPU time (clock ticks, user and system) `pids` use over half a second: about 0
/// when idle, 50 a process that spins.
fn ticks_over_half_a_second(pids: &[u32]) -> u64 {
    let ticks = || -> u64 {
        let field = |fields: &[String], at: usize| {
            fields
                .get(at)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // utime and stime: fields 14 and 15 of stat, 12 and 13 after the name.
        let used = |pid: &u32| {
            let fields = stat_fields(pid);
            field(&fields, 11) + field(&fields, 12)
        };
        pids.iter().map(used).sum()
    };
    let before = ticks();
    std::thread::sleep(Duration::from_millis(500));
    ticks() - before
}

/// Asserts that `workers`, idle, wait without using CPU (none spins).
fn assert_idle(workers: &[u32], what: &str) {
    let ticks = ticks_over_half_a_second(workers);
    assert!(
        ticks <= 10,
        "{what}: idle workers used {ticks} ticks in 0.5 s"
    );
}

/// The master's workers once there are `n` of them (at most 10 s).
fn wait_for_workers(server: &Running, n: usize) -> Vec<u32> {
    workers_of(server.child.id(), n)
}

/// The children of `master` once there are `n` of them (at most 10 s).
fn workers_of(master: u32, n: usize) -> Vec<u32> {
    let started = Instant::now();
    loop {
        let workers = children_of(master);
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
        load.finish_without_failure(&format!("{mixin}: SIGHUP"));
        // Idle again, the new workers wait in `accept`: none spins (a stopping worker
        // once made the socket they share non-blocking under them).
        assert_idle(&wait_for_workers(&server, 2), mixin);
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
    load.finish_without_failure("one worker after SIGTTOU");
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

/// An echo master started from a copy of the binary in `dir`, which the test replaces as a
/// deployment would; its stdout lines and stderr as they come.
struct Upgradable {
    child: std::process::Child,
    bin: std::path::PathBuf,
    stdout: std::sync::mpsc::Receiver<String>,
    stderr: Arc<std::sync::Mutex<String>>,
}

impl Upgradable {
    fn start(dir: &std::path::Path) -> (Upgradable, String) {
        Upgradable::start_with(dir, &["--bind", "127.0.0.1:0", "--workers", "2"])
    }

    fn start_with(dir: &std::path::Path, args: &[&str]) -> (Upgradable, String) {
        Upgradable::start_with_env(dir, args, &[])
    }

    fn start_with_env(
        dir: &std::path::Path,
        args: &[&str],
        env: &[(&str, &std::path::Path)],
    ) -> (Upgradable, String) {
        use std::io::BufRead;
        let bin = dir.join("echo");
        std::fs::copy(example("echo"), &bin).unwrap();
        let mut command = std::process::Command::new(&bin);
        command
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        // The copy is `ETXTBSY` while a process another test forks meanwhile still holds
        // the descriptor that wrote it (until that process's own exec).
        let mut tries = 0;
        let mut child = loop {
            match command.spawn() {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                spawned => break spawned.unwrap(),
            }
        };
        let (lines, stdout) = std::sync::mpsc::channel();
        let pipe = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let stderr = Arc::new(std::sync::Mutex::new(String::new()));
        let (pipe, said) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut said = said.lock().unwrap();
                said.push_str(&line);
                said.push('\n');
            }
        });
        let server = Upgradable {
            child,
            bin,
            stdout,
            stderr,
        };
        let first = server.next_line();
        let address = first.strip_prefix("listening on ").unwrap().to_string();
        (server, address)
    }

    /// The next line on the masters' stdout (at most 20 s, else a failure with their
    /// stderr).
    fn next_line(&self) -> String {
        let waited = self.stdout.recv_timeout(Duration::from_secs(20));
        waited.unwrap_or_else(|e| panic!("no line on stdout ({e}); stderr: {}", self.said()))
    }

    /// Replaces the program's file with `build` (a new inode at the same path).
    fn replace_with(&self, build: &std::path::Path) {
        std::fs::remove_file(&self.bin).unwrap();
        std::fs::copy(build, &self.bin).unwrap();
    }

    fn said(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

/// The processes running `bin` whose parent does not: masters.
fn masters_of(bin: &std::path::Path) -> Vec<u32> {
    let runs = |pid: &str| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.split(|&b| b == 0).next() == Some(bin.as_os_str().as_encoded_bytes()))
    };
    let parent = |pid: &str| stat_fields(pid).get(1).cloned().unwrap_or_default();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.parse::<u32>().is_ok() && runs(pid) && !runs(&parent(pid)))
        .map(|pid| pid.parse().unwrap())
        .collect()
}

/// Waits (at most 10 s) until process `pid` is gone.
fn wait_gone(pid: u32) {
    let started = Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        if stat_fields(pid).first().is_some_and(|state| state == "Z") {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// SIGUSR2 to an echo master started with `args` (`workers` workers) under a continuous
/// load: the new master announces itself on the same stdout and address, the old master
/// exits 0 and its workers go, the new master has `workers` new ones, no connection
/// fails, and `sockets` listen on the address before and after (the same ones: the new
/// master made none). Stops the new master at the end.
fn upgrade_under_load(name: &str, args: &[&str], workers: usize, sockets: usize) {
    let dir = temp_dir(name);
    let (mut server, address) = Upgradable::start_with(&dir, args);
    let old_master = server.child.id();
    let old_workers = workers_of(old_master, workers);
    assert_eq!(listening_sockets(&address), sockets);
    let load = Load::start(&address, 4);
    load.wait_for(200);
    server.replace_with(&example("echo"));
    // SAFETY: signals our own child.
    unsafe { libc::kill(old_master as i32, libc::SIGUSR2) };
    // The new master announces itself on the same stdout, on the same address.
    let second = server.next_line();
    assert_eq!(second, format!("listening on {address}"));
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", server.said());
    for pid in &old_workers {
        wait_gone(*pid);
    }
    let masters = masters_of(&server.bin);
    assert_eq!(masters.len(), 1, "{masters:?}");
    let new_master = masters[0];
    assert_ne!(new_master, old_master);
    let new_workers = workers_of(new_master, workers);
    assert!(new_workers.iter().all(|p| !old_workers.contains(p)));
    // The same sockets, not more.
    assert_eq!(listening_sockets(&address), sockets);
    load.wait_for(200);
    load.finish_without_failure(&format!("{name}: SIGUSR2"));
    assert_idle(&new_workers, name);
    // SAFETY: the new master, started by our child.
    unsafe { libc::kill(new_master as i32, libc::SIGTERM) };
    wait_gone(new_master);
    for pid in new_workers {
        wait_gone(pid);
    }
    assert_eq!(listening_sockets(&address), 0);
}

#[test]
fn sigusr2_hands_the_socket_to_the_new_build_and_fails_no_connection() {
    upgrade_under_load(
        "upgrade",
        &["--bind", "127.0.0.1:0", "--workers", "2"],
        2,
        1,
    );
}

/// Replaces the program with the shell script `body`, sends SIGUSR2 and checks that the
/// old master goes on serving and says `said` once.
fn upgrade_to_a_broken_build(name: &str, body: &str, said: &str) {
    let dir = temp_dir(name);
    let (mut server, address) = Upgradable::start(&dir);
    let master = server.child.id();
    let broken = dir.join("broken.sh");
    std::fs::write(&broken, body).unwrap();
    std::fs::set_permissions(&broken, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let load = Load::start(&address, 2);
    load.wait_for(100);
    server.replace_with(&broken);
    // SAFETY: signals our own child.
    unsafe { libc::kill(master as i32, libc::SIGUSR2) };
    let started = Instant::now();
    while !server.said().contains("still serving") {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{}",
            server.said()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    load.wait_for(100);
    load.finish_without_failure(name);
    assert_eq!(masters_of(&server.bin), vec![master]);
    // SAFETY: signals our own child.
    unsafe { libc::kill(master as i32, libc::SIGTERM) };
    assert_eq!(server.child.wait().unwrap().code(), Some(0));
    let all = server.said();
    assert_eq!(all.matches(said).count(), 1, "{all}");
    assert_eq!(all.lines().count(), 1, "{all}");
}

#[test]
fn sigusr2_with_a_broken_new_build_keeps_the_old_master_serving() {
    upgrade_to_a_broken_build(
        "broken",
        "#!/bin/sh\nexit 3\n",
        "exited before it served; still serving",
    );
}

/// A file that is no program: the old master says why it could not be run.
#[test]
fn sigusr2_with_a_new_build_that_cannot_run_says_why_and_keeps_the_old_master() {
    upgrade_to_a_broken_build(
        "not-a-program",
        "not a program\n",
        "could not be run (Exec format error (os error 8)); still serving",
    );
}

#[test]
fn sigusr2_with_a_new_build_that_never_serves_keeps_the_old_master_after_10_s() {
    upgrade_to_a_broken_build(
        "silent",
        "#!/bin/sh\nexec sleep 60\n",
        "did not serve within 10 s; still serving",
    );
}

/// Exchanges one message with the unix echo at `path`.
fn unix_exchange(path: &std::path::Path) {
    let mut stream = std::os::unix::net::UnixStream::connect(path).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(b"over unix\n").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    stream.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"over unix\n");
}

#[test]
fn a_unix_socket_file_stays_across_two_upgrades_and_goes_with_the_last_master() {
    let dir = temp_dir("unix-upgrades");
    let path = dir.join("echo.sock");
    let bind = path.display().to_string();
    let args = [
        "--transport",
        "unix-stream",
        "--bind",
        &bind,
        "--workers",
        "2",
    ];
    let (server, _) = Upgradable::start_with(&dir, &args);
    unix_exchange(&path);
    let mut master = server.child.id();
    for round in 1..=2 {
        server.replace_with(&example("echo"));
        // SAFETY: the current master, started by the test (or by its predecessor).
        unsafe { libc::kill(master as i32, libc::SIGUSR2) };
        let line = server.next_line();
        assert_eq!(line, format!("listening on {bind}"), "round {round}");
        wait_gone(master);
        let masters = masters_of(&server.bin);
        assert_eq!(masters.len(), 1, "round {round}: {masters:?}");
        master = masters[0];
        assert!(
            path.exists(),
            "round {round}: the socket file went with an old master"
        );
        unix_exchange(&path);
    }
    // SAFETY: the last master.
    unsafe { libc::kill(master as i32, libc::SIGTERM) };
    wait_gone(master);
    assert!(!path.exists(), "the last master left its socket file");
}

#[test]
fn inspect_serves_from_its_workers() {
    let dir = temp_dir("inspect-workers");
    let server = start(
        "inspect",
        &["--bind", "127.0.0.1:0", "--workers", "2"],
        &dir,
    );
    let workers = wait_for_workers(&server, 2);
    let page = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .arg(format!("http://{}/", server.address))
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&page.stdout);
    let process: u32 = body
        .lines()
        .find_map(|l| l.split("process ").nth(1))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("{body}"));
    assert!(
        workers.contains(&process),
        "served by {process}, workers {workers:?}"
    );
    let (code, _) = server.stop(libc::SIGTERM);
    assert_eq!(code, Some(0));
}

#[test]
fn workers_die_with_a_killed_master_and_free_the_port() {
    let server = start_workers(&["--workers", "2"]);
    let workers = wait_for_workers(&server, 2);
    let address = server.address.clone();
    let (code, _) = server.stop(libc::SIGKILL);
    assert_eq!(code, None, "killed");
    for pid in workers {
        wait_gone(pid);
    }
    // No orphan holds the port: it can be bound again at once.
    assert!(std::net::TcpListener::bind(&address).is_ok());
}

#[test]
fn the_new_master_tells_the_service_manager_it_is_the_main_process() {
    let dir = temp_dir("mainpid");
    let notify_path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&notify_path);
    let manager = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    manager
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let args = ["--bind", "127.0.0.1:0", "--workers", "2"];
    let env = [
        ("NOTIFY_SOCKET", notify_path.as_path()),
        ("WATCHDOG_USEC", std::path::Path::new("200000")),
        // As systemd sets it for its main process: the new master must not take it.
        ("WATCHDOG_PID", std::path::Path::new("1")),
    ];
    let (mut server, _) = Upgradable::start_with_env(&dir, &args, &env);
    let old_master = server.child.id();
    let next = || {
        let mut buf = [0u8; 512];
        let n = manager.recv(&mut buf).expect("a notification within 10 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    // The next READY=1 from `pid`, with MAINPID= itself.
    let ready_from = |pid: u32| {
        let ready = std::iter::repeat_with(next)
            .find(|m| m.starts_with("READY=1"))
            .unwrap();
        assert!(ready.contains(&format!("MAINPID={pid}\n")), "{ready}");
    };
    ready_from(old_master);
    server.replace_with(&example("echo"));
    // SAFETY: signals our own child.
    unsafe { libc::kill(old_master as i32, libc::SIGUSR2) };
    server.next_line();
    assert_eq!(server.child.wait().unwrap().code(), Some(0));
    let new_master = masters_of(&server.bin)[0];
    ready_from(new_master);
    // The new master pings the watchdog (at half WATCHDOG_USEC), WATCHDOG_PID aside.
    let pings = std::iter::repeat_with(next).take(30);
    assert!(pings.filter(|m| m.starts_with("WATCHDOG=1")).count() >= 2);
    // SAFETY: the new master.
    unsafe { libc::kill(new_master as i32, libc::SIGTERM) };
    wait_gone(new_master);
}

/// How many TCP sockets listen on `address`'s port (`/proc/net/tcp`, state `0A`).
fn listening_sockets(address: &str) -> usize {
    let port: u16 = address.rsplit(':').next().unwrap().parse().unwrap();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields[1].ends_with(&format!(":{port:04X}")) && fields[3] == "0A"
        })
        .count()
}

/// Waits (at most 10 s) until `n` sockets listen on `address`.
fn wait_for_listening_sockets(address: &str, n: usize) {
    let started = Instant::now();
    while listening_sockets(address) != n {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} sockets listen on {address}, not {n}",
            listening_sockets(address)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// With `--reuse-port` each worker serves a socket of its own (the master holds them all):
/// a killed worker's replacement takes over its socket and queue, SIGHUP replaces every
/// worker, SIGTTIN opens one more socket and SIGTTOU closes one after its worker served
/// what it queued, all under load with no failed connection but the killed worker's own.
#[test]
fn reuse_port_workers_serve_a_socket_each_through_every_signal() {
    let server = start_workers(&["--workers", "3", "--reuse-port", "--mixin", "threading"]);
    let before = wait_for_workers(&server, 3);
    assert_eq!(listening_sockets(&server.address), 3);
    let load = Load::start(&server.address, 4);
    load.wait_for(200);
    // SAFETY: signals a worker of our own child.
    unsafe { libc::kill(before[0] as i32, libc::SIGKILL) };
    let started = Instant::now();
    while children_of(server.child.id()).contains(&before[0])
        || children_of(server.child.id()).len() != 3
    {
        assert!(started.elapsed() < Duration::from_secs(1), "not replaced");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(listening_sockets(&server.address), 3);
    load.wait_for(200);
    let (ok, killed) = load.finish();
    assert!(
        killed.len() <= 4,
        "{} failed of {ok}: {killed:?}",
        killed.len()
    );

    let load = Load::start(&server.address, 4);
    load.wait_for(100);
    let before = wait_for_workers(&server, 3);
    signal(&server, libc::SIGHUP);
    let started = Instant::now();
    while children_of(server.child.id())
        .iter()
        .any(|p| before.contains(p))
        || children_of(server.child.id()).len() != 3
    {
        assert!(started.elapsed() < Duration::from_secs(10), "not replaced");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(listening_sockets(&server.address), 3);
    load.wait_for(300);
    signal(&server, libc::SIGTTIN);
    wait_for_workers(&server, 4);
    wait_for_listening_sockets(&server.address, 4);
    load.wait_for(200);
    signal(&server, libc::SIGTTOU);
    wait_for_workers(&server, 3);
    wait_for_listening_sockets(&server.address, 3);
    load.wait_for(300);
    load.finish_without_failure("--reuse-port: SIGHUP, SIGTTIN, SIGTTOU");
    assert_idle(&wait_for_workers(&server, 3), "--reuse-port");
    let (code, stderr) = server.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{stderr}");
}

/// `--reuse-port` with a unix socket, or without `--workers`: a usage error.
#[test]
fn reuse_port_needs_workers_and_tcp() {
    let dir = temp_dir("reuse-port-usage");
    for args in [
        &["--reuse-port"][..],
        &[
            "--transport",
            "unix-stream",
            "--workers",
            "2",
            "--reuse-port",
        ][..],
    ] {
        let out = std::process::Command::new(example("echo"))
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(stderr.contains("reuse"), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}

/// With `--reuse-port`, every worker's socket is handed down (three listen before and after).
#[test]
fn sigusr2_hands_every_reuse_port_socket_to_the_new_build_and_fails_no_connection() {
    let args = ["--bind", "127.0.0.1:0", "--workers", "3", "--reuse-port"];
    upgrade_under_load("upgrade-reuse-port", &args, 3, 3);
}

/// A new build still open for writing when SIGUSR2 comes (being copied into place, or held
/// by another process's fork until its own exec) cannot be run yet (`ETXTBSY`): the upgrade
/// waits for it, and goes ahead once it is closed.
#[test]
fn sigusr2_waits_for_a_new_build_still_open_for_writing() {
    let dir = temp_dir("upgrade-busy");
    let (mut server, address) = Upgradable::start(&dir);
    let old_master = server.child.id();
    server.replace_with(&example("echo"));
    let writing = std::fs::OpenOptions::new()
        .write(true)
        .open(&server.bin)
        .unwrap();
    // SAFETY: signals our own child.
    unsafe { libc::kill(old_master as i32, libc::SIGUSR2) };
    std::thread::sleep(Duration::from_millis(300));
    drop(writing);
    assert_eq!(
        server.next_line(),
        format!("listening on {address}"),
        "{}",
        server.said()
    );
    assert_eq!(
        server.child.wait().unwrap().code(),
        Some(0),
        "{}",
        server.said()
    );
    let masters = masters_of(&server.bin);
    assert_eq!(masters.len(), 1, "{masters:?}");
    exchange(&address, b"after the upgrade\n").unwrap();
    // SAFETY: the new master, started by our child.
    unsafe { libc::kill(masters[0] as i32, libc::SIGTERM) };
    wait_gone(masters[0]);
}
