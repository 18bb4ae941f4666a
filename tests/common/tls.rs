//! What the TLS tests share (the facade's, and the runtime's by path): certificates made at
//! test time with the `openssl` command (no key is committed), and the Python client
//! `tls_client.py` beside this file.
//!
//! The certificates: a CA, server certificates for `localhost` (and 127.0.0.1, ::1) and
//! for `other.test` signed by it, a client certificate (`O=Example, CN=alice`) signed by
//! it, and a client certificate from an unrelated CA.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

// Here, since the runtime's tests take this file alone; `mod.rs` uses it from here.
#[path = "exit_cleanup.rs"]
pub mod exit_cleanup;

/// The files of one set of certificates, each a PEM file in one directory.
pub struct Certs {
    pub dir: PathBuf,
}

impl Certs {
    /// A file of the set: `ca.pem`, `server.pem`/`server.key` (localhost), `other.pem`/
    /// `other.key` (other.test), `second.pem`/`second.key` (localhost, another serial and
    /// `O=Second`), `alice.pem`/`alice.key` (client), `mallory.pem`/`mallory.key` (client of
    /// the unrelated CA).
    pub fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

/// The certificates of this test process, made on first use.
pub fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("socketserver-certs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        exit_cleanup::remove_at_exit(dir.clone());
        ca(&dir, "ca", "Test CA");
        ca(&dir, "other-ca", "Unrelated CA");
        let server =
            "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth";
        signed(&dir, "server", "/CN=localhost", "ca", server);
        signed(&dir, "second", "/O=Second/CN=localhost", "ca", server);
        let other = "subjectAltName=DNS:other.test\nextendedKeyUsage=serverAuth";
        signed(&dir, "other", "/CN=other.test", "ca", other);
        let client = "extendedKeyUsage=clientAuth";
        signed(&dir, "alice", "/O=Example/CN=alice", "ca", client);
        signed(&dir, "mallory", "/CN=mallory", "other-ca", client);
        Certs { dir }
    })
}

/// A self-signed CA `name.pem` with key `name.key`.
fn ca(dir: &Path, name: &str, cn: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "3",
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// A certificate `name.pem` (key `name.key`) for `subject`, signed by CA `ca`, with the
/// extensions `extensions` (lines of `key=value`).
fn signed(dir: &Path, name: &str, subject: &str, ca: &str, extensions: &str) {
    std::fs::write(dir.join(format!("{name}.ext")), extensions).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-days",
            "3",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command (it makes the test certificates)");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `tls_client.py` (Python's ssl module) against `address` (`family` inet or unix)
/// with `args` (`key=value`, see the script), trusting the test CA; what it said, by key.
pub fn tls_client(family: &str, address: &str, args: &[&str]) -> HashMap<String, String> {
    let script = Path::new(file!()).with_file_name("tls_client.py");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join(&script))
        .find(|path| path.exists())
        .expect("tls_client.py beside tls.rs");
    let out = Command::new("python3")
        .arg(script)
        .arg(format!("family={family}"))
        .arg(format!("address={address}"))
        .arg(format!("ca={}", certs().file("ca.pem")))
        .args(args)
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The client echoed what it sent and closed with close_notify both ways.
pub fn assert_echoed(said: &HashMap<String, String>) {
    assert_eq!(said.get("error"), None, "{said:?}");
    assert_eq!(said["echoed"], "yes", "{said:?}");
    assert_eq!(said["closed"], "clean", "{said:?}");
}
