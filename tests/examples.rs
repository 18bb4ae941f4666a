//! The examples, built by `cargo test`, run as separate processes and driven by Python 3's
//! `socket` module as a foreign client.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// The echo example's mixins, each test runs under all of them.
const MIXINS: [&str; 4] = ["sync", "threading", "forking", "pool"];

/// Starts echo over TCP with `mixin` on a port of its own.
fn start_echo(mixin: &str, dir: &Path) -> Running {
    start("echo", &["--mixin", mixin, "--bind", "127.0.0.1:0"], dir)
}

/// Stops `server` with SIGTERM and checks it exits 0 (`what` names the case).
fn stop_cleanly(server: Running, what: &str) {
    let (code, stderr) = server.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{what}: {stderr}");
}

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

#[test]
fn echo_returns_every_byte_over_every_transport_and_mixin() {
    let dir = temp_dir("echo");
    for mixin in MIXINS {
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

/// Sends `line` in one datagram and returns the datagram that answers it.
fn udp_exchange(address: &str, line: &str) -> String {
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    client.send_to(line.as_bytes(), address).unwrap();
    let mut reply = [0; 512];
    let n = client.recv(&mut reply).unwrap();
    String::from_utf8_lossy(&reply[..n]).into_owned()
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
    for mixin in MIXINS {
        let server = start_echo(mixin, &dir);
        assert_eq!(
            python(script, &server.address, &dir).trim(),
            "100",
            "{mixin}"
        );
        stop_cleanly(server, mixin);
    }
}

#[test]
fn echo_survives_a_client_that_resets_mid_request() {
    let dir = temp_dir("reset");
    for mixin in MIXINS {
        let server = start_echo(mixin, &dir);
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
        stop_cleanly(server, mixin);
    }
}

#[test]
fn echo_finishes_a_conversation_in_flight_on_sigterm_and_exits_0() {
    let dir = temp_dir("sigterm");
    for mixin in MIXINS {
        let server = start_echo(mixin, &dir);
        let mut client = BufReader::new(connect(&server.address));
        assert_eq!(exchange(&mut client, "before\n"), "before\n");
        signal(&server, libc::SIGTERM);
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
        stop_cleanly(server, transport);
        assert!(!path.exists(), "{transport}: socket file left behind");
    }
}

#[test]
fn every_example_answers_help() {
    for name in [
        "echo",
        "chat",
        "inspect",
        "upper",
        "unix_counter",
        "client",
        "hello",
    ] {
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
fn upper_answers_datagrams_in_upper_case() {
    let dir = temp_dir("upper");
    let server = start("upper", &["--bind", "127.0.0.1:0"], &dir);
    // A plain datagram, then one too long for max_packet_size: an error reply, and the
    // server goes on.
    let script = r#"
import socket, sys
host, port = sys.argv[1].rsplit(':', 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(10)
s.sendto(b'hello, world\n', (host, int(port))); print(repr(s.recv(100).decode()))
s.sendto(b'x' * 2000, (host, int(port))); print(s.recv(100).decode().strip())
s.sendto(b'ok', (host, int(port))); print(s.recv(100).decode())
"#;
    let out = python(script, &server.address, &dir);
    assert_eq!(
        out,
        "'HELLO, WORLD\\n'\nerror: datagram longer than 1024 bytes\nOK\n"
    );
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
    stop_cleanly(server, "unix_counter");
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

/// What the example process `pid` has held in memory at most so far, in bytes: `VmHWM` of
/// `/proc/PID/status`, its peak resident set size (a buffer freed before we look still
/// counts), or `VmRSS` where the kernel has no peak.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status.lines().find_map(|line| {
            let kib = line.strip_prefix(name)?.trim().strip_suffix("kB")?;
            kib.trim().parse::<u64>().ok()
        })
    };
    field("VmHWM:").or_else(|| field("VmRSS:")).unwrap() * 1024
}

const MIB: usize = 1024 * 1024;

/// Writes `total` bytes of `fill` to `stream` from a thread, a MiB at a time, then `tail`
/// and shuts the write side; stops at the first error (the server may refuse the rest).
/// The receiver gets the number of bytes written when the thread ends.
fn send_in_background(
    mut stream: std::net::TcpStream,
    head: &'static [u8],
    fill: u8,
    total: usize,
    tail: &'static [u8],
) -> std::sync::mpsc::Receiver<usize> {
    use std::io::Write;
    stream
        .set_write_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let (done, sent) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let chunk = vec![fill; MIB];
        let mut written = 0;
        let result = (|| {
            stream.write_all(head)?;
            while written < total {
                let n = chunk.len().min(total - written);
                stream.write_all(&chunk[..n])?;
                written += n;
            }
            stream.write_all(tail)?;
            stream.shutdown(std::net::Shutdown::Write)
        })();
        let _ = result;
        let _ = done.send(written);
    });
    sent
}

