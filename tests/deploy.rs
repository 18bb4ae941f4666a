//! The deployments of docs/DEPLOY.md, end to end with the real programs: the examples behind
//! HAProxy (PROXY v2, health checks, a rolling restart under load) and nginx's `stream`
//! module (PROXY v1), and the systemd units under `systemd-socket-activate`. Each runs the
//! very file DEPLOY.md shows, read out of it, with this run's ports and paths put in.
//! A program the machine lacks skips its test, visibly (never under `CI=true`: `.ci/run`
//! installs haproxy, nginx and libnginx-mod-stream).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The file `name` of docs/DEPLOY.md: the fenced block after its `<!-- file: NAME -->`.
fn deploy_file(name: &str) -> String {
    let doc = include_str!("../docs/DEPLOY.md");
    let marker = format!("<!-- file: {name} -->\n");
    let start = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in DEPLOY.md"));
    let block = &doc[start + marker.len()..];
    let body = &block[block.find('\n').expect("a fence line") + 1..];
    body[..body.find("\n```").expect("a closing fence")].to_owned() + "\n"
}

/// `text` with each `(from, to)` replaced; each `from` must be there.
fn put_in(text: &str, replacements: &[(&str, String)]) -> String {
    let mut text = text.to_owned();
    for (from, to) in replacements {
        assert!(text.contains(from), "{from} is not in the file");
        text = text.replace(from, to);
    }
    text
}

/// A program killed on drop (a failed test leaves nothing behind).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A datagram socket the way a service manager reads notifications (`NOTIFY_SOCKET`).
fn notify_socket(dir: &Path) -> (UnixDatagram, PathBuf) {
    let path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&path);
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (socket, path)
}

/// Waits (at most 10 s) for a notification starting with `what`.
fn wait_notified(socket: &UnixDatagram, what: &str) {
    let mut buf = [0u8; 4096];
    loop {
        let n = socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no {what}: {e}"));
        if buf[..n].starts_with(what.as_bytes()) {
            return;
        }
    }
}

/// HAProxy with `config`, in the foreground; returns once it said it is ready (`-Ws`: to
/// the notification socket, as under systemd).
fn start_haproxy(haproxy: &Path, config: &str, dir: &Path) -> Killed {
    let file = dir.join("haproxy.cfg");
    std::fs::write(&file, config).unwrap();
    let (notify, notify_path) = notify_socket(dir);
    let child = Command::new(haproxy)
        .args(["-Ws", "-f"])
        .arg(&file)
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let child = Killed(child);
    wait_notified(&notify, "READY=1");
    child
}

/// Asks HAProxy's admin socket `command`; its answer.
fn ask_haproxy(admin: &Path, command: &str) -> String {
    let mut socket = UnixStream::connect(admin).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket.write_all(format!("{command}\n").as_bytes()).unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).unwrap();
    answer
}

