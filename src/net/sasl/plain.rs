//! SASL/PLAIN (RFC 4616): one message, `authzid NUL authcid NUL passwd`, with
//! an empty authzid as Kafka's Java client sends it.

use std::fmt;

use super::{Mechanism, SaslSession, auth_failed};
use crate::error::Result;

/// One PLAIN exchange. The credentials were checked when the settings were
/// built (non-empty, no NUL).
pub(super) struct PlainSession {
    username: String,
    password: String,
    sent: bool,
}

impl fmt::Debug for PlainSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainSession")
            .field("username", &self.username)
            .field("password", &super::HIDDEN)
            .field("sent", &self.sent)
            .finish()
    }
}

impl PlainSession {
    pub(super) fn new(username: &str, password: &str) -> PlainSession {
        PlainSession {
            username: username.to_string(),
            password: password.to_string(),
            sent: false,
        }
    }
}

impl SaslSession for PlainSession {
    fn initial_response(&mut self) -> Result<Vec<u8>> {
        if self.sent {
            return Err(auth_failed(
                Mechanism::Plain,
                &self.username,
                "initial_response called twice in one exchange",
            ));
        }
        self.sent = true;
        let mut out = Vec::with_capacity(self.username.len() + self.password.len() + 2);
        out.push(0);
        out.extend_from_slice(self.username.as_bytes());
        out.push(0);
        out.extend_from_slice(self.password.as_bytes());
        Ok(out)
    }

    /// PLAIN has one message: whatever the server answers (normally nothing),
    /// the client is done; the broker's error code says if it failed.
    fn evaluate(&mut self, _challenge: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_message_and_one_step() {
        let mut s = PlainSession::new("alice", "alice-secret");
        assert_eq!(s.initial_response().unwrap(), b"\0alice\0alice-secret");
        assert_eq!(s.evaluate(b"").unwrap(), None);
        assert_eq!(s.evaluate(b"anything").unwrap(), None);
        assert!(s.initial_response().is_err());
    }

    #[test]
    fn debug_hides_the_password() {
        let s = PlainSession::new("alice", "alice-secret");
        let d = format!("{s:?}");
        assert!(d.contains("alice") && !d.contains("alice-secret"), "{d}");
    }
}