/// A chat client: the connection and its address as the others see it.
struct Member {
    reader: BufReader<std::net::TcpStream>,
    me: String,
}

impl Member {
    /// Joins the chat at `address` and waits until it is in the room: its `ping` comes back
    /// to it and to every member in `others`.
    fn join(address: &str, others: &mut [&mut Member]) -> Member {
        let stream = connect(address);
        stream
            .set_write_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let me = stream.local_addr().unwrap().to_string();
        let mut member = Member {
            reader: BufReader::new(stream),
            me,
        };
        member.say("ping");
        let expected = format!("{} ping\n", member.me);
        assert_eq!(member.next_line(), expected);
        for other in others {
            assert_eq!(other.next_line(), expected);
        }
        member
    }

    fn say(&mut self, text: &str) {
        use std::io::Write;
        let line = format!("{text}\n");
        self.reader.get_mut().write_all(line.as_bytes()).unwrap();
    }

    fn next_line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line
    }

    /// A clone of the connection, for a thread of the test to write on.
    fn stream(&self) -> std::net::TcpStream {
        self.reader.get_ref().try_clone().unwrap()
    }
}

/// Reads `stream` to its end (EOF or a reset), at most `cap` bytes of it kept; `None` if
/// the server neither answered nor closed within the stream's read timeout.
fn read_answer(stream: &mut impl std::io::Read, cap: usize) -> Option<Vec<u8>> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(answer),
            Ok(n) => {
                let keep = n.min(cap.saturating_sub(answer.len()));
                answer.extend_from_slice(&buf[..keep]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(_) => return Some(answer), // reset: the server closed on unread input
        }
    }
}

#[test]
fn chat_refuses_a_50_mib_line_in_bounded_memory_and_the_room_goes_on() {
    let dir = temp_dir("chat-long-line");
    let server = start("chat", &["--bind", "127.0.0.1:0"], &dir);
    let mut x = Member::join(&server.address, &mut []);
    let mut y = Member::join(&server.address, &mut [&mut x]);
    let before = peak_rss(server.child.id());
    // 50 MiB without a newline, then EOF.
    let mut big = connect(&server.address);
    let sent = send_in_background(big.try_clone().unwrap(), b"", b'x', 50 * MIB, b"");
    sent.recv_timeout(std::time::Duration::from_secs(60))
        .expect("sending 50 MiB took more than 60 s");
    let growth = peak_rss(server.child.id()).saturating_sub(before);
    assert!(
        growth < 16 * MIB as u64,
        "chat's peak RSS grew by {} MiB for one line",
        growth / MIB as u64
    );
    // One error line, then the server closes (or resets, if it stopped discarding the input).
    let answer = read_answer(&mut big, 4096).expect("chat neither answered nor closed");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer == "error: line longer than 65536 bytes\n",
        "{answer:?}"
    );
    // The others never saw any of it, and still talk.
    y.say("after");
    assert_eq!(x.next_line(), format!("{} after\n", y.me));
    assert_eq!(y.next_line(), format!("{} after\n", y.me));
}

/// The most bytes the kernel may buffer on the server's side of a connection whose client
/// never reads: its send buffer at its largest (`tcp_wmem`'s maximum).
fn tcp_send_buffer_max() -> usize {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 * MIB)
}

