//! Configuration with the Java client's property names.
//!
//! Each client has one config type ([`AdminConfig`], [`ProducerConfig`],
//! [`ConsumerConfig`]) that collects `key = value` properties, from code
//! (`.set("acks", "all")`, or typed helpers) or from a Java-style properties
//! text. Nothing is checked while collecting; the client's constructor checks
//! every key against its table and fails with an error that names the key, the
//! value and what is allowed. So there is one source of truth per setting: its
//! row in the table below, with its default.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::net::sasl::OAuthBearerTokenProvider;

/// What values a property accepts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// An integer in an inclusive range.
    Int(i64, i64),
    /// `true` or `false`.
    Bool,
    /// Any string.
    Str,
    /// A comma-separated list of non-empty items.
    List,
    /// One of a fixed set (compared case-insensitively, stored lower-case).
    Choice(&'static [&'static str]),
}

/// One row of a client's settings table: name, accepted values, default
/// (`None` = required or no default).
pub(crate) type KeyDef = (&'static str, Kind, Option<&'static str>);

const I32: i64 = i32::MAX as i64;

/// Settings every client shares (the Java `CommonClientConfigs`).
pub(crate) const COMMON_KEYS: &[KeyDef] = &[
    ("bootstrap.servers", Kind::List, None),
    ("client.id", Kind::Str, Some("")),
    (
        "client.dns.lookup",
        Kind::Choice(&[
            "use_all_dns_ips",
            "resolve_canonical_bootstrap_servers_only",
        ]),
        Some("use_all_dns_ips"),
    ),
    ("request.timeout.ms", Kind::Int(0, I32), Some("30000")),
    (
        "socket.connection.setup.timeout.ms",
        Kind::Int(0, I32),
        Some("10000"),
    ),
    (
        "socket.connection.setup.timeout.max.ms",
        Kind::Int(0, I32),
        Some("30000"),
    ),
    ("send.buffer.bytes", Kind::Int(-1, I32), Some("131072")),
    ("receive.buffer.bytes", Kind::Int(-1, I32), Some("65536")),
    ("reconnect.backoff.ms", Kind::Int(0, I32), Some("50")),
    ("reconnect.backoff.max.ms", Kind::Int(0, I32), Some("1000")),
    ("retry.backoff.ms", Kind::Int(0, I32), Some("100")),
    ("retry.backoff.max.ms", Kind::Int(0, I32), Some("1000")),
    (
        "connections.max.idle.ms",
        Kind::Int(-1, i64::MAX),
        Some("540000"),
    ),
    (
        "metadata.max.age.ms",
        Kind::Int(0, i64::MAX),
        Some("300000"),
    ),
    // Not a Java setting (librdkafka's name): the largest response frame
    // accepted from a broker, so a lying length prefix cannot make us allocate.
    (
        "receive.message.max.bytes",
        Kind::Int(1024, I32),
        Some("104857600"),
    ),
    (
        "security.protocol",
        Kind::Choice(&["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"]),
        Some("plaintext"),
    ),
    // TLS (security.protocol SSL / SASL_SSL; see src/net/tls.rs). PEM only:
    // Java's JKS and PKCS12 stores are refused with the command that converts
    // them.
    ("ssl.truststore.location", Kind::Str, Some("")),
    ("ssl.truststore.type", Kind::Str, Some("PEM")),
    ("ssl.truststore.certificates", Kind::Str, Some("")),
    ("ssl.keystore.location", Kind::Str, Some("")),
    ("ssl.keystore.type", Kind::Str, Some("PEM")),
    ("ssl.keystore.key", Kind::Str, Some("")),
    ("ssl.keystore.certificate.chain", Kind::Str, Some("")),
    ("ssl.key.password", Kind::Str, Some("")),
    (
        "ssl.endpoint.identification.algorithm",
        Kind::Str,
        Some("https"),
    ),
    ("ssl.enabled.protocols", Kind::List, Some("TLSv1.2,TLSv1.3")),
    ("ssl.protocol", Kind::Str, Some("TLSv1.3")),
    // librdkafka's names for the same files.
    ("ssl.ca.location", Kind::Str, Some("")),
    ("ssl.certificate.location", Kind::Str, Some("")),
    ("ssl.key.location", Kind::Str, Some("")),
    // SASL (security.protocol SASL_PLAINTEXT / SASL_SSL; see src/net/sasl/).
    // GSSAPI is Java's default and is refused with the supported list.
    ("sasl.mechanism", Kind::Str, Some("GSSAPI")),
    ("sasl.jaas.config", Kind::Str, Some("")),
    ("sasl.username", Kind::Str, Some("")),
    ("sasl.password", Kind::Str, Some("")),
    ("client.software.name", Kind::Str, Some("kafka-blocking")),
    (
        "client.software.version",
        Kind::Str,
        Some(env!("CARGO_PKG_VERSION")),
    ),
];

