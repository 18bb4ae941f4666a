//! The examples, built by `cargo test`, run as separate processes and driven by Python 3's
//! `socket` module as a foreign client.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// `target/<profile>/examples/<name>`, next to this test's own binary; built first when a
/// filtered `cargo test --test examples` did not build the examples.
fn example(name: &str) -> PathBuf {
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
struct Running {
    child: Child,
    address: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `name` with `args` and waits for its `listening on ADDR` line.
fn start(name: &str, args: &[&str], dir: &Path) -> Running {
    let mut child = Command::new(example(name))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .trim()
        .to_owned();
    Running { child, address }
}

/// Runs a Python client script with the server address as `sys.argv[1]`; returns its stdout.
fn python(script: &str, address: &str, dir: &Path) -> String {
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

const STREAM_CLIENT: &str = r#"
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

const DATAGRAM_CLIENT: &str = r#"
import os, socket, sys, tempfile
addr = sys.argv[1]
if addr.endswith('.sock'):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(os.path.join(tempfile.mkdtemp(), 'client.sock'))
else:
    host, port = addr.rsplit(':', 1); addr = (host, int(port))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
payload = bytes(range(256))
s.sendto(payload, addr)
print(s.recv(65536) == payload)
"#;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "socketserver-examples-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn echo_returns_every_byte_over_every_transport_and_mixin() {
    let dir = temp_dir("echo");
    for mixin in ["sync", "threading", "forking"] {
        for transport in ["tcp", "udp", "unix-stream", "unix-datagram"] {
            let bind = match transport {
                "tcp" | "udp" => "127.0.0.1:0".to_owned(),
                _ => dir
                    .join(format!("{transport}-{mixin}.sock"))
                    .display()
                    .to_string(),
            };
            let server = start(
                "echo",
                &["--transport", transport, "--mixin", mixin, "--bind", &bind],
                &dir,
            );
            let client = if transport.contains("datagram") || transport == "udp" {
                DATAGRAM_CLIENT
            } else {
                STREAM_CLIENT
            };
            let reply = python(client, &server.address, &dir);
            assert!(reply.starts_with("True"), "{transport} {mixin}: {reply}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn echo_rejects_unknown_mixin_naming_it() {
    let out = Command::new(example("echo"))
        .args(["--mixin", "pool"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pool"));
}

#[test]
fn echo_bind_failure_is_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = Command::new(example("echo"))
        .args(["--bind", &address])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&address) && stderr.contains("in use"),
        "{stderr}"
    );
}

#[test]
fn hello_greets_the_client_by_address() {
    let dir = temp_dir("hello");
    let server = start("hello", &["127.0.0.1:0"], &dir);
    let script = r#"
import socket, sys
host, port = sys.argv[1].rsplit(':', 1)
s = socket.create_connection((host, int(port)), timeout=10)
print(s.recv(100).decode().strip() == 'hello, %s:%d' % s.getsockname())
"#;
    assert_eq!(python(script, &server.address, &dir).trim(), "True");
}

#[test]
fn chat_broadcasts_every_line_to_everyone_and_quit_leaves() {
    let dir = temp_dir("chat");
    let server = start("chat", &["--bind", "127.0.0.1:0"], &dir);
    let script = r#"
import socket, sys
host, port = sys.argv[1].rsplit(':', 1)
def join():
    s = socket.create_connection((host, int(port)), timeout=10)
    return s, s.makefile('rb')
def me(s):
    return '%s:%d' % s.getsockname()
# Clients join one at a time; a client is in the room once its own line comes back, and
# those already in see that line too.
joined = []
for _ in range(3):
    s, f = join()
    s.sendall(b'ping\n')
    for g in [f] + [g for _, g in joined]:
        assert g.readline().decode() == me(s) + ' ping\n'
    joined.append((s, f))
(a, af), (b, bf), (c, cf) = joined
a.sendall(b'hello all\n')
for f in (af, bf, cf):
    assert f.readline().decode() == me(a) + ' hello all\n'
c.sendall(b'quit\n'); assert cf.readline() == b''   # disconnected
b.close()                                            # vanishes without a word
a.sendall(b'still here\n')
assert af.readline().decode() == me(a) + ' still here\n'
print('ok')
"#;
    assert_eq!(python(script, &server.address, &dir).trim(), "ok");
}
