//! The examples over TLS (built with `--features tls`), with real clients: Python's ssl
//! module through echo on every mixin and both stream transports, `curl --cacert` and
//! `openssl s_client -verify_return_error` against inspect, client certificates, SIGHUP
//! re-reading the files, and flags that cannot work refused before anything is bound.
#![cfg(feature = "tls")]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::tls::{assert_echoed, certs, tls_client};
use common::*;

/// `--tls-cert` and `--tls-key` for the test's `localhost` certificate.
fn tls_flags() -> Vec<String> {
    let c = certs();
    [
        "--tls-cert",
        &c.file("server.pem"),
        "--tls-key",
        &c.file("server.key"),
    ]
    .map(String::from)
    .to_vec()
}

fn start_with(name: &str, args: &[&str], dir: &std::path::Path) -> Running {
    let mut all: Vec<&str> = args.to_vec();
    let flags = tls_flags();
    all.extend(flags.iter().map(String::as_str));
    start(name, &all, dir)
}

#[test]
fn echo_returns_a_mib_over_tls_on_both_stream_transports_and_every_mixin() {
    let dir = temp_dir("tls-echo");
    for transport in ["tcp", "unix-stream"] {
        for mixin in ["sync", "threading", "forking", "pool"] {
            let bind = match transport {
                "tcp" => "127.0.0.1:0".to_string(),
                _ => dir.join(format!("{mixin}.sock")).display().to_string(),
            };
            let args = ["--transport", transport, "--mixin", mixin, "--bind", &bind];
            let server = start_with("echo", &args, &dir);
            let family = if transport == "tcp" { "inet" } else { "unix" };
            let said = tls_client(family, &server.address, &["silent=1", "echo=1048576"]);
            assert_echoed(&said);
            let (code, stderr) = server.stop(libc::SIGTERM);
            assert_eq!(code, Some(0), "{transport} {mixin}: {stderr}");
        }
    }
}

#[test]
fn inspect_answers_curl_and_openssl_over_tls() {
    let dir = temp_dir("tls-inspect");
    let server = start_with("inspect", &["--bind", "127.0.0.1:0"], &dir);
    let port = server.address.rsplit(':').next().unwrap();
    let ca = certs().file("ca.pem");
    let page = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert", &ca])
        .arg(format!("https://localhost:{port}/tls"))
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&page.stdout);
    assert!(
        page.status.success(),
        "{}",
        String::from_utf8_lossy(&page.stderr)
    );
    assert!(body.contains("tls: TLSv1.3 TLS13_"), "{body}");
    assert!(body.contains("request: GET /tls HTTP/1.1"), "{body}");
    for version in ["-tls1_2", "-tls1_3"] {
        let s_client = Command::new("openssl")
            // -ign_eof: read the answer until the server closes, not just until stdin ends.
            .args([
                "s_client",
                "-ign_eof",
                "-verify_return_error",
                "-CAfile",
                &ca,
                version,
            ])
            .args(["-servername", "localhost", "-connect", &server.address])
            .stdin(std::process::Stdio::piped())
            .output_with_input(b"GET / HTTP/1.0\r\n\r\n");
        let out = String::from_utf8_lossy(&s_client.stdout).into_owned();
        assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
        assert!(out.contains("HTTP/1.0 200 OK"), "{out}");
        let expected = if version == "-tls1_2" {
            "tls: TLSv1.2"
        } else {
            "tls: TLSv1.3"
        };
        assert!(out.contains(expected), "{version}: {out}");
        s_client.status.success().then_some(()).expect("s_client");
    }
}

/// Runs a command with `input` on its stdin, within 10 s.
trait OutputWithInput {
    fn output_with_input(&mut self, input: &[u8]) -> std::process::Output;
}

impl OutputWithInput for Command {
    fn output_with_input(&mut self, input: &[u8]) -> std::process::Output {
        use std::io::Write;
        let mut child = self
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the command hung"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        child.wait_with_output().unwrap()
    }
}

