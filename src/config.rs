//! Configuration with the Java client's property names.
//!
//! Each client has one config type ([`AdminConfig`], [`ProducerConfig`],
//! [`ConsumerConfig`]) that collects `key = value` properties, from code
//! (`.set("acks", "all")`, or typed helpers) or from a Java-style properties
//! text. Nothing is checked while collecting; the client's constructor checks
//! every key against its table and fails with an error that names the key, the
//! value and what is allowed. So there is one source of truth per setting: its
//! row in the table below, with its default. The checked values then become
//! typed settings (`AdminSettings`, `ProducerSettings`, `ConsumerSettings`,
//! with the shared `CommonSettings`), also built here: this file is the only
//! one that reads a setting by its key.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::net::sasl::OAuthBearerTokenProvider;
use crate::net::security::SecurityProtocol;
use crate::protocol::compression::Compression;

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
            #[cfg(test)]
            read: Default::default(),
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
    /// The keys read so far (tests check that the typed settings read every
    /// key of the tables).
    #[cfg(test)]
    read: Arc<std::sync::Mutex<std::collections::BTreeSet<&'static str>>>,
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
    // These accessors are for the `*Settings::read` functions above (and the
    // consumer, until it takes `ConsumerSettings`): nothing else reads a
    // setting by its key.
    pub(crate) fn str(&self, key: &str) -> &str {
        let (&key, value) = self
            .values
            .get_key_value(key)
            .unwrap_or_else(|| panic!("setting {key} is not in the table"));
        #[cfg(test)]
        self.read.lock().unwrap().insert(key);
        #[cfg(not(test))]
        let _ = key;
        value
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

// Typed settings: the one place that reads the resolved values by key. Each
// client's configuration is resolved (checked against its tables) and turned
// into one of these structs by one function ([`AdminConfig::settings`],
// [`ProducerConfig::settings`], [`ConsumerConfig::settings`]); the layers
// below take the typed values and never name a key to read one. A misspelt
// key panics in `Resolved::str` ("not in the table"), which the tests at the
// end of this file make sure happens in a test, not in production.

/// `security.protocol` and the raw SASL and TLS values; the net layer
/// checks and builds them (files read, keys parsed) in
/// `Security::from_settings`. `Debug` hides every secret.
#[derive(Clone, Debug)]
pub(crate) struct SecurityOptions {
    /// `security.protocol`.
    pub(crate) protocol: SecurityProtocol,
    pub(crate) sasl: SaslOptions,
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) tls: TlsOptions,
}

/// An optional secret setting (`None` when empty); `Debug` shows only
/// whether it is set.
#[derive(Clone, Default)]
pub(crate) struct Secret(Option<String>);

impl Secret {
    pub(crate) fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
    pub(crate) fn is_some(&self) -> bool {
        self.0.is_some()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "[hidden]" } else { "None" })
    }
}

/// The `sasl.*` values (used with SASL_PLAINTEXT and SASL_SSL).
#[derive(Clone, Debug)]
pub(crate) struct SaslOptions {
    /// `sasl.mechanism`.
    pub(crate) mechanism: String,
    /// `sasl.jaas.config`.
    pub(crate) jaas_config: Secret,
    /// `sasl.username` (`None` when empty).
    pub(crate) username: Option<String>,
    /// `sasl.password`.
    pub(crate) password: Secret,
    /// The OAUTHBEARER token provider registered in code.
    pub(crate) oauth_provider: ProviderSlot,
}

/// The `ssl.*` values (used with SSL and SASL_SSL); each optional string is
/// `None` when empty.
#[derive(Clone, Debug)]
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) struct TlsOptions {
    /// `ssl.truststore.type`.
    pub(crate) truststore_type: String,
    /// `ssl.truststore.location`.
    pub(crate) truststore_location: Option<String>,
    /// `ssl.truststore.certificates` (PEM text).
    pub(crate) truststore_certificates: Option<String>,
    /// `ssl.ca.location` (librdkafka's name for the truststore file).
    pub(crate) ca_location: Option<String>,
    /// `ssl.keystore.type`.
    pub(crate) keystore_type: String,
    /// `ssl.keystore.location`.
    pub(crate) keystore_location: Option<String>,
    /// `ssl.keystore.key` (PEM text).
    pub(crate) keystore_key: Secret,
    /// `ssl.keystore.certificate.chain` (PEM text).
    pub(crate) keystore_certificate_chain: Option<String>,
    /// `ssl.certificate.location` (librdkafka).
    pub(crate) certificate_location: Option<String>,
    /// `ssl.key.location` (librdkafka).
    pub(crate) key_location: Option<String>,
    /// `ssl.key.password`.
    pub(crate) key_password: Secret,
    /// `ssl.endpoint.identification.algorithm` (empty = no host name check).
    pub(crate) endpoint_identification_algorithm: String,
    /// `ssl.enabled.protocols`.
    pub(crate) enabled_protocols: Vec<String>,
    /// `ssl.protocol`.
    pub(crate) protocol: String,
}

