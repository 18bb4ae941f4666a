//! Echo server: stream transports send every byte back until the client stops writing;
//! datagram transports answer each datagram with its own bytes.
//!
//!     cargo run --release --example echo -- [--transport tcp|udp|unix-stream|unix-datagram]
//!         [--mixin sync|threading|forking] [--bind ADDR]
//!
//! Each transport x mixin is its own `server!` type, picked at run time from the flags.

use std::io;
use std::process::ExitCode;

use socketserver::prelude::*;

const USAGE: &str = "usage: echo [--transport tcp|udp|unix-stream|unix-datagram] \
[--mixin sync|threading|forking] [--bind ADDR]
defaults: tcp, threading, 127.0.0.1:9000 (echo.sock in the current directory for unix transports)
the pool mixin is not available yet";

#[derive(Default)]
struct StreamEcho;

#[handler]
impl StreamEcho {
    fn handle(&mut self, req: &mut StreamRequest) -> io::Result<()> {
        let (rfile, wfile) = req.files();
        io::copy(rfile, wfile)?;
        Ok(())
    }
}

#[derive(Default)]
struct DatagramEcho;

#[handler]
impl DatagramEcho {
    fn handle(&mut self, req: &mut DatagramRequest) -> io::Result<()> {
        let (rfile, wfile) = req.files();
        io::copy(rfile, wfile)?;
        Ok(())
    }
}

/// Declares one echo server per transport x mixin.
macro_rules! echo_servers {
    ($($name:ident: $transport:ident, $mixin:ident, $handler:ident, {$($option:tt)*};)*) => {$(
        server! {
            struct $name {
                transport: $transport,
                mixin: $mixin,
                handler: $handler,
                $($option)*
            }
        }
    )*};
}

echo_servers! {
    TcpSync: Tcp, Sync, StreamEcho, {allow_reuse_address: true};
    TcpThreading: Tcp, Threading, StreamEcho, {allow_reuse_address: true};
    TcpForking: Tcp, Forking, StreamEcho, {allow_reuse_address: true};
    UdpSync: Udp, Sync, DatagramEcho, {};
    UdpThreading: Udp, Threading, DatagramEcho, {};
    UdpForking: Udp, Forking, DatagramEcho, {};
    UnixStreamSync: UnixStream, Sync, StreamEcho, {};
    UnixStreamThreading: UnixStream, Threading, StreamEcho, {};
    UnixStreamForking: UnixStream, Forking, StreamEcho, {};
    UnixDatagramSync: UnixDatagram, Sync, DatagramEcho, {};
    UnixDatagramThreading: UnixDatagram, Threading, DatagramEcho, {};
    UnixDatagramForking: UnixDatagram, Forking, DatagramEcho, {};
}

/// Binds `$server`, says where it listens, serves until Ctrl-C, then closes.
macro_rules! serve {
    ($server:ident, $address:expr) => {{
        let server = $server::bind($address)?;
        println!("listening on {}", server.server_address());
        io::Write::flush(&mut io::stdout())?;
        server.serve_forever()?;
        server.close();
        Ok(())
    }};
}

struct Args {
    transport: String,
    mixin: String,
    bind: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        transport: "tcp".into(),
        mixin: "threading".into(),
        bind: None,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let slot = match flag.as_str() {
            "--help" | "-h" => return Err(String::new()),
            "--transport" => &mut args.transport,
            "--mixin" => &mut args.mixin,
            "--bind" => args.bind.insert(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        };
        *slot = argv.next().ok_or(format!("`{flag}` needs a value"))?;
    }
    Ok(args)
}

fn run(args: &Args) -> io::Result<()> {
    let unix = args.transport.starts_with("unix");
    let default = if unix { "echo.sock" } else { "127.0.0.1:9000" };
    let address = args.bind.as_deref().unwrap_or(default);
    match (args.transport.as_str(), args.mixin.as_str()) {
        ("tcp", "sync") => serve!(TcpSync, address),
        ("tcp", "threading") => serve!(TcpThreading, address),
        ("tcp", "forking") => serve!(TcpForking, address),
        ("udp", "sync") => serve!(UdpSync, address),
        ("udp", "threading") => serve!(UdpThreading, address),
        ("udp", "forking") => serve!(UdpForking, address),
        ("unix-stream", "sync") => serve!(UnixStreamSync, address),
        ("unix-stream", "threading") => serve!(UnixStreamThreading, address),
        ("unix-stream", "forking") => serve!(UnixStreamForking, address),
        ("unix-datagram", "sync") => serve!(UnixDatagramSync, address),
        ("unix-datagram", "threading") => serve!(UnixDatagramThreading, address),
        ("unix-datagram", "forking") => serve!(UnixDatagramForking, address),
        (transport, mixin) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no echo server for transport `{transport}` with mixin `{mixin}`\n{USAGE}"),
        )),
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("echo: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo: {e}");
            ExitCode::FAILURE
        }
    }
}
