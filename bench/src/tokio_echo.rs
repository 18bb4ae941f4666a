//! The async reference: a tokio echo server (multi-threaded runtime, a task per
//! connection; one task answering datagrams).

use std::future::Future;
use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::common::Transport;

/// The read buffer, as in the other servers.
const BUF: usize = 8192;

/// Echoes until EOF or an error, then drops (closes) the connection (or, given `&mut`,
/// returns it to its caller: the TLS server's shutdown).
pub(crate) async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = vec![0u8; BUF];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Prints `listening on ADDRESS` and flushes, for whoever started the server.
pub(crate) fn announce(address: &dyn std::fmt::Display) -> io::Result<()> {
    println!("listening on {address}");
    io::Write::flush(&mut io::stdout())
}

/// Serves echo over `transport` at `address` on a multi-threaded tokio runtime (as many
/// workers as CPUs the process may use) until the process is killed.
pub fn serve(transport: Transport, address: &str) -> io::Result<()> {
    block_on(run(transport, address))
}

/// Runs `server` on a new multi-threaded runtime (as many workers as CPUs the process may
/// use) until it returns.
pub(crate) fn block_on(server: impl Future<Output = io::Result<()>>) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .build()?;
    runtime.block_on(server)
}

async fn run(transport: Transport, address: &str) -> io::Result<()> {
    match transport {
        Transport::Tcp => {
            let listener = tokio::net::TcpListener::bind(address).await?;
            announce(&listener.local_addr()?)?;
            loop {
                if let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(echo(stream));
                }
            }
        }
        Transport::Unix => {
            let listener = tokio::net::UnixListener::bind(address)?;
            announce(&address)?;
            loop {
                if let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(echo(stream));
                }
            }
        }
        Transport::Udp => {
            let socket = tokio::net::UdpSocket::bind(address).await?;
            announce(&socket.local_addr()?)?;
            let mut buf = vec![0u8; 65536];
            loop {
                if let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                    let _ = socket.send_to(&buf[..n], peer).await;
                }
            }
        }
        Transport::UnixDgram => {
            let socket = tokio::net::UnixDatagram::bind(address)?;
            announce(&address)?;
            let mut buf = vec![0u8; 65536];
            loop {
                if let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                    if let Some(path) = peer.as_pathname() {
                        let _ = socket.send_to(&buf[..n], path).await;
                    }
                }
            }
        }
    }
}
