//! Out of file descriptors (EMFILE): the serving loop says so once, pauses accepting instead
//! of spinning, and serves the waiting client once descriptors are freed.
//!
//! The test runs its own binary again as a child process, which lowers its descriptor limit
//! and fills its descriptor table without disturbing other tests. The child talks to the
//! test over its stdin and stdout, one line per step.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::*;
use socketserver_runtime::mixin::Threading;
use socketserver_runtime::transport::Tcp;
use socketserver_runtime::{Server, SocketAddress};

const TEST_NAME: &str = "out_of_file_descriptors_pauses_accepting_then_serves_the_waiting_client";
/// Set in the child's environment: run the child's side of the test.
const CHILD_ROLE: &str = "SOCKETSERVER_TEST_EMFILE_CHILD";
/// Marks the child's protocol lines on stdout (the test harness prints there too).
const TAG: &str = "emfile-child:";
const LOGGED: &str = "out of file descriptors: accepting pauses until some are freed";
/// How long the child watches its own CPU time while out of descriptors.
const WATCH: Duration = Duration::from_secs(1);

#[test]
fn out_of_file_descriptors_pauses_accepting_then_serves_the_waiting_client() {
    if std::env::var_os(CHILD_ROLE).is_some() {
        child();
    } else {
        parent();
    }
}

/// The child process, seen from the test: its protocol lines, its stdin, and its stderr
/// (collected until it exits). Killed if the test fails before it exits.
struct ChildTest {
    process: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    stderr: Option<thread::JoinHandle<String>>,
}

impl ChildTest {
    fn spawn() -> ChildTest {
        let mut process = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_ROLE, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = process.stdin.take().unwrap();
        let lines = tagged_lines(process.stdout.take().unwrap());
        let mut stderr = process.stderr.take().unwrap();
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        ChildTest {
            process,
            stdin,
            lines,
            stderr: Some(stderr),
        }
    }

    /// The child's next protocol line, waited for at most `TIMEOUT`.
    fn expect(&mut self, what: &str) -> String {
        match self.lines.recv_timeout(TIMEOUT) {
            Ok(line) => line,
            Err(_) => self.fail(&format!("the child did not say {what}")),
        }
    }