/// Waits (at most 10 s) until HAProxy's health checks see server `server` of `backend` up
/// (`show servers state`: operational state 2) or, with `up` false, down.
fn wait_server(admin: &Path, backend: &str, server: &str, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = ask_haproxy(admin, &format!("show servers state {backend}"));
        let running = state
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .any(|f| f.len() > 5 && f[3] == server && f[5] == "2");
        if running == up {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "HAProxy never saw {backend}/{server} {}: {state}",
            if up { "up" } else { "down" }
        );
        // HAProxy has no way to wait for a state change: ask again after a check interval.
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An echo backend behind a balancer on 127.0.0.1, `bind` (`127.0.0.1:0`: a port of its
/// own).
fn echo_backend(bind: &str, dir: &Path) -> Running {
    let args = ["--mixin", "pool", "--bind", bind, "--proxy-protocol"];
    start(
        "echo",
        &[&args[..], &["--trusted-proxy", "127.0.0.1"]].concat(),
        dir,
    )
}

/// inspect behind a balancer on 127.0.0.1, on a port of its own.
fn inspect_backend(dir: &Path) -> Running {
    let args = ["--bind", "127.0.0.1:0", "--proxy-protocol"];
    start(
        "inspect",
        &[&args[..], &["--trusted-proxy", "127.0.0.1"]].concat(),
        dir,
    )
}

/// Stops `server` with SIGTERM; checks it exits 0 and wrote no line on stderr.
fn stop_quietly(server: Running, what: &str) {
    let (code, stderr) = server.stop(libc::SIGTERM);
    assert_eq!((code, stderr.as_str()), (Some(0), ""), "{what}");
}

/// DEPLOY.md's haproxy.cfg for this run: its frontends on free ports, its backends the ones
/// given, its admin socket in `dir`. Returns the config, the echo and web frontends, and the
/// admin socket.
fn haproxy_config(
    echoes: [&str; 2],
    inspect: &str,
    dir: &Path,
) -> (String, String, String, PathBuf) {
    let echo = format!("127.0.0.1:{}", free_port(false));
    let web = format!("127.0.0.1:{}", free_port(false));
    let admin = dir.join("admin.sock");
    let config = put_in(
        &deploy_file("haproxy.cfg"),
        &[
            ("/run/haproxy/admin.sock", admin.display().to_string()),
            ("127.0.0.1:8080", echo.clone()),
            ("127.0.0.1:8081", web.clone()),
            ("127.0.0.1:9001", echoes[0].to_owned()),
            ("127.0.0.1:9002", echoes[1].to_owned()),
            ("127.0.0.1:8000", inspect.to_owned()),
        ],
    );
    (config, echo, web, admin)
}

/// Fetches `/` from `address` with curl; the page and the local port curl used.
fn curl(address: &str) -> (String, u16) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{local_port}"])
        .arg(format!("http://{address}/"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (page, port) = text.rsplit_once('\n').unwrap();
    (page.to_owned(), port.parse().unwrap())
}

/// Fetches inspect's page through the balancer at `address` with curl, and checks that it
/// names curl as the client, port and all, and the balancer apart, with a PROXY `version`
/// header.
fn assert_inspect_names_curl(address: &str, version: &str) {
    let (page, curl_port) = curl(address);
    assert!(
        page.contains(&format!("client: 127.0.0.1:{curl_port}\n")),
        "{page}"
    );
    assert!(page.contains("proxy: 127.0.0.1:"), "{page}");
    assert!(page.contains(&format!("(PROXY {version})")), "{page}");
}

#[test]
fn haproxy_gives_the_backends_each_clients_own_address_and_checks_cost_no_error_line() {
    let Some(haproxy) = tool("haproxy", "haproxy") else {
        return;
    };
    let dir = temp_dir("haproxy");
    let a = echo_backend("127.0.0.1:0", &dir);
    let b = echo_backend("127.0.0.1:0", &dir);
    let inspect = inspect_backend(&dir);
    let (config, echo, web, admin) =
        haproxy_config([&a.address, &b.address], &inspect.address, &dir);
    let balancer = start_haproxy(&haproxy, &config, &dir);
    for (backend, server) in [("echoes", "a"), ("echoes", "b"), ("inspect", "i")] {
        wait_server(&admin, backend, server, true);
    }
    for _ in 0..10 {
        assert!(python(STREAM_CLIENT, &echo, &dir).starts_with("True"));
    }
    assert_inspect_names_curl(&web, "V2");
    drop(balancer);
    // Every backend was health-checked (LOCAL headers) every 200 ms all along.
    stop_quietly(a, "echo a");
    stop_quietly(b, "echo b");
    let (code, stderr) = inspect.stop(libc::SIGTERM);
    assert_eq!(code, Some(0));
    assert!(!stderr.to_lowercase().contains("error"), "{stderr}");
}

/// A client that sends one request after another through `address` (a 1 KiB echo each, on
/// a connection of its own) until its stdin closes, printing a line every 20 successes,
/// then `ok N failed M`.
const LOOP_CLIENT: &str = r#"
import socket, sys, threading
host, port = sys.argv[1].rsplit(':', 1)
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
ok = failed = 0
payload = bytes(range(256)) * 4
while not done.is_set():
    try:
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(payload); s.shutdown(socket.SHUT_WR)
        got = b''
        while True:
            chunk = s.recv(65536)
            if not chunk: break
            got += chunk
        s.close()
        if got != payload: raise Exception('got %d bytes' % len(got))
        ok += 1
        if ok % 20 == 0: print(ok, flush=True)
    except Exception as e:
        failed += 1
        print('failed:', e, file=sys.stderr, flush=True)
print('ok', ok, 'failed', failed, flush=True)
"#;

/// The loop client running, and its output, line by line (read on a thread of its own, so
/// that every wait for a line is bounded).
struct Load {
    stdin: Option<ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    _child: Killed,
}

/// How long the loop client may take for 20 requests, or to give its result.
const LOAD_STEP: Duration = Duration::from_secs(20);

impl Load {
    fn start(address: &str) -> Load {
        let mut child = Command::new("python3")
            .args(["-c", LOOP_CLIENT, address])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Load {
            stdin: child.stdin.take(),
            lines,
            _child: Killed(child),
        }
    }

    fn line(&self, what: &str) -> String {
        self.lines
            .recv_timeout(LOAD_STEP)
            .unwrap_or_else(|_| panic!("the client gave no {what} within {LOAD_STEP:?}"))
    }

    /// Waits for 20 more successful requests.
    fn twenty_more(&self) {
        let line = self.line("20 more successful requests");
        assert!(line.parse::<u64>().is_ok(), "{line}");
    }

    /// Stops the client; how many requests succeeded and failed.
    fn finish(mut self) -> (u64, u64) {
        drop(self.stdin.take());
        loop {
            let line = self.line("result");
            if let Some(rest) = line.strip_prefix("ok ") {
                let (ok, failed) = rest.split_once(" failed ").unwrap();
                return (ok.parse().unwrap(), failed.parse().unwrap());
            }
        }
    }
}

#[test]
fn a_rolling_restart_behind_haproxy_fails_no_request() {
    let Some(haproxy) = tool("haproxy", "haproxy") else {
        return;
    };
    let dir = temp_dir("rolling");
    let mut backends = [
        Some(echo_backend("127.0.0.1:0", &dir)),
        Some(echo_backend("127.0.0.1:0", &dir)),
    ];
    let addresses = backends
        .each_ref()
        .map(|b| b.as_ref().unwrap().address.clone());
    let inspect = start(
        "inspect",
        &["--bind", "127.0.0.1:0", "--proxy-protocol"],
        &dir,
    );
    let (config, echo, _, admin) =
        haproxy_config([&addresses[0], &addresses[1]], &inspect.address, &dir);
    let _balancer = start_haproxy(&haproxy, &config, &dir);
    wait_server(&admin, "echoes", "a", true);
    wait_server(&admin, "echoes", "b", true);
    let load = Load::start(&echo);
    load.twenty_more();
    for (i, name) in ["a", "b"].into_iter().enumerate() {
        // Stopped; requests go on while HAProxy's checks find it down (those it sends there
        // meanwhile are refused and retried); replaced on the same address; back up.
        stop_quietly(backends[i].take().unwrap(), &format!("old {name}"));
        load.twenty_more();
        wait_server(&admin, "echoes", name, false);
        load.twenty_more();
        backends[i] = Some(echo_backend(&addresses[i], &dir));
        wait_server(&admin, "echoes", name, true);
        load.twenty_more();
        load.twenty_more();
    }
    let (ok, failed) = load.finish();
    assert_eq!(failed, 0, "{failed} of {} requests failed", ok + failed);
    assert!(ok >= 180, "only {ok} requests");
    eprintln!("rolling restart: {ok} requests through HAProxy, {failed} failed");
    for (i, backend) in backends.into_iter().enumerate() {
        stop_quietly(backend.unwrap(), &format!("new backend {i}"));
    }
    drop(inspect);
}

#[test]
fn nginx_stream_gives_inspect_each_clients_own_address_with_proxy_v1() {
    let Some(nginx) = tool("nginx", "nginx and libnginx-mod-stream") else {
        return;
    };
    let dir = temp_dir("nginx");
    let inspect = inspect_backend(&dir);
    let front = format!("127.0.0.1:{}", free_port(false));
    let config = put_in(
        &deploy_file("nginx.conf"),
        &[
            ("127.0.0.1:8000", inspect.address.clone()),
            ("127.0.0.1:8082", front.clone()),
        ],
    );
    let file = dir.join("nginx.conf");
    std::fs::write(&file, config).unwrap();
    // One process (no worker left listening when the test kills it), in the foreground.
    let global = format!(
        "daemon off; master_process off; pid {}; error_log stderr;",
        dir.join("nginx.pid").display()
    );
    let child = Command::new(nginx)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&file)
        .args(["-g", &global])
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let _nginx = Killed(child);
    // nginx says nothing when it listens: try until it does.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&front).is_err() {
        assert!(Instant::now() < deadline, "nginx never listened on {front}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_inspect_names_curl(&front, "V1");
    let (code, stderr) = inspect.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "{stderr}");
}

/// The value of `key=` in a unit file's text.
fn unit_value<'a>(unit: &'a str, key: &str) -> &'a str {
    unit.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in the unit"))
}

