//! `security.protocol` and what it needs: the TLS settings (SSL, SASL_SSL)
//! and the SASL settings (SASL_PLAINTEXT, SASL_SSL), built once from the
//! client's typed settings and shared by every connection of a client.

use std::fmt;

use crate::config::SecurityOptions;
use crate::error::Result;
use crate::net::sasl::SaslSettings;
#[cfg(feature = "tls")]
use crate::net::tls::TlsSettings;

/// The four values of `security.protocol`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SecurityProtocol {
    /// No TLS, no SASL.
    #[default]
    Plaintext,
    /// TLS, no SASL.
    Ssl,
    /// SASL over a plain socket.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// The Java name (`SASL_SSL`).
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// True for SSL and SASL_SSL.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// True for SASL_PLAINTEXT and SASL_SSL.
    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// How a client's connections are secured. `Debug` shows the protocol, the
/// mechanism and the user, never a password, key or token.
#[derive(Clone, Default)]
pub struct Security {
    /// `security.protocol`.
    pub protocol: SecurityProtocol,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<TlsSettings>,
    pub(crate) sasl: Option<SaslSettings>,
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Security");
        d.field("protocol", &self.protocol.name());
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls);
        if let Some(s) = &self.sasl {
            d.field("sasl_mechanism", &s.mechanism().name());
            d.field("sasl_user", &s.user());
        }
        d.finish()
    }
}

impl Security {
    /// Checks and builds `security.protocol` and the `ssl.*` / `sasl.*`
    /// settings it needs; everything is checked now (files read, keys
    /// parsed, mechanism and credentials present), so a client with bad
    /// security settings fails at construction.
    pub(crate) fn from_settings(c: &SecurityOptions) -> Result<Security> {
        let protocol = c.protocol;
        let s = &c.sasl;
        let sasl = if protocol.uses_sasl() {
            Some(SaslSettings::new(
                &s.mechanism,
                s.jaas_config.as_deref(),
                s.username.as_deref(),
                s.password.as_deref(),
                s.oauth_provider.0.clone(),
            )?)
        } else {
            let set = [
                ("sasl.jaas.config", s.jaas_config.is_some()),
                ("sasl.username", s.username.is_some()),
                ("sasl.password", s.password.is_some()),
            ];
            for (key, _) in set.iter().filter(|(_, set)| *set) {
                log::warn!(
                    "{key} is set but security.protocol={} does not use SASL: it is ignored (did you mean SASL_SSL or SASL_PLAINTEXT?)",
                    protocol.name()
                );
            }
            None
        };
        #[cfg(feature = "tls")]
        let tls = if protocol.uses_tls() {
            Some(TlsSettings::from_settings(&c.tls)?)
        } else {
            None
        };
        #[cfg(not(feature = "tls"))]
        if protocol.uses_tls() {
            return Err(crate::error::Error::config(
                "security.protocol",
                protocol.name(),
                "TLS needs the `tls` cargo feature of kafka-blocking (features = [\"tls\"] in Cargo.toml)",
            ));
        }
        Ok(Security {
            protocol,
            #[cfg(feature = "tls")]
            tls,
            sasl,
        })
    }

    /// The SASL settings, when `security.protocol` uses SASL.
    pub fn sasl(&self) -> Option<&SaslSettings> {
        self.sasl.as_ref()
    }
}