pub(crate) const ADMIN_KEYS: &[KeyDef] =
    &[("default.api.timeout.ms", Kind::Int(0, I32), Some("60000"))];

pub(crate) const PRODUCER_KEYS: &[KeyDef] = &[
    ("acks", Kind::Choice(&["all", "-1", "0", "1"]), Some("all")),
    ("retries", Kind::Int(0, I32), Some("2147483647")),
    ("delivery.timeout.ms", Kind::Int(0, I32), Some("120000")),
    ("linger.ms", Kind::Int(0, I32), Some("5")),
    ("batch.size", Kind::Int(0, I32), Some("16384")),
    ("buffer.memory", Kind::Int(0, i64::MAX), Some("33554432")),
    ("max.block.ms", Kind::Int(0, i64::MAX), Some("60000")),
    ("max.request.size", Kind::Int(0, I32), Some("1048576")),
    (
        "compression.type",
        Kind::Choice(&["none", "gzip", "snappy", "lz4", "zstd"]),
        Some("none"),
    ),
    ("enable.idempotence", Kind::Bool, Some("true")),
    (
        "max.in.flight.requests.per.connection",
        Kind::Int(1, I32),
        Some("5"),
    ),
    (
        "partitioner.class",
        Kind::Choice(&["default", "sticky", "murmur2", "round_robin", "roundrobin"]),
        Some("default"),
    ),
    ("partitioner.ignore.keys", Kind::Bool, Some("false")),
    ("transactional.id", Kind::Str, Some("")),
    ("transaction.timeout.ms", Kind::Int(0, I32), Some("60000")),
    (
        "metadata.max.idle.ms",
        Kind::Int(5000, i64::MAX),
        Some("300000"),
    ),
];

pub(crate) const CONSUMER_KEYS: &[KeyDef] = &[
    ("group.id", Kind::Str, Some("")),
    ("group.instance.id", Kind::Str, Some("")),
    (
        "group.protocol",
        Kind::Choice(&["classic", "consumer"]),
        Some("classic"),
    ),
    ("allow.auto.create.topics", Kind::Bool, Some("true")),
    (
        "auto.offset.reset",
        Kind::Choice(&["earliest", "latest", "none"]),
        Some("latest"),
    ),
    ("enable.auto.commit", Kind::Bool, Some("true")),
    ("auto.commit.interval.ms", Kind::Int(0, I32), Some("5000")),
    ("fetch.min.bytes", Kind::Int(0, I32), Some("1")),
    ("fetch.max.bytes", Kind::Int(0, I32), Some("52428800")),
    ("fetch.max.wait.ms", Kind::Int(0, I32), Some("500")),
    (
        "max.partition.fetch.bytes",
        Kind::Int(0, I32),
        Some("1048576"),
    ),
    ("max.poll.records", Kind::Int(1, I32), Some("500")),
    ("max.poll.interval.ms", Kind::Int(1, I32), Some("300000")),
    ("session.timeout.ms", Kind::Int(1, I32), Some("45000")),
    ("heartbeat.interval.ms", Kind::Int(1, I32), Some("3000")),
    (
        "isolation.level",
        Kind::Choice(&["read_uncommitted", "read_committed"]),
        Some("read_uncommitted"),
    ),
    ("check.crcs", Kind::Bool, Some("true")),
    // Not a Java setting (librdkafka's name): report partitions that reached
    // their end in `ConsumerRecords::partition_eofs`.
    ("enable.partition.eof", Kind::Bool, Some("false")),
    (
        "partition.assignment.strategy",
        Kind::List,
        Some("range,cooperative-sticky"),
    ),
    ("default.api.timeout.ms", Kind::Int(0, I32), Some("60000")),
    ("exclude.internal.topics", Kind::Bool, Some("true")),
    ("client.rack", Kind::Str, Some("")),
];

