//! TLS for broker connections (cargo feature `tls`): `security.protocol` SSL
//! and SASL_SSL.
//!
//! Built on rustls with the ring provider (no C library beyond what ring
//! compiles with the system C compiler), PEM parsing from `rustls-pki-types`,
//! the operating system's trust store from `rustls-native-certs` when no CA is
//! given, and RustCrypto's `pkcs8` for encrypted private keys
//! (`ssl.key.password`). The Java client's setting names are read, PEM only
//! (JKS and PKCS12 stores are refused with the command that converts them),
//! plus librdkafka's `ssl.ca.location`, `ssl.certificate.location` and
//! `ssl.key.location`.
//!
//! The handshake runs on the connecting thread before the connection's reader
//! thread starts; afterwards the session is shared by the reader (decrypts)
//! and the writers (encrypt) — see `TlsSession` for why that
//! cannot deadlock.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct,
    RootCertStore, SignatureScheme,
};

use crate::config::TlsOptions;
use crate::error::{Error, Result};

/// The TLS half of a client's security settings: whom to trust, what to
/// present, whether the broker's host name is checked.
#[derive(Clone)]
pub struct TlsSettings {
    config: Arc<ClientConfig>,
    check_host_name: bool,
    /// Where the trusted CAs came from, for error messages.
    trust_source: String,
    has_client_certificate: bool,
}

impl fmt::Debug for TlsSettings {
    /// No key material: only where trust comes from and what is checked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("trust", &self.trust_source)
            .field("check_host_name", &self.check_host_name)
            .field("client_certificate", &self.has_client_certificate)
            .finish()
    }
}

/// One of two alias settings (Java's and librdkafka's name, with their
/// values); both set to different values is an error naming both.
fn aliased<'a>(
    (java, a): (&str, &'a Option<String>),
    (librdkafka, b): (&str, &'a Option<String>),
) -> Result<Option<&'a str>> {
    match (a.as_deref(), b.as_deref()) {
        (Some(a), Some(b)) if a != b => Err(Error::config(
            librdkafka,
            b,
            format!("{java} is also set, to \"{a}\": set only one of the two (they are aliases)"),
        )),
        (a, b) => Ok(a.or(b)),
    }
}

fn read_file(key: &str, path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::config(key, path, format!("cannot read the file: {e}")))
}

fn pem_only(key: &str, t: &str) -> Result<()> {
    if t.eq_ignore_ascii_case("pem") {
        return Ok(());
    }
    let how = if key.contains("truststore") {
        "convert it with `keytool -exportcert -rfc -keystore STORE -alias ALIAS > ca.pem` (JKS/PKCS12)"
    } else {
        "convert it with `openssl pkcs12 -in store.p12 -nodes -out client.pem` (PKCS12; for JKS first `keytool -importkeystore -deststoretype PKCS12`)"
    };
    Err(Error::config(
        key,
        t,
        format!("only PEM is supported by this client; {how}"),
    ))
}

fn certificates(key: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    if pem.starts_with(&[0xFE, 0xED, 0xFE, 0xED]) {
        return Err(Error::config(
            key,
            "[file]",
            "this is a Java KeyStore (JKS), and only PEM is supported: convert it with `keytool -exportcert -rfc -keystore STORE -alias ALIAS > cert.pem` (and the key with keytool -importkeystore to PKCS12, then openssl pkcs12 -nodes)",
        ));
    }
    if pem.first() == Some(&0x30) {
        return Err(Error::config(
            key,
            "[file]",
            "this is a binary (DER or PKCS12) file, and only PEM is supported: convert it with `openssl x509 -inform der -in FILE -out cert.pem` or `openssl pkcs12 -in FILE -nodes -out client.pem`",
        ));
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::config(key, "[PEM]", format!("not valid PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(Error::config(
            key,
            "[PEM]",
            "no certificate found (expected -----BEGIN CERTIFICATE----- blocks)",
        ));
    }
    Ok(certs)
}

