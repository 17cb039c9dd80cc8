//! SASL/SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), as Kafka's
//! `ScramSaslClient`: client-first-message, server-first-message,
//! client-final-message with the proof, server-final-message whose server
//! signature is verified, so that a broker that does not know the password
//! (a fake broker) is detected. Channel binding is not used (`n,,`), nor
//! delegation tokens (`tokenauth`).
//!
//! The cryptography is RustCrypto's (`sha2`, `hmac`, `pbkdf2`); this file only
//! composes it as the RFC says.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::{Mechanism, SaslSession, auth_failed, server_text};
use crate::error::{Error, Result};

/// Iteration counts accepted in server-first-message: at least 4096 (RFC
/// 7677's minimum, which Kafka's brokers enforce and Java's client checks: a
/// lower count only helps a fake broker get a cheap proof to attack offline);
/// the cap, Kafka's own maximum (ScramMechanism), keeps a hostile server from
/// making the client spin in PBKDF2 while it holds the connection.
const MIN_ITERATIONS: u32 = 4096;
const MAX_ITERATIONS: u32 = 16_384;

/// Random bytes in the client nonce (base64: 43 printable characters).
const NONCE_BYTES: usize = 32;

/// `c=` of client-final-message: base64 of the GS2 header `n,,` (no channel
/// binding, no authzid).
const CHANNEL_BINDING: &str = "biws";

/// The hash function H of the mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScramHash {
    Sha256,
    Sha512,
}

fn hmac_with<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let mut mac = <M as KeyInit>::new_from_slice(key).ok()?;
    Mac::update(&mut mac, data);
    Some(mac.finalize().into_bytes().to_vec())
}

/// Constant-time comparison of `tag` with HMAC(key, data).
fn verify_with<M: Mac + KeyInit>(key: &[u8], data: &[u8], tag: &[u8]) -> Option<bool> {
    let mut mac = <M as KeyInit>::new_from_slice(key).ok()?;
    Mac::update(&mut mac, data);
    Some(mac.verify_slice(tag).is_ok())
}

impl ScramHash {
    fn of(mechanism: Mechanism) -> Option<ScramHash> {
        match mechanism {
            Mechanism::ScramSha256 => Some(ScramHash::Sha256),
            Mechanism::ScramSha512 => Some(ScramHash::Sha512),
            Mechanism::Plain | Mechanism::OAuthBearer => None,
        }
    }

    /// H(data).
    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
            ScramHash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// HMAC(key, data). `None` never happens (HMAC takes keys of any length)
    /// but is not unwrapped.
    fn hmac(self, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
        match self {
            ScramHash::Sha256 => hmac_with::<Hmac<Sha256>>(key, data),
            ScramHash::Sha512 => hmac_with::<Hmac<Sha512>>(key, data),
        }
    }

    fn verify_hmac(self, key: &[u8], data: &[u8], tag: &[u8]) -> Option<bool> {
        match self {
            ScramHash::Sha256 => verify_with::<Hmac<Sha256>>(key, data, tag),
            ScramHash::Sha512 => verify_with::<Hmac<Sha512>>(key, data, tag),
        }
    }

    /// SaltedPassword := Hi(password, salt, i), i.e. PBKDF2 with HMAC-H and
    /// an output as long as H's.
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => {
                let mut out = vec![0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out
            }
            ScramHash::Sha512 => {
                let mut out = vec![0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out
            }
        }
    }
}

/// `saslname` of RFC 5802: `,` as `=2C` and `=` as `=3D` (Kafka applies no
/// SASLprep either).
fn sasl_name(username: &str) -> String {
    username.replace('=', "=3D").replace(',', "=2C")
}

/// RFC 5802's `printable`: ASCII 0x21-0x7E except `,`.
fn is_printable(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// The attributes of a SCRAM message: `name=value` separated by commas.
fn attributes(message: &[u8], which: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let text = std::str::from_utf8(message).map_err(|_| format!("{which} is not UTF-8"))?;
    if text.is_empty() {
        return Err(format!("{which} is empty"));
    }
    text.split(',')
        .map(|attr| match attr.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
            _ => Err(format!("{which} has an attribute that is not name=value")),
        })
        .collect()
}

/// What server-first-message carries.
#[derive(Debug, PartialEq, Eq)]
struct ServerFirst {
    /// The client nonce followed by the server's.
    nonce: String,
    salt: Vec<u8>,
    iterations: u32,
}