#[test]
fn inspect_with_a_client_ca_names_the_clients_certificate_and_refuses_others() {
    let dir = temp_dir("tls-mtls");
    let c = certs();
    let ca = c.file("ca.pem");
    let server = start_with(
        "inspect",
        &["--bind", "127.0.0.1:0", "--tls-client-ca", &ca],
        &dir,
    );
    let port = server.address.rsplit(':').next().unwrap();
    let url = format!("https://localhost:{port}/");
    let curl = |extra: &[String]| {
        Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert", &ca])
            .args(extra)
            .arg(&url)
            .output()
            .unwrap()
    };
    let alice = curl(&[
        "--cert".into(),
        c.file("alice.pem"),
        "--key".into(),
        c.file("alice.key"),
    ]);
    let page = String::from_utf8_lossy(&alice.stdout);
    assert!(
        page.contains("client certificate: O=Example, CN=alice"),
        "{page}"
    );
    let anonymous = curl(&[]);
    assert!(!anonymous.status.success());
    assert!(anonymous.stdout.is_empty());
    let mallory = curl(&[
        "--cert".into(),
        c.file("mallory.pem"),
        "--key".into(),
        c.file("mallory.key"),
    ]);
    assert!(!mallory.status.success());
    assert!(mallory.stdout.is_empty());
    let (code, stderr) = server.stop(libc::SIGTERM);
    assert_eq!(code, Some(0));
    // Refused handshakes are no error lines.
    assert!(!stderr.contains("rror"), "{stderr}");
}

#[test]
fn sighup_rereads_the_files_and_a_broken_one_keeps_the_old_and_says_so() {
    let dir = temp_dir("tls-reload");
    let c = certs();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::copy(c.file("server.pem"), &cert).unwrap();
    std::fs::copy(c.file("server.key"), &key).unwrap();
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let args = [
        "--bind",
        "127.0.0.1:0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ];
    let server = start("echo", &args, &dir);
    assert_eq!(
        tls_client("inet", &server.address, &["silent=1"])["server_o"],
        "-"
    );
    std::fs::copy(c.file("second.pem"), &cert).unwrap();
    std::fs::copy(c.file("second.key"), &key).unwrap();
    signal(&server, libc::SIGHUP);
    let started = Instant::now();
    while tls_client("inet", &server.address, &["silent=1"])["server_o"] != "Second" {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "SIGHUP reloaded nothing"
        );
    }
    std::fs::write(&key, "broken\n").unwrap();
    signal(&server, libc::SIGHUP);
    assert_echoed(&tls_client(
        "inet",
        &server.address,
        &["silent=1", "echo=1000"],
    ));
    let (code, stderr) = server.stop(libc::SIGTERM);
    assert_eq!(code, Some(0));
    let expected = format!(
        "reload failed, still serving the configuration loaded before: {key}: no private key"
    );
    assert_eq!(stderr.matches(&expected).count(), 1, "{stderr}");
}

#[test]
fn tls_flags_that_cannot_work_exit_before_binding_with_one_line() {
    let c = certs();
    let (cert, key) = (c.file("server.pem"), c.file("server.key"));
    let cases: [(&[&str], i32, &str); 5] = [
        (
            &["--tls-cert", &cert],
            2,
            "--tls-cert and --tls-key go together",
        ),
        (
            &["--tls-cert", "/nonexistent.pem", "--tls-key", &key],
            1,
            "/nonexistent.pem: cannot read it",
        ),
        (
            &["--tls-cert", &key, "--tls-key", &key],
            1,
            "server.key: no certificate in it",
        ),
        (
            &["--tls-cert", &cert, "--tls-key", &cert],
            1,
            "server.pem: no private key in it",
        ),
        (
            &["--transport", "udp", "--tls-cert", &cert, "--tls-key", &key],
            2,
            "TLS is for stream transports",
        ),
    ];
    for (args, code, message) in cases {
        let out = Command::new(example("echo"))
            .args(["--bind", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "nothing bound: {args:?}");
    }
}
