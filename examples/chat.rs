//! Multi-client chat over TCP, a thread per client: every line a client sends reaches every
//! connected client (the sender too) as `IP:PORT text`; `quit` disconnects.
//!
//! What a client can cost the server is bounded. A line may be 64 KiB long (as Python's
//! `http.server` bounds a line); a longer one gets `error: line longer than 65536 bytes`
//! back and the client is disconnected, no more than 64 KiB of the line ever held. Each
//! member has a queue of lines still to send (1 MiB at most) and a thread writing them, so
//! a member that reads slowly (or never) holds back no one for long: a line waits at most
//! 2 s for room in a full queue (a sender faster than the readers is paced by them), then
//! the member that does not keep up is dropped from the room, its connection shut down.
//!
//! Behind a load balancer with `--proxy-protocol`, members are named by the address their
//! PROXY header gives.
//!
//!     cargo run --release --example chat -- [--bind ADDR]     (default 127.0.0.1:9000)
//!         [--proxy-protocol [--trusted-proxy NET|unix ...]]

mod common;

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use socketserver::prelude::*;
use socketserver::StreamSocket;

/// The longest line a client may send, its newline included.
const MAX_LINE: usize = 64 * 1024;
/// How far behind (bytes of lines queued) a member may fall before it is dropped.
const MAX_BEHIND: usize = 1024 * 1024;
/// How long a broadcast waits for a member's full queue to make room before the member is
/// dropped.
const KEEP_UP_WITHIN: Duration = Duration::from_secs(2);
/// How long a leaving member's writer may take to send what is queued for it.
const FLUSH_WITHIN: Duration = Duration::from_secs(2);
/// How long a refused client's remaining input is read and discarded, so that it gets the
/// error line instead of a reset.
const LINGER: Duration = Duration::from_secs(2);

/// A line as broadcast: one allocation shared by every member's queue.
type Line = Arc<[u8]>;

/// Locks `mutex`, going on past poisoning (a panic in another client's thread does not close
/// the room).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A member's lines still to send, and the socket its writer thread sends them on.
struct Outbox {
    queue: Mutex<Queue>,
    ready: Condvar,
    socket: StreamSocket,
}

#[derive(Default)]
struct Queue {
    lines: VecDeque<Line>,
    bytes: usize,
    closed: bool,
    /// The writer thread has ended.
    ended: bool,
}

impl Outbox {
    /// Queues `line`, waiting up to `within` for the queue to have room for it under
    /// `limit` bytes (the writer makes room as the member reads); never blocks on the
    /// network.
    fn push(&self, line: &Line, limit: usize, within: Duration) -> Pushed {
        let queue = lock(&self.queue);
        let full = |queue: &mut Queue| !queue.closed && queue.bytes + line.len() > limit;
        let (mut queue, _) = self
            .ready
            .wait_timeout_while(queue, within, full)
            .unwrap_or_else(|e| e.into_inner());
        if queue.closed {
            return Pushed::Leaving;
        }
        if queue.bytes + line.len() > limit {
            return Pushed::TooFarBehind;
        }
        queue.bytes += line.len();
        queue.lines.push_back(Line::clone(line));
        self.ready.notify_all();
        Pushed::Queued
    }

    /// No more lines: the writer sends what is queued and ends.
    fn close(&self) {
        lock(&self.queue).closed = true;
        self.ready.notify_all();
    }

    /// Waits at most `within` for the writer to end; false if it has not.
    fn wait_ended(&self, within: Duration) -> bool {
        let queue = lock(&self.queue);
        let (queue, _) = self
            .ready
            .wait_timeout_while(queue, within, |queue| !queue.ended)
            .unwrap_or_else(|e| e.into_inner());
        queue.ended
    }

    /// Drops the member: nothing more is queued and its connection is shut down, which ends
    /// both its writer (blocked in a write or not) and its reader.
    fn cut(&self) {
        self.close();
        let _ = self.socket.shutdown(Shutdown::Both);
    }

    /// The writer thread: sends the queued lines in order until closed and empty.
    fn send_queued(&self) {
        /// Marks the writer ended when it returns (or panics).
        struct Ended<'a>(&'a Outbox);
        impl Drop for Ended<'_> {
            fn drop(&mut self) {
                lock(&self.0.queue).ended = true;
                self.0.ready.notify_all();
            }
        }
        let _ended = Ended(self);
        let mut batch = Vec::new();
        loop {
            {
                let mut queue = lock(&self.queue);
                while queue.lines.is_empty() {
                    if queue.closed {
                        return;
                    }
                    queue = self.ready.wait(queue).unwrap_or_else(|e| e.into_inner());
                }
                // Everything queued in one write: a writer that sent a line per system call
                // would fall behind a room that reads its lines 8 KiB at a time.
                batch.clear();
                for line in queue.lines.drain(..) {
                    batch.extend_from_slice(&line);
                }
                queue.bytes = 0;
                self.ready.notify_all(); // room for the broadcasts that wait
            }
            if (&self.socket).write_all(&batch).is_err() {
                self.cut(); // gone mid-write
                return;
            }
        }
    }
}

