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

impl Running {
    /// Sends `signal` and waits (at most 20 s) for the example to exit; returns its exit
    /// code and what it wrote on stderr.
    fn stop(mut self, signal: i32) -> (Option<i32>, String) {
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
    for mixin in ["sync", "threading", "forking", "pool"] {
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
        .args(["--mixin", "fibers"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`fibers`") && stderr.contains("pool"),
        "{stderr}"
    );
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
reply = s.makefile('rb').read()  # to EOF: writeln! may send the line in pieces
print(reply.decode().strip() == 'hello, %s:%d' % s.getsockname())
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

/// A TCP client with timeouts, from the test itself.
fn connect(address: &str) -> std::net::TcpStream {
    let stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Sends `line` and reads one line back.
fn exchange(reader: &mut BufReader<std::net::TcpStream>, line: &str) -> String {
    use std::io::Write;
    reader.get_mut().write_all(line.as_bytes()).unwrap();
    let mut reply = String::new();
    reader.read_line(&mut reply).unwrap();
    reply
}

#[test]
fn echo_serves_100_concurrent_clients_with_every_mixin() {
    let dir = temp_dir("concurrent");
    let script = r#"
import socket, sys, threading
host, port = sys.argv[1].rsplit(':', 1)
results = []
def client(i):
    s = socket.create_connection((host, int(port)), timeout=30)
    msg = ('client %d\n' % i).encode() * 100
    s.sendall(msg); s.shutdown(socket.SHUT_WR)
    got = b''
    while True:
        chunk = s.recv(65536)
        if not chunk: break
        got += chunk
    results.append(got == msg)
threads = [threading.Thread(target=client, args=(i,)) for i in range(100)]
for t in threads: t.start()
for t in threads: t.join()
print(sum(results))
"#;
    for mixin in ["sync", "threading", "forking", "pool"] {
        let server = start("echo", &["--mixin", mixin, "--bind", "127.0.0.1:0"], &dir);
        assert_eq!(
            python(script, &server.address, &dir).trim(),
            "100",
            "{mixin}"
        );
        let (code, _) = server.stop(libc::SIGTERM);
        assert_eq!(code, Some(0), "{mixin}");
    }
}

#[test]
fn echo_survives_a_client_that_resets_mid_request() {
    let dir = temp_dir("reset");
    for mixin in ["sync", "threading", "forking", "pool"] {
        let server = start("echo", &["--mixin", mixin, "--bind", "127.0.0.1:0"], &dir);
        let script = r#"
import socket, struct, sys
host, port = sys.argv[1].rsplit(':', 1)
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(b'x' * 100000)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
s.close()   # RST while the server is still echoing
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(b'next\n'); s.shutdown(socket.SHUT_WR)
print(s.makefile('rb').read().decode().strip())
"#;
        assert_eq!(
            python(script, &server.address, &dir).trim(),
            "next",
            "{mixin}"
        );
        assert_eq!(server.stop(libc::SIGTERM).0, Some(0), "{mixin}");
    }
}

#[test]
fn echo_finishes_a_conversation_in_flight_on_sigterm_and_exits_0() {
    let dir = temp_dir("sigterm");
    for mixin in ["sync", "threading", "forking", "pool"] {
        let server = start("echo", &["--mixin", mixin, "--bind", "127.0.0.1:0"], &dir);
        let mut client = BufReader::new(connect(&server.address));
        assert_eq!(exchange(&mut client, "before\n"), "before\n");
        // SAFETY: signals our own child.
        unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
        // Within the grace period the conversation goes on, then ends cleanly.
        assert_eq!(exchange(&mut client, "after\n"), "after\n", "{mixin}");
        client
            .get_ref()
            .shutdown(std::net::Shutdown::Write)
            .unwrap();
        let mut rest = String::new();
        client.read_line(&mut rest).unwrap();
        assert_eq!(rest, "", "{mixin}: EOF after the client stops");
        // A new client is no longer served: the listener is closed or not accepting.
        let (code, stderr) = server.stop(0);
        assert_eq!(code, Some(0), "{mixin}: {stderr}");
    }
}

#[test]
fn echo_cuts_an_idle_connection_after_the_grace_period() {
    let dir = temp_dir("grace");
    let server = start("echo", &["--bind", "127.0.0.1:0"], &dir);
    let mut client = BufReader::new(connect(&server.address));
    assert_eq!(exchange(&mut client, "hi\n"), "hi\n");
    let (code, stderr) = server.stop(libc::SIGINT);
    assert_eq!(code, Some(0));
    assert!(stderr.contains("1 connection(s) cut"), "{stderr}");
    let mut rest = String::new();
    assert_eq!(
        client.read_line(&mut rest).unwrap_or(0),
        0,
        "the idle client was closed"
    );
}

#[test]
fn a_second_echo_on_the_same_address_fails_clearly() {
    let dir = temp_dir("second");
    let first = start("echo", &["--bind", "127.0.0.1:0"], &dir);
    let out = Command::new(example("echo"))
        .args(["--bind", &first.address])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&first.address) && stderr.contains("in use"),
        "{stderr}"
    );
    // The first one is unharmed.
    let mut client = BufReader::new(connect(&first.address));
    assert_eq!(exchange(&mut client, "still\n"), "still\n");
}

#[test]
fn unix_socket_files_are_gone_after_exit() {
    let dir = temp_dir("unixfiles");
    for (transport, example_name) in [("unix-stream", "echo"), ("unix-datagram", "echo")] {
        let path = dir.join(format!("{transport}.sock"));
        let bind = path.display().to_string();
        let server = start(
            example_name,
            &["--transport", transport, "--bind", &bind],
            &dir,
        );
        assert!(path.exists());
        assert_eq!(server.stop(libc::SIGTERM).0, Some(0));
        assert!(!path.exists(), "{transport}: socket file left behind");
    }
}

#[test]
fn every_example_answers_help() {
    for name in ["echo", "chat", "inspect", "upper", "unix_counter", "client"] {
        let out = Command::new(example(name)).arg("--help").output().unwrap();
        assert!(out.status.success(), "{name}");
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with("usage: "),
            "{name}"
        );
    }
}

#[test]
fn inspect_answers_curl_with_a_page_about_the_request() {
    let dir = temp_dir("inspect");
    for mixin in ["sync", "threading", "forking"] {
        let server = start(
            "inspect",
            &["--mixin", mixin, "--bind", "127.0.0.1:0"],
            &dir,
        );
        let out = Command::new("curl")
            .args([
                "-s",
                "-m",
                "10",
                "-i",
                &format!("http://{}/hello", server.address),
            ])
            .output()
            .expect("curl is installed by .ci/run");
        let page = String::from_utf8_lossy(&out.stdout);
        assert!(page.starts_with("HTTP/1.0 200 OK"), "{mixin}: {page}");
        assert!(page.contains("request: GET /hello HTTP/1.1"), "{page}");
        assert!(page.contains("client: 127.0.0.1:"), "{page}");
        let server_type = format!(
            "Inspect{}",
            [&mixin[..1].to_uppercase(), &mixin[1..]].concat()
        );
        assert!(page.contains(&server_type), "{page}");
        let (code, log) = server.stop(libc::SIGTERM);
        assert_eq!(code, Some(0));
        assert!(
            log.contains("thread: ") && log.contains("socket: Tcp("),
            "{log}"
        );
    }
}

#[test]
fn upper_answers_socat_datagrams_in_upper_case() {
    let dir = temp_dir("upper");
    let server = start("upper", &["--bind", "127.0.0.1:0"], &dir);
    let mut socat = Command::new("socat")
        .args(["-t", "5", "-", &format!("UDP:{}", server.address)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("socat is installed by .ci/run");
    std::io::Write::write_all(socat.stdin.as_mut().unwrap(), b"hello, world\n").unwrap();
    let mut reply = String::new();
    BufReader::new(socat.stdout.take().unwrap())
        .read_line(&mut reply)
        .unwrap();
    let _ = socat.kill();
    let _ = socat.wait();
    assert_eq!(reply, "HELLO, WORLD\n");
    // Too long for max_packet_size: an error reply, and the server goes on.
    let script = r#"
import socket, sys
host, port = sys.argv[1].rsplit(':', 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(10)
s.sendto(b'x' * 2000, (host, int(port))); print(s.recv(100).decode().strip())
s.sendto(b'ok', (host, int(port))); print(s.recv(100).decode())
"#;
    let out = python(script, &server.address, &dir);
    assert_eq!(out, "error: datagram longer than 1024 bytes\nOK\n");
}

/// Runs example `name` with `args`, feeding `input` on stdin; returns stdout.
fn run_with_input(name: &str, args: &[&str], input: &str) -> String {
    let mut child = Command::new(example(name))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{name} failed");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn unix_counter_numbers_lines_across_clients() {
    let dir = temp_dir("counter");
    let path = dir.join("counter.sock").display().to_string();
    let server = start("unix_counter", &["--serve", &path], &dir);
    assert_eq!(
        run_with_input("unix_counter", &["--connect", &path], "a\nb\n"),
        "1 a\n2 b\n"
    );
    assert_eq!(
        run_with_input("unix_counter", &["--connect", &path], "c\n"),
        "3 c\n"
    );
    assert_eq!(server.stop(libc::SIGTERM).0, Some(0));
    assert!(!Path::new(&path).exists());
}

#[test]
fn client_talks_to_echo_line_by_line() {
    let dir = temp_dir("client");
    let server = start("echo", &["--bind", "127.0.0.1:0"], &dir);
    let out = run_with_input("client", &["--connect", &server.address], "one\ntwo\n");
    assert_eq!(out, "one\ntwo\n");
    let unix = dir.join("echo.sock").display().to_string();
    let server = start(
        "echo",
        &["--transport", "unix-stream", "--bind", &unix],
        &dir,
    );
    assert_eq!(
        run_with_input("client", &["--connect", &server.address], "three\n"),
        "three\n"
    );
}

#[test]
fn echo_reports_a_bad_address_in_one_line() {
    for (transport, bind) in [
        ("tcp", "127.0.0.1:notaport"),
        ("udp", "256.0.0.1:9000"),
        ("unix-stream", "/nonexistent-dir/echo.sock"),
    ] {
        let out = Command::new(example("echo"))
            .args(["--transport", transport, "--bind", bind])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{transport} {bind}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("echo: ") && stderr.contains(bind),
            "{stderr}"
        );
    }
}
