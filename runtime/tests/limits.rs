//! Limits that protect a server: `max_connections` (clients beyond it wait in the backlog,
//! none is refused), `stream_timeout` (silent clients cannot hold workers: slowloris), and
//! `thread_stack_size` for request threads and pool workers.

mod common;

use std::collections::HashSet;
use std::io::{self, Write};
use std::time::Duration;

use common::*;
use socketserver_runtime::mixin::{Mixin, Pool, Threading};
use socketserver_runtime::transport::Tcp;
use socketserver_runtime::{HandlerResult, RequestHandler, Server, Stage, StreamRequest};

/// Three clients connect at once to a server of mixin `M` limited to two connections: two
/// are served, the third waits unaccepted until one of them ends, then is served.
fn check_max_connections<M: Mixin>() {
    let greeter = Greeter::default();
    let hooks = Recorder::default();
    let server = Server::<Tcp, M, Greeter>::builder()
        .config(config(|c| {
            c.max_connections = 2;
            c.pool_size = 4; // a pool with room to spare: the limit is what holds clients
        }))
        .handler(greeter.clone())
        .hooks(hooks.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    let address = serving.address();
    // All three before any is greeted: the limit must hold even for a burst.
    let mut clients: Vec<Client> = (0..3).map(|_| Client::connect(&address)).collect();
    greeting_pid(&clients[0].read_line());
    greeting_pid(&clients[1].read_line());
    clients[2].assert_nothing_arrives();
    assert_eq!(serving.handle().stats().accepted, 2);

    clients[0].send(b"done\n");
    assert_eq!(clients[0].read_line(), "bye\n");
    assert_eq!(clients[0].read_to_end(), b"");
    // The first request ended: the third client is accepted and served.
    greeting_pid(&clients[2].read_line());
    assert_eq!(serving.handle().stats().accepted, 3);
    for client in &mut clients[1..] {
        client.send(b"done\n");
        assert_eq!(client.read_line(), "bye\n");
        assert_eq!(client.read_to_end(), b"");
    }
    let server = serving.stop();
    let handle = server.handle();
    server.close();
    let stats = handle.stats();
    assert_eq!(
        (stats.accepted, stats.completed, stats.active),
        (3, 3, 0),
        "{stats:?}"
    );
    assert!(hooks.errors().is_empty(), "{:?}", hooks.errors());
}

#[test]
fn max_connections_holds_a_threading_server_until_a_request_ends() {
    check_max_connections::<Threading>();
}

#[test]
fn max_connections_holds_a_pool_server_until_a_request_ends() {
    check_max_connections::<Pool>();
}

#[test]
fn silent_clients_time_out_and_cannot_starve_a_pool() {
    let timeout = Duration::from_millis(300);
    let hooks = Recorder::default();
    let echo = Echo::default();
    let server = Server::<Tcp, Pool, Echo>::builder()
        .config(config(|c| {
            c.pool_size = 4;
            c.stream_timeout = Some(timeout);
        }))
        .handler(echo.clone())
        .hooks(hooks.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    let address = serving.address();
    // Connected, never send: without a stream timeout they would hold every worker forever.
    let silent: Vec<Client> = (0..50).map(|_| Client::connect(&address)).collect();
    let mut client = Client::connect(&address);
    client.set_read_timeout(Duration::from_secs(30));
    client.send(b"well-behaved\n");
    client.finish_sending();
    assert_eq!(client.read_to_end(), b"well-behaved\n");

    let errors = hooks.wait_for_errors(50);
    assert_eq!(errors.len(), 50, "{errors:?}");
    for error in &errors {
        assert_eq!(error.stage, Stage::Handle, "{error:?}");
        assert!(
            matches!(
                error.io_kind,
                Some(io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
            ),
            "{error:?}"
        );
    }
    let reported: HashSet<_> = errors.iter().map(|e| e.client.clone()).collect();
    let expected: HashSet<_> = silent.iter().map(Client::local_address).collect();
    assert_eq!(reported, expected, "each silent client reported once");

    let server = serving.stop();
    let handle = server.handle();
    server.close();
    let stats = handle.stats();
    assert_eq!(
        (stats.accepted, stats.completed, stats.failed),
        (51, 1, 50),
        "{stats:?}"
    );
    drop(silent);
}

/// Answers with the stack size of the thread running it.
#[derive(Default)]
struct StackSize;

impl RequestHandler<StreamRequest> for StackSize {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        writeln!(req.wfile(), "{}", current_stack_size())?;
        Ok(())
    }
}

/// The stack size of the calling thread, from its pthread attributes.
fn current_stack_size() -> usize {
    // SAFETY: plain pthread calls on the calling thread with a zeroed attr that
    // pthread_getattr_np initialises and pthread_attr_destroy frees.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        assert_eq!(libc::pthread_getattr_np(libc::pthread_self(), &mut attr), 0);
        let mut size = 0;
        assert_eq!(libc::pthread_attr_getstacksize(&attr, &mut size), 0);
        libc::pthread_attr_destroy(&mut attr);
        size
    }
}

/// The stack size a request thread of mixin `M` runs with, given `thread_stack_size`.
fn request_stack_size<M: Mixin>(thread_stack_size: usize) -> usize {
    let server = Server::<Tcp, M, StackSize>::builder()
        .config(config(|c| {
            c.thread_stack_size = thread_stack_size;
            c.pool_size = 2;
        }))
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    let reply = String::from_utf8(roundtrip(&serving.address(), b"")).unwrap();
    serving.stop().close();
    reply.trim().parse().unwrap()
}

#[test]
fn thread_stack_size_applies_to_request_threads_and_pool_workers() {
    const SMALL: usize = 64 * 1024;
    for (mixin, size) in [
        ("threading", request_stack_size::<Threading>(SMALL)),
        ("pool", request_stack_size::<Pool>(SMALL)),
    ] {
        // The system may round up (page size, thread-local storage), not to Rust's 2 MiB.
        assert!(
            (SMALL..4 * SMALL).contains(&size),
            "{mixin}: a request thread of {size} bytes"
        );
    }
    // 0 keeps Rust's default, far larger.
    assert!(request_stack_size::<Threading>(0) >= 4 * SMALL);
}