/// Parses `[m=...,]r=<nonce>,s=<salt>,i=<iterations>[,extensions]` strictly.
fn parse_server_first(message: &[u8]) -> std::result::Result<ServerFirst, String> {
    const WHICH: &str = "server-first-message";
    let attrs = attributes(message, WHICH)?;
    if attrs.iter().any(|(name, _)| name == "m") {
        return Err(format!(
            "{WHICH} has a mandatory extension (m=) that this client does not support"
        ));
    }
    let find = |name: &str| -> std::result::Result<(usize, &str), String> {
        let mut found = attrs.iter().enumerate().filter(|(_, (n, _))| n == name);
        match (found.next(), found.next()) {
            (Some((at, (_, value))), None) => Ok((at, value.as_str())),
            (Some(_), Some(_)) => Err(format!("{WHICH} has more than one {name}= attribute")),
            (None, _) => Err(format!("{WHICH} has no {name}= attribute")),
        }
    };
    let (r_at, nonce) = find("r")?;
    let (s_at, salt) = find("s")?;
    let (i_at, iterations) = find("i")?;
    if (r_at, s_at, i_at) != (0, 1, 2) {
        return Err(format!(
            "{WHICH} must start with r=, s=, i= in this order (RFC 5802)"
        ));
    }
    if !is_printable(nonce) {
        return Err(format!(
            "{WHICH} has a nonce (r=) that is empty or not printable ASCII"
        ));
    }
    let salt = STANDARD
        .decode(salt)
        .map_err(|_| format!("{WHICH} has a salt (s=) that is not valid base64"))?;
    if salt.is_empty() {
        return Err(format!("{WHICH} has an empty salt (s=)"));
    }
    let iterations = if !iterations.is_empty() && iterations.bytes().all(|b| b.is_ascii_digit()) {
        iterations.parse::<u32>().ok()
    } else {
        None
    };
    match iterations {
        Some(i) if (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&i) => Ok(ServerFirst {
            nonce: nonce.to_string(),
            salt,
            iterations: i,
        }),
        _ => Err(format!(
            "{WHICH} has an iteration count (i=) that is not a number from {MIN_ITERATIONS} to {MAX_ITERATIONS}"
        )),
    }
}

/// Where the exchange is. The keys kept between steps derive from the
/// password, so `Debug` shows the step only.
enum State {
    Start,
    ClientFirstSent {
        client_first_bare: String,
    },
    ClientFinalSent {
        server_key: Vec<u8>,
        auth_message: String,
    },
    Complete,
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Start => "Start",
            State::ClientFirstSent { .. } => "ClientFirstSent",
            State::ClientFinalSent { .. } => "ClientFinalSent",
            State::Complete => "Complete",
            State::Failed => "Failed",
        }
    }
}

/// One SCRAM exchange.
pub(super) struct ScramSession {
    mechanism: Mechanism,
    hash: ScramHash,
    username: String,
    password: String,
    client_nonce: String,
    state: State,
}

impl fmt::Debug for ScramSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramSession")
            .field("mechanism", &self.mechanism.name())
            .field("username", &self.username)
            .field("password", &super::HIDDEN)
            .field("state", &self.state.name())
            .finish()
    }
}

impl ScramSession {
    /// A session with a fresh client nonce from the OS's random source.
    pub(super) fn new(
        mechanism: Mechanism,
        username: &str,
        password: &str,
    ) -> Result<ScramSession> {
        let mut bytes = [0u8; NONCE_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| {
            auth_failed(
                mechanism,
                username,
                format!("could not get random bytes for the client nonce from the OS: {e}"),
            )
        })?;
        // Base64 without padding is printable and has no ','.
        ScramSession::with_nonce(mechanism, username, password, STANDARD_NO_PAD.encode(bytes))
    }

    /// A session with a given client nonce (the tests' fixed vectors).
    fn with_nonce(
        mechanism: Mechanism,
        username: &str,
        password: &str,
        client_nonce: String,
    ) -> Result<ScramSession> {
        let hash = ScramHash::of(mechanism)
            .ok_or_else(|| auth_failed(mechanism, username, "not a SCRAM mechanism"))?;
        Ok(ScramSession {
            mechanism,
            hash,
            username: username.to_string(),
            password: password.to_string(),
            client_nonce,
            state: State::Start,
        })
    }

    fn fail(&mut self, message: impl Into<String>) -> Error {
        self.state = State::Failed;
        auth_failed(self.mechanism, &self.username, message)
    }