/// The settings every client shares ([`COMMON_KEYS`]): connections,
/// backoffs, metadata and security.
#[derive(Clone, Debug)]
pub(crate) struct CommonSettings {
    /// `bootstrap.servers` (parsed into addresses by the cluster layer).
    pub(crate) bootstrap_servers: Vec<String>,
    /// `client.id` (`None` when empty).
    pub(crate) client_id: Option<String>,
    /// `request.timeout.ms`.
    pub(crate) request_timeout: Duration,
    /// `socket.connection.setup.timeout.ms`.
    pub(crate) connection_setup_timeout: Duration,
    /// `socket.connection.setup.timeout.max.ms`.
    pub(crate) connection_setup_timeout_max: Duration,
    /// `send.buffer.bytes` (-1 = OS default).
    pub(crate) send_buffer_bytes: i32,
    /// `receive.buffer.bytes` (-1 = OS default).
    pub(crate) receive_buffer_bytes: i32,
    /// `reconnect.backoff.ms`.
    pub(crate) reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms`.
    pub(crate) reconnect_backoff_max: Duration,
    /// `retry.backoff.ms`.
    pub(crate) retry_backoff: Duration,
    /// `retry.backoff.max.ms`.
    pub(crate) retry_backoff_max: Duration,
    /// `connections.max.idle.ms` (`None` for -1: never closed).
    pub(crate) connections_max_idle: Option<Duration>,
    /// `metadata.max.age.ms`.
    pub(crate) metadata_max_age: Duration,
    /// `receive.message.max.bytes`.
    pub(crate) receive_message_max_bytes: usize,
    /// `client.software.name`.
    pub(crate) client_software_name: String,
    /// `client.software.version`.
    pub(crate) client_software_version: String,
    /// `security.protocol` with its `sasl.*` and `ssl.*` values.
    pub(crate) security: SecurityOptions,
}

impl CommonSettings {
    /// Reads the common keys of a resolved configuration. Every key is read
    /// whatever the others say (what is used is for the layer below to
    /// decide), so every read runs in the tests.
    pub(crate) fn read(c: &Resolved) -> CommonSettings {
        let opt = |key: &str| c.opt_str(key).map(str::to_string);
        let secret = |key: &str| Secret(opt(key));
        let idle = c.int("connections.max.idle.ms");
        CommonSettings {
            bootstrap_servers: c.list("bootstrap.servers"),
            client_id: opt("client.id"),
            request_timeout: c.millis("request.timeout.ms"),
            connection_setup_timeout: c.millis("socket.connection.setup.timeout.ms"),
            connection_setup_timeout_max: c.millis("socket.connection.setup.timeout.max.ms"),
            send_buffer_bytes: c.int("send.buffer.bytes") as i32,
            receive_buffer_bytes: c.int("receive.buffer.bytes") as i32,
            reconnect_backoff: c.millis("reconnect.backoff.ms"),
            reconnect_backoff_max: c.millis("reconnect.backoff.max.ms"),
            retry_backoff: c.millis("retry.backoff.ms"),
            retry_backoff_max: c.millis("retry.backoff.max.ms"),
            connections_max_idle: (idle >= 0).then(|| Duration::from_millis(idle as u64)),
            metadata_max_age: c.millis("metadata.max.age.ms"),
            receive_message_max_bytes: c.int("receive.message.max.bytes") as usize,
            client_software_name: c.str("client.software.name").to_string(),
            client_software_version: c.str("client.software.version").to_string(),
            security: SecurityOptions {
                protocol: match c.str("security.protocol") {
                    "ssl" => SecurityProtocol::Ssl,
                    "sasl_plaintext" => SecurityProtocol::SaslPlaintext,
                    "sasl_ssl" => SecurityProtocol::SaslSsl,
                    _ => SecurityProtocol::Plaintext,
                },
                sasl: SaslOptions {
                    mechanism: c.str("sasl.mechanism").to_string(),
                    jaas_config: secret("sasl.jaas.config"),
                    username: opt("sasl.username"),
                    password: secret("sasl.password"),
                    oauth_provider: ProviderSlot(c.oauth_provider.clone()),
                },
                tls: TlsOptions {
                    truststore_type: c.str("ssl.truststore.type").to_string(),
                    truststore_location: opt("ssl.truststore.location"),
                    truststore_certificates: opt("ssl.truststore.certificates"),
                    ca_location: opt("ssl.ca.location"),
                    keystore_type: c.str("ssl.keystore.type").to_string(),
                    keystore_location: opt("ssl.keystore.location"),
                    keystore_key: secret("ssl.keystore.key"),
                    keystore_certificate_chain: opt("ssl.keystore.certificate.chain"),
                    certificate_location: opt("ssl.certificate.location"),
                    key_location: opt("ssl.key.location"),
                    key_password: secret("ssl.key.password"),
                    endpoint_identification_algorithm: c
                        .str("ssl.endpoint.identification.algorithm")
                        .to_string(),
                    enabled_protocols: c.list("ssl.enabled.protocols"),
                    protocol: c.str("ssl.protocol").to_string(),
                },
            },
        }
    }
}

/// An admin client's settings.
#[derive(Clone, Debug)]
pub(crate) struct AdminSettings {
    pub(crate) common: CommonSettings,
    /// `default.api.timeout.ms`: the deadline of every admin call.
    pub(crate) default_api_timeout: Duration,
}

impl AdminSettings {
    fn read(c: &Resolved) -> Result<AdminSettings> {
        Ok(AdminSettings {
            common: CommonSettings::read(c),
            default_api_timeout: c.millis("default.api.timeout.ms"),
        })
    }
}

/// `partitioner.class`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PartitionerKind {
    /// `default` / `sticky` / `murmur2`: murmur2 for keys, sticky otherwise.
    Default,
    /// `round_robin` / `roundrobin`.
    RoundRobin,
}

/// A producer's settings (checked together: `transactional.id` refused,
/// `delivery.timeout.ms` at least `linger.ms + request.timeout.ms`).
#[derive(Clone, Debug)]
pub(crate) struct ProducerSettings {
    pub(crate) common: CommonSettings,
    /// `acks` (-1 for all).
    pub(crate) acks: i16,
    /// `retries`.
    pub(crate) retries: u32,
    /// `delivery.timeout.ms`.
    pub(crate) delivery_timeout: Duration,
    /// `linger.ms`.
    pub(crate) linger: Duration,
    /// `batch.size`.
    pub(crate) batch_size: usize,
    /// `buffer.memory`.
    pub(crate) buffer_memory: usize,
    /// `max.block.ms`.
    pub(crate) max_block: Duration,
    /// `max.request.size`.
    pub(crate) max_request_size: usize,
    /// `compression.type`.
    pub(crate) compression: Compression,
    /// `enable.idempotence` (after the conflicts with acks and
    /// max.in.flight.requests.per.connection were settled in `resolve`).
    pub(crate) idempotence: bool,
    /// `max.in.flight.requests.per.connection`.
    pub(crate) max_in_flight: usize,
    /// `partitioner.class`.
    pub(crate) partitioner: PartitionerKind,
    /// `partitioner.ignore.keys`.
    pub(crate) partitioner_ignore_keys: bool,
}

impl ProducerSettings {
    fn read(c: &Resolved) -> Result<ProducerSettings> {
        if let Some(id) = c.opt_str("transactional.id") {
            return Err(Error::config(
                "transactional.id",
                id,
                "transactions are not supported yet; leave transactional.id unset",
            ));
        }
        let compression_type = c.str("compression.type");
        let compression: Compression = compression_type
            .parse()
            .map_err(|e| Error::config("compression.type", compression_type, format!("{e}")))?;
        let s = ProducerSettings {
            common: CommonSettings::read(c),
            acks: match c.str("acks") {
                "0" => 0,
                "1" => 1,
                _ => -1,
            },
            retries: c.int("retries").min(u32::MAX as i64) as u32,
            delivery_timeout: c.millis("delivery.timeout.ms"),
            linger: c.millis("linger.ms"),
            batch_size: c.int("batch.size") as usize,
            buffer_memory: c.int("buffer.memory") as usize,
            max_block: c.millis("max.block.ms"),
            max_request_size: c.int("max.request.size") as usize,
            compression,
            idempotence: c.bool("enable.idempotence"),
            max_in_flight: c.int("max.in.flight.requests.per.connection") as usize,
            partitioner: match c.str("partitioner.class") {
                "round_robin" | "roundrobin" => PartitionerKind::RoundRobin,
                _ => PartitionerKind::Default,
            },
            partitioner_ignore_keys: c.bool("partitioner.ignore.keys"),
        };
        let floor = s.linger + s.common.request_timeout;
        if s.delivery_timeout < floor {
            return Err(Error::config(
                "delivery.timeout.ms",
                c.str("delivery.timeout.ms"),
                format!(
                    "must be at least linger.ms + request.timeout.ms ({} ms)",
                    floor.as_millis()
                ),
            ));
        }
        Ok(s)
    }
}

/// `auto.offset.reset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AutoOffsetReset {
    /// `earliest`.
    Earliest,
    /// `latest`.
    Latest,
    /// `none`: an error when there is no committed offset.
    None,
}

/// `group.protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GroupProtocol {
    /// `classic`: JoinGroup/SyncGroup/Heartbeat, client-side assignment.
    Classic,
    /// `consumer`: ConsumerGroupHeartbeat (KIP-848).
    Consumer,
}

