//! SASL authentication mechanisms (`sasl.mechanism`), as state machines
//! without I/O: the connection sends SaslHandshake and SaslAuthenticate
//! itself and feeds a [`SaslSession`] the server's bytes.
//!
//! - `PLAIN` (RFC 4616), always available;
//! - `SCRAM-SHA-256`, `SCRAM-SHA-512` (RFC 5802, RFC 7677), with the `scram`
//!   cargo feature;
//! - `OAUTHBEARER` (RFC 7628, KIP-255), always available, with tokens from an
//!   [`OAuthBearerTokenProvider`] or Java's unsecured JAAS form.
//!
//! Credentials come from `sasl.jaas.config` (Java's form) or from
//! librdkafka's `sasl.username` / `sasl.password`. Passwords, tokens and the
//! JAAS text never appear in `Debug`/`Display` output, errors or logs.

use std::fmt;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::protocol::KafkaCode;

mod jaas;
mod oauthbearer;
mod plain;
#[cfg(feature = "scram")]
mod scram;

pub use oauthbearer::unsecured_token;

use jaas::{HIDDEN, JaasEntry};
use oauthbearer::{OAuthBearerSession, UnsecuredLogin};
use plain::PlainSession;

/// A SASL mechanism this client implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// `PLAIN`: user name and password in clear (use it over TLS).
    Plain,
    /// `SCRAM-SHA-256` (needs the `scram` cargo feature).
    ScramSha256,
    /// `SCRAM-SHA-512` (needs the `scram` cargo feature).
    ScramSha512,
    /// `OAUTHBEARER`: an OAuth 2 bearer token.
    OAuthBearer,
}

impl Mechanism {
    /// The mechanism's name, as in `sasl.mechanism` and SaslHandshake.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha512 => "SCRAM-SHA-512",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// Parses `sasl.mechanism` (case-insensitive). `GSSAPI` (Kerberos, Java's
    /// default) is not supported; SCRAM needs the `scram` cargo feature.
    pub fn parse(value: &str) -> Result<Mechanism> {
        let mechanism = match value.trim().to_ascii_uppercase().as_str() {
            "PLAIN" => Mechanism::Plain,
            "SCRAM-SHA-256" => Mechanism::ScramSha256,
            "SCRAM-SHA-512" => Mechanism::ScramSha512,
            "OAUTHBEARER" => Mechanism::OAuthBearer,
            _ => {
                return Err(Error::config(
                    "sasl.mechanism",
                    value,
                    "supported: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (GSSAPI/Kerberos is not supported)",
                ));
            }
        };
        if mechanism.is_scram() && !cfg!(feature = "scram") {
            return Err(scram_feature_missing(mechanism));
        }
        Ok(mechanism)
    }

    fn is_scram(self) -> bool {
        matches!(self, Mechanism::ScramSha256 | Mechanism::ScramSha512)
    }

    /// The JAAS login module class `sasl.jaas.config` must name.
    fn login_module(self) -> &'static str {
        match self {
            Mechanism::Plain => "org.apache.kafka.common.security.plain.PlainLoginModule",
            Mechanism::ScramSha256 | Mechanism::ScramSha512 => {
                "org.apache.kafka.common.security.scram.ScramLoginModule"
            }
            Mechanism::OAuthBearer => {
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
            }
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn scram_feature_missing(mechanism: Mechanism) -> Error {
    Error::config(
        "sasl.mechanism",
        mechanism.name(),
        format!(
            "sasl.mechanism={} needs the `scram` cargo feature of kafka-blocking",
            mechanism.name()
        ),
    )
}

/// An OAuth bearer token for OAUTHBEARER (RFC 7628 / KIP-255). `Debug` does
/// not show the token itself.
#[derive(Clone)]
pub struct OAuthBearerToken {
    /// The token: the compact serialization of a JWS (`header.payload.signature`).
    pub value: String,
    /// The principal the token is for (for messages).
    pub principal: String,
    /// When the token expires, in milliseconds since the epoch.
    pub lifetime_ms: i64,
}

impl fmt::Debug for OAuthBearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearerToken")
            .field("value", &HIDDEN)
            .field("principal", &self.principal)
            .field("lifetime_ms", &self.lifetime_ms)
            .finish()
    }
}

