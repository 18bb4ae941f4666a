//! Certificates made at test time with the `openssl` command (no key is committed): a CA,
//! server certificates for `localhost` (and 127.0.0.1, ::1) and for `other.test` signed by
//! it, a client certificate (`O=Example, CN=alice`) signed by it, and a client certificate
//! from an unrelated CA. Shared by the facade's tests and the runtime's (by path).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

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