/// A consumer's settings: fetching, offsets, and its group's when
/// `group.id` is set (`fetch.max.wait.ms` is checked to be below
/// `request.timeout.ms`, `heartbeat.interval.ms` below `session.timeout.ms`).
#[derive(Clone, Debug)]
pub(crate) struct ConsumerSettings {
    /// Common settings; `retry.backoff.ms`, `request.timeout.ms` and
    /// `receive.message.max.bytes` are here.
    pub(crate) common: CommonSettings,
    /// `allow.auto.create.topics` (for the cluster's Metadata requests).
    pub(crate) allow_auto_create_topics: bool,
    /// `fetch.min.bytes`.
    pub(crate) fetch_min_bytes: i32,
    /// `fetch.max.wait.ms`.
    pub(crate) fetch_max_wait: Duration,
    /// `fetch.max.bytes`.
    pub(crate) fetch_max_bytes: i32,
    /// `max.partition.fetch.bytes`.
    pub(crate) max_partition_fetch_bytes: i32,
    /// `max.poll.records`.
    pub(crate) max_poll_records: usize,
    /// `auto.offset.reset`.
    pub(crate) auto_offset_reset: AutoOffsetReset,
    /// `isolation.level=read_committed`.
    pub(crate) read_committed: bool,
    /// `check.crcs`.
    pub(crate) check_crcs: bool,
    /// `default.api.timeout.ms`.
    pub(crate) default_api_timeout: Duration,
    /// `client.rack` (`None` when empty).
    pub(crate) client_rack: Option<String>,
    /// `enable.partition.eof`.
    pub(crate) enable_partition_eof: bool,
    /// The group's settings; `None` without `group.id`.
    pub(crate) group: Option<GroupSettings>,
}