/// Supplies OAUTHBEARER tokens; registered by the application and called on
/// every authentication and re-authentication, so it can cache a token and
/// refresh it before it expires. It runs on the thread that opens or
/// re-authenticates a connection, while that connection holds back other
/// requests: return a cached token quickly and refresh it ahead of time
/// rather than calling an identity provider on every call.
pub trait OAuthBearerTokenProvider: Send + Sync {
    /// A token that has not expired. Its errors fail the authentication as
    /// they are.
    fn token(&self) -> Result<OAuthBearerToken>;
}

/// What SASL needs from the configuration: the mechanism and its
/// credentials. `Debug` and `Display` never show secrets.
#[derive(Clone)]
pub struct SaslSettings {
    mechanism: Mechanism,
    credentials: Credentials,
}

#[derive(Clone)]
enum Credentials {
    /// PLAIN and SCRAM. Checked: non-empty, no NUL.
    UserPassword { username: String, password: String },
    /// OAUTHBEARER with the application's provider; `principal` is that of
    /// the last token it returned.
    TokenProvider {
        provider: Arc<dyn OAuthBearerTokenProvider>,
        principal: Arc<Mutex<Option<String>>>,
    },
    /// OAUTHBEARER with Java's unsecured JWS.
    Unsecured(UnsecuredLogin),
}

impl SaslSettings {
    /// Settings from configuration values: `mechanism` is `sasl.mechanism`,
    /// `jaas` is `sasl.jaas.config`, `username` / `password` are
    /// `sasl.username` / `sasl.password` (empty values count as absent), and
    /// `provider` a token provider registered in code.
    ///
    /// PLAIN and SCRAM take a user name and password from either
    /// `sasl.jaas.config` (`...PlainLoginModule` or `...ScramLoginModule
    /// required username="..." password="...";`) or `sasl.username` and
    /// `sasl.password`, not both. OAUTHBEARER takes tokens from `provider`,
    /// else from the unsecured JAAS form
    /// (`...OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="...";`).
    /// Errors are [`Error::Config`] and never contain a secret.
    pub fn new(
        mechanism: &str,
        jaas: Option<&str>,
        username: Option<&str>,
        password: Option<&str>,
        provider: Option<Arc<dyn OAuthBearerTokenProvider>>,
    ) -> Result<SaslSettings> {
        let mechanism = Mechanism::parse(mechanism)?;
        let jaas_text = jaas.filter(|j| !j.trim().is_empty());
        let username = username.filter(|u| !u.is_empty());
        let password = password.filter(|p| !p.is_empty());
        if provider.is_some() && mechanism != Mechanism::OAuthBearer {
            return Err(Error::config(
                "sasl.mechanism",
                mechanism.name(),
                "an OAuthBearerTokenProvider is registered, which is used with sasl.mechanism=OAUTHBEARER only",
            ));
        }
        let entry = jaas_text.map(jaas::parse).transpose()?;
        if let Some(entry) = &entry {
            check_login_module(mechanism, entry)?;
        }
        let credentials = match mechanism {
            Mechanism::Plain | Mechanism::ScramSha256 | Mechanism::ScramSha512 => {
                user_password(mechanism, entry.as_ref(), username, password)?
            }
            Mechanism::OAuthBearer => {
                if let Some(username) = username {
                    return Err(Error::config(
                        "sasl.username",
                        username,
                        "not used by sasl.mechanism=OAUTHBEARER, which takes a token (an OAuthBearerTokenProvider or sasl.jaas.config)",
                    ));
                }
                if password.is_some() {
                    return Err(Error::config(
                        "sasl.password",
                        HIDDEN,
                        "not used by sasl.mechanism=OAUTHBEARER, which takes a token (an OAuthBearerTokenProvider or sasl.jaas.config)",
                    ));
                }
                match (provider, &entry) {
                    (Some(provider), _) => Credentials::TokenProvider {
                        provider,
                        principal: Arc::new(Mutex::new(None)),
                    },
                    (None, Some(entry)) => {
                        Credentials::Unsecured(UnsecuredLogin::from_jaas(entry)?)
                    }
                    (None, None) => {
                        return Err(Error::config(
                            jaas::KEY,
                            "",
                            format!(
                                "sasl.mechanism=OAUTHBEARER needs a token: register an OAuthBearerTokenProvider, or for an unsecured (development) token set sasl.jaas.config={} required unsecuredLoginStringClaim_sub=\"<principal>\";",
                                Mechanism::OAuthBearer.login_module()
                            ),
                        ));
                    }
                }
            }
        };
        Ok(SaslSettings {
            mechanism,
            credentials,
        })
    }

