//! What the tests that run the examples as processes share: building and starting them,
//! stopping them with a signal, Python clients, temporary directories, foreign programs.
#![allow(dead_code)] // each test file uses a part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub mod tls;
mod tool;
#[allow(unused_imports)] // each test file uses a part
pub use tool::{free_port, socket_activated, tool};

/// `target/<profile>/examples/<name>`, next to this test's own binary; built first when a
/// filtered `cargo test --test examples` did not build the examples.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--example", name])
            .status()
            .unwrap();
        assert!(status.success(), "building example {name} failed");
    }
    path
}

/// A running example, killed on drop.
pub struct Running {
    pub child: Child,
    pub address: String,
}

impl Running {
    /// Sends `signal` and waits (at most 20 s) for the example to exit; returns its exit
    /// code and what it wrote on stderr.
    pub fn stop(mut self, signal: i32) -> (Option<i32>, String) {
        // SAFETY: signals our own child process.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        let mut child = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            let _ = tx.send((child.wait().ok().and_then(|s| s.code()), stderr));
        });
        rx.recv_timeout(std::time::Duration::from_secs(20))
            .expect("the example did not exit within 20 s of the signal")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `name` with `args` and waits for its `listening on ADDR` line.
pub fn start(name: &str, args: &[&str], dir: &Path) -> Running {
    let mut child = Command::new(example(name))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let address = announced(&mut child);
    Running { child, address }
}

/// The address in the `listening on ADDR` line an example prints first on stdout.
pub fn announced(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .trim()
        .to_owned()
}

/// Runs a Python client script with the server address as `sys.argv[1]`; returns its stdout.
pub fn python(script: &str, address: &str, dir: &Path) -> String {
    let out = Command::new("python3")
        .args(["-c", script, address])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A Python client that sends 1 MiB of every byte value to the echo server at `argv[1]`
/// (host:port or a unix path) while it reads the answer; prints `True 1048576` when the
/// answer is the same bytes.
pub const STREAM_CLIENT: &str = r#"
import socket, sys, threading
addr = sys.argv[1]
if addr.startswith('/') or addr.endswith('.sock'):
    s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(addr)
else:
    host, port = addr.rsplit(':', 1); s = socket.create_connection((host, int(port)), timeout=10)
payload = bytes(range(256)) * 4096
def send():
    s.sendall(payload); s.shutdown(socket.SHUT_WR)
sender = threading.Thread(target=send); sender.start()  # echo answers while we send
got = b''
while True:
    chunk = s.recv(65536)
    if not chunk: break
    got += chunk
sender.join()
print(got == payload, len(got))
"#;

/// A directory of this test process's own under the system's temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "socketserver-examples-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    tls::exit_cleanup::remove_at_exit(dir.clone());
    dir
}

/// Sends `signal` to the example without waiting for it.
pub fn signal(server: &Running, signal: i32) {
    // SAFETY: signals our own child process.
    unsafe { libc::kill(server.child.id() as i32, signal) };
}

/// The pids of the children of `pid` (from /proc).
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut children = Vec::new();
    for task in tasks.flatten() {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        children.extend(
            list.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    children
}