    /// server-first-message in, client-final-message out.
    fn client_final(
        &mut self,
        client_first_bare: &str,
        server_first: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        let first = match parse_server_first(server_first) {
            Ok(first) => first,
            Err(e) => return Err(self.fail(e)),
        };
        // The server must extend our nonce, or this reply is not to our
        // client-first-message (RFC 5802 section 5.1).
        if !first.nonce.starts_with(&self.client_nonce)
            || first.nonce.len() <= self.client_nonce.len()
        {
            return Err(self.fail(
                "the server nonce (r=) in server-first-message does not extend the client nonce",
            ));
        }
        // parse_server_first checked that it is UTF-8.
        let server_first = String::from_utf8_lossy(server_first);
        let h = self.hash;
        let salted = h.salted_password(self.password.as_bytes(), &first.salt, first.iterations);
        let client_final_without_proof = format!("c={CHANNEL_BINDING},r={}", first.nonce);
        let auth_message =
            format!("{client_first_bare},{server_first},{client_final_without_proof}");
        let keys = (|| {
            let client_key = h.hmac(&salted, b"Client Key")?;
            let stored_key = h.hash(&client_key);
            let client_signature = h.hmac(&stored_key, auth_message.as_bytes())?;
            let server_key = h.hmac(&salted, b"Server Key")?;
            let proof: Vec<u8> = client_key
                .iter()
                .zip(&client_signature)
                .map(|(k, s)| k ^ s)
                .collect();
            Some((proof, server_key))
        })();
        let Some((proof, server_key)) = keys else {
            return Err(self.fail("HMAC key setup failed"));
        };
        let message = format!("{client_final_without_proof},p={}", STANDARD.encode(proof));
        self.state = State::ClientFinalSent {
            server_key,
            auth_message,
        };
        Ok(Some(message.into_bytes()))
    }

    /// Checks server-final-message: `v=<ServerSignature>` or `e=<error>`.
    fn check_server_final(
        &mut self,
        server_key: &[u8],
        auth_message: &str,
        server_final: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        const WHICH: &str = "server-final-message";
        let attrs = match attributes(server_final, WHICH) {
            Ok(attrs) => attrs,
            Err(e) => return Err(self.fail(e)),
        };
        let signature = match attrs.first().map(|(n, v)| (n.as_str(), v.as_str())) {
            Some(("v", value)) => value,
            Some(("e", value)) => {
                let text = server_text(value.as_bytes());
                return Err(self.fail(format!("the broker reported a SCRAM error: {text}")));
            }
            _ => return Err(self.fail(format!("{WHICH} has neither v= nor e= first"))),
        };
        let Ok(signature) = STANDARD.decode(signature) else {
            return Err(self.fail(format!(
                "{WHICH} has a server signature (v=) that is not valid base64"
            )));
        };
        match self
            .hash
            .verify_hmac(server_key, auth_message.as_bytes(), &signature)
        {
            Some(true) => {
                self.state = State::Complete;
                Ok(None)
            }
            Some(false) => Err(self.fail(
                "the server's signature did not verify: the broker does not know this user's password, so it may be a fake broker (check bootstrap.servers and the network path)",
            )),
            None => Err(self.fail("HMAC key setup failed")),
        }
    }
}

impl SaslSession for ScramSession {
    fn initial_response(&mut self) -> Result<Vec<u8>> {
        if !matches!(self.state, State::Start) {
            return Err(self.fail("initial_response called twice in one exchange"));
        }
        let client_first_bare = format!("n={},r={}", sasl_name(&self.username), self.client_nonce);
        let message = format!("n,,{client_first_bare}");
        self.state = State::ClientFirstSent { client_first_bare };
        Ok(message.into_bytes())
    }