    /// The mechanism.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The user name for messages, or for OAUTHBEARER the token's principal
    /// when known (the unsecured form's `sub`, or the principal of the last
    /// token the provider returned). Never a secret.
    pub fn user(&self) -> Option<String> {
        match &self.credentials {
            Credentials::UserPassword { username, .. } => Some(username.clone()),
            Credentials::Unsecured(login) => Some(login.sub.clone()),
            Credentials::TokenProvider { principal, .. } => principal
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone(),
        }
    }

    /// Starts one authentication exchange (one per connection and per
    /// re-authentication). For OAUTHBEARER this gets the token: the
    /// provider's errors are returned as they are, an expired token is an
    /// error.
    pub fn start(&self) -> Result<Box<dyn SaslSession>> {
        log::debug!(
            "SASL/{} authentication of {} starting",
            self.mechanism,
            UserForLog(self.user())
        );
        match &self.credentials {
            Credentials::UserPassword { username, password } => {
                if self.mechanism == Mechanism::Plain {
                    return Ok(Box::new(PlainSession::new(username, password)));
                }
                #[cfg(feature = "scram")]
                {
                    Ok(Box::new(scram::ScramSession::new(
                        self.mechanism,
                        username,
                        password,
                    )?))
                }
                #[cfg(not(feature = "scram"))]
                {
                    // Not reached: Mechanism::parse refuses SCRAM without the feature.
                    Err(scram_feature_missing(self.mechanism))
                }
            }
            Credentials::TokenProvider {
                provider,
                principal,
            } => {
                let token = provider.token()?;
                *principal
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) =
                    Some(token.principal.clone());
                Ok(Box::new(OAuthBearerSession::new(token)?))
            }
            Credentials::Unsecured(login) => Ok(Box::new(OAuthBearerSession::new(login.token())?)),
        }
    }
}

/// `user "alice"`, or `an unknown principal`, for log lines.
struct UserForLog(Option<String>);

impl fmt::Display for UserForLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(user) => write!(f, "user \"{user}\""),
            None => f.write_str("a principal not yet known"),
        }
    }
}

impl fmt::Debug for SaslSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SaslSettings");
        d.field("mechanism", &self.mechanism.name());
        match &self.credentials {
            Credentials::UserPassword { username, .. } => {
                d.field("username", username).field("password", &HIDDEN)
            }
            Credentials::TokenProvider { .. } => {
                d.field("token", &"from the OAuthBearerTokenProvider")
            }
            Credentials::Unsecured(login) => d
                .field("token", &"unsecured JWS")
                .field("sub", &login.sub)
                .field("lifetime", &login.lifetime),
        };
        d.finish()
    }
}

impl fmt::Display for SaslSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SASL/{} as {}", self.mechanism, UserForLog(self.user()))
    }
}