/// A consumer group member's settings. `retry_backoff`,
/// `default_api_timeout` and `client_rack` repeat the consumer's values so
/// that the group needs nothing else.
#[derive(Clone, Debug)]
pub(crate) struct GroupSettings {
    /// `group.id` (not empty).
    pub(crate) group_id: String,
    /// `group.instance.id` (static membership; `None` when empty).
    pub(crate) group_instance_id: Option<String>,
    /// `group.protocol`.
    pub(crate) group_protocol: GroupProtocol,
    /// `session.timeout.ms`.
    pub(crate) session_timeout: Duration,
    /// `max.poll.interval.ms` (the rebalance timeout of the classic protocol).
    pub(crate) max_poll_interval: Duration,
    /// `heartbeat.interval.ms`.
    pub(crate) heartbeat_interval: Duration,
    /// `enable.auto.commit`.
    pub(crate) enable_auto_commit: bool,
    /// `auto.commit.interval.ms`.
    pub(crate) auto_commit_interval: Duration,
    /// `exclude.internal.topics`.
    pub(crate) exclude_internal_topics: bool,
    /// `partition.assignment.strategy`: assignor names in preference order
    /// (the consumer maps them to assignors and refuses unknown ones).
    pub(crate) partition_assignment_strategy: Vec<String>,
    /// `retry.backoff.ms`.
    pub(crate) retry_backoff: Duration,
    /// `default.api.timeout.ms`.
    pub(crate) default_api_timeout: Duration,
    /// `client.rack` (`None` when empty).
    pub(crate) client_rack: Option<String>,
}