/// Properties collected for one client, validated when the client is built.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Properties {
    values: BTreeMap<String, String>,
}

impl Properties {
    pub(crate) fn set(&mut self, key: &str, value: &str) {
        self.values
            .insert(key.trim().to_string(), value.trim().to_string());
    }

    /// Parses Java properties text: `key=value` or `key: value` lines, `#` and
    /// `!` comments, blank lines ignored, and a line ending in `\` continued
    /// on the next (as `java.util.Properties`; common for `sasl.jaas.config`).
    /// Errors give the line number only: the text may hold passwords and keys.
    pub(crate) fn parse_text(&mut self, text: &str) -> Result<()> {
        let mut lines = text.lines().enumerate();
        while let Some((n, raw)) = lines.next() {
            let mut line = raw.trim().to_string();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            // An odd number of trailing backslashes continues the line.
            while line.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1 {
                line.pop();
                match lines.next() {
                    Some((_, next)) => line.push_str(next.trim_start()),
                    None => break,
                }
            }
            let split = line.find(['=', ':']).ok_or_else(|| {
                Error::config(
                    format!("(line {} of the properties text)", n + 1),
                    "[hidden]",
                    "the line has no '=' or ':': expected key=value",
                )
            })?;
            self.set(&line[..split], &line[split + 1..]);
        }
        Ok(())
    }

    /// Checks every property against `tables` and returns the resolved values
    /// (defaults filled in). A key not in `tables` is not an error (as in
    /// Java, one properties file may serve several clients): it is ignored
    /// with a warning naming it, the client it belongs to, or the known key
    /// it probably misspells (`what` names this client in the warning).
    pub(crate) fn resolve(&self, what: &str, tables: &[&[KeyDef]]) -> Result<Resolved> {
        let find = |key: &str| tables.iter().flat_map(|t| t.iter()).find(|d| d.0 == key);
        let mut out = BTreeMap::new();
        let mut ignored = Vec::new();
        for (key, value) in &self.values {
            match find(key) {
                Some(def) => {
                    out.insert(def.0, check(def, value)?);
                }
                None => {
                    // The value is never shown: an unknown key may well be a
                    // password (Java's ssl.keystore.password).
                    let why = unknown_key_hint(key, tables);
                    log::warn!("configuration key {key} is ignored: {why} ({what})");
                    ignored.push(format!("{key}: {why}"));
                }
            }
        }
        for def in tables.iter().flat_map(|t| t.iter()) {
            if !out.contains_key(def.0) {
                match def.2 {
                    Some(d) => {
                        out.insert(def.0, check(def, d)?);
                    }
                    None => {
                        return Err(Error::config(def.0, "", "this setting is required"));
                    }
                }
            }
        }
        for (key, why) in NOT_IMPLEMENTED {
            let default = tables
                .iter()
                .flat_map(|t| t.iter())
                .find(|d| d.0 == *key)
                .and_then(|d| d.2);
            if let (Some(v), Some(d)) = (out.get(key), default) {
                if v != d {
                    return Err(Error::config(*key, v.as_str(), *why));
                }
            }
        }
        Ok(Resolved {
            values: out,
            oauth_provider: None,
            ignored,
        })
    }
}