/// What became of a line pushed to a member.
#[derive(PartialEq)]
enum Pushed {
    Queued,
    /// The member is leaving: nothing more is queued for it.
    Leaving,
    /// Its queue stayed full for the whole wait: it does not keep up.
    TooFarBehind,
}

/// Everyone connected: an id per client and its outbox.
#[derive(Default)]
struct Room {
    members: Mutex<HashMap<u64, Arc<Outbox>>>,
    next_id: AtomicU64,
}

impl Room {
    /// Queues `line` for every member, never under the room's lock and never across a
    /// write: a member whose queue is full holds this broadcast back for at most
    /// `KEEP_UP_WITHIN` (so a fast sender is paced by the members that read), then it is
    /// dropped and the others still get the line.
    fn broadcast(&self, line: &str) {
        let line: Line = Arc::from(line.as_bytes());
        let members: Vec<(u64, Arc<Outbox>)> = lock(&self.members)
            .iter()
            .map(|(id, member)| (*id, Arc::clone(member)))
            .collect();
        for (id, member) in members {
            if member.push(&line, MAX_BEHIND, KEEP_UP_WITHIN) == Pushed::TooFarBehind {
                lock(&self.members).remove(&id);
                member.cut();
            }
        }
    }
}

/// A connected client's part of the room: its id, its outbox and the thread writing it.
struct Membership {
    id: u64,
    outbox: Arc<Outbox>,
    writer: JoinHandle<()>,
}

#[derive(Default)]
struct Chat {
    room: Arc<Room>,
    member: Option<Membership>,
}

/// The prototype each connection's handler is cloned from: the room, no membership.
impl Clone for Chat {
    fn clone(&self) -> Chat {
        Chat {
            room: Arc::clone(&self.room),
            member: None,
        }
    }
}

impl Chat {
    /// Leaves the room: no more lines are queued for this client, what was queued is sent
    /// (for at most `FLUSH_WITHIN`, then the connection is cut) and the writer has ended.
    fn leave(&mut self) {
        let Some(member) = self.member.take() else {
            return;
        };
        lock(&self.room.members).remove(&member.id);
        member.outbox.close();
        if !member.outbox.wait_ended(FLUSH_WITHIN) {
            member.outbox.cut();
        }
        let _ = member.writer.join();
    }

    /// Answers a line longer than `MAX_LINE` with `error` and disconnects the client.
    fn refuse(&mut self, req: &mut StreamRequest, error: &io::Error) {
        if let Some(member) = &self.member {
            let line = Line::from(format!("error: {error}\n").as_bytes());
            member.outbox.push(&line, usize::MAX, Duration::ZERO);
        }
        self.leave();
        common::linger(req, LINGER);
    }
}

#[handler]
impl Chat {
    fn setup(&mut self, req: &mut StreamRequest) -> io::Result<()> {
        let id = self.room.next_id.fetch_add(1, Ordering::Relaxed);
        let outbox = Arc::new(Outbox {
            queue: Mutex::default(),
            ready: Condvar::new(),
            socket: req.socket().try_clone()?,
        });
        let writer = std::thread::Builder::new()
            .name(format!("chat-writer-{id}"))
            .spawn({
                let outbox = Arc::clone(&outbox);
                move || outbox.send_queued()
            })?;
        lock(&self.room.members).insert(id, Arc::clone(&outbox));
        self.member = Some(Membership { id, outbox, writer });
        Ok(())
    }

    fn handle(&mut self, req: &mut StreamRequest) -> io::Result<()> {
        let who = req.client_address().to_string();
        let mut line = Vec::new();
        loop {
            line.clear();
            match req.rfile().read_line_bounded(&mut line, MAX_LINE) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    self.refuse(req, &e);
                    break;
                }
                Err(e) => return Err(e),
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end();
            if text == "quit" {
                break;
            }
            self.room.broadcast(&format!("{who} {text}\n"));
        }
        Ok(())
    }

    fn finish(&mut self, _req: &mut StreamRequest) {
        self.leave();
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
        "chat [--bind ADDR] [--proxy-protocol [--trusted-proxy NET|unix ...]] \
(default 127.0.0.1:9000)",
        &[&["bind"], common::PROXY_FLAGS].concat(),
        |flags| {
            let proxying = common::Proxying::from_flags(flags, true)?;
            // Before binding: a signal from now on stops the server cleanly (no socket file left).
            let signals = ShutdownSignals::catch()?;
            // A socket passed by a service manager (LISTEN_FDS) if any, else --bind.
            let server: ChatServer = ChatServer::builder()
                .handler(Chat::default())
                .configure(|config| proxying.apply(config))
                .activate_or_bind(flags.value_or("bind", "127.0.0.1:9000"))?
                .into();
            common::announce(server.server_address())?;
            server.serve_until(signals, common::GRACE).map(drop)
        },
    )
}