impl GroupSettings {
    /// The auto-commit interval when `enable.auto.commit` is on.
    pub(crate) fn auto_commit(&self) -> Option<Duration> {
        self.enable_auto_commit.then_some(self.auto_commit_interval)
    }
}

impl ConsumerSettings {
    fn read(c: &Resolved) -> Result<ConsumerSettings> {
        let common = CommonSettings::read(c);
        let fetch_max_wait = c.millis("fetch.max.wait.ms");
        if fetch_max_wait >= common.request_timeout {
            return Err(Error::config(
                "fetch.max.wait.ms",
                c.str("fetch.max.wait.ms"),
                format!(
                    "must be lower than request.timeout.ms ({} ms), or every fetch that waits for data would time out",
                    common.request_timeout.as_millis()
                ),
            ));
        }
        let client_rack = c.opt_str("client.rack").map(str::to_string);
        let default_api_timeout = c.millis("default.api.timeout.ms");
        let group = GroupSettings {
            group_id: c.str("group.id").to_string(),
            group_instance_id: c.opt_str("group.instance.id").map(str::to_string),
            group_protocol: match c.str("group.protocol") {
                "consumer" => GroupProtocol::Consumer,
                _ => GroupProtocol::Classic,
            },
            session_timeout: c.millis("session.timeout.ms"),
            max_poll_interval: c.millis("max.poll.interval.ms"),
            heartbeat_interval: c.millis("heartbeat.interval.ms"),
            enable_auto_commit: c.bool("enable.auto.commit"),
            auto_commit_interval: c.millis("auto.commit.interval.ms"),
            exclude_internal_topics: c.bool("exclude.internal.topics"),
            partition_assignment_strategy: c.list("partition.assignment.strategy"),
            retry_backoff: common.retry_backoff,
            default_api_timeout,
            client_rack: client_rack.clone(),
        };
        Ok(ConsumerSettings {
            allow_auto_create_topics: c.bool("allow.auto.create.topics"),
            fetch_min_bytes: c.int("fetch.min.bytes") as i32,
            fetch_max_wait,
            fetch_max_bytes: c.int("fetch.max.bytes") as i32,
            max_partition_fetch_bytes: c.int("max.partition.fetch.bytes") as i32,
            max_poll_records: c.int("max.poll.records") as usize,
            auto_offset_reset: match c.str("auto.offset.reset") {
                "earliest" => AutoOffsetReset::Earliest,
                "latest" => AutoOffsetReset::Latest,
                _ => AutoOffsetReset::None,
            },
            read_committed: c.str("isolation.level") == "read_committed",
            check_crcs: c.bool("check.crcs"),
            default_api_timeout,
            client_rack,
            enable_partition_eof: c.bool("enable.partition.eof"),
            group: (!group.group_id.is_empty()).then_some(group),
            common,
        })
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

    /// The admin client's checked, typed settings.
    pub(crate) fn settings(&self) -> Result<AdminSettings> {
        AdminSettings::read(&self.resolve()?)
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

    /// The producer's checked, typed settings.
    pub(crate) fn settings(&self) -> Result<ProducerSettings> {
        ProducerSettings::read(&self.resolve()?)
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

    /// The consumer's checked, typed settings (with its group's when
    /// `group.id` is set).
    pub(crate) fn settings(&self) -> Result<ConsumerSettings> {
        ConsumerSettings::read(&self.resolve()?)
    }
}

#[cfg(test)]
mod tests;