/// Java settings this client accepts at their default only, and why.
const NOT_IMPLEMENTED: &[(&str, &str)] = &[
    (
        "client.dns.lookup",
        "only use_all_dns_ips (the default) is implemented: every address of a host is tried in turn",
    ),
    (
        "metadata.max.idle.ms",
        "not implemented yet: a producer keeps metadata for every topic it has sent to; leave the default",
    ),
    (
        "transaction.timeout.ms",
        "transactions are not implemented yet (transactional.id is refused too); leave the default",
    ),
];

/// Why `key` is not a setting of this client: another client's setting, a
/// probable misspelling of one of ours, or unknown.
fn unknown_key_hint(key: &str, tables: &[&[KeyDef]]) -> String {
    for (name, table) in [
        ("an admin client", ADMIN_KEYS),
        ("a producer", PRODUCER_KEYS),
        ("a consumer", CONSUMER_KEYS),
    ] {
        if table.iter().any(|d| d.0 == key) {
            return format!("it is {name} setting");
        }
    }
    if key == "ssl.keystore.password" || key == "ssl.truststore.password" {
        return "store passwords are not used: this client reads PEM files (ssl.key.password opens an encrypted PEM key)".to_string();
    }
    let best = tables
        .iter()
        .flat_map(|t| t.iter())
        .map(|d| (edit_distance(key, d.0), d.0))
        .min();
    match best {
        Some((d, known)) if d <= 2 || (d <= 4 && key.len() >= 12) => {
            format!("not a known setting; did you mean {known}?")
        }
        _ => "not a known setting".to_string(),
    }
}

/// Levenshtein distance (keys are short ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn check(def: &KeyDef, value: &str) -> Result<String> {
    let (key, kind, _) = *def;
    let shown = if is_secret(key) { "[hidden]" } else { value };
    match kind {
        Kind::Int(lo, hi) => match value.parse::<i64>() {
            Ok(v) if (lo..=hi).contains(&v) => Ok(v.to_string()),
            _ => Err(Error::config(
                key,
                shown,
                format!("expected an integer from {lo} to {hi}"),
            )),
        },
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(value.to_ascii_lowercase()),
            _ => Err(Error::config(key, shown, "expected true or false")),
        },
        Kind::Str => Ok(value.to_string()),
        Kind::List => {
            let items: Vec<&str> = value.split(',').map(str::trim).collect();
            if items.iter().any(|s| s.is_empty()) {
                Err(Error::config(
                    key,
                    shown,
                    "expected a comma-separated list of non-empty values",
                ))
            } else {
                Ok(items.join(","))
            }
        }
        Kind::Choice(allowed) => {
            let v = value.to_ascii_lowercase();
            if allowed.contains(&v.as_str()) {
                Ok(v)
            } else {
                Err(Error::config(
                    key,
                    shown,
                    format!("expected one of: {}", allowed.join(", ")),
                ))
            }
        }
    }
}

impl fmt::Debug for Properties {
    /// Secrets (any key naming a password, secret or key material) are masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.values {
            if is_secret(k) {
                m.entry(k, &"[hidden]");
            } else {
                m.entry(k, v);
            }
        }
        m.finish()
    }
}

fn is_secret(key: &str) -> bool {
    key.contains("password")
        || key.contains("secret")
        || key.ends_with(".key")
        || key.contains("jaas")
}

/// Validated settings with every default filled in.
#[derive(Clone)]
pub(crate) struct Resolved {
    values: BTreeMap<&'static str, String>,
    /// The OAUTHBEARER token provider registered in code, if any.
    pub(crate) oauth_provider: Option<Arc<dyn OAuthBearerTokenProvider>>,
    /// Keys that were set but are not settings of this client (ignored,
    /// with a warning), each with the reason. Logged when resolved; kept for
    /// the tests.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) ignored: Vec<String>,
}

impl fmt::Debug for Resolved {
    /// Secrets are masked, as in [`Properties`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.values {
            if is_secret(k) && !v.is_empty() {
                m.entry(k, &"[hidden]");
            } else {
                m.entry(k, v);
            }
        }
        if self.oauth_provider.is_some() {
            m.entry(&"sasl oauthbearer token provider", &"[set in code]");
        }
        m.finish()
    }
}

