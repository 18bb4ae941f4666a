//! What a stream handler sees and what its client gets: verify_request, rfile and wfile,
//! the request's addresses, the end of a request, and the per-connection options.

mod common;

use std::io::{self, BufRead, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use socketserver_runtime::mixin::{Serial, Threading};
use socketserver_runtime::transport::{Tcp, UnixStream};
use socketserver_runtime::{
    HandlerResult, RequestHandler, Server, ServerConfig, Stage, StreamRequest, StreamSocket,
};

#[test]
fn verify_request_false_closes_the_connection_without_running_the_handler() {
    let hooks = Recorder::default();
    let echo = Echo::default();
    let server = Server::<Tcp, Serial, Echo>::builder()
        .handler(echo.clone())
        .hooks(hooks.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);

    hooks.reject_next(1);
    let mut rejected = Client::connect(&serving.address());
    assert_eq!(rejected.read_to_end(), b"", "a rejected client reads EOF");
    assert_echoes(&serving.address());

    serving.stop().close();
    assert_eq!(hooks.verified(), 2);
    assert_eq!(
        echo.handled(),
        1,
        "the handler ran for the allowed client only"
    );
    assert!(hooks.errors().is_empty());
}

/// Writes `first`, waits for a line from the client, then writes `second`.
#[derive(Default)]
struct Conversation;

impl RequestHandler<StreamRequest> for Conversation {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        req.wfile().write_all(b"first\n")?;
        let mut line = String::new();
        req.rfile().read_line(&mut line)?;
        req.wfile().write_all(b"second\n")?;
        Ok(())
    }
}

#[test]
fn wfile_writes_reach_the_client_before_the_handler_returns() {
    let serving = serve(Server::<Tcp, Serial, Conversation>::bind("127.0.0.1:0").unwrap());
    let mut client = Client::connect(&serving.address());
    // Nothing sent yet, and the handler is blocked reading: `first` must already be here.
    assert_eq!(client.read_line(), "first\n");
    client.send(b"go on\n");
    assert_eq!(client.read_line(), "second\n");
    assert_eq!(client.read_to_end(), b"");
    serving.stop().close();
}

const MIB: usize = 1 << 20;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Writes 1 MiB with a single `write` call and records what the call returned.
#[derive(Clone, Default)]
struct BigWrite {
    written: Arc<AtomicUsize>,
}

impl RequestHandler<StreamRequest> for BigWrite {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        // One write call must send it all (Python's _SocketWriter.write).
        let n = req.wfile().write(&pattern(MIB))?;
        self.written.store(n, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn one_wfile_write_of_1_mib_arrives_complete() {
    let handler = BigWrite::default();
    let server = Server::<Tcp, Threading, BigWrite>::builder()
        .handler(handler.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    let received = roundtrip(&serving.address(), b"");
    assert_eq!(received.len(), MIB);
    assert!(received == pattern(MIB), "the data arrived corrupted");
    serving.stop().close();
    assert_eq!(handler.written.load(Ordering::SeqCst), MIB);
}

/// Writes a line to a (buffered) wfile, never flushes, and fails when asked to.
#[derive(Default)]
struct WriteThenReturn;

impl RequestHandler<StreamRequest> for WriteThenReturn {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        let mut command = String::new();
        req.rfile().read_line(&mut command)?;
        write!(req.wfile(), "you said {command}")?;
        if command.trim() == "fail" {
            return Err("failing after writing".into());
        }
        Ok(())
    }
}

#[test]
fn buffered_wfile_is_flushed_at_finish_even_when_handle_fails() {
    let hooks = Recorder::default();
    let server = Server::<Tcp, Serial, WriteThenReturn>::builder()
        .config(config(|c| c.wbufsize = 64 * 1024))
        .hooks(hooks.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    assert_eq!(roundtrip(&serving.address(), b"hi\n"), b"you said hi\n");
    assert_eq!(roundtrip(&serving.address(), b"fail\n"), b"you said fail\n");
    serving.stop().close();
    let errors = hooks.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].stage, Stage::Handle);
}

/// Reads lines until EOF and answers each with its number; then reports the request's
/// addresses.
#[derive(Default)]
struct Lines;

impl RequestHandler<StreamRequest> for Lines {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        let mut lines = Vec::new();
        for line in req.rfile().lines() {
            lines.push(line?);
        }
        for (i, line) in lines.iter().enumerate() {
            writeln!(req.wfile(), "{i}: {line}")?;
        }
        let client = req.client_address().to_string();
        let server = req.server().server_address().to_string();
        writeln!(req.wfile(), "client {client}")?;
        writeln!(req.wfile(), "server {server}")?;
        Ok(())
    }
}