/// The private key in `pem`: PKCS#8, PKCS#1 (RSA) or SEC1 (EC), or an
/// encrypted PKCS#8 key (`ENCRYPTED PRIVATE KEY`, PBES2) opened with
/// `ssl.key.password`. Never echoes the key or the password in errors.
fn private_key(key: &str, pem: &[u8], password: Option<&str>) -> Result<PrivateKeyDer<'static>> {
    let text = String::from_utf8_lossy(pem);
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        let Some(password) = password else {
            return Err(Error::config(
                "ssl.key.password",
                "",
                format!("the private key in {key} is encrypted: set ssl.key.password"),
            ));
        };
        use pkcs8::der::pem::PemLabel;
        // Only the key's own block: a key store file holds certificates too.
        const BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
        const END: &str = "-----END ENCRYPTED PRIVATE KEY-----";
        let block = text
            .find(BEGIN)
            .and_then(|start| {
                text[start..]
                    .find(END)
                    .map(|end| &text[start..start + end + END.len()])
            })
            .ok_or_else(|| {
                Error::config(
                    key,
                    "[hidden]",
                    "the encrypted private key block has no end line",
                )
            })?;
        let (label, doc) = pkcs8::der::SecretDocument::from_pem(block).map_err(|e| {
            Error::config(
                key,
                "[hidden]",
                format!("not a valid encrypted PEM key: {e}"),
            )
        })?;
        if label != pkcs8::EncryptedPrivateKeyInfo::PEM_LABEL {
            return Err(Error::config(key, "[hidden]", "unexpected PEM label"));
        }
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes()).map_err(|e| {
            Error::config(
                key,
                "[hidden]",
                format!("not a valid encrypted PKCS#8 key: {e}"),
            )
        })?;
        let plain = info.decrypt(password).map_err(|_| {
            Error::config(
                "ssl.key.password",
                "[hidden]",
                format!(
                    "cannot decrypt the private key in {key}: wrong password, or an encryption scheme other than PBES2 (re-encrypt with `openssl pkcs8 -topk8 -v2 aes-256-cbc`)"
                ),
            )
        })?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )));
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
        Error::config(
            key,
            "[hidden]",
            format!("no usable private key found (PKCS#8, PKCS#1 or SEC1 PEM expected): {e}"),
        )
    })
}

impl TlsSettings {
    /// Checks the `ssl.*` settings and reads the files they name; fails on
    /// anything unreadable now rather than at the first connect.
    pub(crate) fn from_settings(c: &TlsOptions) -> Result<TlsSettings> {
        pem_only("ssl.truststore.type", &c.truststore_type)?;
        pem_only("ssl.keystore.type", &c.keystore_type)?;
        let protocol = c.protocol.as_str();
        let enabled_protocols = c.enabled_protocols.join(",");
        if !["tls", "tlsv1.2", "tlsv1.3"].contains(&protocol.to_ascii_lowercase().as_str()) {
            return Err(Error::config(
                "ssl.protocol",
                protocol,
                "expected TLSv1.3, TLSv1.2 or TLS (rustls implements TLS 1.2 and 1.3 only)",
            ));
        }
        let mut versions = Vec::new();
        for p in &c.enabled_protocols {
            match p.to_ascii_lowercase().as_str() {
                "tlsv1.3" => versions.push(&rustls::version::TLS13),
                "tlsv1.2" => versions.push(&rustls::version::TLS12),
                "tlsv1.1" | "tlsv1" | "sslv3" => log::warn!(
                    "ssl.enabled.protocols: {p} is not supported (insecure, not implemented by rustls) and is ignored"
                ),
                _ => {
                    return Err(Error::config(
                        "ssl.enabled.protocols",
                        &enabled_protocols,
                        "expected TLSv1.2 and/or TLSv1.3 (older versions are insecure and not implemented by rustls)",
                    ));
                }
            }
        }
        if versions.is_empty() {
            return Err(Error::config(
                "ssl.enabled.protocols",
                &enabled_protocols,
                "names no protocol this client implements: include TLSv1.2 or TLSv1.3",
            ));
        }
        let check_host_name = match c.endpoint_identification_algorithm.as_str() {
            "" => false,
            a if a.eq_ignore_ascii_case("https") => true,
            a => {
                return Err(Error::config(
                    "ssl.endpoint.identification.algorithm",
                    a,
                    "expected https (the broker's certificate must match its host name) or an empty value (not checked)",
                ));
            }
        };

        // Whom to trust.
        let mut roots = RootCertStore::empty();
        let inline = c.truststore_certificates.as_deref();
        let file = aliased(
            ("ssl.truststore.location", &c.truststore_location),
            ("ssl.ca.location", &c.ca_location),
        )?;
        let trust_source = match (inline, file) {
            (Some(_), Some(path)) => {
                return Err(Error::config(
                    "ssl.truststore.certificates",
                    "[PEM]",
                    format!(
                        "ssl.truststore.location is also set ({path}): give the CA certificates one way"
                    ),
                ));
            }
            (Some(pem), None) => {
                for cert in certificates("ssl.truststore.certificates", pem.as_bytes())? {
                    roots.add(cert).map_err(|e| {
                        Error::config("ssl.truststore.certificates", "[PEM]", e.to_string())
                    })?;
                }
                "the CA certificates in ssl.truststore.certificates".to_string()
            }
            (None, Some(path)) => {
                let key = if c.truststore_location.is_some() {
                    "ssl.truststore.location"
                } else {
                    "ssl.ca.location"
                };
                for cert in certificates(key, &read_file(key, path)?)? {
                    roots
                        .add(cert)
                        .map_err(|e| Error::config(key, path, e.to_string()))?;
                }
                format!("the CA certificates in {path} ({key})")
            }
            (None, None) => {
                let found = rustls_native_certs::load_native_certs();
                for e in &found.errors {
                    log::warn!("reading the system trust store: {e}");
                }
                let (added, _ignored) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(Error::config(
                        "ssl.truststore.location",
                        "",
                        "not set, and the system trust store has no usable CA certificate: give the broker's CA as a PEM file (or install the ca-certificates package)",
                    ));
                }
                "the system trust store".to_string()
            }
        };
        let roots = Arc::new(roots);

