//! SASL/OAUTHBEARER (RFC 7628, KIP-255), as Kafka's `OAuthBearerSaslClient`,
//! and the unsecured JWS tokens of Java's
//! `OAuthBearerUnsecuredLoginCallbackHandler` (the JAAS
//! `unsecuredLoginStringClaim_sub="alice"` form, for development brokers that
//! keep the default unsecured validator).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::jaas::{self, JaasEntry};
use super::{Mechanism, OAuthBearerToken, SaslSession, auth_failed, server_text};
use crate::error::{Error, Result};

/// RFC 7628's key/value separator (`kvsep`, Ctrl-A).
const KVSEP: u8 = 0x01;

/// The JAAS options of the unsecured login, as Java names them.
const STRING_CLAIM_PREFIX: &str = "unsecuredLoginStringClaim_";
const LIFETIME_SECONDS: &str = "unsecuredLoginLifetimeSeconds";
/// Java's default token lifetime: one hour.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// Milliseconds since the epoch, now (0 if the clock is before 1970).
fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Builds an unsecured JWS (`alg` `none`, empty signature) for subject `sub`
/// expiring `lifetime` from now, with `extra_claims` as further string claims,
/// exactly as Java's `OAuthBearerUnsecuredLoginCallbackHandler` does: a broker
/// with the default unsecured validator accepts it.
///
/// `iat` and `exp` are whole seconds since the epoch (`exp` rounded up). Extra
/// claims named `sub`, `iat` or `exp`, and later duplicates, are ignored: they
/// would make the claims JSON ambiguous.
pub fn unsecured_token(
    sub: &str,
    lifetime: Duration,
    extra_claims: &[(String, String)],
) -> OAuthBearerToken {
    let now = now_ms();
    let lifetime_ms = i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX);
    let iat = now / 1000;
    let exp_ms = now.saturating_add(lifetime_ms);
    // Round up so that the token lives at least `lifetime`.
    let exp = exp_ms / 1000 + i64::from(exp_ms % 1000 != 0);
    let header = r#"{"alg":"none"}"#;
    let mut claims = format!("{{\"sub\":{},\"iat\":{iat},\"exp\":{exp}", json_string(sub));
    let mut seen: Vec<&str> = vec!["sub", "iat", "exp"];
    for (name, value) in extra_claims {
        if seen.contains(&name.as_str()) {
            continue;
        }
        seen.push(name);
        claims.push(',');
        claims.push_str(&json_string(name));
        claims.push(':');
        claims.push_str(&json_string(value));
    }
    claims.push('}');
    OAuthBearerToken {
        value: format!(
            "{}.{}.",
            base64url_no_pad(header.as_bytes()),
            base64url_no_pad(claims.as_bytes())
        ),
        principal: sub.to_string(),
        lifetime_ms: exp.saturating_mul(1000),
    }
}

/// The unsecured login of a `sasl.jaas.config` OAuthBearerLoginModule entry:
/// what [`unsecured_token`] needs, fixed at configuration time; each
/// authentication makes a fresh token from it (new `iat`/`exp`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct UnsecuredLogin {
    pub(super) sub: String,
    pub(super) lifetime: Duration,
    pub(super) extra_claims: Vec<(String, String)>,
}

impl UnsecuredLogin {
    /// Reads Java's `unsecuredLogin*` options. Options this client does not
    /// implement are rejected rather than silently ignored (the token would
    /// lack what the user asked for); other options are ignored as in Java.
    pub(super) fn from_jaas(entry: &JaasEntry) -> Result<UnsecuredLogin> {
        let bad = |what: String| Error::config(jaas::KEY, jaas::HIDDEN, what);
        let mut sub = None;
        let mut lifetime = DEFAULT_LIFETIME;
        let mut extra_claims = Vec::new();
        for (key, value) in &entry.options {
            if let Some(claim) = key.strip_prefix(STRING_CLAIM_PREFIX) {
                match claim {
                    "" => {
                        return Err(bad(format!(
                            "option {STRING_CLAIM_PREFIX} needs a claim name after the '_'"
                        )));
                    }
                    "sub" => sub = Some(value.clone()),
                    // Reserved as in Java: the handler sets them itself.
                    "iat" | "exp" => {
                        return Err(bad(format!(
                            "option {key}: the claim {claim} is set from the lifetime and cannot be given"
                        )));
                    }
                    _ => extra_claims.push((claim.to_string(), value.clone())),
                }
            } else if key == LIFETIME_SECONDS {
                match value.parse::<u64>() {
                    Ok(s) if s > 0 => lifetime = Duration::from_secs(s),
                    _ => {
                        return Err(bad(format!(
                            "option {LIFETIME_SECONDS} must be a positive whole number of seconds"
                        )));
                    }
                }
            } else if key.starts_with("unsecuredLogin") {
                return Err(bad(format!(
                    "option {key} is not supported by this client (supported: {STRING_CLAIM_PREFIX}<name>, {LIFETIME_SECONDS})"
                )));
            }
        }
        match sub {
            Some(sub) if !sub.trim().is_empty() => Ok(UnsecuredLogin {
                sub,
                lifetime,
                extra_claims,
            }),
            _ => Err(bad(format!(
                "sasl.mechanism=OAUTHBEARER needs a token: register an OAuthBearerTokenProvider, or for an unsecured (development) token set sasl.jaas.config={} required {STRING_CLAIM_PREFIX}sub=\"<principal>\";",
                Mechanism::OAuthBearer.login_module()
            ))),
        }
    }

