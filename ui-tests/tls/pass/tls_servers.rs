use socketserver::prelude::*;

#[derive(Clone, Default)]
struct Echo;

#[handler]
impl Echo {
    fn handle(&mut self, req: &mut StreamRequest) -> std::io::Result<()> {
        let (rfile, wfile) = req.files();
        std::io::copy(rfile, wfile).map(drop)
    }
}

use socketserver::tls::{TlsConfig, TlsInfo};

server! {
    /// TLS over TCP, with the options of TCP and of TLS.
    struct EchoTls {
        transport: Tls<Tcp>,
        mixin: Threading,
        handler: Echo,
        tls_handshake_timeout: 2.5,
        defer_accept: 5,
        disable_nagle_algorithm: true,
        proxy_protocol: true,
    }
}

server! {
    struct UnixEchoTls {
        transport: Tls<UnixStream>,
        mixin: Pool,
        handler: Echo,
    }
}

/// Every constructor takes the TLS configuration.
#[allow(dead_code)]
fn start(tls: TlsConfig, path: &std::path::Path) -> std::io::Result<()> {
    let tcp = EchoTls::bind("127.0.0.1:0", tls.clone())?;
    tcp.handle().reload()?;
    let _ = EchoTls::activate_or_bind("127.0.0.1:0", tls.clone())?;
    let _ = EchoTls::bind_with_handler("127.0.0.1:0", Echo, tls.clone())?;
    let _ = EchoTls::from(EchoTls::builder(tls.clone()).bind("127.0.0.1:0")?);
    let _ = UnixEchoTls::bind(path, tls)?;
    Ok(())
}

/// What a handler sees.
#[allow(dead_code)]
fn negotiated(req: &StreamRequest) -> Option<(&str, Option<&[u8]>)> {
    req.get::<TlsInfo>().map(|t| (t.version(), t.alpn_protocol()))
}

fn main() {
    assert_eq!(
        EchoTls::config().tls_handshake_timeout,
        Some(std::time::Duration::from_millis(2500))
    );
}