        // What to present (mutual TLS).
        let password = c.key_password.as_deref();
        let client_auth: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> = {
            let keystore = c.keystore_location.as_deref();
            let key_text = c.keystore_key.as_deref();
            let chain_text = c.keystore_certificate_chain.as_deref();
            let cert_file = c.certificate_location.as_deref();
            let key_file = c.key_location.as_deref();
            let forms = [
                keystore.is_some(),
                key_text.is_some() || chain_text.is_some(),
                cert_file.is_some() || key_file.is_some(),
            ];
            if forms.iter().filter(|f| **f).count() > 1 {
                return Err(Error::config(
                    "ssl.keystore.location",
                    keystore.unwrap_or(""),
                    "give the client certificate one way: ssl.keystore.location (PEM with key and chain), or ssl.keystore.key with ssl.keystore.certificate.chain, or ssl.certificate.location with ssl.key.location",
                ));
            }
            if let Some(path) = keystore {
                let pem = read_file("ssl.keystore.location", path)?;
                Some((
                    certificates("ssl.keystore.location", &pem)?,
                    private_key("ssl.keystore.location", &pem, password)?,
                ))
            } else if key_text.is_some() || chain_text.is_some() {
                let (Some(k), Some(ch)) = (key_text, chain_text) else {
                    return Err(Error::config(
                        if key_text.is_none() {
                            "ssl.keystore.key"
                        } else {
                            "ssl.keystore.certificate.chain"
                        },
                        "",
                        "ssl.keystore.key and ssl.keystore.certificate.chain go together: set both",
                    ));
                };
                Some((
                    certificates("ssl.keystore.certificate.chain", ch.as_bytes())?,
                    private_key("ssl.keystore.key", k.as_bytes(), password)?,
                ))
            } else if cert_file.is_some() || key_file.is_some() {
                let (Some(cf), Some(kf)) = (cert_file, key_file) else {
                    return Err(Error::config(
                        if cert_file.is_none() {
                            "ssl.certificate.location"
                        } else {
                            "ssl.key.location"
                        },
                        "",
                        "ssl.certificate.location and ssl.key.location go together: set both",
                    ));
                };
                Some((
                    certificates(
                        "ssl.certificate.location",
                        &read_file("ssl.certificate.location", cf)?,
                    )?,
                    private_key(
                        "ssl.key.location",
                        &read_file("ssl.key.location", kf)?,
                        password,
                    )?,
                ))
            } else {
                None
            }
        };

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| {
                Error::config("ssl.enabled.protocols", &enabled_protocols, e.to_string())
            })?;
        let builder = if check_host_name {
            builder.with_root_certificates(roots)
        } else {
            let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| Error::config("ssl.truststore.location", "", e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyHostName { inner }))
        };
        let has_client_certificate = client_auth.is_some();
        let config = match client_auth {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
                Error::config(
                    "ssl.keystore.key",
                    "[hidden]",
                    format!("the client certificate and key do not form a usable pair: {e}"),
                )
            })?,
            None => builder.with_no_client_auth(),
        };
        Ok(TlsSettings {
            config: Arc::new(config),
            check_host_name,
            trust_source,
            has_client_certificate,
        })
    }

    /// Runs the TLS handshake on `tcp` (blocking, bounded by `timeout`) for
    /// the broker at `host`, and returns the established session.
    pub(crate) fn handshake(
        &self,
        tcp: &mut TcpStream,
        host: &str,
        label: &str,
        timeout: Duration,
    ) -> Result<ClientConnection> {
        let name = ServerName::try_from(host.to_string()).map_err(|_| Error::Tls {
            broker: label.to_string(),
            message: format!("\"{host}\" is not a valid DNS name or IP address for TLS"),
        })?;
        let mut conn =
            ClientConnection::new(self.config.clone(), name).map_err(|e| Error::Tls {
                broker: label.to_string(),
                message: e.to_string(),
            })?;
        let io_err = |source| Error::Io {
            broker: label.to_string(),
            source,
        };
        tcp.set_read_timeout(Some(timeout)).map_err(io_err)?;
        tcp.set_write_timeout(Some(timeout)).map_err(io_err)?;
        while conn.is_handshaking() {
            if let Err(e) = conn.complete_io(tcp) {
                return Err(self.handshake_error(host, label, timeout, e));
            }
        }
        // Our Finished out now. (TLS 1.3 refuses a client certificate with an
        // alert after the client considers the handshake done: the reader
        // reports it as Error::Tls on the first response, see read_full.)
        while conn.wants_write() {
            conn.write_tls(tcp).map_err(io_err)?;
        }
        // Writers encrypt at most WRITE_CHUNK at a time and drain at once, so
        // no limit is needed; with rustls's default 64 KiB limit a chunk could
        // be refused in part after a key update queued a few bytes ahead.
        conn.set_buffer_limit(None);
        tcp.set_write_timeout(None).map_err(io_err)?;
        log::debug!(
            "TLS with broker {label}: {}, {}",
            conn.protocol_version().map(enum_name).unwrap_or_default(),
            conn.negotiated_cipher_suite()
                .map(|s| enum_name(s.suite()))
                .unwrap_or_default()
        );
        Ok(conn)
    }

    /// Turns a handshake failure into an error that names the check that
    /// failed and the setting to look at.
    fn handshake_error(&self, host: &str, label: &str, timeout: Duration, e: io::Error) -> Error {
        let tls = |message: String| Error::Tls {
            broker: label.to_string(),
            message,
        };
        let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
            // A dropped connection is retriable, as in Java: it is also what a
            // broker at max.connections, a restart or a load balancer does.
            return match e.kind() {
                io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted => Error::Io {
                    broker: label.to_string(),
                    source: io::Error::new(
                        e.kind(),
                        format!(
                            "the broker closed the connection during the TLS handshake ({e}): if this persists, the listener probably does not use TLS (security.protocol PLAINTEXT or SASL_PLAINTEXT)"
                        ),
                    ),
                },
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout {
                    what: format!(
                        "TLS handshake with broker {label} got no answer (socket.connection.setup.timeout.ms): is this a TLS listener?"
                    ),
                    after: timeout,
                },
                _ => Error::Io {
                    broker: label.to_string(),
                    source: e,
                },
            };
        };
        tls(self.describe(host, inner))
    }

    /// What a TLS failure means for the user, naming the setting to check.
    pub(crate) fn describe(&self, host: &str, e: &rustls::Error) -> String {
        match e {
            rustls::Error::InvalidCertificate(cert) => {
                match cert {
                    CertificateError::UnknownIssuer => format!(
                        "certificate verify failed: unknown issuer: the broker's certificate is not signed by a CA we trust ({}); check ssl.truststore.location",
                        self.trust_source
                    ),
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. } => format!(
                        "certificate verify failed: the broker's certificate is not valid for name \"{host}\" (the host in bootstrap.servers or the broker's advertised listener); fix the certificate's subject alternative names, or set ssl.endpoint.identification.algorithm= (empty) to skip the host name check"
                    ),
                    CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                        "certificate verify failed: the broker's certificate has expired".into()
                    }
                    CertificateError::NotValidYet
                    | CertificateError::NotValidYetContext { .. } => {
                        "certificate verify failed: the broker's certificate is not valid yet (check the clocks)".into()
                    }
                    CertificateError::Revoked => {
                        "certificate verify failed: the broker's certificate is revoked".into()
                    }
                    other => format!("certificate verify failed: {}", enum_name(other)),
                }
            }
            rustls::Error::AlertReceived(alert) => match alert {
                AlertDescription::HandshakeFailure => format!(
                    "the broker refused the handshake ({}): no TLS version or cipher suite in common (check ssl.enabled.protocols), or it requires a client certificate{}",
                    enum_name(alert),
                    if self.has_client_certificate {
                        " it does not accept"
                    } else {
                        " (ssl.client.auth=required; set ssl.keystore.location)"
                    }
                ),
                AlertDescription::CertificateRequired
                | AlertDescription::BadCertificate
                | AlertDescription::UnknownCA
                    if !self.has_client_certificate =>
                {
                    format!(
                        "the broker refused the handshake ({}): it probably requires a client certificate (ssl.client.auth=required); set ssl.keystore.location or ssl.keystore.key and ssl.keystore.certificate.chain",
                        enum_name(alert)
                    )
                }
                AlertDescription::BadCertificate
                | AlertDescription::UnknownCA
                | AlertDescription::CertificateUnknown
                | AlertDescription::CertificateRequired => format!(
                    "the broker refused our client certificate ({}): is it signed by a CA the broker's truststore holds?",
                    enum_name(alert)
                ),
                AlertDescription::ProtocolVersion => format!(
                    "the broker refused the TLS version ({}): check ssl.enabled.protocols on both sides",
                    enum_name(alert)
                ),
                other => format!("the broker ended the handshake with alert {}", enum_name(other)),
            },
            rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
                format!(
                    "the broker did not answer with TLS ({e}): is this a PLAINTEXT or SASL_PLAINTEXT listener? check security.protocol"
                )
            }
            other => other.to_string(),
        }
    }
}

