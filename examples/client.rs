//! A line-oriented client for echo and chat: sends each line of standard input and prints
//! every line that comes back, until the server closes or input ends.
//!
//!     cargo run --example client -- [--connect ADDR]     (default 127.0.0.1:9000; a path for unix)

mod common;

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::thread;

/// Copies stdin to `writer` (then shuts its write side) while printing what `reader` returns.
fn converse(
    mut writer: impl Write + Send,
    reader: impl io::Read,
    shutdown: impl FnOnce() + Send,
) -> io::Result<()> {
    thread::scope(|s| {
        s.spawn(move || {
            for line in io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if writeln!(writer, "{line}").is_err() {
                    break;
                }
            }
            shutdown();
        });
        let mut out = io::stdout().lock();
        for line in BufReader::new(reader).lines() {
            writeln!(out, "{}", line?)?;
            out.flush()?;
        }
        Ok(())
    })
}

fn main() -> ExitCode {
    common::main(
        "client",
        "client [--connect ADDR] (default 127.0.0.1:9000)",
        &["connect"],
        |flags| {
            let address = flags.value_or("connect", "127.0.0.1:9000");
            let failed = |e: io::Error| {
                io::Error::new(e.kind(), format!("cannot connect to {address}: {e}"))
            };
            if address.contains('/') || address.ends_with(".sock") {
                let stream = UnixStream::connect(address).map_err(failed)?;
                let (reader, writer) = (stream.try_clone()?, stream.try_clone()?);
                converse(writer, reader, move || {
                    drop(stream.shutdown(Shutdown::Write))
                })
            } else {
                let stream = TcpStream::connect(address).map_err(failed)?;
                let (reader, writer) = (stream.try_clone()?, stream.try_clone()?);
                converse(writer, reader, move || {
                    drop(stream.shutdown(Shutdown::Write))
                })
            }
        },
    )
}