#[test]
fn chat_drops_a_member_that_never_reads_and_the_room_goes_on() {
    use std::time::Duration;
    let dir = temp_dir("chat-slow-member");
    let server = start("chat", &["--bind", "127.0.0.1:0"], &dir);
    let mut c = Member::join(&server.address, &mut []);
    let mut b = Member::join(&server.address, &mut [&mut c]);
    let mut slow = Member::join(&server.address, &mut [&mut c, &mut b]);
    // `slow` never reads again. Its receive buffer is set (256 KiB, which the kernel doubles)
    // so that it cannot grow and take in more of what the server sends; not smaller, or
    // reading what it holds at the end would crawl a few bytes per window probe.
    let small: libc::c_int = 256 * 1024;
    // SAFETY: sets an int option on a socket we own, from a valid pointer and length.
    let set = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(slow.reader.get_ref()),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&small as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0);
    // b and c read everything the room sends them, in threads, in large reads (a reader
    // slower than the room, on a loaded machine, would itself be dropped for falling 1 MiB
    // behind); c reports its own marker.
    let marker = format!("{} marker\n", c.me).into_bytes();
    let (seen, marker_seen) = std::sync::mpsc::channel();
    let readers =
        [(b.stream(), None), (c.stream(), Some((marker, seen)))].map(|(mut stream, watch)| {
            std::thread::spawn(move || {
                use std::io::Read;
                let mut buf = vec![0u8; 256 * 1024];
                // The end of the previous read, so that a marker split across reads is found.
                let mut tail: Vec<u8> = Vec::new();
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    if let Some((marker, seen)) = &watch {
                        tail.extend_from_slice(&buf[..n]);
                        if tail.windows(marker.len()).any(|w| w == &marker[..]) {
                            let _ = seen.send(());
                        }
                        let keep = tail.len().saturating_sub(marker.len());
                        tail.drain(..keep);
                    }
                }
            })
        });
    // b says 16 MiB worth of 1 KiB lines: more than the kernel buffers towards `slow` (or
    // more than 16 MiB, where it could buffer most of that).
    let total = (16 * MIB).max(2 * (tcp_send_buffer_max() + MIB) + 4 * MIB);
    let lines = (0..MIB / 1024)
        .flat_map(|_| {
            let mut line = vec![b'b'; 1023];
            line.push(b'\n');
            line
        })
        .collect::<Vec<u8>>();
    let (done, said) = std::sync::mpsc::channel();
    let mut stream = b.stream();
    std::thread::spawn(move || {
        use std::io::Write;
        for _ in 0..total / MIB {
            if stream.write_all(&lines).is_err() {
                break;
            }
        }
        let _ = done.send(());
    });
    // Well under a second alone; the bound is for a loaded machine running the other
    // example tests (debug builds) beside it. A frozen room never gets there.
    said.recv_timeout(Duration::from_secs(60))
        .expect("the room froze: b's lines were not taken within 60 s");
    c.say("marker");
    marker_seen
        .recv_timeout(Duration::from_secs(30))
        .expect("c's line did not come back within 30 s: the room is frozen");
    // The member that never read was dropped: after what the kernel had buffered, EOF.
    slow.reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert!(
        read_answer(&mut slow.reader, 0).is_some(),
        "the member that never reads is still connected"
    );
    b.say("quit");
    c.say("quit");
    for reader in readers {
        reader.join().unwrap();
    }
}

