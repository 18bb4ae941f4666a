//! `TlsConfig`: the certificates a TLS server presents (one by default, others by SNI), the
//! client certificates it asks for, its ALPN list and protocol versions; loaded from PEM
//! and, for files, re-read by a reload.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;

/// What a TLS server presents and asks for: built from PEM files (or PEM bytes), checked as
/// it is built, turned into rustls's configuration (with the `ring` provider) when the
/// server binds, and re-read from its files by
/// [`ServerHandle::reload`](crate::ServerHandle::reload) (SIGHUP under
/// `serve_until_signal`).
///
/// ```no_run
/// use socketserver::tls::{ClientAuth, TlsConfig};
///
/// let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?
///     .with_server_name("api.example.com", "api-cert.pem", "api-key.pem")?
///     .with_client_ca("clients-ca.pem", ClientAuth::Required)?
///     .alpn_protocols(["h2", "http/1.1"])
///     .tls13_only();
/// # Ok::<(), socketserver::tls::TlsError>(())
/// ```
#[derive(Clone, Debug)]
pub struct TlsConfig {
    /// The certificate for clients no other one is for.
    default: Certificate,
    /// Certificates chosen by the name a client asks for (SNI).
    named: Vec<(String, Certificate)>,
    client_ca: Option<ClientCa>,
    alpn: Vec<Vec<u8>>,
    tls13_only: bool,
}

/// Whether a client must present a certificate signed by the CA of
/// [`TlsConfig::with_client_ca`] (mutual TLS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// A client without a valid certificate is refused in the handshake.
    Required,
    /// A client may present none; one it presents must be valid.
    Optional,
}

/// PEM from a file (re-read on reload) or from memory (named in errors by what it holds).
#[derive(Clone, Debug)]
enum Pem {
    File(PathBuf),
    Memory(Arc<[u8]>, &'static str),
}

impl Pem {
    fn file(path: impl AsRef<Path>) -> Pem {
        Pem::File(path.as_ref().to_path_buf())
    }

    /// The bytes, read now for a file.
    fn bytes(&self) -> Result<Arc<[u8]>, TlsError> {
        match self {
            Pem::Memory(bytes, _) => Ok(bytes.clone()),
            Pem::File(path) => std::fs::read(path)
                .map(Arc::from)
                .map_err(|e| self.error(format!("cannot read it: {e}"))),
        }
    }

    fn error(&self, message: impl Into<String>) -> TlsError {
        match self {
            Pem::File(path) => TlsError {
                file: Some(path.clone()),
                message: message.into(),
            },
            Pem::Memory(_, what) => TlsError::new(format!("{what}: {}", message.into())),
        }
    }
}

/// A certificate chain and its key, as loaded and where from.
#[derive(Clone)]
struct Certificate {
    chain: Pem,
    key: Pem,
    loaded: Arc<CertifiedKey>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("chain", &self.chain)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Certificate {
    fn load(chain: Pem, key: Pem) -> Result<Certificate, TlsError> {
        let certs = certificates(&chain)?;
        let key_bytes = key.bytes()?;
        let der = PrivateKeyDer::from_pem_slice(&key_bytes)
            .map_err(|e| key.error(format!("no private key in it ({e})")))?;
        let loaded = CertifiedKey::from_der(certs, der, &provider())
            .map_err(|e| key.error(format!("not a key for the certificate beside it: {e}")))?;
        Ok(Certificate {
            chain,
            key,
            loaded: Arc::new(loaded),
        })
    }

    fn reloaded(&self) -> Result<Certificate, TlsError> {
        Certificate::load(self.chain.clone(), self.key.clone())
    }
}

/// The certificates in `pem`, at least one.
fn certificates(pem: &Pem) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = pem.bytes()?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem.error(format!("not PEM certificates ({e})")))?;
    match certs.is_empty() {
        true => Err(pem.error("no certificate in it")),
        false => Ok(certs),
    }
}

/// The CA bundle client certificates are checked against.
#[derive(Clone)]
struct ClientCa {
    source: Pem,
    auth: ClientAuth,
    roots: Arc<RootCertStore>,
}

impl fmt::Debug for ClientCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCa")
            .field("source", &self.source)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl ClientCa {
    fn load(source: Pem, auth: ClientAuth) -> Result<ClientCa, TlsError> {
        let mut roots = RootCertStore::empty();
        for cert in certificates(&source)? {
            roots
                .add(cert)
                .map_err(|e| source.error(format!("not a CA certificate: {e}")))?;
        }
        Ok(ClientCa {
            source,
            auth,
            roots: Arc::new(roots),
        })
    }
}