/// True for the alerts a broker sends when it refuses our client certificate.
pub(crate) fn is_certificate_refusal(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired
                | AlertDescription::BadCertificate
                | AlertDescription::UnknownCA
                | AlertDescription::CertificateUnknown
                | AlertDescription::UnsupportedCertificate
                | AlertDescription::CertificateRevoked
                | AlertDescription::CertificateExpired
                | AlertDescription::AccessDenied
        )
    )
}

/// The name of a rustls enum value (they have no `Display`), e.g. `UnknownIssuer`.
fn enum_name(value: impl fmt::Debug) -> String {
    format!("{value:?}")
}

/// The `ssl.endpoint.identification.algorithm=` (empty) verifier: the chain
/// must still lead to a trusted CA; only the host name is not compared (the
/// name check is the last step of WebPKI's verification, after the chain).
#[derive(Debug)]
struct AnyHostName {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Largest plaintext piece encrypted at once by a writer: bounds the
/// ciphertext buffer and the time the session lock is held.
const WRITE_CHUNK: usize = 64 * 1024;

/// One TLS session shared by a connection's reader thread and its writers.
///
/// Lock order, which rules out deadlock: a writer holds the connection's
/// write lock (socket writes are serialized by it, so TLS records reach the
/// socket in the order they were sealed) and takes the session lock only to
/// encrypt, never while doing I/O; the reader takes the session lock only to
/// feed ciphertext and take plaintext, never while doing I/O, and never
/// writes: records the session makes on its own (a KeyUpdate reply) go out
/// ahead of the next writer's data, which rustls queues them for.
pub(crate) struct TlsSession {
    conn: Mutex<ClientConnection>,
}

impl TlsSession {
    pub(crate) fn new(conn: ClientConnection) -> Arc<TlsSession> {
        Arc::new(TlsSession {
            conn: Mutex::new(conn),
        })
    }