/// Sends several lines in one write; expects them numbered back, then the client's name as
/// `client_name` gives it and the server's address.
fn check_lines_and_addresses(
    address: &socketserver_runtime::SocketAddress,
    client_name: fn(&Client) -> String,
) {
    let mut client = Client::connect(address);
    let name = client_name(&client);
    client.send(b"alpha\nbeta\n\ngamma\n");
    client.finish_sending();
    let reply = String::from_utf8(client.read_to_end()).unwrap();
    let expected = format!("0: alpha\n1: beta\n2: \n3: gamma\nclient {name}\nserver {address}\n");
    assert_eq!(reply, expected);
}

#[test]
fn rfile_reads_lines_and_the_request_knows_both_addresses_over_tcp() {
    let serving = serve(Server::<Tcp, Serial, Lines>::bind("127.0.0.1:0").unwrap());
    check_lines_and_addresses(&serving.address(), |c| c.local_address().to_string());
    serving.stop().close();
}

#[test]
fn rfile_reads_lines_and_the_request_knows_both_addresses_over_unix() {
    let dir = TempDir::new();
    let server = Server::<UnixStream, Serial, Lines>::bind(dir.socket("s.sock")).unwrap();
    let serving = serve(server);
    assert_eq!(
        serving.address().to_string(),
        dir.socket("s.sock").display().to_string()
    );
    // A unix client that did not bind has no name.
    check_lines_and_addresses(&serving.address(), |_| "(unnamed)".to_owned());
    serving.stop().close();
}

/// Keeps a clone of every request's socket alive after the request ends.
#[derive(Clone, Default)]
struct KeepsSocket {
    kept: Arc<Mutex<Vec<StreamSocket>>>,
}

impl RequestHandler<StreamRequest> for KeepsSocket {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        self.kept.lock().unwrap().push(req.socket().try_clone()?);
        req.wfile().write_all(b"kept\n")?;
        Ok(())
    }
}

#[test]
fn client_reads_eof_when_the_request_ends_even_if_a_socket_clone_lives_on() {
    let handler = KeepsSocket::default();
    let server = Server::<Tcp, Threading, KeepsSocket>::builder()
        .handler(handler.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    // The client does not close its side: only the server's SHUT_WR can end the read.
    let mut client = Client::connect(&serving.address());
    assert_eq!(client.read_to_end(), b"kept\n");
    assert_eq!(handler.kept.lock().unwrap().len(), 1);
    serving.stop().close();
}

/// Reads a line (a silent client makes it wait); reports `TCP_NODELAY` first.
#[derive(Default)]
struct ReportNodelayThenRead;

impl RequestHandler<StreamRequest> for ReportNodelayThenRead {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        let nodelay = req.socket().as_tcp().unwrap().nodelay()?;
        writeln!(req.wfile(), "nodelay {nodelay}")?;
        let mut line = String::new();
        req.rfile().read_line(&mut line)?;
        Ok(())
    }
}

fn serve_options(
    config: ServerConfig,
) -> (
    Recorder,
    Serving<Tcp, Serial, ReportNodelayThenRead, Recorder>,
) {
    let hooks = Recorder::default();
    let server = Server::<Tcp, Serial, ReportNodelayThenRead>::builder()
        .config(config)
        .hooks(hooks.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    (hooks, serve(server))
}

#[test]
fn stream_timeout_fails_a_read_from_a_silent_client_and_reports_it() {
    let timeout = Duration::from_millis(200);
    let (hooks, serving) = serve_options(config(|c| c.stream_timeout = Some(timeout)));
    let mut client = Client::connect(&serving.address());
    let connected = Instant::now();
    assert_eq!(client.read_line(), "nodelay false\n");
    // Say nothing: the handler's read times out and the server ends the request.
    assert_eq!(client.read_to_end(), b"");
    let waited = connected.elapsed();
    assert!(waited >= timeout, "the request ended after {waited:?}");
    let errors = hooks.wait_for_errors(1);
    assert_eq!(errors[0].stage, Stage::Handle);
    assert!(!errors[0].is_panic);
    assert!(
        matches!(
            errors[0].io_kind,
            Some(io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
        ),
        "{errors:?}"
    );
    serving.stop().close();
    assert_eq!(hooks.errors().len(), 1);
}

#[test]
fn disable_nagle_algorithm_sets_tcp_nodelay_on_accepted_sockets() {
    for (disable, expected) in [(false, "nodelay false\n"), (true, "nodelay true\n")] {
        let (hooks, serving) = serve_options(config(|c| c.disable_nagle_algorithm = disable));
        let mut client = Client::connect(&serving.address());
        assert_eq!(client.read_line(), expected);
        client.send(b"done\n");
        assert_eq!(client.read_to_end(), b"");
        serving.stop().close();
        assert!(hooks.errors().is_empty());
    }
}
