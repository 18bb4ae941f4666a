//! `hooks: MyHooks` with a custom `Hooks` impl: bound with `bind`, and with a hooks value
//! that has no `Default` through the runtime builder and `From`.
use socketserver::mixin::Serial;
use socketserver::prelude::*;
use socketserver::Server;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Default)]
struct Echo;

#[handler]
impl Echo {
    fn handle(&mut self, _req: &mut StreamRequest) {}
}

/// Serves loopback clients only.
#[derive(Default)]
struct LocalOnly;

impl Hooks for LocalOnly {
    fn verify_request(&self, client_address: &SocketAddress) -> bool {
        client_address
            .as_inet()
            .is_some_and(|a| a.ip().is_loopback())
    }
}

server! {
    struct LocalServer {
        transport: Tcp,
        handler: Echo,
        hooks: LocalOnly,
        timeout: 0.01,
    }
}

/// Counts timeouts; has no `Default`.
struct CountTimeouts(Arc<AtomicUsize>);

impl Hooks for CountTimeouts {
    fn handle_timeout(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

server! {
    struct CountingServer {
        transport: Tcp,
        handler: Echo,
        hooks: CountTimeouts,
        timeout: 0.01,
    }
}

fn main() -> std::io::Result<()> {
    let server = LocalServer::bind("127.0.0.1:0")?;
    let _: &LocalOnly = server.server().hooks();
    server.close();

    let timeouts = Arc::new(AtomicUsize::new(0));
    let server: CountingServer = Server::<Tcp, Serial, Echo>::builder()
        .config(CountingServer::config())
        .hooks(CountTimeouts(timeouts.clone()))
        .bind("127.0.0.1:0")?
        .into();
    server.handle_request()?;
    assert_eq!(timeouts.load(Ordering::SeqCst), 1);
    Ok(())
}