/// The crypto provider every configuration uses: ring, named explicitly (with two providers
/// compiled in, rustls's `builder()` would panic).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsConfig {
    /// A configuration presenting the certificate chain in `cert` (PEM, the server's own
    /// certificate first) with the private key in `key` (PEM: PKCS#8, PKCS#1 or SEC1).
    /// Both are read now and again on every reload; an error names the file and says what
    /// is wrong with it (unreadable, no certificate, no key, a key of another certificate).
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsConfig, TlsError> {
        Certificate::load(Pem::file(cert), Pem::file(key)).map(TlsConfig::with_default)
    }

    /// [`from_pem_files`](Self::from_pem_files) for PEM held in memory (never re-read).
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<TlsConfig, TlsError> {
        let cert = Pem::Memory(cert.into(), "the certificate PEM");
        let key = Pem::Memory(key.into(), "the key PEM");
        Certificate::load(cert, key).map(TlsConfig::with_default)
    }

    fn with_default(default: Certificate) -> TlsConfig {
        TlsConfig {
            default,
            named: Vec::new(),
            client_ca: None,
            alpn: Vec::new(),
            tls13_only: false,
        }
    }

    /// Presents the chain in `cert` (with `key`) to clients that ask for `name` (SNI,
    /// compared without case; `*.example.com` stands for one label under `example.com`);
    /// the first certificate goes on serving the others.
    pub fn with_server_name(
        mut self,
        name: &str,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsConfig, TlsError> {
        let certificate = Certificate::load(Pem::file(cert), Pem::file(key))?;
        self.named.push((name.to_ascii_lowercase(), certificate));
        Ok(self)
    }

    /// Asks clients for a certificate signed by a CA in the PEM bundle `ca` (mutual TLS),
    /// required or optional; the handler sees the chain a client presented in
    /// [`TlsInfo::client_certificates`](super::TlsInfo::client_certificates).
    pub fn with_client_ca(
        mut self,
        ca: impl AsRef<Path>,
        auth: ClientAuth,
    ) -> Result<TlsConfig, TlsError> {
        self.client_ca = Some(ClientCa::load(Pem::file(ca), auth)?);
        Ok(self)
    }

    /// The application protocols offered in ALPN, most preferred first (`"h2"`,
    /// `"http/1.1"`). A client that offers ALPN and none of these is refused; one that
    /// offers none is served.
    pub fn alpn_protocols<P: AsRef<[u8]>>(
        mut self,
        protocols: impl IntoIterator<Item = P>,
    ) -> Self {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// Negotiates TLS 1.3 only (by default TLS 1.2 too).
    pub fn tls13_only(mut self) -> Self {
        self.tls13_only = true;
        self
    }

    /// The same configuration with every file read again; on an error, the error (and
    /// `self` stays as it was).
    pub(crate) fn reloaded(&self) -> Result<TlsConfig, TlsError> {
        let mut new = self.clone();
        new.default = self.default.reloaded()?;
        for (_, certificate) in &mut new.named {
            *certificate = certificate.reloaded()?;
        }
        if let Some(ca) = &self.client_ca {
            new.client_ca = Some(ClientCa::load(ca.source.clone(), ca.auth)?);
        }
        Ok(new)
    }

    /// The rustls configuration for new connections.
    pub(crate) fn to_rustls(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let versions: &[&rustls::SupportedProtocolVersion] = match self.tls13_only {
            true => &[&rustls::version::TLS13],
            false => &[&rustls::version::TLS13, &rustls::version::TLS12],
        };
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(|e| TlsError::new(format!("the protocol versions: {e}")))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(ca.roots.clone(), provider());
                let verifier = match ca.auth {
                    ClientAuth::Required => verifier,
                    ClientAuth::Optional => verifier.allow_unauthenticated(),
                };
                let verifier = verifier.build().map_err(|e| {
                    ca.source
                        .error(format!("cannot check clients with it: {e}"))
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_cert_resolver(Arc::new(ByServerName {
            default: self.default.loaded.clone(),
            named: self
                .named
                .iter()
                .map(|(name, c)| (name.clone(), c.loaded.clone()))
                .collect(),
        }));
        config.alpn_protocols = self.alpn.clone();
        Ok(Arc::new(config))
    }
}

/// Picks the certificate for the name a client asks for, the default one otherwise.
#[derive(Debug)]
struct ByServerName {
    default: Arc<CertifiedKey>,
    named: Vec<(String, Arc<CertifiedKey>)>,
}

impl ResolvesServerCert for ByServerName {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let chosen = hello.server_name().and_then(|asked| {
            self.named
                .iter()
                .find(|(name, _)| name_matches(name, asked))
                .map(|(_, key)| key)
        });
        Some(chosen.unwrap_or(&self.default).clone())
    }
}

/// Whether `pattern` (lowercase; `*.` first for one label) is for the name `asked`.
fn name_matches(pattern: &str, asked: &str) -> bool {
    match pattern.strip_prefix("*.") {
        None => pattern.eq_ignore_ascii_case(asked),
        Some(parent) => asked
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest.eq_ignore_ascii_case(parent)),
    }
}

/// A TLS configuration that cannot be used: the file it comes from, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsError {
    file: Option<PathBuf>,
    message: String,
}

impl TlsError {
    fn new(message: String) -> TlsError {
        TlsError {
            file: None,
            message,
        }
    }

    /// The file at fault, when it came from one.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}: {}", file.display(), self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for TlsError {}

impl From<TlsError> for std::io::Error {
    fn from(e: TlsError) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    }
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn server_names_match_exactly_or_by_one_wildcard_label() {
        assert!(name_matches("a.example", "A.Example"));
        assert!(!name_matches("a.example", "b.example"));
        assert!(name_matches("*.example", "api.example"));
        assert!(!name_matches("*.example", "example"));
        assert!(!name_matches("*.example", "a.b.example"));
        assert!(!name_matches("*.example", ".example"));
    }
}