#[test]
fn inspect_refuses_a_100_mib_header_line_in_bounded_memory_and_goes_on() {
    use std::io::Write;
    let dir = temp_dir("inspect-long-header");
    let server = start("inspect", &["--bind", "127.0.0.1:0"], &dir);
    let get = |request: &[u8]| {
        let mut client = connect(&server.address);
        client.write_all(request).unwrap();
        let answer = read_answer(&mut client, 1 << 20).expect("no answer");
        String::from_utf8_lossy(&answer).into_owned()
    };
    assert!(get(b"GET /first HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 200 OK\r\n"));
    let before = peak_rss(server.child.id());
    let mut big = connect(&server.address);
    let sent = send_in_background(
        big.try_clone().unwrap(),
        b"GET /big HTTP/1.0\r\nX-Big: ",
        b'a',
        100 * MIB,
        b"\r\n\r\n",
    );
    let answer = read_answer(&mut big, 4096).expect("inspect neither answered nor closed");
    sent.recv_timeout(std::time::Duration::from_secs(60))
        .expect("sending 100 MiB took more than 60 s");
    let growth = peak_rss(server.child.id()).saturating_sub(before);
    assert!(
        growth < 16 * MIB as u64,
        "inspect's peak RSS grew by {} MiB for one header",
        growth / MIB as u64
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.0 431 Request Header Fields Too Large\r\n"),
        "{answer:?}"
    );
    let page = get(b"GET /after HTTP/1.0\r\n\r\n");
    assert!(page.starts_with("HTTP/1.0 200 OK\r\n"), "{page}");
    assert!(page.contains("request: GET /after HTTP/1.0"), "{page}");
}

#[test]
fn inspect_refuses_a_long_request_line_and_too_many_headers() {
    use std::io::Write;
    let dir = temp_dir("inspect-limits");
    let server = start("inspect", &["--bind", "127.0.0.1:0"], &dir);
    let status = |request: &[u8]| {
        let mut client = connect(&server.address);
        client.write_all(request).unwrap();
        let answer = read_answer(&mut client, 4096).expect("no answer");
        let answer = String::from_utf8_lossy(&answer).into_owned();
        answer.lines().next().unwrap_or_default().to_owned()
    };
    let path = "x".repeat(65536);
    assert_eq!(
        status(format!("GET /{path} HTTP/1.0\r\n\r\n").as_bytes()),
        "HTTP/1.0 414 URI Too Long"
    );
    let headers = |n| (0..n).map(|i| format!("X-{i}: y\r\n")).collect::<String>();
    assert_eq!(
        status(format!("GET / HTTP/1.0\r\n{}\r\n", headers(101)).as_bytes()),
        "HTTP/1.0 431 Request Header Fields Too Large"
    );
    // At the limits: a 65536-byte line (CRLF included) and 100 headers are fine.
    let value = "v".repeat(65536 - "X-Long: \r\n".len());
    let request = format!("GET / HTTP/1.0\r\n{}X-Long: {value}\r\n\r\n", headers(99));
    assert_eq!(status(request.as_bytes()), "HTTP/1.0 200 OK");
}

#[test]
fn echo_keeps_serving_after_sighup_with_every_mixin() {
    let dir = temp_dir("sighup");
    for mixin in MIXINS {
        let server = start_echo(mixin, &dir);
        let mut in_flight = BufReader::new(connect(&server.address));
        assert_eq!(exchange(&mut in_flight, "before\n"), "before\n");
        signal(&server, libc::SIGHUP);
        signal(&server, libc::SIGHUP);
        assert_eq!(exchange(&mut in_flight, "after\n"), "after\n", "{mixin}");
        drop(in_flight);
        let mut fresh = BufReader::new(connect(&server.address));
        assert_eq!(
            exchange(&mut fresh, "new\n"),
            "new\n",
            "{mixin}: a new client"
        );
        drop(fresh);
        stop_cleanly(server, mixin);
    }
}