    /// A fresh token.
    pub(super) fn token(&self) -> OAuthBearerToken {
        unsecured_token(&self.sub, self.lifetime, &self.extra_claims)
    }
}

/// RFC 6750's `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" /
/// "/" ) *"="`. Checked so that a token cannot break the message framing.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// Where the exchange is.
#[derive(Debug)]
enum State {
    /// Nothing sent yet.
    Start,
    /// The initial response was sent; the server's answer is awaited.
    InitialResponseSent,
    /// The server sent an error challenge (its JSON, made printable); the
    /// client answered with a bare kvsep and the server must now fail.
    ServerError(String),
    /// Authenticated.
    Complete,
    /// The exchange failed.
    Failed,
}

/// One OAUTHBEARER exchange, as Kafka's `OAuthBearerSaslClient`.
pub(super) struct OAuthBearerSession {
    token: OAuthBearerToken,
    state: State,
}

impl fmt::Debug for OAuthBearerSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearerSession")
            .field("token", &self.token)
            .field("state", &self.state)
            .finish()
    }
}

impl OAuthBearerSession {
    /// A session sending `token`, which must be well-formed and unexpired.
    pub(super) fn new(token: OAuthBearerToken) -> Result<OAuthBearerSession> {
        if !is_b64token(&token.value) {
            return Err(auth_failed(
                Mechanism::OAuthBearer,
                &token.principal,
                "the OAuthBearerTokenProvider returned a malformed token (empty, or with characters outside RFC 6750's b64token set)",
            ));
        }
        let now = now_ms();
        if token.lifetime_ms <= now {
            return Err(auth_failed(
                Mechanism::OAuthBearer,
                &token.principal,
                format!(
                    "the OAuthBearerTokenProvider returned an expired token (lifetime_ms {} is {} ms in the past)",
                    token.lifetime_ms,
                    now.saturating_sub(token.lifetime_ms)
                ),
            ));
        }
        Ok(OAuthBearerSession {
            token,
            state: State::Start,
        })
    }

    fn fail(&mut self, message: impl Into<String>) -> Error {
        self.state = State::Failed;
        auth_failed(Mechanism::OAuthBearer, &self.token.principal, message)
    }
}

impl SaslSession for OAuthBearerSession {
    fn initial_response(&mut self) -> Result<Vec<u8>> {
        if !matches!(self.state, State::Start) {
            return Err(self.fail("initial_response called twice in one exchange"));
        }
        self.state = State::InitialResponseSent;
        // GS2 header without authzid, then `auth=Bearer <token>` framed by kvsep.
        let mut out = Vec::with_capacity(self.token.value.len() + 20);
        out.extend_from_slice(b"n,,");
        out.push(KVSEP);
        out.extend_from_slice(b"auth=Bearer ");
        out.extend_from_slice(self.token.value.as_bytes());
        out.push(KVSEP);
        out.push(KVSEP);
        Ok(out)
    }

    fn evaluate(&mut self, challenge: &[u8]) -> Result<Option<Vec<u8>>> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::InitialResponseSent if challenge.is_empty() => {
                self.state = State::Complete;
                Ok(None)
            }
            State::InitialResponseSent => {
                // RFC 7628 3.2.2: the server's error JSON is answered with a
                // lone kvsep, after which the server fails the exchange.
                let json = server_text(challenge);
                log::debug!("SASL/OAUTHBEARER: the broker rejected the token: {json}");
                self.state = State::ServerError(json);
                Ok(Some(vec![KVSEP]))
            }
            State::ServerError(json) => Err(self.fail(format!(
                "the broker rejected the token ({json}) and then sent another message"
            ))),
            State::Start => Err(self.fail("evaluate called before initial_response")),
            State::Complete => {
                Err(self.fail("the broker sent a message after authentication completed"))
            }
            State::Failed => Err(self.fail("the exchange already failed")),
        }
    }
}

