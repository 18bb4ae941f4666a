//! The smallest server: greets each TCP client by address. `docs/MACROS.md` shows its expansion.

use std::io::{self, Write};
use std::time::Duration;

use socketserver::prelude::*;

#[derive(Default)]
struct Hello;

#[handler]
impl Hello {
    fn handle(&mut self, req: &mut StreamRequest) -> io::Result<()> {
        let client = req.client_address().to_string();
        writeln!(req.wfile(), "hello, {client}")
    }
}

server! {
    /// Greets each client, one at a time.
    pub struct HelloServer {
        transport: Tcp,
        mixin: Sync,
        handler: Hello,
        allow_reuse_address: true,
    }
}

fn main() -> io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or("127.0.0.1:9001".into());
    if address == "--help" || address == "-h" {
        println!("usage: hello [ADDR] (default 127.0.0.1:9001)");
        return Ok(());
    }
    // A socket passed by a service manager (LISTEN_FDS) if any, else the address.
    let server = HelloServer::activate_or_bind(&address)?;
    println!("listening on {}", server.server_address());
    // SIGINT/SIGTERM: stop, giving a client being greeted a second; readiness to a service
    // manager (NOTIFY_SOCKET) once serving.
    server.serve_until_signal(Duration::from_secs(1)).map(drop)
}