/// SIGTERM with a conversation in flight: from then on a new client is refused at once
/// (a load balancer retries it elsewhere) instead of being handshaken, left waiting for
/// the grace period and reset.
#[test]
fn echo_refuses_new_clients_as_soon_as_a_stop_begins_with_every_mixin() {
    use std::time::{Duration, Instant};
    let dir = temp_dir("refused");
    for mixin in MIXINS {
        let server = start_echo(mixin, &dir);
        let mut in_flight = BufReader::new(connect(&server.address));
        assert_eq!(exchange(&mut in_flight, "before\n"), "before\n");
        let address: std::net::SocketAddr = server.address.parse().unwrap();
        signal(&server, libc::SIGTERM);
        let signalled = Instant::now();
        // The first clients may still come before the signal is handled: each is either
        // refused, or served later (taken off the queue as the socket stopped listening).
        let mut early = Vec::new();
        let refused_after = loop {
            match std::net::TcpStream::connect_timeout(&address, Duration::from_secs(5)) {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    break signalled.elapsed()
                }
                Err(e) => panic!("{mixin}: {e}"),
                Ok(mut client) => {
                    // It speaks at once, as a client does (echo defers accepting until then).
                    std::io::Write::write_all(&mut client, b"early\n").unwrap();
                    early.push(BufReader::new(client));
                }
            }
            // A client every few milliseconds, as a load balancer's retries would come.
            std::thread::sleep(Duration::from_millis(5));
            assert!(
                signalled.elapsed() < Duration::from_secs(5),
                "{mixin}: never refused"
            );
        };
        assert!(
            refused_after < Duration::from_millis(100),
            "{mixin}: refused only after {refused_after:?}"
        );
        assert_eq!(exchange(&mut in_flight, "after\n"), "after\n", "{mixin}");
        drop(in_flight);
        // Served, except a client whose handshake completed in the microseconds between
        // the last connection taken off the queue and the socket's shutdown: reset.
        let mut reset = 0;
        for mut client in early {
            let mut reply = String::new();
            match client.read_line(&mut reply) {
                Ok(_) if reply == "early\n" => {}
                Ok(0) => reset += 1,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => reset += 1,
                other => panic!("{mixin}: an early client got {other:?} {reply:?}"),
            }
        }
        assert!(reset <= 1, "{mixin}: {reset} early clients reset");
        let (code, stderr) = server.stop(0);
        assert_eq!(code, Some(0), "{mixin}: {stderr}");
    }
}

/// SIGINT at any point of start-up: the example either dies before it binds or stops
/// cleanly; its unix socket file is never left behind.
#[test]
fn sigint_during_start_up_never_leaves_a_socket_file() {
    use std::time::Duration;
    let dir = temp_dir("startup-sigint");
    let path = dir.join("s.sock");
    for start_up in 0..30u64 {
        let mut child = Command::new(example("echo"))
            .args(["--transport", "unix-stream", "--bind"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread over the first few milliseconds of its life: before, during and after bind.
        std::thread::sleep(Duration::from_micros(start_up * 300));
        // SAFETY: signals our own child process.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let status = child.wait().unwrap();
        // Killed by the signal before it was caught, or stopped cleanly after.
        assert!(
            matches!(status.code(), None | Some(0)),
            "{status} after a SIGINT {start_up} steps into start-up"
        );
        assert!(
            !path.exists(),
            "socket file left by a SIGINT {start_up} steps into start-up"
        );
    }
}

/// A forking echo (with `extra` flags) killed with SIGKILL mid-conversation, once its one
/// child has echoed a line: that child's pid, the client talking to it, and the address.
fn kill_a_forking_echo_mid_conversation(
    dir: &Path,
    extra: &[&str],
) -> (u32, BufReader<std::net::TcpStream>, String) {
    let args = [&["--mixin", "forking", "--bind", "127.0.0.1:0"], extra].concat();
    let mut server = start("echo", &args, dir);
    let mut client = BufReader::new(connect(&server.address));
    assert_eq!(exchange(&mut client, "hello\n"), "hello\n");
    let children = children_of(server.child.id());
    assert_eq!(
        children.len(),
        1,
        "one child serves the client: {children:?}"
    );
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    (children[0], client, server.address.clone())
}

/// Whether process `pid` has ended (gone, or a zombie its new parent has not reaped).
fn has_ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command's closing parenthesis.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => true,
    }
}