/// A JSON string literal for `s`: quotes, backslashes and control characters
/// escaped (RFC 8259 section 7).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Base64 with the URL- and filename-safe alphabet, without padding (RFC 4648
/// section 5), as JWS compact serialization requires. An encoding, not
/// cryptography: small enough to keep OAUTHBEARER free of dependencies.
fn base64url_no_pad(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        // 1 input byte gives 2 characters, 2 give 3, 3 give 4.
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::KafkaCode;

    /// Decodes base64url without padding (tests only, to look inside tokens).
    fn decode(s: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let vals: Vec<u32> = s
            .bytes()
            .map(|c| ALPHABET.iter().position(|&a| a == c).unwrap() as u32)
            .collect();
        let mut out = Vec::new();
        for chunk in vals.chunks(4) {
            let mut n = 0u32;
            for (i, v) in chunk.iter().enumerate() {
                n |= v << (18 - 6 * i);
            }
            for i in 0..chunk.len() - 1 {
                out.push((n >> (16 - 8 * i)) as u8);
            }
        }
        out
    }

    fn token(value: &str, lifetime_ms: i64) -> OAuthBearerToken {
        OAuthBearerToken {
            value: value.to_string(),
            principal: "alice".to_string(),
            lifetime_ms,
        }
    }

    #[test]
    fn base64url_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64url_no_pad(input.as_bytes()), expected, "{input}");
            assert_eq!(decode(expected), input.as_bytes());
        }
        // The url-safe alphabet: standard base64 of these is "+/8=", "+++/"
        // and "++++".
        assert_eq!(base64url_no_pad(&[0xfb, 0xff]), "-_8");
        assert_eq!(base64url_no_pad(&[0xfb, 0xef, 0xbf]), "---_");
        assert_eq!(base64url_no_pad(&[0xfb, 0xef, 0xbe]), "----");
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("alice"), r#""alice""#);
        assert_eq!(
            json_string("a\"b\\c\nd\u{1}e\u{7f}é"),
            "\"a\\\"b\\\\c\\nd\\u0001e\u{7f}é\""
        );
    }

    #[test]
    fn unsecured_token_is_javas_unsecured_jws() {
        let before = now_ms();
        let extra = [
            ("scope".to_string(), "read \"all\"".to_string()),
            ("sub".to_string(), "mallory".to_string()),
            ("exp".to_string(), "0".to_string()),
        ];
        let t = unsecured_token("alice", Duration::from_secs(3600), &extra);
        assert_eq!(t.principal, "alice");
        let parts: Vec<&str> = t.value.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], "", "unsecured JWS: empty signature");
        assert_eq!(decode(parts[0]), br#"{"alg":"none"}"#);
        let claims = String::from_utf8(decode(parts[1])).unwrap();
        let iat = before / 1000;
        assert!(
            claims.starts_with(&format!(r#"{{"sub":"alice","iat":{iat},"exp":"#))
                || claims.starts_with(&format!(r#"{{"sub":"alice","iat":{},"exp":"#, iat + 1)),
            "{claims}"
        );
        assert!(claims.ends_with(r#","scope":"read \"all\""}"#), "{claims}");
        assert!(!claims.contains("mallory") && !claims.contains(r#""exp":"0""#));
        let exp_ms = t.lifetime_ms;
        assert_eq!(exp_ms % 1000, 0);
        assert!(exp_ms >= before + 3_600_000 && exp_ms <= now_ms() + 3_601_000);
        assert!(claims.contains(&format!(r#""exp":{}"#, exp_ms / 1000)));
        assert!(is_b64token(&t.value));
        // Absurd lifetimes saturate instead of overflowing.
        let t = unsecured_token("alice", Duration::MAX, &[]);
        assert!(t.lifetime_ms > now_ms());
    }

    #[test]
    fn initial_response_and_success() {
        let t = unsecured_token("alice", Duration::from_secs(60), &[]);
        let mut s = OAuthBearerSession::new(t.clone()).unwrap();
        let first = s.initial_response().unwrap();
        let expected = format!("n,,\x01auth=Bearer {}\x01\x01", t.value);
        assert_eq!(first, expected.as_bytes());
        assert_eq!(s.evaluate(b"").unwrap(), None);
        // Anything after success is an error, not a panic.
        assert!(s.evaluate(b"").is_err());
        assert!(s.initial_response().is_err());
    }

    #[test]
    fn server_error_gets_kvsep_then_fails() {
        let mut s = OAuthBearerSession::new(token("abc.def.", now_ms() + 60_000)).unwrap();
        s.initial_response().unwrap();
        let json = br#"{"status":"invalid_token"}"#;
        assert_eq!(s.evaluate(json).unwrap(), Some(vec![0x01]));
        let e = s.evaluate(b"").unwrap_err();
        assert_eq!(e.kafka_code(), Some(KafkaCode::SaslAuthenticationFailed));
        let t = e.to_string();
        assert!(t.contains("invalid_token") && t.contains("alice"), "{t}");
        assert!(!t.contains("abc.def."), "{t}");
        assert!(s.evaluate(b"").is_err());
    }

    #[test]
    fn hostile_challenges_never_panic() {
        let mut s = OAuthBearerSession::new(token("abc", now_ms() + 60_000)).unwrap();
        assert!(s.evaluate(b"").is_err(), "before initial_response");
        let mut s = OAuthBearerSession::new(token("abc", now_ms() + 60_000)).unwrap();
        s.initial_response().unwrap();
        let big = vec![0xffu8; 100_000];
        assert_eq!(s.evaluate(&big).unwrap(), Some(vec![1]));
        let t = s.evaluate(&[0, 1, 2]).unwrap_err().to_string();
        assert!(t.len() < 2_000, "server text is truncated: {}", t.len());
    }

    #[test]
    fn expired_or_malformed_tokens_are_rejected() {
        let e = OAuthBearerSession::new(token("abc", now_ms() - 1)).unwrap_err();
        assert_eq!(e.kafka_code(), Some(KafkaCode::SaslAuthenticationFailed));
        assert!(e.to_string().contains("expired token"), "{e}");
        for bad in ["", "===", "a b", "a\x01b", "tok\u{e9}n", "a=b"] {
            let e = OAuthBearerSession::new(token(bad, now_ms() + 60_000)).unwrap_err();
            assert!(e.to_string().contains("malformed token"), "{e}");
        }
        assert!(is_b64token("aZ09-._~+/=="));
    }

    #[test]
    fn unsecured_login_options() {
        let parse = |opts: &str| {
            let entry = jaas::parse(&format!(
                "{} required {opts};",
                Mechanism::OAuthBearer.login_module()
            ))
            .unwrap();
            UnsecuredLogin::from_jaas(&entry)
        };
        let l = parse(
            r#"unsecuredLoginStringClaim_sub="alice" unsecuredLoginLifetimeSeconds="60" unsecuredLoginStringClaim_scope="a b" debug=true"#,
        )
        .unwrap();
        assert_eq!(l.sub, "alice");
        assert_eq!(l.lifetime, Duration::from_secs(60));
        assert_eq!(l.extra_claims, [("scope".to_string(), "a b".to_string())]);
        assert_eq!(l.token().principal, "alice");
        let l = parse(r#"unsecuredLoginStringClaim_sub="bob""#).unwrap();
        assert_eq!(l.lifetime, DEFAULT_LIFETIME);
        for bad in [
            "",
            r#"unsecuredLoginStringClaim_sub="""#,
            r#"unsecuredLoginStringClaim_sub="a" unsecuredLoginLifetimeSeconds="0""#,
            r#"unsecuredLoginStringClaim_sub="a" unsecuredLoginLifetimeSeconds="-5""#,
            r#"unsecuredLoginStringClaim_sub="a" unsecuredLoginLifetimeSeconds="1h""#,
            r#"unsecuredLoginStringClaim_sub="a" unsecuredLoginStringClaim_exp="5""#,
            r#"unsecuredLoginStringClaim_sub="a" unsecuredLoginStringClaim_="5""#,
            r#"unsecuredLoginStringClaim_sub="a" unsecuredLoginNumberClaim_n="5""#,
            r#"unsecuredLoginStringClaim_sub="a" unsecuredLoginExtension_x="5""#,
        ] {
            let e = parse(bad).unwrap_err();
            match &e {
                Error::Config { key, value, .. } => {
                    assert_eq!(key, "sasl.jaas.config");
                    assert_eq!(value, "[hidden]");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn debug_hides_the_token() {
        let t = unsecured_token("alice", Duration::from_secs(60), &[]);
        let d = format!("{t:?}");
        assert!(d.contains("[hidden]") && d.contains("alice"), "{d}");
        assert!(!d.contains(&t.value), "{d}");
        let s = OAuthBearerSession::new(t.clone()).unwrap();
        let d = format!("{s:?}");
        assert!(!d.contains(&t.value), "{d}");
    }
}
