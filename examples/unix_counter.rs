//! A unix-socket service and its client in one file. The server numbers the lines it
//! receives, across all clients; the client sends its standard input line by line and prints
//! each numbered reply.
//!
//!     cargo run --example unix_counter -- --serve counter.sock
//!     printf 'a\nb\n' | cargo run --example unix_counter -- --connect counter.sock

mod common;

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use socketserver::prelude::*;

const USAGE: &str = "unix_counter --serve PATH | --connect PATH";

#[derive(Clone, Default)]
struct Counter {
    lines: Arc<AtomicU64>,
}

#[handler]
impl Counter {
    fn handle(&mut self, req: &mut StreamRequest) -> io::Result<()> {
        let mut line = String::new();
        while req.rfile().read_line(&mut line)? > 0 {
            let n = self.lines.fetch_add(1, Ordering::SeqCst) + 1;
            write!(req.wfile(), "{n} {line}")?;
            line.clear();
        }
        Ok(())
    }
}

server! {
    /// Numbers lines over a unix socket, a thread per client.
    struct CounterServer {
        transport: UnixStream,
        mixin: Threading,
        handler: Counter,
    }
}

fn serve(path: &str) -> io::Result<()> {
    // Before binding: a signal from now on stops the server cleanly (no socket file left).
    let signals = ShutdownSignals::catch()?;
    // A socket passed by a service manager (LISTEN_FDS) if any, else the path.
    let server: CounterServer = CounterServer::builder()
        .handler(Counter::default())
        .activate_or_bind(path)?
        .into();
    common::announce(server.server_address())?;
    server.serve_until(signals, common::GRACE).map(drop)
}

fn connect(path: &str) -> io::Result<()> {
    let stream = UnixStream::connect(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot connect to {path}: {e}")))?;
    let mut replies = BufReader::new(stream.try_clone()?);
    let mut reply = String::new();
    for line in io::stdin().lock().lines() {
        writeln!(&stream, "{}", line?)?;
        reply.clear();
        if replies.read_line(&mut reply)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        print!("{reply}");
    }
    Ok(())
}

fn main() -> ExitCode {
    common::main(
        "unix_counter",
        USAGE,
        &["serve", "connect"],
        |flags| match (flags.value_or("serve", ""), flags.value_or("connect", "")) {
            (path, "") if !path.is_empty() => serve(path),
            ("", path) if !path.is_empty() => connect(path),
            _ => Err(common::usage_error(format!("usage: {USAGE}"))),
        },
    )
}