/// Waits up to 5 s for process `pid` to end; false if it is still running.
fn ends_within_5s(pid: u32) -> bool {
    use std::time::{Duration, Instant};
    let since = Instant::now();
    while !has_ended(pid) {
        if since.elapsed() > Duration::from_secs(5) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// A forking echo killed with SIGKILL mid-conversation: its child dies too (it would
/// otherwise hold the listening socket and serve on), and the port can be bound again.
#[test]
fn a_killed_forking_echo_leaves_no_child_and_frees_its_port() {
    let dir = temp_dir("killed-forking");
    let (child, _client, address) = kill_a_forking_echo_mid_conversation(&dir, &[]);
    assert!(ends_within_5s(child), "the child outlived its parent");
    std::net::TcpListener::bind(&address).expect("the port is free again");
}

/// With `--untie-children` (`tie_children: false`) a child outlives its killed server: it
/// finishes its conversation, and ends when its client leaves. It does not hold the port.
#[test]
fn an_untied_child_of_a_killed_forking_echo_finishes_its_conversation() {
    let dir = temp_dir("untied-forking");
    let (child, mut client, address) =
        kill_a_forking_echo_mid_conversation(&dir, &["--untie-children"]);
    assert!(!has_ended(child), "the untied child died with its parent");
    assert_eq!(exchange(&mut client, "still here\n"), "still here\n");
    std::net::TcpListener::bind(&address).expect("the child does not hold the port");
    drop(client);
    assert!(
        ends_within_5s(child),
        "the child did not end with its client"
    );
}

/// 2,000 TCP connections that connect and say nothing do not keep a normal client waiting
/// more than 3 s, under every mixin (the sync one's only thread included).
#[test]
fn echo_serves_a_client_past_2000_idle_connections_with_every_mixin() {
    use std::time::{Duration, Instant};
    let dir = temp_dir("idle");
    for mixin in MIXINS {
        let server = start_echo(mixin, &dir);
        let idle: Vec<std::net::TcpStream> = (0..2000).map(|_| connect(&server.address)).collect();
        let started = Instant::now();
        let mut client = BufReader::new(connect(&server.address));
        client
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        assert_eq!(exchange(&mut client, "hello\n"), "hello\n", "{mixin}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{mixin}: {:?}",
            started.elapsed()
        );
        drop((client, idle));
        stop_cleanly(server, mixin);
    }
}

/// `--flag=value` works as `--flag value` does.
#[test]
fn echo_takes_flags_written_with_an_equals_sign() {
    let dir = temp_dir("equals");
    let server = start("echo", &["--transport=udp", "--bind=127.0.0.1:0"], &dir);
    assert_eq!(
        python(DATAGRAM_CLIENT, &server.address, &dir).trim(),
        "True"
    );
    stop_cleanly(server, "--transport=udp");
}

/// A value that names nothing is a usage error like an unknown flag: status 2, one line.
#[test]
fn echo_usage_errors_exit_2() {
    for args in [
        &["--transport", "carrier-pigeon"][..],
        &["--mixin", "fibers"],
        &["--colour", "blue"],
        &["--mixin", "threading", "--untie-children"],
    ] {
        let out = Command::new(example("echo")).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

#[test]
fn echo_says_an_address_without_a_port_misses_its_port() {
    for bind in ["::1", "127.0.0.1", "localhost"] {
        let out = Command::new(example("echo"))
            .args(["--bind", bind])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{bind}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("missing port"), "{bind}: {stderr}");
    }
}

/// Runs echo under `systemd-socket-activate` listening at `listen` (`extra`: its own
/// options), which binds, waits for the first client, then executes echo with the socket
/// passed (LISTEN_FDS). `first_client` is that client, run once the tool listens.
fn activated_echo<R>(
    tool: &Path,
    listen: &str,
    extra: &[&str],
    echo_args: &[&str],
    first_client: impl FnOnce() -> R,
) -> (Running, R) {
    let (mut child, tool_says) = socket_activated(
        Command::new(tool)
            .arg(format!("--listen={listen}"))
            .args(extra)
            .arg(example("echo"))
            .args(echo_args)
            .stdout(Stdio::piped()),
    );
    let answer = first_client();
    let address = announced(&mut child);
    child.stderr = Some(tool_says.into_inner());
    (Running { child, address }, answer)
}

/// Socket activation: echo serves the socket systemd-socket-activate passed it (the first
/// client, which made the tool start echo, is answered too), prints where it listens, stops
/// cleanly, and leaves the manager's unix socket file in place.
#[test]
fn echo_serves_sockets_passed_by_socket_activation() {
    let Some(tool) = tool("systemd-socket-activate", "systemd") else {
        return;
    };
    let dir = temp_dir("activation");
    let path = dir.join("activated.sock");
    let _ = std::fs::remove_file(&path);
    let unix = path.display().to_string();
    let tcp = format!("127.0.0.1:{}", free_port(false));
    let udp = format!("127.0.0.1:{}", free_port(true));
    for (listen, extra, transport) in [
        (unix.as_str(), &["--fdname=echo"][..], "unix-stream"),
        (tcp.as_str(), &[][..], "tcp"),
        (udp.as_str(), &["--datagram"][..], "udp"),
    ] {
        let client = if transport == "udp" {
            DATAGRAM_CLIENT
        } else {
            STREAM_CLIENT
        };
        let echo_args = ["--transport", transport, "--bind", "ignored:1"];
        let (server, first) = activated_echo(&tool, listen, extra, &echo_args, || {
            python(client, listen, &dir)
        });
        assert!(
            first.starts_with("True"),
            "{transport}: the first client: {first}"
        );
        assert_eq!(server.address, listen, "{transport}: where it listens");
        assert!(
            python(client, listen, &dir).starts_with("True"),
            "{transport}"
        );
        stop_cleanly(server, transport);
    }
    assert!(path.exists(), "the manager's socket file is left in place");
}

/// A passed socket of the wrong kind is one clear line and a failure, before serving.
#[test]
fn echo_refuses_a_passed_socket_of_the_wrong_kind() {
    let Some(tool) = tool("systemd-socket-activate", "systemd") else {
        return;
    };
    let listen = format!("127.0.0.1:{}", free_port(true));
    let (mut child, mut stderr) = socket_activated(
        Command::new(&tool)
            .args([&format!("--listen={listen}"), "--datagram"])
            .arg(example("echo"))
            .args(["--transport", "tcp"])
            .stdout(Stdio::null()),
    );
    // The first datagram makes the tool start echo.
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client.send_to(b"x", &listen).unwrap();
    let status = child.wait().unwrap();
    let mut said = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut said).unwrap();
    assert_eq!(status.code(), Some(1), "{said}");
    assert!(
        said.contains("the socket the service manager passed: the socket given is a UDP socket, not a TCP listening socket"),
        "{said}"
    );
}

/// The messages a service manager reading `socket` got within `within`, one per datagram.
fn notifications(
    socket: &std::os::unix::net::UnixDatagram,
    within: std::time::Duration,
) -> Vec<String> {
    let deadline = std::time::Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return got;
        }
        socket.set_read_timeout(Some(left)).unwrap();
        match socket.recv(&mut buf) {
            Ok(n) => got.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => return got,
        }
    }
}