/// The login module class of `entry` must be the one of `mechanism`.
fn check_login_module(mechanism: Mechanism, entry: &JaasEntry) -> Result<()> {
    let expected = mechanism.login_module();
    if entry.login_module == expected {
        return Ok(());
    }
    // Name the class found only when it is a well-known one: the text around
    // it may hold a password.
    let known = [
        Mechanism::Plain.login_module(),
        Mechanism::ScramSha256.login_module(),
        Mechanism::OAuthBearer.login_module(),
        "com.sun.security.auth.module.Krb5LoginModule",
    ];
    let found = if known.contains(&entry.login_module.as_str()) {
        format!("found {}", entry.login_module)
    } else {
        "found another class".to_string()
    };
    Err(Error::config(
        jaas::KEY,
        HIDDEN,
        format!(
            "sasl.mechanism={} needs the login module {expected} ({found})",
            mechanism.name()
        ),
    ))
}

/// The user name and password of PLAIN and SCRAM, from `sasl.jaas.config`
/// or `sasl.username` / `sasl.password`.
fn user_password(
    mechanism: Mechanism,
    entry: Option<&JaasEntry>,
    username: Option<&str>,
    password: Option<&str>,
) -> Result<Credentials> {
    let expected_form = format!(
        "sasl.mechanism={} needs a user name and password: set sasl.jaas.config={} required username=\"<user>\" password=\"<password>\"; (or sasl.username and sasl.password)",
        mechanism.name(),
        mechanism.login_module()
    );
    let (username, password, from_jaas) = match (entry, username, password) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(Error::config(
                jaas::KEY,
                HIDDEN,
                "set either sasl.jaas.config or sasl.username and sasl.password, not both",
            ));
        }
        (Some(entry), None, None) => {
            if mechanism.is_scram()
                && entry
                    .option("tokenauth")
                    .is_some_and(|t| t.eq_ignore_ascii_case("true"))
            {
                return Err(Error::config(
                    jaas::KEY,
                    HIDDEN,
                    "tokenauth=true (delegation tokens) is not supported by this client",
                ));
            }
            match (entry.option("username"), entry.option("password")) {
                (Some(u), Some(p)) if !u.is_empty() && !p.is_empty() => (u, p, true),
                _ => return Err(Error::config(jaas::KEY, HIDDEN, expected_form)),
            }
        }
        (None, Some(u), Some(p)) => (u, p, false),
        (None, Some(_), None) => {
            return Err(Error::config(
                "sasl.password",
                "",
                "sasl.username is set, so sasl.password is needed too (or set sasl.jaas.config instead)",
            ));
        }
        (None, None, Some(_)) => {
            return Err(Error::config(
                "sasl.username",
                "",
                "sasl.password is set, so sasl.username is needed too (or set sasl.jaas.config instead)",
            ));
        }
        (None, None, None) => return Err(Error::config(jaas::KEY, "", expected_form)),
    };
    // NUL separates the fields of PLAIN and is not allowed in SCRAM names.
    if username.contains('\0') {
        let (key, value) = if from_jaas {
            (jaas::KEY, HIDDEN)
        } else {
            ("sasl.username", username)
        };
        return Err(Error::config(
            key,
            value,
            "the user name must not contain NUL",
        ));
    }
    if password.contains('\0') {
        let key = if from_jaas {
            jaas::KEY
        } else {
            "sasl.password"
        };
        return Err(Error::config(
            key,
            HIDDEN,
            "the password must not contain NUL",
        ));
    }
    Ok(Credentials::UserPassword {
        username: username.to_string(),
        password: password.to_string(),
    })
}

/// One SASL exchange. The connection sends [`initial_response`] in the first
/// SaslAuthenticate, then feeds each reply's auth bytes to [`evaluate`] and
/// sends what it returns, until it returns `Ok(None)`: the client is
/// satisfied (for SCRAM, only once the server proved it knows the password).
/// Errors are [`Error::Kafka`] with [`KafkaCode::SaslAuthenticationFailed`].
///
/// [`initial_response`]: SaslSession::initial_response
/// [`evaluate`]: SaslSession::evaluate
pub trait SaslSession: Send {
    /// The client's first message.
    fn initial_response(&mut self) -> Result<Vec<u8>>;
    /// The answer to a server challenge: `Some(bytes)` to send, or `None`
    /// when the exchange is complete on the client's side.
    fn evaluate(&mut self, challenge: &[u8]) -> Result<Option<Vec<u8>>>;
}