#[test]
fn the_systemd_units_serve_echo_by_socket_activation_with_readiness() {
    let Some(activate) = tool("systemd-socket-activate", "systemd") else {
        return;
    };
    let dir = temp_dir("units");
    let socket_unit = deploy_file("echo.socket");
    let service = deploy_file("echo.service");
    assert_eq!(unit_value(&service, "Type"), "notify");
    let listen = format!("127.0.0.1:{}", free_port(false));
    let stream = put_in(
        unit_value(&socket_unit, "ListenStream"),
        &[("127.0.0.1:9000", listen.clone())],
    );
    let exec: Vec<String> = put_in(
        unit_value(&service, "ExecStart"),
        &[("/usr/local/bin/echo", example("echo").display().to_string())],
    )
    .split_whitespace()
    .map(str::to_owned)
    .collect();
    let watchdog: u64 = unit_value(&service, "WatchdogSec").parse().unwrap();
    let (notify, notify_path) = notify_socket(&dir);
    // What systemd does for these two units: bind, then start the service on the first
    // client with the socket, NOTIFY_SOCKET and WATCHDOG_USEC.
    let (mut child, said) = socket_activated(
        Command::new(activate)
            .arg(format!("--listen={stream}"))
            .arg(format!(
                "--fdname={}",
                unit_value(&socket_unit, "FileDescriptorName")
            ))
            .arg(format!("--setenv=NOTIFY_SOCKET={}", notify_path.display()))
            .arg(format!("--setenv=WATCHDOG_USEC={}", watchdog * 1_000_000))
            .args(&exec)
            .stdout(Stdio::piped()),
    );
    assert!(python(STREAM_CLIENT, &listen, &dir).starts_with("True"));
    wait_notified(&notify, "READY=1");
    wait_notified(&notify, "WATCHDOG=1");
    assert_eq!(announced(&mut child), listen);
    child.stderr = Some(said.into_inner());
    let server = Running {
        child,
        address: listen,
    };
    signal(&server, libc::SIGTERM);
    wait_notified(&notify, "STOPPING=1");
    let (code, stderr) = server.stop(0);
    assert_eq!(code, Some(0), "{stderr}");
}
