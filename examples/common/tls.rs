//! The TLS flags of the stream examples: `--tls-cert FILE --tls-key FILE` (both or neither)
//! and `--tls-client-ca FILE` (client certificates required). The files are read before
//! anything is bound; SIGHUP re-reads them (`serve_until`). Without the `tls` feature the
//! flags say how to build with it.

use std::io;

use super::{usage_error, Flags};
use socketserver::mixin::Mixin;
use socketserver::transport::Transport;
use socketserver::{Builder, Hooks, RequestHandler, StreamRequest};

/// The TLS flags.
pub const TLS_FLAGS: &[&str] = &["tls-cert", "tls-key", "tls-client-ca"];

/// What the TLS flags ask for: nothing, or a configuration loaded from their files.
pub struct Tls {
    #[cfg(feature = "tls")]
    config: Option<socketserver::tls::TlsConfig>,
}

impl Tls {
    /// Reads the flags and loads their files: a usage error for one of `--tls-cert` and
    /// `--tls-key` without the other, for `--tls-client-ca` without them, and on a datagram
    /// transport (`stream` false); an error naming the file for one that cannot be used.
    pub fn from_flags(flags: &Flags, stream: bool) -> io::Result<Tls> {
        let (cert, key) = (flags.value("tls-cert"), flags.value("tls-key"));
        let client_ca = flags.value("tls-client-ca");
        let (cert, key) = match (cert, key) {
            (None, None) if client_ca.is_some() => {
                return Err(usage_error(
                    "--tls-client-ca needs --tls-cert and --tls-key".to_owned(),
                ))
            }
            (None, None) => return Ok(Tls::off()),
            (Some(cert), Some(key)) => (cert, key),
            _ => {
                return Err(usage_error(
                    "--tls-cert and --tls-key go together".to_owned(),
                ))
            }
        };
        if !stream {
            return Err(usage_error(
                "TLS is for stream transports (tcp, unix-stream)".to_owned(),
            ));
        }
        Tls::load(cert, key, client_ca)
    }

    #[cfg(feature = "tls")]
    fn off() -> Tls {
        Tls { config: None }
    }

    #[cfg(not(feature = "tls"))]
    fn off() -> Tls {
        Tls {}
    }

    #[cfg(feature = "tls")]
    fn load(cert: &str, key: &str, client_ca: Option<&str>) -> io::Result<Tls> {
        use socketserver::tls::{ClientAuth, TlsConfig};
        let mut config = TlsConfig::from_pem_files(cert, key).map_err(io::Error::other)?;
        if let Some(ca) = client_ca {
            config = config
                .with_client_ca(ca, ClientAuth::Required)
                .map_err(io::Error::other)?;
        }
        Ok(Tls {
            config: Some(config),
        })
    }

    #[cfg(not(feature = "tls"))]
    fn load(_: &str, _: &str, _: Option<&str>) -> io::Result<Tls> {
        Err(usage_error(
            "this build has no TLS: build the examples with `--features tls`".to_owned(),
        ))
    }

    /// Adds TLS to `builder` when the flags asked for it.
    pub fn apply<T, M, H, K, C>(&self, builder: Builder<T, M, H, K, C>) -> Builder<T, M, H, K, C>
    where
        T: Transport<Request = StreamRequest>,
        M: Mixin,
        H: RequestHandler<StreamRequest>,
        K: Hooks,
    {
        #[cfg(feature = "tls")]
        if let Some(config) = &self.config {
            return builder.tls(config.clone());
        }
        builder
    }
}
