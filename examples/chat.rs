//! Multi-client chat over TCP, a thread per client: every line a client sends reaches every
//! connected client (the sender too) as `IP:PORT text`; `quit` disconnects.
//!
//!     cargo run --release --example chat -- [--bind ADDR]     (default 127.0.0.1:9000)

use std::collections::HashMap;
mod common;

use std::io::{self, BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use socketserver::prelude::*;
use socketserver::StreamSocket;

/// Everyone connected: an id per client and a handle on its socket for writing.
#[derive(Default)]
struct Room {
    members: Mutex<HashMap<u64, StreamSocket>>,
    next_id: AtomicU64,
}

impl Room {
    /// The members, locked (a panic in another client's thread does not close the room).
    fn members(&self) -> MutexGuard<'_, HashMap<u64, StreamSocket>> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `line` to every member; a member whose socket fails (gone mid-write) is dropped
    /// from the room, and the others still get the line.
    fn broadcast(&self, line: &str) {
        self.members()
            .retain(|_, socket| (&*socket).write_all(line.as_bytes()).is_ok());
    }
}

#[derive(Clone, Default)]
struct Chat {
    room: Arc<Room>,
    id: Option<u64>,
}

#[handler]
impl Chat {
    fn setup(&mut self, req: &mut StreamRequest) -> io::Result<()> {
        let id = self.room.next_id.fetch_add(1, Ordering::Relaxed);
        let socket = req.socket().try_clone()?;
        self.room.members().insert(id, socket);
        self.id = Some(id);
        Ok(())
    }

    fn handle(&mut self, req: &mut StreamRequest) -> io::Result<()> {
        let who = req.client_address().to_string();
        let mut line = String::new();
        while req.rfile().read_line(&mut line)? > 0 {
            let text = line.trim_end();
            if text == "quit" {
                break;
            }
            self.room.broadcast(&format!("{who} {text}\n"));
            line.clear();
        }
        Ok(())
    }

    fn finish(&mut self, _req: &mut StreamRequest) {
        if let Some(id) = self.id {
            self.room.members().remove(&id);
        }
    }
}

server! {
    /// The chat server: TCP, a thread per client.
    struct ChatServer {
        transport: Tcp,
        mixin: Threading,
        handler: Chat,
        allow_reuse_address: true,
    }
}

fn main() -> std::process::ExitCode {
    common::main(
        "chat",
        "chat [--bind ADDR] (default 127.0.0.1:9000)",
        &["--bind"],
        |flags| {
            let server = ChatServer::bind_with_handler(
                flags.get("--bind", "127.0.0.1:9000"),
                Chat::default(),
            )?;
            let signals = ShutdownSignals::catch()?;
            common::announce(server.server_address())?;
            server.serve_until(signals, common::GRACE).map(drop)
        },
    )
}