/// The OAUTHBEARER token provider a configuration carries (set in code, not a
/// property). Two configurations are equal when they hold the same provider.
#[derive(Clone, Default)]
pub(crate) struct ProviderSlot(pub(crate) Option<Arc<dyn OAuthBearerTokenProvider>>);

impl PartialEq for ProviderSlot {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for ProviderSlot {}

impl fmt::Debug for ProviderSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some([provider])"
        } else {
            "None"
        })
    }
}

impl Resolved {
    pub(crate) fn str(&self, key: &str) -> &str {
        self.values
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("setting {key} is not in the table"))
    }
    pub(crate) fn int(&self, key: &str) -> i64 {
        self.str(key).parse().expect("validated integer")
    }
    pub(crate) fn bool(&self, key: &str) -> bool {
        self.str(key) == "true"
    }
    pub(crate) fn list(&self, key: &str) -> Vec<String> {
        self.str(key)
            .split(',')
            .map(str::to_string)
            .filter(|s| !s.is_empty())
            .collect()
    }
    pub(crate) fn millis(&self, key: &str) -> Duration {
        Duration::from_millis(self.int(key).max(0) as u64)
    }
    /// An optional string: empty means unset.
    pub(crate) fn opt_str(&self, key: &str) -> Option<&str> {
        Some(self.str(key)).filter(|s| !s.is_empty())
    }
}

macro_rules! client_config {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Default, Debug, PartialEq, Eq)]
        pub struct $name {
            pub(crate) props: Properties,
            pub(crate) oauth_provider: ProviderSlot,
        }

        impl $name {
            #[doc = concat!("An empty ", $what, " configuration (every setting at its default; `bootstrap.servers` is required).")]
            pub fn new() -> Self {
                Self::default()
            }

            /// Sets a property by its Java client name, e.g. `.set("client.id", "app")`.
            /// Keys and values are checked when the client is built.
            pub fn set(mut self, key: &str, value: impl ToString) -> Self {
                self.props.set(key, &value.to_string());
                self
            }

            /// Sets `bootstrap.servers`: comma-separated `host:port` pairs.
            pub fn bootstrap_servers(self, servers: &str) -> Self {
                self.set("bootstrap.servers", servers)
            }

            /// Sets `client.id`, sent with every request.
            pub fn client_id(self, id: &str) -> Self {
                self.set("client.id", id)
            }

            /// Sets `request.timeout.ms`.
            pub fn request_timeout(self, t: Duration) -> Self {
                self.set("request.timeout.ms", t.as_millis())
            }

            /// Sets the OAUTHBEARER token provider (for `sasl.mechanism=OAUTHBEARER`):
            /// called for every authentication and re-authentication, so it can
            /// hand out a fresh token each time. Takes precedence over an
            /// unsecured token described in `sasl.jaas.config`.
            pub fn sasl_oauthbearer_token_provider(
                mut self,
                provider: Arc<dyn OAuthBearerTokenProvider>,
            ) -> Self {
                self.oauth_provider = ProviderSlot(Some(provider));
                self
            }

            /// Reads Java-style properties text (`key=value` lines, `#` comments).
            pub fn from_properties(text: &str) -> Result<Self> {
                let mut c = Self::default();
                c.props.parse_text(text)?;
                Ok(c)
            }

            /// Adds the properties of a Java-style properties text to this configuration.
            pub fn with_properties(mut self, text: &str) -> Result<Self> {
                self.props.parse_text(text)?;
                Ok(self)
            }
        }
    };
}

client_config!(
    /// Configuration of an [`AdminClient`](crate::admin::AdminClient).
    AdminConfig,
    "admin client"
);
client_config!(
    /// Configuration of a producer (the Java `ProducerConfig` names).
    ProducerConfig,
    "producer"
);
client_config!(
    /// Configuration of a consumer (the Java `ConsumerConfig` names).
    ConsumerConfig,
    "consumer"
);