/// Under a manager that set NOTIFY_SOCKET (a path, or `@name` in the abstract namespace),
/// echo says READY=1 with its status, pings the watchdog at half WATCHDOG_USEC, and says
/// STOPPING=1 when SIGTERM begins its stop.
#[test]
fn echo_notifies_readiness_status_watchdog_and_stopping() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    use std::time::Duration;
    let dir = temp_dir("notify");
    let path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&path);
    let abstract_name = format!("socketserver-notify-{}", std::process::id());
    let cases = [
        (
            UnixDatagram::bind(&path).unwrap(),
            path.display().to_string(),
        ),
        (
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&abstract_name).unwrap())
                .unwrap(),
            format!("@{abstract_name}"),
        ),
    ];
    for (manager, notify_socket) in cases {
        let mut child = Command::new(example("echo"))
            .args(["--bind", "127.0.0.1:0"])
            .env("NOTIFY_SOCKET", &notify_socket)
            .env("WATCHDOG_USEC", "200000")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let address = announced(&mut child);
        let server = Running { child, address };
        let first = notifications(&manager, Duration::from_millis(700));
        assert!(
            first[0].starts_with("READY=1\nSTATUS=active 0, completed 0"),
            "{first:?}"
        );
        let pings = first
            .iter()
            .filter(|m| m.starts_with("WATCHDOG=1\n"))
            .count();
        assert!(
            pings >= 2,
            "{notify_socket}: {pings} watchdog pings in 0.7 s: {first:?}"
        );
        signal(&server, libc::SIGTERM);
        let last = notifications(&manager, Duration::from_millis(500));
        assert!(
            last.iter().any(|m| m.starts_with("STOPPING=1\n")),
            "{notify_socket}: {last:?}"
        );
        let (code, stderr) = server.stop(0);
        assert_eq!(code, Some(0), "{stderr}");
    }
}