    /// Encrypts `data` into `out` (ciphertext appended).
    fn encrypt(&self, data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let mut c = self.conn.lock().unwrap();
        c.writer().write_all(data)?;
        self.drain_locked(&mut c, out)
    }

    fn drain_locked(&self, c: &mut ClientConnection, out: &mut Vec<u8>) -> io::Result<()> {
        while c.wants_write() {
            c.write_tls(out)?;
        }
        Ok(())
    }
}

/// The write side of a TLS connection: encrypts under the session lock, then
/// writes the ciphertext to the socket outside it.
pub(crate) struct TlsWriter {
    tcp: TcpStream,
    session: Arc<TlsSession>,
    cipher: Vec<u8>,
}

impl TlsWriter {
    pub(crate) fn new(tcp: TcpStream, session: Arc<TlsSession>) -> TlsWriter {
        TlsWriter {
            tcp,
            session,
            cipher: Vec::new(),
        }
    }

    /// Encrypts and sends `data` (the caller holds the connection's write lock).
    pub(crate) fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        for chunk in data.chunks(WRITE_CHUNK) {
            self.cipher.clear();
            self.session.encrypt(chunk, &mut self.cipher)?;
            self.tcp.write_all(&self.cipher)?;
        }
        if self.cipher.capacity() > 4 * WRITE_CHUNK {
            self.cipher = Vec::new();
        }
        Ok(())
    }
}