impl AdminConfig {
    pub(crate) fn resolve(&self) -> Result<Resolved> {
        let mut r = self
            .props
            .resolve("admin client", &[COMMON_KEYS, ADMIN_KEYS])?;
        r.oauth_provider = self.oauth_provider.0.clone();
        Ok(r)
    }
}

impl ProducerConfig {
    pub(crate) fn resolve(&self) -> Result<Resolved> {
        let mut r = self
            .props
            .resolve("producer", &[COMMON_KEYS, PRODUCER_KEYS])?;
        r.oauth_provider = self.oauth_provider.0.clone();
        // As in Java 3.x: idempotence needs acks=all and at most five requests
        // in flight. When the user asked for idempotence explicitly a conflict
        // is an error; when it is only the default, it is switched off instead.
        let explicit_idempotence = self.props.values.contains_key("enable.idempotence");
        if r.bool("enable.idempotence") {
            let acks = r.str("acks").to_string();
            let in_flight = r.int("max.in.flight.requests.per.connection");
            let conflict = if acks != "all" && acks != "-1" {
                Some((
                    "acks",
                    acks,
                    "must be all (or -1) when enable.idempotence=true; set enable.idempotence=false to use acks=0 or 1",
                ))
            } else if in_flight > 5 {
                Some((
                    "max.in.flight.requests.per.connection",
                    in_flight.to_string(),
                    "must be at most 5 when enable.idempotence=true",
                ))
            } else {
                None
            };
            if let Some((key, value, allowed)) = conflict {
                if explicit_idempotence {
                    return Err(Error::config(key, value, allowed));
                }
                log::info!("enable.idempotence switched off because {key}={value} was set");
                r.values.insert("enable.idempotence", "false".into());
            }
        }
        Ok(r)
    }
}