/// A failed exchange, in the form the connection reports (it adds the
/// broker).
fn auth_failed(mechanism: Mechanism, user: &str, message: impl Into<String>) -> Error {
    Error::Kafka {
        code: KafkaCode::SaslAuthenticationFailed,
        context: format!(
            "SASL/{} authentication of user \"{user}\"",
            mechanism.name()
        ),
        message: Some(message.into()),
    }
}

/// Text a server sent (untrusted), fit for an error message: lossy UTF-8,
/// control characters replaced, at most 300 characters.
fn server_text(bytes: &[u8]) -> String {
    const MAX_CHARS: usize = 300;
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text
        .chars()
        .take(MAX_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().nth(MAX_CHARS).is_some() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN_JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\" password=\"alice-secret\";";
    const SCRAM_JAAS: &str = "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"alice-secret\";";
    const OAUTH_JAAS: &str = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"alice\";";

    /// The config error's key and allowed text; its value must not be secret.
    fn config_error(e: Error) -> (String, String) {
        let text = e.to_string();
        assert!(!text.contains("alice-secret"), "{text}");
        match e {
            Error::Config {
                key,
                value,
                allowed,
            } => {
                assert!(!value.contains("secret"), "{value}");
                (key, allowed)
            }
            other => panic!("{other:?}"),
        }
    }

    struct Provider(fn() -> Result<OAuthBearerToken>);

    impl OAuthBearerTokenProvider for Provider {
        fn token(&self) -> Result<OAuthBearerToken> {
            (self.0)()
        }
    }

    fn provider(f: fn() -> Result<OAuthBearerToken>) -> Option<Arc<dyn OAuthBearerTokenProvider>> {
        Some(Arc::new(Provider(f)))
    }

    fn good_token() -> Result<OAuthBearerToken> {
        Ok(unsecured_token(
            "bob",
            std::time::Duration::from_secs(60),
            &[],
        ))
    }

    #[test]
    fn settings_and_sessions_can_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<SaslSettings>();
        send_sync::<OAuthBearerToken>();
        send::<Box<dyn SaslSession>>();
    }

    #[test]
    fn mechanism_names_and_parse() {
        for m in [Mechanism::Plain, Mechanism::OAuthBearer] {
            assert_eq!(Mechanism::parse(m.name()).unwrap(), m);
            assert_eq!(m.to_string(), m.name());
        }
        assert_eq!(Mechanism::parse(" plain ").unwrap(), Mechanism::Plain);
        assert_eq!(
            Mechanism::parse("OAuthBearer").unwrap(),
            Mechanism::OAuthBearer
        );
        for bad in ["GSSAPI", "", "SCRAM-SHA-1", "DIGEST-MD5"] {
            let (key, allowed) = config_error(Mechanism::parse(bad).unwrap_err());
            assert_eq!(key, "sasl.mechanism");
            assert!(
                allowed.contains("GSSAPI/Kerberos is not supported"),
                "{allowed}"
            );
            assert!(allowed.contains("SCRAM-SHA-512"), "{allowed}");
        }
    }

    #[cfg(feature = "scram")]
    #[test]
    fn scram_mechanisms_parse_with_the_feature() {
        assert_eq!(
            Mechanism::parse("scram-sha-256").unwrap(),
            Mechanism::ScramSha256
        );
        assert_eq!(
            Mechanism::parse("SCRAM-SHA-512").unwrap(),
            Mechanism::ScramSha512
        );
    }

    #[cfg(not(feature = "scram"))]
    #[test]
    fn scram_needs_the_cargo_feature() {
        for (value, name) in [
            ("SCRAM-SHA-256", "SCRAM-SHA-256"),
            ("scram-sha-512", "SCRAM-SHA-512"),
        ] {
            let (key, allowed) = config_error(Mechanism::parse(value).unwrap_err());
            assert_eq!(key, "sasl.mechanism");
            assert_eq!(
                allowed,
                format!("sasl.mechanism={name} needs the `scram` cargo feature of kafka-blocking")
            );
            assert!(SaslSettings::new(value, Some(SCRAM_JAAS), None, None, None).is_err());
        }
    }

    #[test]
    fn plain_from_jaas_or_username_password() {
        let s = SaslSettings::new("PLAIN", Some(PLAIN_JAAS), None, None, None).unwrap();
        assert_eq!(s.mechanism(), Mechanism::Plain);
        assert_eq!(s.user().as_deref(), Some("alice"));
        let mut session = s.start().unwrap();
        assert_eq!(
            session.initial_response().unwrap(),
            b"\0alice\0alice-secret"
        );
        assert_eq!(session.evaluate(b"").unwrap(), None);

        let s = SaslSettings::new("PLAIN", Some(""), Some("bob"), Some("pw"), None).unwrap();
        assert_eq!(s.user().as_deref(), Some("bob"));
        let mut session = s.start().unwrap();
        assert_eq!(session.initial_response().unwrap(), b"\0bob\0pw");
    }

    #[cfg(feature = "scram")]
    #[test]
    fn scram_from_jaas_or_username_password() {
        for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
            let s = SaslSettings::new(mechanism, Some(SCRAM_JAAS), None, None, None).unwrap();
            assert_eq!(s.mechanism().name(), mechanism);
            assert_eq!(s.user().as_deref(), Some("alice"));
            let first = s.start().unwrap().initial_response().unwrap();
            assert!(first.starts_with(b"n,,n=alice,r="), "{first:?}");
            let s = SaslSettings::new(mechanism, None, Some("a,b"), Some("pw"), None).unwrap();
            let first = s.start().unwrap().initial_response().unwrap();
            assert!(first.starts_with(b"n,,n=a=2Cb,r="), "{first:?}");
        }
        let (key, allowed) = config_error(
            SaslSettings::new(
                "SCRAM-SHA-256",
                Some(&SCRAM_JAAS.replace(';', " tokenauth=\"true\";")),
                None,
                None,
                None,
            )
            .unwrap_err(),
        );
        assert_eq!(key, "sasl.jaas.config");
        assert!(allowed.contains("tokenauth"), "{allowed}");
    }

    #[test]
    fn credential_errors_name_the_keys() {
        // Both sources.
        let (key, allowed) = config_error(
            SaslSettings::new("PLAIN", Some(PLAIN_JAAS), Some("bob"), Some("pw"), None)
                .unwrap_err(),
        );
        assert_eq!(key, "sasl.jaas.config");
        assert!(
            allowed.contains("sasl.username") && allowed.contains("sasl.password"),
            "{allowed}"
        );
        // Neither.
        let (key, allowed) =
            config_error(SaslSettings::new("PLAIN", None, None, None, None).unwrap_err());
        assert_eq!(key, "sasl.jaas.config");
        assert!(
            allowed.contains(
                "org.apache.kafka.common.security.plain.PlainLoginModule required username="
            ),
            "{allowed}"
        );
        // Half.
        let (key, _) =
            config_error(SaslSettings::new("PLAIN", None, Some("bob"), None, None).unwrap_err());
        assert_eq!(key, "sasl.password");
        let (key, _) = config_error(
            SaslSettings::new("PLAIN", None, Some(""), Some("alice-secret"), None).unwrap_err(),
        );
        assert_eq!(key, "sasl.username");
        // JAAS without the password.
        let (key, allowed) = config_error(
            SaslSettings::new(
                "PLAIN",
                Some("org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\";"),
                None,
                None,
                None,
            )
            .unwrap_err(),
        );
        assert_eq!(key, "sasl.jaas.config");
        assert!(allowed.contains("password="), "{allowed}");
        // NUL.
        let (key, _) = config_error(
            SaslSettings::new("PLAIN", None, Some("bob"), Some("alice-secret\0"), None)
                .unwrap_err(),
        );
        assert_eq!(key, "sasl.password");
        // Malformed JAAS.
        let (key, allowed) = config_error(
            SaslSettings::new(
                "PLAIN",
                Some(&PLAIN_JAAS.replace(';', "")),
                None,
                None,
                None,
            )
            .unwrap_err(),
        );
        assert_eq!(key, "sasl.jaas.config");
        assert!(allowed.contains("';'"), "{allowed}");
    }

    #[test]
    fn login_module_must_match_the_mechanism() {
        let (key, allowed) = config_error(
            SaslSettings::new("PLAIN", Some(SCRAM_JAAS), None, None, None).unwrap_err(),
        );
        assert_eq!(key, "sasl.jaas.config");
        assert!(
            allowed.contains(
                "needs the login module org.apache.kafka.common.security.plain.PlainLoginModule"
            ) && allowed.contains("found org.apache.kafka.common.security.scram.ScramLoginModule"),
            "{allowed}"
        );
        let (_, allowed) = config_error(
            SaslSettings::new(
                "PLAIN",
                Some("com.example.Login required password=\"alice-secret\";"),
                None,
                None,
                None,
            )
            .unwrap_err(),
        );
        assert!(allowed.contains("found another class"), "{allowed}");
        let (_, allowed) = config_error(
            SaslSettings::new("OAUTHBEARER", Some(PLAIN_JAAS), None, None, None).unwrap_err(),
        );
        assert!(allowed.contains("OAuthBearerLoginModule"), "{allowed}");
    }

    #[test]
    fn oauthbearer_unsecured_jaas() {
        let s = SaslSettings::new("OAUTHBEARER", Some(OAUTH_JAAS), None, None, None).unwrap();
        assert_eq!(s.user().as_deref(), Some("alice"));
        let mut session = s.start().unwrap();
        let first = session.initial_response().unwrap();
        assert!(first.starts_with(b"n,,\x01auth=Bearer eyJhbGciOiJub25lIn0."));
        assert!(first.ends_with(b".\x01\x01"));
        assert_eq!(session.evaluate(b"").unwrap(), None);
    }

    #[test]
    fn oauthbearer_provider() {
        let s = SaslSettings::new("OAUTHBEARER", None, None, None, provider(good_token)).unwrap();
        assert_eq!(s.user(), None, "principal not known before the first token");
        let mut session = s.start().unwrap();
        assert_eq!(s.user().as_deref(), Some("bob"));
        assert_eq!(s.clone().user().as_deref(), Some("bob"));
        assert!(
            session
                .initial_response()
                .unwrap()
                .starts_with(b"n,,\x01auth=Bearer ")
        );
        // The provider wins over a JAAS entry, whose options are then not needed.
        let bare = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;";
        let s =
            SaslSettings::new("OAUTHBEARER", Some(bare), None, None, provider(good_token)).unwrap();
        s.start().unwrap();
        // Provider errors propagate as they are.
        let s = SaslSettings::new(
            "OAUTHBEARER",
            None,
            None,
            None,
            provider(|| Err(Error::InvalidArgument("no token today".into()))),
        )
        .unwrap();
        assert!(matches!(s.start(), Err(Error::InvalidArgument(m)) if m == "no token today"));
        // Expired tokens are refused.
        let s = SaslSettings::new(
            "OAUTHBEARER",
            None,
            None,
            None,
            provider(|| {
                Ok(OAuthBearerToken {
                    value: "abc.def.".into(),
                    principal: "carol".into(),
                    lifetime_ms: 1_000,
                })
            }),
        )
        .unwrap();
        let e = s.start().err().unwrap();
        assert_eq!(e.kafka_code(), Some(KafkaCode::SaslAuthenticationFailed));
        assert!(e.to_string().contains("expired token"), "{e}");
        assert!(!e.to_string().contains("abc.def."), "{e}");
    }

    #[test]
    fn oauthbearer_configuration_errors() {
        let (key, allowed) =
            config_error(SaslSettings::new("OAUTHBEARER", None, None, None, None).unwrap_err());
        assert_eq!(key, "sasl.jaas.config");
        assert!(allowed.contains("OAuthBearerTokenProvider"), "{allowed}");
        let (key, _) = config_error(
            SaslSettings::new("OAUTHBEARER", Some(OAUTH_JAAS), Some("bob"), None, None)
                .unwrap_err(),
        );
        assert_eq!(key, "sasl.username");
        let (key, _) = config_error(
            SaslSettings::new(
                "OAUTHBEARER",
                Some(OAUTH_JAAS),
                None,
                Some("alice-secret"),
                None,
            )
            .unwrap_err(),
        );
        assert_eq!(key, "sasl.password");
        let (key, allowed) = config_error(
            SaslSettings::new("PLAIN", Some(PLAIN_JAAS), None, None, provider(good_token))
                .unwrap_err(),
        );
        assert_eq!(key, "sasl.mechanism");
        assert!(allowed.contains("OAUTHBEARER"), "{allowed}");
    }

    #[test]
    fn debug_and_display_hide_secrets() {
        let settings = [
            SaslSettings::new("PLAIN", Some(PLAIN_JAAS), None, None, None).unwrap(),
            SaslSettings::new("PLAIN", None, Some("alice"), Some("alice-secret"), None).unwrap(),
        ];
        for s in settings {
            let d = format!("{s:?} {s} {s:#?}");
            assert!(d.contains("alice") && d.contains("PLAIN"), "{d}");
            assert!(
                !d.contains("alice-secret") && !d.contains("PlainLoginModule"),
                "{d}"
            );
            let session = s.start().unwrap();
            let _ = session;
        }
        let s = SaslSettings::new("OAUTHBEARER", Some(OAUTH_JAAS), None, None, None).unwrap();
        let d = format!("{s:?} {s}");
        assert!(d.contains("alice") && !d.contains("eyJ"), "{d}");
        let s = SaslSettings::new("OAUTHBEARER", None, None, None, provider(good_token)).unwrap();
        assert_eq!(
            s.to_string(),
            "SASL/OAUTHBEARER as a principal not yet known"
        );
    }

    #[cfg(feature = "scram")]
    #[test]
    fn scram_settings_debug_hides_secrets() {
        let s = SaslSettings::new("SCRAM-SHA-512", Some(SCRAM_JAAS), None, None, None).unwrap();
        let d = format!("{s:?} {s}");
        assert!(d.contains("alice") && !d.contains("alice-secret"), "{d}");
        assert_eq!(s.to_string(), "SASL/SCRAM-SHA-512 as user \"alice\"");
    }

    #[test]
    fn server_text_is_bounded_and_printable() {
        assert_eq!(
            server_text(b"{\"status\":\"invalid_token\"}"),
            "{\"status\":\"invalid_token\"}"
        );
        assert_eq!(server_text(b"a\nb\x1b\xff"), "a?b?\u{fffd}");
        let long = server_text(&[b'x'; 1000]);
        assert_eq!(long.len(), 303);
        assert!(long.ends_with("..."));
        assert_eq!(server_text(&[b'x'; 300]).len(), 300);
    }

    #[test]
    fn auth_failed_form() {
        let e = auth_failed(Mechanism::Plain, "alice", "went wrong");
        match e {
            Error::Kafka {
                code,
                context,
                message,
            } => {
                assert_eq!(code, KafkaCode::SaslAuthenticationFailed);
                assert_eq!(context, "SASL/PLAIN authentication of user \"alice\"");
                assert_eq!(message.as_deref(), Some("went wrong"));
            }
            other => panic!("{other:?}"),
        }
    }
}
