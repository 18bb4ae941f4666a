//! A `server!` type behaves exactly like the generic runtime type it wraps: same bytes on
//! the wire, declared options in its config, prototypes and hooks honoured.

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use socketserver::mixin::Threading;
use socketserver::prelude::*;
use socketserver::transport::Tcp as TcpTransport;
use socketserver::{RequestError, Server};

const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Default)]
struct Numbered {
    served: Arc<AtomicUsize>,
}

#[handler]
impl Numbered {
    fn handle(&mut self, req: &mut StreamRequest) -> io::Result<()> {
        let n = self.served.fetch_add(1, Ordering::SeqCst);
        let mut line = String::new();
        req.rfile().read_line(&mut line)?;
        write!(req.wfile(), "{n}:{}", line.to_uppercase())
    }
}

server! {
    /// The server under test.
    struct NumberedServer {
        transport: Tcp,
        mixin: Threading,
        handler: Numbered,
        request_queue_size: 64,
        stream_timeout: 2.5,
        disable_nagle_algorithm: true,
        block_on_close: true,
    }
}

/// Sends `line` and reads the whole reply.
fn exchange(address: &SocketAddress, line: &str) -> String {
    let mut stream = TcpStream::connect_timeout(&address.as_inet().unwrap(), TIMEOUT).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.write_all(line.as_bytes()).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

/// Serves on a thread while `f` runs, then shuts down (also when `f` panics, so a failed
/// assertion fails the test instead of hanging it).
fn serving(serve: impl FnOnce() -> io::Result<()> + Send, handle: ServerHandle, f: impl FnOnce()) {
    struct ShutdownOnDrop(ServerHandle);
    impl Drop for ShutdownOnDrop {
        fn drop(&mut self) {
            self.0.shutdown();
        }
    }
    thread::scope(|s| {
        let thread = s.spawn(serve);
        let stop = ShutdownOnDrop(handle);
        f();
        drop(stop);
        thread.join().unwrap().unwrap();
    });
}

#[test]
fn declared_options_reach_the_config() {
    let config = NumberedServer::config();
    assert_eq!(config.request_queue_size, 64);
    assert_eq!(config.stream_timeout, Some(Duration::from_millis(2500)));
    assert!(config.disable_nagle_algorithm);
    assert!(config.block_on_close);
    let defaults = ServerConfig::default();
    assert_eq!(config.max_children, defaults.max_children);
    assert_eq!(config.allow_reuse_address, defaults.allow_reuse_address);
}

#[test]
fn server_type_and_runtime_type_answer_alike() {
    let declared = NumberedServer::bind_with_handler("127.0.0.1:0", Numbered::default()).unwrap();
    let runtime = Server::<TcpTransport, Threading, Numbered>::builder()
        .config(NumberedServer::config())
        .handler(Numbered::default())
        .bind("127.0.0.1:0")
        .unwrap();
    assert_eq!(declared.server().config(), runtime.config());
    let mut replies = Vec::new();
    serving(
        || declared.serve_forever(),
        declared.handle(),
        || {
            serving(
                || runtime.serve_forever(),
                runtime.handle(),
                || {
                    for line in ["a\n", "bc\n"] {
                        replies.push((
                            exchange(declared.server_address(), line),
                            exchange(runtime.server_address(), line),
                        ));
                    }
                },
            )
        },
    );
    assert_eq!(
        replies,
        [
            ("0:A\n".into(), "0:A\n".into()),
            ("1:BC\n".into(), "1:BC\n".into())
        ]
    );
}

#[test]
fn prototype_state_is_shared_by_every_request() {
    let prototype = Numbered::default();
    let server = NumberedServer::bind_with_handler("127.0.0.1:0", prototype.clone()).unwrap();
    serving(
        || server.serve_forever(),
        server.handle(),
        || {
            for _ in 0..3 {
                exchange(server.server_address(), "x\n");
            }
        },
    );
    server.close();
    assert_eq!(prototype.served.load(Ordering::SeqCst), 3);
}

#[derive(Default)]
struct Failing;

#[handler]
impl Failing {
    fn handle(&mut self) -> Result<(), String> {
        Err("no luck".into())
    }
}

#[derive(Default)]
struct CountErrors(AtomicUsize);

impl Hooks for CountErrors {
    fn handle_error(&self, _client: &SocketAddress, error: &RequestError) {
        assert_eq!(error.to_string(), "handle failed: no luck");
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

server! {
    struct FailingServer {
        transport: Tcp,
        mixin: Sync,
        handler: Failing,
        hooks: CountErrors,
    }
}

#[test]
fn declared_hooks_see_handler_errors() {
    let server = FailingServer::bind("127.0.0.1:0").unwrap();
    serving(
        || server.serve_forever(),
        server.handle(),
        || {
            // The handler fails; the client still reads EOF, and the next one is served
            // too. (It sends nothing: closing a socket with unread data sends a reset.)
            assert_eq!(exchange(server.server_address(), ""), "");
            assert_eq!(exchange(server.server_address(), ""), "");
        },
    );
    assert_eq!(server.server().hooks().0.load(Ordering::SeqCst), 2);
}

/// A key-value store written the way the README shows: the handler is `Clone` and keeps the
/// store in an `Arc` field.
#[derive(Clone, Default)]
struct Kv {
    store: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
}

#[handler]
impl Kv {
    /// `set KEY VALUE` answers `ok`; `get KEY` answers the value (or nothing).
    fn handle(&mut self, req: &mut StreamRequest) -> io::Result<()> {
        let mut line = String::new();
        req.rfile().read_line(&mut line)?;
        let mut store = self.store.lock().unwrap();
        let reply = match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["set", key, value] => {
                store.insert(key.to_owned(), value.to_owned());
                "ok".to_owned()
            }
            ["get", key] => store.get(key).cloned().unwrap_or_default(),
            _ => "?".to_owned(),
        };
        writeln!(req.wfile(), "{reply}")
    }
}

server! {
    struct KvServer { transport: Tcp, mixin: Threading, handler: Kv }
}

/// `bind` (not `bind_with_handler`) shares one store between connections: what one
/// connection sets, the next one gets.
#[test]
fn bind_shares_a_clone_handlers_arc_state_between_requests() {
    let server = KvServer::bind(("127.0.0.1", 0)).unwrap();
    assert_ne!(server.server_address().port(), Some(0));
    let mut got = String::new();
    serving(
        || server.serve_forever(),
        server.handle(),
        || {
            assert_eq!(
                exchange(server.server_address(), "set colour blue\n"),
                "ok\n"
            );
            got = exchange(server.server_address(), "get colour\n");
        },
    );
    assert_eq!(
        got, "blue\n",
        "the key set by the first connection was lost"
    );
}

/// A handler that is not `Clone` still binds, with a fresh value per request.
#[test]
fn bind_gives_a_handler_that_is_not_clone_a_fresh_default() {
    #[derive(Default)]
    struct Fresh {
        seen: usize,
    }
    #[handler]
    impl Fresh {
        fn handle(&mut self, req: &mut StreamRequest) -> io::Result<()> {
            self.seen += 1;
            writeln!(req.wfile(), "{}", self.seen)
        }
    }
    server! {
        struct FreshServer { transport: Tcp, handler: Fresh }
    }
    let server = FreshServer::bind("127.0.0.1:0").unwrap();
    let mut replies = Vec::new();
    serving(
        || server.serve_forever(),
        server.handle(),
        || {
            for _ in 0..2 {
                replies.push(exchange(server.server_address(), ""));
            }
        },
    );
    assert_eq!(replies, ["1\n", "1\n"]);
}

/// A `server!` type serves a listener the program holds, sharing state as `bind` does.
#[test]
fn a_server_type_serves_a_listener_from_anywhere() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = KvServer::from_listener(listener).unwrap();
    let mut got = String::new();
    serving(
        || server.serve_forever(),
        server.handle(),
        || {
            assert_eq!(exchange(server.server_address(), "set a 1\n"), "ok\n");
            got = exchange(server.server_address(), "get a\n");
        },
    );
    assert_eq!(got, "1\n");
}