impl ConsumerConfig {
    pub(crate) fn resolve(&self) -> Result<Resolved> {
        let mut r = self
            .props
            .resolve("consumer", &[COMMON_KEYS, CONSUMER_KEYS])?;
        r.oauth_provider = self.oauth_provider.0.clone();
        if r.int("heartbeat.interval.ms") >= r.int("session.timeout.ms") {
            return Err(Error::config(
                "heartbeat.interval.ms",
                r.str("heartbeat.interval.ms"),
                "must be lower than session.timeout.ms",
            ));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_text(e: Error) -> String {
        e.to_string()
    }

    #[test]
    fn unknown_keys_are_ignored_with_a_reason() {
        let r = ProducerConfig::new()
            .bootstrap_servers("a:1")
            .set("bootstrap.server", "x")
            .set("group.id", "g")
            .set("ssl.keystore.password", "hunter2")
            .set("no.such.thing", "1")
            .resolve()
            .unwrap();
        assert_eq!(
            r.ignored,
            vec![
                "bootstrap.server: not a known setting; did you mean bootstrap.servers?",
                "group.id: it is a consumer setting",
                "no.such.thing: not a known setting",
                "ssl.keystore.password: store passwords are not used: this client reads PEM files (ssl.key.password opens an encrypted PEM key)",
            ]
        );
        assert!(!format!("{r:?}").contains("hunter2"));
        assert_eq!(r.str("bootstrap.servers"), "a:1");
    }

    #[test]
    fn settings_not_implemented_are_refused_unless_default() {
        for (key, value) in [
            (
                "client.dns.lookup",
                "resolve_canonical_bootstrap_servers_only",
            ),
            ("metadata.max.idle.ms", "60000"),
            ("transaction.timeout.ms", "1000"),
        ] {
            let e = err_text(
                ProducerConfig::new()
                    .bootstrap_servers("a:1")
                    .set(key, value)
                    .resolve()
                    .unwrap_err(),
            );
            assert!(e.contains(key) && e.contains("implemented"), "{e}");
        }
        ProducerConfig::new()
            .bootstrap_servers("a:1")
            .set("client.dns.lookup", "use_all_dns_ips")
            .set("metadata.max.idle.ms", "300000")
            .resolve()
            .unwrap();
    }

    #[test]
    fn bad_values_name_key_and_allowed() {
        let e = ProducerConfig::new()
            .bootstrap_servers("a:1")
            .set("acks", "maybe")
            .resolve()
            .unwrap_err();
        match &e {
            Error::Config {
                key,
                value,
                allowed,
            } => {
                assert_eq!(key, "acks");
                assert_eq!(value, "maybe");
                assert!(allowed.contains("all"), "{allowed}");
            }
            other => panic!("{other:?}"),
        }
        let e = AdminConfig::new()
            .bootstrap_servers("a:1")
            .set("request.timeout.ms", "-5")
            .resolve()
            .unwrap_err();
        assert!(err_text(e).contains("request.timeout.ms"));
        let e = ConsumerConfig::new()
            .bootstrap_servers("a:1")
            .set("enable.auto.commit", "yes")
            .resolve()
            .unwrap_err();
        assert!(err_text(e).contains("enable.auto.commit"));
        let e = AdminConfig::new().resolve().unwrap_err();
        assert!(err_text(e).contains("bootstrap.servers"));
    }

    #[test]
    fn defaults_and_properties_text() {
        let c = ProducerConfig::from_properties(
            "# comment\nbootstrap.servers = h:1, h:2\nacks: 1\nenable.idempotence=false\n",
        )
        .unwrap();
        let r = c.resolve().unwrap();
        assert_eq!(r.list("bootstrap.servers"), ["h:1", "h:2"]);
        assert_eq!(r.str("acks"), "1");
        assert_eq!(r.int("linger.ms"), 5);
        assert_eq!(r.int("batch.size"), 16384);
        assert!(ProducerConfig::from_properties("novalue").is_err());
    }

    #[test]
    fn idempotence_conflicts_rejected() {
        let base = ProducerConfig::new().bootstrap_servers("a:1");
        assert!(
            base.clone()
                .set("acks", "1")
                .set("enable.idempotence", "true")
                .resolve()
                .is_err()
        );
        // Implicit idempotence gives way to an explicit weaker acks, as in Java 3.x.
        assert!(
            !base
                .clone()
                .set("acks", "1")
                .resolve()
                .unwrap()
                .bool("enable.idempotence")
        );
        assert!(
            base.clone()
                .set("acks", "1")
                .set("enable.idempotence", "false")
                .resolve()
                .is_ok()
        );
        let six = base.set("max.in.flight.requests.per.connection", "6");
        assert!(!six.clone().resolve().unwrap().bool("enable.idempotence"));
        assert!(six.set("enable.idempotence", "true").resolve().is_err());
    }

    #[test]
    fn debug_hides_secrets() {
        let c = AdminConfig::new().set("sasl.password", "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
        let r = c.set("bootstrap.servers", "b:9092").resolve().unwrap();
        assert!(!format!("{r:?}").contains("hunter2"));
    }

    #[test]
    fn errors_never_echo_secrets() {
        // A bad value of a secret key is not shown.
        let e = err_text(
            AdminConfig::new()
                .bootstrap_servers("b:9092")
                .set("sasl.password", "hunter2")
                .set("security.protocol", "SASL_PLAIN")
                .resolve()
                .unwrap_err(),
        );
        assert!(
            e.contains("security.protocol") && !e.contains("hunter2"),
            "{e}"
        );
        // A base64 line of a PEM key (no '=') is not echoed.
        let e = err_text(
            AdminConfig::from_properties("ssl.keystore.key=x\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n")
                .unwrap_err(),
        );
        assert!(e.contains("line 2") && !e.contains("MIIEvQ"), "{e}");
    }

    #[test]
    fn properties_lines_continue_after_a_backslash() {
        let text = "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\\n    username=\"alice\" \\\n    password=\"hunter2\";\nbootstrap.servers=b:9092\n";
        let c = AdminConfig::from_properties(text).unwrap();
        let r = c.resolve().unwrap();
        assert_eq!(
            r.str("sasl.jaas.config"),
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\" password=\"hunter2\";"
        );
        assert_eq!(r.str("bootstrap.servers"), "b:9092");
    }
}