/// A forking echo serves on its main thread alone: a second thread (a signal watcher) would
/// make every fork take the C library's multi-threaded path. Signals still work: SIGHUP
/// leaves it serving, SIGTERM lets the open conversation finish, and a SIGTERM sent to its
/// child ends only that child.
/// The serving thread of a forking echo waits in the blocking `accept` (`recv`), which the
/// signal handlers let go on (`SA_RESTART`): a stop signal that comes while it waits, with
/// no client to wake it, still stops it.
#[test]
fn a_forking_echo_stops_on_a_signal_that_comes_while_it_waits() {
    for transport in ["tcp", "udp"] {
        let dir = temp_dir("forking-idle-stop");
        let args = [
            "--mixin",
            "forking",
            "--transport",
            transport,
            "--bind",
            "127.0.0.1:0",
        ];
        let server = start("echo", &args, &dir);
        let answered = match transport {
            "tcp" => exchange(&mut BufReader::new(connect(&server.address)), "hi\n"),
            _ => udp_exchange(&server.address, "hi\n"),
        };
        assert_eq!(answered, "hi\n");
        let reaped = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !children_of(server.child.id()).is_empty() {
            assert!(
                std::time::Instant::now() < reaped,
                "the child was not reaped"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        // Waiting in accept (recv) now; nothing will come to end the wait.
        signal(&server, libc::SIGHUP);
        let started = std::time::Instant::now();
        let (code, log) = server.stop(libc::SIGTERM);
        assert_eq!(code, Some(0), "{transport}: {log}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{transport}: stopped only after {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn a_forking_echo_serves_on_one_thread_and_still_hears_its_signals() {
    let dir = temp_dir("forking-one-thread");
    let server = start(
        "echo",
        &["--mixin", "forking", "--bind", "127.0.0.1:0"],
        &dir,
    );
    let threads = || {
        std::fs::read_dir(format!("/proc/{}/task", server.child.id()))
            .unwrap()
            .count()
    };
    let mut client = BufReader::new(connect(&server.address));
    assert_eq!(exchange(&mut client, "hello\n"), "hello\n");
    assert_eq!(threads(), 1, "the forking echo serves on one thread");
    let child = children_of(server.child.id());
    assert_eq!(child.len(), 1, "{child:?}");
    // The child runs with no signal blocked.
    let status = std::fs::read_to_string(format!("/proc/{}/status", child[0])).unwrap();
    assert!(status.contains("SigBlk:\t0000000000000000"), "{status}");
    // SAFETY: signals the example's child, which serves `client`.
    unsafe { libc::kill(child[0] as i32, libc::SIGTERM) };
    let mut rest = String::new();
    assert_eq!(client.read_line(&mut rest).unwrap(), 0, "the child ended");
    // Reaped on its SIGCHLD alone, with no other client to wake the server.
    let reaped = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !children_of(server.child.id()).is_empty() {
        assert!(
            std::time::Instant::now() < reaped,
            "the ended child was not reaped"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    signal(&server, libc::SIGHUP);
    let mut client = BufReader::new(connect(&server.address));
    assert_eq!(exchange(&mut client, "after SIGHUP\n"), "after SIGHUP\n");
    assert_eq!(threads(), 1);
    signal(&server, libc::SIGTERM);
    // Stopping: the open conversation goes on, new clients are refused.
    assert_eq!(exchange(&mut client, "still here\n"), "still here\n");
    let refused = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(&server.address).is_ok() {
        assert!(std::time::Instant::now() < refused, "still accepting");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(client);
    let (code, log) = server.stop(0);
    assert_eq!(code, Some(0), "{log}");
    assert!(!log.contains("cut"), "{log}");
}
