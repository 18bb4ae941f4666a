//! The async TLS reference: the tokio echo server of [`crate::tokio_echo`] (multi-threaded
//! runtime, a task per connection, its echo loop) with each connection accepted by a
//! `tokio_rustls::TlsAcceptor`, and shut down (a close_notify) when the client's ends.

use std::io;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::tokio_echo::{announce, block_on, echo};

/// Serves TLS echo at `address` with `config` on a multi-threaded tokio runtime until the
/// process is killed.
pub fn serve(config: Arc<ServerConfig>, address: &str) -> io::Result<()> {
    block_on(async {
        let listener = TcpListener::bind(address).await?;
        announce(&listener.local_addr()?)?;
        let acceptor = TlsAcceptor::from(config);
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            // As in the hand-written server: no Nagle wait behind the session tickets.
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                echo(&mut tls).await;
                let _ = tls.shutdown().await;
            });
        }
    })
}