/// The read side of a TLS connection, used by the reader thread only.
pub(crate) struct TlsReader {
    tcp: TcpStream,
    session: Arc<TlsSession>,
    /// Ciphertext read from the socket and not yet accepted by the session.
    pending: Vec<u8>,
    start: usize,
    buf: Box<[u8]>,
}

impl TlsReader {
    pub(crate) fn new(tcp: TcpStream, session: Arc<TlsSession>) -> TlsReader {
        TlsReader {
            tcp,
            session,
            pending: Vec::new(),
            start: 0,
            buf: vec![0; 32 * 1024].into_boxed_slice(),
        }
    }

    /// The socket, for timeouts.
    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// Feeds pending ciphertext and copies out plaintext: `Some(n)` when `out`
    /// got `n` bytes (0 = the broker closed the TLS session cleanly), `None`
    /// when more ciphertext is needed.
    fn step(&mut self, out: &mut [u8]) -> io::Result<Option<usize>> {
        let mut c = self.session.conn.lock().unwrap();
        while self.start < self.pending.len() {
            let mut rest = &self.pending[self.start..];
            match c.read_tls(&mut rest) {
                Ok(n) => self.start += n,
                // The session's plaintext buffer is full: hand plaintext out first.
                Err(e) if e.kind() == io::ErrorKind::Other => break,
                Err(e) => return Err(e),
            }
            c.process_new_packets().map_err(io::Error::other)?;
            if self.start == self.pending.len() {
                self.pending.clear();
                self.start = 0;
            }
            if !c.wants_read() {
                break;
            }
        }
        match c.reader().read(out) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Read for TlsReader {
    /// Reads plaintext. Socket timeouts come through as `WouldBlock` /
    /// `TimedOut`, as for a plain socket; the end of the TCP stream as
    /// `Ok(0)`, with or without the broker's close_notify.
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(n) = self.step(out)? {
                return Ok(n);
            }
            let n = self.tcp.read(&mut self.buf)?;
            if n == 0 {
                return Ok(0);
            }
            self.pending.extend_from_slice(&self.buf[..n]);
        }
    }
}
