//! Many idle connections on a `Threading` server: opens N connections that never send, then
//! checks that a new client is still echoed, and reports the server's peak RSS and threads.
//!
//!     cargo run --release -p socketserver-bench --bin idle -- [N] [STACK_BYTES]
//!
//! Defaults: 10000 connections, 64 KiB request-thread stacks (`thread_stack_size`; 0 keeps
//! Rust's default). The server
//! runs in a child process (this binary with `--serve STACK_BYTES`) so its memory is its own.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use socketserver::prelude::*;
use socketserver::Server;
use socketserver_bench::ours::StreamEcho;

/// Raises the soft descriptor limit to the hard one (each connection is a descriptor here and
/// a thread plus a descriptor in the server).
fn raise_fd_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}

/// The child: a Threading echo server with `stack` bytes per request thread.
fn serve(stack: usize) -> io::Result<()> {
    raise_fd_limit()?;
    let mut config = ServerConfig::default();
    config.thread_stack_size = stack;
    config.daemon_threads = true;
    let server = Server::<Tcp, Threading, StreamEcho>::builder()
        .config(config)
        .bind("127.0.0.1:0")?;
    println!("listening on {}", server.server_address());
    io::stdout().flush()?;
    server.serve_forever()
}

/// A field of `/proc/PID/status`, in its own unit (kB for memory).
fn status(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn run(n: usize, stack: usize) -> io::Result<()> {
    let limit = raise_fd_limit()?;
    if (limit as usize) < n + 64 {
        return Err(io::Error::other(format!(
            "RLIMIT_NOFILE is {limit}, too low for {n} connections"
        )));
    }
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--serve", &stack.to_string()])
        .stdout(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    let address = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_default()
        .to_owned();
    let result = (|| {
        let base_rss = status(pid, "VmRSS:").unwrap_or(0);
        let started = Instant::now();
        let mut idle = Vec::with_capacity(n);
        for _ in 0..n {
            idle.push(TcpStream::connect(&address)?);
        }
        // Wait (bounded) until the server runs a thread per connection.
        let deadline = Instant::now() + Duration::from_secs(120);
        while status(pid, "Threads:").unwrap_or(0) < n as u64 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let opened = started.elapsed();
        let threads = status(pid, "Threads:").unwrap_or(0);
        let t = Instant::now();
        let mut client = TcpStream::connect(&address)?;
        client.set_read_timeout(Some(Duration::from_secs(10)))?;
        client.write_all(b"still served\n")?;
        client.shutdown(std::net::Shutdown::Write)?;
        let mut reply = String::new();
        client.read_to_string(&mut reply)?;
        let new_client = t.elapsed();
        println!("| idle connections | request-thread stack | server threads | new client echoed | its round trip | RSS before | peak RSS (VmHWM) | per connection | time to open |");
        println!("|---:|---:|---:|:---|---:|---:|---:|---:|---:|");
        let hwm = status(pid, "VmHWM:").unwrap_or(0);
        println!(
            "| {n} | {} | {threads} | {} | {:.1} ms | {} MiB | {} MiB | {:.1} KiB | {:.1} s |",
            match stack {
                0 => "Rust's default (2 MiB)".to_owned(),
                bytes => format!("{} KiB", bytes / 1024),
            },
            if reply == "still served\n" {
                "yes"
            } else {
                "NO"
            },
            new_client.as_secs_f64() * 1e3,
            base_rss / 1024,
            hwm / 1024,
            (hwm.saturating_sub(base_rss)) as f64 / n as f64,
            opened.as_secs_f64(),
        );
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [flag, stack] if flag == "--serve" => serve(stack.parse().unwrap_or(65536)),
        rest => {
            let n = rest.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
            let stack = rest
                .get(1)
                .and_then(|a| a.parse().ok())
                .unwrap_or(64 * 1024);
            run(n, stack)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idle: {e}");
            ExitCode::FAILURE
        }
    }
}