    fn evaluate(&mut self, challenge: &[u8]) -> Result<Option<Vec<u8>>> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::ClientFirstSent { client_first_bare } => {
                self.client_final(&client_first_bare, challenge)
            }
            State::ClientFinalSent {
                server_key,
                auth_message,
            } => self.check_server_final(&server_key, &auth_message, challenge),
            State::Start => Err(self.fail("evaluate called before initial_response")),
            State::Complete => {
                Err(self.fail("the broker sent a message after authentication completed"))
            }
            State::Failed => Err(self.fail("the exchange already failed")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::KafkaCode;

    const CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

    /// RFC 7677 section 3.
    const CLIENT_FINAL_256: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL_256: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    /// The same exchange with SHA-512, computed independently with a one-off
    /// Python script (hashlib.pbkdf2_hmac, hmac, base64, following RFC 5802;
    /// the same script reproduces the RFC 7677 SHA-256 values above).
    const CLIENT_FINAL_512: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybEmDYXYTxwnYPJQ==";
    const SERVER_FINAL_512: &str = "v=ZQnYEgWQMFmmsM8aQMF0nDDCy/AgCzkwk8CmMZYcMg0vSVlKDanekLtifDSeVGT4+5ZxXnJq199RVG2rR7N7Zw==";

    fn session(mechanism: Mechanism) -> ScramSession {
        ScramSession::with_nonce(mechanism, "user", "pencil", CLIENT_NONCE.to_string()).unwrap()
    }

    /// A session that has sent client-first-message.
    fn started(mechanism: Mechanism) -> ScramSession {
        let mut s = session(mechanism);
        assert_eq!(
            s.initial_response().unwrap(),
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
        );
        s
    }

    fn auth_error(e: Error) -> String {
        assert_eq!(
            e.kafka_code(),
            Some(KafkaCode::SaslAuthenticationFailed),
            "{e}"
        );
        let t = e.to_string();
        assert!(!t.contains("pencil"), "{t}");
        t
    }

    #[test]
    fn rfc7677_scram_sha_256_vector() {
        let mut s = started(Mechanism::ScramSha256);
        let client_final = s.evaluate(SERVER_FIRST.as_bytes()).unwrap().unwrap();
        assert_eq!(String::from_utf8(client_final).unwrap(), CLIENT_FINAL_256);
        assert_eq!(s.evaluate(SERVER_FINAL_256.as_bytes()).unwrap(), None);
        auth_error(s.evaluate(b"").unwrap_err());
    }

    #[test]
    fn scram_sha_512_vector() {
        let mut s = started(Mechanism::ScramSha512);
        let client_final = s.evaluate(SERVER_FIRST.as_bytes()).unwrap().unwrap();
        assert_eq!(String::from_utf8(client_final).unwrap(), CLIENT_FINAL_512);
        // Server-final extensions after v= are allowed.
        let with_ext = format!("{SERVER_FINAL_512},x=1");
        assert_eq!(s.evaluate(with_ext.as_bytes()).unwrap(), None);
    }

    #[test]
    fn tampered_server_signature_is_rejected() {
        for bad in [
            // One bit changed.
            "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
            // Not canonical base64 (trailing bits set).
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5=",
            // The SHA-512 signature for a SHA-256 exchange, and a short one.
            SERVER_FINAL_512,
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl9",
            "v=",
        ] {
            let mut s = started(Mechanism::ScramSha256);
            s.evaluate(SERVER_FIRST.as_bytes()).unwrap();
            let t = auth_error(s.evaluate(bad.as_bytes()).unwrap_err());
            assert!(
                t.contains("signature did not verify") || t.contains("not valid base64"),
                "{t}"
            );
            assert!(
                t.contains("SASL/SCRAM-SHA-256") && t.contains("\"user\""),
                "{t}"
            );
            auth_error(s.evaluate(SERVER_FINAL_256.as_bytes()).unwrap_err());
        }
        let mut s = started(Mechanism::ScramSha256);
        s.evaluate(SERVER_FIRST.as_bytes()).unwrap();
        let t = auth_error(
            s.evaluate(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
                .unwrap_err(),
        );
        assert!(t.contains("fake broker"), "{t}");
    }

    #[test]
    fn server_nonce_must_extend_ours() {
        for first in [
            "r=XOprNGfwEbeRWgbNEkqO%hvYDpW,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "r=rOprNGfwEb,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        ] {
            let mut s = started(Mechanism::ScramSha256);
            let t = auth_error(s.evaluate(first.as_bytes()).unwrap_err());
            assert!(t.contains("does not extend the client nonce"), "{t}");
        }
    }

    #[test]
    fn bad_server_first_messages_are_errors() {
        let huge = format!(
            "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i={}",
            MAX_ITERATIONS + 1
        );
        let cases: &[(&[u8], &str)] = &[
            (b"r=rOprNGfwEbeRWgbNEkqOx,i=4096", "no s="),
            (b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==", "no i="),
            (b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "no r="),
            (b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0", "iteration count"),
            (b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=abc", "iteration count"),
            (b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1", "iteration count"),
            (b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=+4096", "iteration count"),
            (b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=", "iteration count"),
            (
                b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999",
                "iteration count",
            ),
            (huge.as_bytes(), "iteration count"),
            (b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ,i=4096", "base64"),
            (b"r=rOprNGfwEbeRWgbNEkqOx,s=***,i=4096", "base64"),
            (b"r=rOprNGfwEbeRWgbNEkqOx,s=,i=4096", "empty salt"),
            (b"m=ext,r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "m="),
            (b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,m=x", "m="),
            (
                b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,r=rOprNGfwEbeRWgbNEkqOy",
                "more than one r=",
            ),
            (b"s=W22ZaJ0SNY7soEsUEjb6gQ==,r=rOprNGfwEbeRWgbNEkqOx,i=4096", "in this order"),
            (b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,", "name=value"),
            (b"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,=x,i=4096", "name=value"),
            (b"r=rOprNGfwEbeRWgbNEkqO\x01x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "printable"),
            (b"r=rOprNGfwEbeRWgbNEkqO\xffx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "UTF-8"),
            (b"", "empty"),
            (b"e=other-error", "no r="),
        ];
        for (message, expected) in cases {
            let mut s = started(Mechanism::ScramSha512);
            let t = auth_error(s.evaluate(message).unwrap_err());
            assert!(t.contains(expected), "{expected}: {t}");
            // The session stays failed.
            auth_error(s.evaluate(SERVER_FIRST.as_bytes()).unwrap_err());
        }
        // Unknown extensions after i= are ignored.
        let mut s = started(Mechanism::ScramSha256);
        let first = format!("{SERVER_FIRST},x=ext,yz=");
        assert!(s.evaluate(first.as_bytes()).unwrap().is_some());
    }

    #[test]
    fn server_final_error_and_garbage() {
        let mut s = started(Mechanism::ScramSha256);
        s.evaluate(SERVER_FIRST.as_bytes()).unwrap();
        let t = auth_error(s.evaluate(b"e=invalid-proof").unwrap_err());
        assert!(t.contains("invalid-proof"), "{t}");
        for garbage in [&b""[..], b"x=1", b"\xff\xfe", b"v", b"e=\x00\x01\x1b[31m"] {
            let mut s = started(Mechanism::ScramSha256);
            s.evaluate(SERVER_FIRST.as_bytes()).unwrap();
            let t = auth_error(s.evaluate(garbage).unwrap_err());
            assert!(!t.contains('\x1b'), "{t}");
        }
    }

    #[test]
    fn out_of_order_calls_are_errors() {
        let mut s = session(Mechanism::ScramSha256);
        auth_error(s.evaluate(SERVER_FIRST.as_bytes()).unwrap_err());
        let mut s = started(Mechanism::ScramSha256);
        auth_error(s.initial_response().unwrap_err());
        assert!(ScramSession::with_nonce(Mechanism::Plain, "u", "p", "n".to_string()).is_err());
    }

    #[test]
    fn user_names_are_escaped() {
        assert_eq!(sasl_name("a,b=c"), "a=2Cb=3Dc");
        assert_eq!(sasl_name("=2C"), "=3D2C");
        let mut s =
            ScramSession::with_nonce(Mechanism::ScramSha256, "a,b=c", "p", "abc".to_string())
                .unwrap();
        assert_eq!(s.initial_response().unwrap(), b"n,,n=a=2Cb=3Dc,r=abc");
    }

    #[test]
    fn random_nonces_are_printable_and_differ() {
        let mut a = ScramSession::new(Mechanism::ScramSha256, "u", "p").unwrap();
        let b = ScramSession::new(Mechanism::ScramSha256, "u", "p").unwrap();
        assert!(is_printable(&a.client_nonce), "{}", a.client_nonce);
        assert_eq!(a.client_nonce.len(), 43);
        assert_ne!(a.client_nonce, b.client_nonce);
        let first = String::from_utf8(a.initial_response().unwrap()).unwrap();
        assert_eq!(first, format!("n,,n=u,r={}", a.client_nonce));
    }

    #[test]
    fn debug_hides_the_password_and_keys() {
        let mut s = started(Mechanism::ScramSha256);
        s.evaluate(SERVER_FIRST.as_bytes()).unwrap();
        let d = format!("{s:?}");
        assert!(d.contains("user") && !d.contains("pencil"), "{d}");
        assert!(d.contains("ClientFinalSent"), "{d}");
    }
}
