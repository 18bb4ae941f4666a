//! TLS for the TLS benchmark (`bench/tls.sh`, the `tls` feature): rustls configurations
//! from PEM files, every one on ring's crypto provider, and the two reference TLS echo
//! servers the `tls_servers` binary runs: [`hand`] (blocking rustls, a thread per
//! connection) and [`tokio_echo`] (tokio-rustls, a task per connection). loadgen's TLS
//! client is `crate::loadgen::tls_client`.

pub mod hand;
pub mod tokio_echo;

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// The crypto provider of every configuration of the benchmark: ring's (never aws-lc-rs).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// The certificates of the PEM file `path`, in order.
pub fn certificates(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))
}

/// A server configuration serving the certificate chain of the PEM file `cert` with the
/// private key of the PEM file `key`: TLS 1.3 and 1.2, no client authentication, rustls'
/// defaults otherwise (which include two TLS 1.3 session tickets per connection).
pub fn server_config(cert: &Path, key: &Path) -> io::Result<Arc<ServerConfig>> {
    let chain = certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| io::Error::other(format!("{}: {e}", key.display())))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(io::Error::other)?;
    Ok(Arc::new(config))
}
