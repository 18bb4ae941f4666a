//! The hand-written TLS baseline: the blocking thread-per-connection echo server of
//! [`crate::hand`] (its 8 KiB echo loop) with each connection wrapped in a
//! `rustls::StreamOwned`, and a close_notify sent when the client's ends. What a user writes
//! with `std::net` and rustls alone, and nothing more.

use std::io::{self, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;

use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::hand::{announce, echo_stream};

/// Serves TLS echo at `address` with `config`, a thread per connection, until the process
/// is killed. The handshake happens on the connection's first read.
pub fn serve(config: Arc<ServerConfig>, address: &str) -> io::Result<()> {
    let listener = TcpListener::bind(address)?;
    announce(&listener.local_addr()?)?;
    for tcp in listener.incoming() {
        let Ok(tcp) = tcp else { continue };
        // Without it, the echo after the session tickets waits for their ACK (Nagle), which
        // the client delays: 40 ms per connection.
        let _ = tcp.set_nodelay(true);
        let config = config.clone();
        thread::spawn(move || {
            let Ok(conn) = ServerConnection::new(config) else {
                return;
            };
            let mut tls = StreamOwned::new(conn, tcp);
            echo_stream(&mut tls);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        });
    }
    Ok(())
}