    fn tell(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Kills the child and fails with its stderr.
    fn fail(&mut self, message: &str) -> ! {
        let _ = self.process.kill();
        let _ = self.process.wait();
        let stderr = self.stderr.take().map(|t| t.join().unwrap());
        panic!(
            "{message}; the child's stderr:\n{}",
            stderr.unwrap_or_default()
        );
    }

    /// Waits (at most `TIMEOUT`) for the child to exit; returns whether it succeeded, and
    /// its stderr.
    fn exit(mut self) -> (bool, String) {
        // Its stdout closes when it exits.
        if let Ok(line) = self.lines.recv_timeout(TIMEOUT) {
            self.fail(&format!("unexpected line from the child: {line:?}"));
        }
        let status = self.process.wait().unwrap();
        let stderr = self.stderr.take().unwrap().join().unwrap();
        (status.success(), stderr)
    }
}

impl Drop for ChildTest {
    fn drop(&mut self) {
        if self.stderr.is_some() {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
    }
}

fn parent() {
    let mut child = ChildTest::spawn();
    let address = child.expect("its address");
    let address: SocketAddress =
        SocketAddress::Inet(address.strip_prefix("address ").unwrap().parse().unwrap());
    assert_eq!(child.expect("that it is out of descriptors"), "exhausted");
    // The serving thread waits in `accept`, which took its descriptor before the table
    // filled: this client is accepted with it, and stays open so that it is not freed.
    let mut holder = Client::connect(&address);
    holder.send(b"held\n");
    assert_eq!(holder.read_line(), "held\n");
    // Lands in the backlog: the child's accept now fails with EMFILE.
    let mut client = Client::connect(&address);
    client.send(b"hello\n");
    client.finish_sending();
    child.tell("connected");
    assert_eq!(child.expect("that it did not spin"), "freed");
    assert_eq!(client.read_to_end(), b"hello\n");
    holder.finish_sending();
    assert_eq!(holder.read_to_end(), b"");
    child.tell("echoed");
    assert_eq!(child.expect("that it stopped"), "stopped");

    let (success, stderr) = child.exit();
    assert!(success, "the child failed:\n{stderr}");
    assert_eq!(
        stderr.matches(LOGGED).count(),
        1,
        "the pause is reported once:\n{stderr}"
    );
}

/// The child's protocol lines, tag removed, as they come.
fn tagged_lines(stdout: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            // The harness may have started the line (`test NAME ... `).
            if let Some((_, message)) = line.split_once(TAG) {
                if tx.send(message.trim().to_owned()).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

/// The child's side: an echo server, then a full descriptor table while a client waits.
fn child() {
    let server = Server::<Tcp, Threading, Echo>::builder()
        .config(config(|c| c.stream_timeout = Some(TIMEOUT)))
        .bind("127.0.0.1:0")
        .unwrap();
    println!("{TAG} address {}", server.server_address());
    let serving = serve(server);
    // Serving for sure (and the serving thread started) before the table fills.
    assert_echoes(&serving.address());
    // The client saw the echo end at SHUT_WR; the server closes its side a moment later.
    // Closed after the table fills, it would free a descriptor for the waiting client.
    let handle = serving.handle();
    wait_until("the first connection is closed", || {
        handle.stats().active == 0
    });
    // The holder below is accepted with the descriptor that a blocked accept has reserved.
    wait_until("the serving thread waits in accept", || {
        threads_in_syscall(libc::SYS_accept4) == 1
    });

    lower_descriptor_limit();
    let filler = fill_descriptor_table();
    println!("{TAG} exhausted");
    expect_from_parent("connected");

    // The client waits in the backlog and every accept fails: the loop must sleep, not spin.
    let before = cpu_time();
    thread::sleep(WATCH);
    let used = cpu_time() - before;
    assert!(
        used < WATCH / 2,
        "{used:?} of CPU time in {WATCH:?} while out of descriptors"
    );
    assert_eq!(
        serving.handle().stats().accepted,
        2,
        "only the first client and the holder"
    );

    for fd in filler {
        // SAFETY: closing descriptors this function's caller got from dup and owns.
        unsafe { libc::close(fd) };
    }
    println!("{TAG} freed");
    expect_from_parent("echoed");
    let server = serving.stop();
    let handle = server.handle();
    server.close();
    let stats = handle.stats();
    assert_eq!((stats.accepted, stats.completed), (3, 3), "{stats:?}");
    println!("{TAG} stopped");
}

/// Lowers the soft `RLIMIT_NOFILE` to a few dozen above the highest descriptor open now, so
/// that filling the table takes a few dozen descriptors, not a million.
fn lower_descriptor_limit() {
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max.min((highest_fd() + 32) as libc::rlim_t);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

fn highest_fd() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .max()
        .unwrap()
}

/// Duplicates stderr until the process is out of descriptors; returns the copies.
fn fill_descriptor_table() -> Vec<i32> {
    let mut filler = Vec::new();
    loop {
        // SAFETY: dup of an open descriptor; the copy is owned by `filler`.
        let fd = unsafe { libc::dup(2) };
        if fd < 0 {
            let error = std::io::Error::last_os_error();
            assert_eq!(error.raw_os_error(), Some(libc::EMFILE), "{error}");
            return filler;
        }
        filler.push(fd);
    }
}

/// How many of this process's threads are blocked in system call `number` now.
fn threads_in_syscall(number: libc::c_long) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| {
            let path = task.ok()?.path().join("syscall");
            let first = std::fs::read_to_string(path).ok()?;
            first
                .split_whitespace()
                .next()?
                .parse::<libc::c_long>()
                .ok()
        })
        .filter(|&n| n == number)
        .count()
}

fn expect_from_parent(expected: &str) {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    assert_eq!(line.trim(), expected);
}

/// The CPU time (user + system) this process has used so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage with a valid rusage struct.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}
