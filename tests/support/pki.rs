//! A throw-away public key infrastructure for the TLS tests: a test CA, an
//! unrelated CA, server certificates (a good one and one for the wrong host
//! name) and a client certificate, made with the `openssl` CLI by
//! `scripts/kafka.sh pki` (one implementation, also used when the script starts
//! a secured broker by hand).
//!
//! EC P-256 keys, PKCS#8 PEM; certificates valid from a day ago for 30 days.
//! See the `pki` function of `scripts/kafka.sh` for every file.

use std::env;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::kafka::script;
use super::unique_suffix;

/// The password of [`Pki::client_enc_key`].
pub const CLIENT_KEY_PASSWORD: &str = "client-key-pass";

/// The files of a generated PKI (all absolute paths inside [`Pki::dir`]).
#[derive(Clone, Debug)]
pub struct Pki {
    /// The folder holding everything.
    pub dir: PathBuf,
    /// The test CA's certificate: what clients trust.
    pub ca: PathBuf,
    /// The test CA's key.
    pub ca_key: PathBuf,
    /// A CA that signed none of the certificates below.
    pub other_ca: PathBuf,
    /// The brokers' certificate: SAN IP:127.0.0.1 and DNS:localhost.
    pub server_cert: PathBuf,
    /// Its key.
    pub server_key: PathBuf,
    /// Key + certificate + CA, the broker's PEM key store.
    pub server_keystore: PathBuf,
    /// A certificate signed by the test CA, valid only for DNS:wrong.invalid.
    pub badhost_cert: PathBuf,
    /// Its key.
    pub badhost_key: PathBuf,
    /// Key + certificate + CA, the BADHOST listener's key store.
    pub badhost_keystore: PathBuf,
    /// The client certificate, CN=alice-client, signed by the test CA.
    pub client_cert: PathBuf,
    /// Its key, unencrypted PKCS#8 PEM.
    pub client_key: PathBuf,
    /// The same key encrypted (PKCS#8, PBES2 with AES-256-CBC) with
    /// [`CLIENT_KEY_PASSWORD`].
    pub client_enc_key: PathBuf,
    /// The client certificate followed by the CA's.
    pub client_chain: PathBuf,
    /// `client_key` + `client_chain` in one file (`ssl.keystore.location`).
    pub client_keystore: PathBuf,
    /// `client_enc_key` + `client_chain` in one file.
    pub client_enc_keystore: PathBuf,
}

impl Pki {
    /// Generates a PKI into `dir` (kept as it is if `dir` already holds a
    /// complete one).
    pub fn generate(dir: &Path) -> io::Result<Pki> {
        let out = Command::new("bash")
            .arg(script())
            .arg("pki")
            .arg(dir)
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "scripts/kafka.sh pki {} failed ({}):\n{}{}",
                dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let f = |name: &str| dir.join(name);
        let pki = Pki {
            ca: f("ca.pem"),
            ca_key: f("ca.key"),
            other_ca: f("other-ca.pem"),
            server_cert: f("server.pem"),
            server_key: f("server.key"),
            server_keystore: f("server-keystore.pem"),
            badhost_cert: f("badhost.pem"),
            badhost_key: f("badhost.key"),
            badhost_keystore: f("badhost-keystore.pem"),
            client_cert: f("client.pem"),
            client_key: f("client.key"),
            client_enc_key: f("client-enc.key"),
            client_chain: f("client-chain.pem"),
            client_keystore: f("client-keystore.pem"),
            client_enc_keystore: f("client-enc-keystore.pem"),
            dir,
        };
        for path in pki.files() {
            if !path.is_file() {
                return Err(io::Error::other(format!(
                    "scripts/kafka.sh pki made no {}",
                    path.display()
                )));
            }
        }
        Ok(pki)
    }

    /// Generates a PKI into a fresh folder of the temp dir
    /// (`kafka-blocking-pki-{unique}`; never removed: a few kilobytes).
    pub fn temp() -> io::Result<Pki> {
        Self::generate(&env::temp_dir().join(format!("kafka-blocking-pki-{}", unique_suffix())))
    }

    /// Every file of the PKI.
    pub fn files(&self) -> [&Path; 15] {
        [
            &self.ca,
            &self.ca_key,
            &self.other_ca,
            &self.server_cert,
            &self.server_key,
            &self.server_keystore,
            &self.badhost_cert,
            &self.badhost_key,
            &self.badhost_keystore,
            &self.client_cert,
            &self.client_key,
            &self.client_enc_key,
            &self.client_chain,
            &self.client_keystore,
            &self.client_enc_keystore,
        ]
    }

    /// The text of one of the PEM files (for the inline `ssl.*` settings).
    pub fn pem(&self, path: &Path) -> String {
        fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// A path as a setting value.
    pub fn path(path: &Path) -> String {
        path.to_string_lossy().into_owned()
    }
}
