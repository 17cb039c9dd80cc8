//! Cluster metadata and routing: which broker leads a partition, which broker
//! to ask when any will do, and when to refresh what we know.
//!
//! Refresh rules (as in the Java client): metadata is fetched on demand for
//! the topics a client uses; a routing error (NOT_LEADER_OR_FOLLOWER,
//! UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, a broker that went away)
//! marks it stale, and the next refresh happens no sooner than
//! `retry.backoff.ms` after the previous attempt; it is also refreshed when
//! older than `metadata.max.age.ms`. No thread runs for this: clients call
//! [`Cluster::maybe_refresh`] from their own loops.

pub mod metadata;
pub mod retry;

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub use metadata::{Broker, ClusterMetadata, PartitionMetadata, TopicMetadata};
pub use retry::Retry;

use crate::config::CommonSettings;
use crate::error::{Error, Result};
use crate::net::pool::{Backoff, random_unit};
use crate::net::{BrokerAddress, Connection, ConnectionPool, ConnectionSettings, Security};
use crate::protocol::messages::MetadataRequest;
use crate::protocol::messages::metadata_request::MetadataRequestTopic;
use crate::protocol::{KafkaCode, Request};

/// Settings of a [`Cluster`], taken from a client's configuration.
#[derive(Clone, Debug)]
pub struct ClusterSettings {
    /// `bootstrap.servers`.
    pub bootstrap: Vec<BrokerAddress>,
    /// Per-connection settings.
    pub connection: ConnectionSettings,
    /// Reconnect backoff.
    pub reconnect_backoff: Backoff,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`: the exponential retry backoff's ceiling.
    pub retry_backoff_max: Duration,
    /// `metadata.max.age.ms`.
    pub metadata_max_age: Duration,
    /// Whether Metadata requests may create missing topics
    /// (`allow.auto.create.topics`; the broker must allow it too).
    pub allow_auto_create_topics: bool,
}

impl ClusterSettings {
    /// The cluster settings of a client's common settings (bootstrap
    /// addresses parsed, security checked and built). Metadata requests may
    /// create topics unless the caller says otherwise.
    pub(crate) fn from_settings(c: &CommonSettings) -> Result<ClusterSettings> {
        let bootstrap = parse_bootstrap(&c.bootstrap_servers)?;
        Ok(ClusterSettings {
            bootstrap,
            connection: ConnectionSettings {
                client_id: c.client_id.clone(),
                request_timeout: c.request_timeout,
                connect_timeout: c.connection_setup_timeout,
                connect_timeout_max: c.connection_setup_timeout_max,
                send_buffer_bytes: c.send_buffer_bytes,
                receive_buffer_bytes: c.receive_buffer_bytes,
                max_response_size: c.receive_message_max_bytes,
                idle_timeout: c.connections_max_idle,
                software_name: c.client_software_name.clone(),
                software_version: c.client_software_version.clone(),
                security: Security::from_settings(&c.security)?,
            },
            reconnect_backoff: Backoff {
                initial: c.reconnect_backoff,
                max: c.reconnect_backoff_max,
            },
            retry_backoff: c.retry_backoff,
            retry_backoff_max: c.retry_backoff_max,
            metadata_max_age: c.metadata_max_age,
            allow_auto_create_topics: true,
        })
    }

    /// The retry backoff (`retry.backoff.ms` doubling per attempt up to
    /// `retry.backoff.max.ms`, with jitter): what [`Retry`] waits between
    /// attempts and the producer between tries of a batch.
    pub fn retry_policy(&self) -> Backoff {
        Backoff {
            initial: self.retry_backoff,
            max: self.retry_backoff_max,
        }
    }
}

/// Parses `host:port` entries (IPv6 as `[::1]:9092`). Bootstrap addresses get
/// node ids -1, -2, ... until the cluster tells us the real ones.
pub fn parse_bootstrap(servers: &[String]) -> Result<Vec<BrokerAddress>> {
    let mut out = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        let bad = || {
            Error::config(
                "bootstrap.servers",
                s.as_str(),
                "expected a comma-separated list of host:port (IPv6 as [addr]:port)",
            )
        };
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        out.push(BrokerAddress {
            node_id: -1 - i as i32,
            host: host.to_string(),
            port,
        });
    }
    if out.is_empty() {
        return Err(Error::config(
            "bootstrap.servers",
            "",
            "at least one host:port is required",
        ));
    }
    Ok(out)
}

#[derive(Default)]
struct RefreshState {
    /// Topics this client uses; refreshed together.
    wanted: BTreeSet<String>,
    stale: bool,
    last_attempt: Option<Instant>,
}

/// Metadata cache plus the connection pool: the routing layer every client
/// (producer, consumer, admin) is built on.
pub struct Cluster {
    settings: ClusterSettings,
    pool: ConnectionPool,
    metadata: RwLock<Arc<ClusterMetadata>>,
    refresh: Mutex<RefreshState>,
    /// Serializes refreshes so concurrent callers do not all send Metadata.
    refresh_lock: Mutex<()>,
    /// Topics (with the error code) already warned about in the log.
    warned_topics: Mutex<HashSet<(String, KafkaCode)>>,
    /// TOPIC_AUTHORIZATION_FAILED from the last Metadata answers, not yet
    /// reported: the consumer raises it from `poll`, as Java's
    /// `Metadata.maybeThrowAnyException`.
    unauthorized: Mutex<Option<Error>>,
}

impl Cluster {
    /// A cluster handle; nothing is connected until first use.
    pub fn new(settings: ClusterSettings) -> Cluster {
        Cluster {
            pool: ConnectionPool::new(settings.connection.clone(), settings.reconnect_backoff),
            settings,
            metadata: RwLock::new(Arc::new(ClusterMetadata::default())),
            refresh: Mutex::new(RefreshState {
                stale: true,
                ..Default::default()
            }),
            refresh_lock: Mutex::new(()),
            warned_topics: Mutex::new(HashSet::new()),
            unauthorized: Mutex::new(None),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &ClusterSettings {
        &self.settings
    }

    /// The connection pool.
    pub fn pool(&self) -> &ConnectionPool {
        &self.pool
    }

    /// The current metadata snapshot.
    pub fn metadata(&self) -> Arc<ClusterMetadata> {
        self.metadata.read().unwrap().clone()
    }

    /// A connection to the broker with `node_id` (from metadata). An id the
    /// metadata names (as a leader, the controller) but does not list among
    /// its brokers is [`Error::UnknownBroker`], which is retriable: the
    /// metadata is marked stale so that the next refresh corrects it.
    pub fn connection(&self, node_id: i32) -> Result<Arc<Connection>> {
        let md = self.metadata();
        let broker = md.brokers.get(&node_id).ok_or_else(|| {
            self.request_refresh();
            Error::UnknownBroker {
                node_id,
                known: md.brokers.keys().copied().collect(),
            }
        })?;
        self.pool.get(&broker.address())
    }

    /// The controller's node id when the metadata names one and also lists
    /// it among its brokers; `None` means "no controller known" (none named,
    /// or an id such as the librdkafka mock cluster's 0 that is no broker).
    pub fn known_controller(&self) -> Option<i32> {
        let md = self.metadata();
        (md.controller_id >= 0 && md.brokers.contains_key(&md.controller_id))
            .then_some(md.controller_id)
    }

    /// The error for a controller request that found no controller before
    /// its deadline: a [`Error::Timeout`] naming the controller id the
    /// metadata gave (and why it could not be used) when none was known,
    /// else `last` unchanged.
    pub fn no_controller_error(&self, api: &str, after: Duration, last: Error) -> Error {
        if self.known_controller().is_some() {
            return last;
        }
        let md = self.metadata();
        let named = if md.controller_id < 0 {
            "metadata names no controller".to_string()
        } else {
            let known: Vec<String> = md.brokers.keys().map(i32::to_string).collect();
            format!(
                "metadata names controller {}, which is not among its brokers ({})",
                md.controller_id,
                known.join(", ")
            )
        };
        Error::Timeout {
            what: format!(
                "{api}: no broker accepted the request as controller; {named}; last error: {last}"
            ),
            after,
        }
    }

    /// A connection to any broker: known brokers first (starting at a random
    /// one to spread load), then the bootstrap servers. Brokers in reconnect
    /// backoff are skipped while others remain.
    pub fn any_connection(&self) -> Result<Arc<Connection>> {
        let md = self.metadata();
        let mut candidates: Vec<BrokerAddress> = md.brokers.values().map(Broker::address).collect();
        if !candidates.is_empty() {
            let start = (random_unit() * candidates.len() as f64) as usize % candidates.len();
            candidates.rotate_left(start);
        }
        candidates.extend(self.settings.bootstrap.iter().cloned());
        for c in &candidates {
            if let Some(conn) = self.pool.existing(c.node_id) {
                return Ok(conn);
            }
        }
        let mut last = None;
        for c in candidates
            .iter()
            .filter(|c| !self.pool.is_backing_off(c.node_id))
        {
            match self.pool.get(c) {
                Ok(conn) => return Ok(conn),
                Err(e) => last = Some(e),
            }
        }
        // Every broker is backing off: an authentication or TLS failure is
        // the answer as it stands (retrying will not fix it), not a timeout.
        if last.is_none() {
            if let Some(f) = self
                .pool
                .connect_failures()
                .into_iter()
                .find(|f| f.error.is_authentication())
            {
                return Err(f.error);
            }
        }
        Err(last.unwrap_or_else(|| {
            let wait = candidates
                .iter()
                .map(|c| self.pool.backoff_remaining(c.node_id))
                .min()
                .unwrap_or_default();
            Error::Io {
                broker: candidates
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    match self.connect_failure_summary() {
                        Some(summary) => format!(
                            "{summary} (every broker is backing off; next attempt in {} ms)",
                            wait.as_millis()
                        ),
                        None => format!(
                            "no broker reachable; every broker is backing off (next attempt in {} ms)",
                            wait.as_millis()
                        ),
                    },
                ),
            }
        }))
    }

    /// How long until some broker may be tried again.
    pub fn min_backoff(&self) -> Duration {
        let md = self.metadata();
        md.brokers
            .values()
            .map(|b| b.node_id)
            .chain(self.settings.bootstrap.iter().map(|b| b.node_id))
            .map(|id| self.pool.backoff_remaining(id))
            .min()
            .unwrap_or_default()
    }

    /// Why brokers cannot be reached, when connects are failing: e.g.
    /// `no broker reachable: 127.0.0.1:1 (bootstrap): Connection refused (os
    /// error 111) (3 attempts)`. "no broker reachable" when no connection is
    /// open at all, else "unreachable brokers". `None` when every broker
    /// tried was last connected to successfully.
    pub fn connect_failure_summary(&self) -> Option<String> {
        let failures = self.pool.connect_failures();
        if failures.is_empty() {
            return None;
        }
        let list: Vec<String> = failures.iter().map(|f| f.to_string()).collect();
        let head = if self.pool.has_live_connection() {
            "unreachable brokers"
        } else {
            "no broker reachable"
        };
        Some(format!("{head}: {}", list.join("; ")))
    }

    /// The one way timeouts name their real cause: a [`Error::Timeout`]
    /// gets the current connect failures appended (see
    /// [`Cluster::connect_failure_summary`]); any other error, or a timeout
    /// while every broker is reachable, is returned unchanged.
    pub fn annotate(&self, e: Error) -> Error {
        match e {
            Error::Timeout { what, after } => match self.connect_failure_summary() {
                Some(summary) if !what.contains(&summary) => Error::Timeout {
                    what: format!("{what}; {summary}"),
                    after,
                },
                _ => Error::Timeout { what, after },
            },
            e => e,
        }
    }

    /// A [`Error::Timeout`] for `what` after `after`: with the connect
    /// failures when brokers are unreachable (the real cause), else with
    /// `hint` (what to check when the cluster answered, e.g. "does the
    /// topic exist?").
    pub fn timeout_error(&self, what: &str, hint: &str, after: Duration) -> Error {
        let what = match self.connect_failure_summary() {
            Some(summary) => format!("{what}: {summary}"),
            None if hint.is_empty() => what.to_string(),
            None => format!("{what}; {hint}"),
        };
        Error::Timeout { what, after }
    }

    /// The TOPIC_AUTHORIZATION_FAILED seen in Metadata answers since the last
    /// call, naming the topics; taken once.
    pub fn take_unauthorized(&self) -> Option<Error> {
        self.unauthorized.lock().unwrap().take()
    }

    /// Adds topics to the set this client keeps metadata for.
    pub fn add_topics<S: AsRef<str>>(&self, topics: &[S]) {
        let mut st = self.refresh.lock().unwrap();
        for t in topics {
            if st.wanted.insert(t.as_ref().to_string()) {
                st.stale = true;
            }
        }
    }

    /// Marks the metadata stale (after a routing error).
    pub fn request_refresh(&self) {
        self.refresh.lock().unwrap().stale = true;
    }

    /// Refreshes when stale (at most once per `retry.backoff.ms`) or older
    /// than `metadata.max.age.ms`. Returns whether a refresh happened.
    pub fn maybe_refresh(&self) -> Result<bool> {
        let due = {
            let st = self.refresh.lock().unwrap();
            let since_attempt = st.last_attempt.map(|t| t.elapsed());
            let backoff_ok = since_attempt.is_none_or(|d| d >= self.settings.retry_backoff);
            let too_old = self.metadata().updated_at.elapsed() >= self.settings.metadata_max_age;
            backoff_ok && (st.stale || too_old || since_attempt.is_none())
        };
        if !due {
            return Ok(false);
        }
        let topics: Vec<String> = self
            .refresh
            .lock()
            .unwrap()
            .wanted
            .iter()
            .cloned()
            .collect();
        self.refresh_topics(Some(&topics))?;
        Ok(true)
    }

    /// Sends a Metadata request for `topics` (`None` = all topics) to any
    /// broker and merges the answer into the cache.
    pub fn refresh_topics(&self, topics: Option<&[String]>) -> Result<Arc<ClusterMetadata>> {
        let _guard = self.refresh_lock.lock().unwrap();
        self.refresh.lock().unwrap().last_attempt = Some(Instant::now());
        let conn = self.any_connection()?;
        let version = conn.version::<MetadataRequest>()?;
        let req = MetadataRequest {
            topics: match topics {
                // v0 has no null: an empty list means all topics there.
                None if version == 0 => Some(Vec::new()),
                None => None,
                Some(ts) => Some(
                    ts.iter()
                        .map(|t| MetadataRequestTopic {
                            name: Some(t.clone()),
                            ..Default::default()
                        })
                        .collect(),
                ),
            },
            allow_auto_topic_creation: self.settings.allow_auto_create_topics,
            ..Default::default()
        };
        if version == 0 && topics.is_some_and(|t| t.is_empty()) {
            // An empty list means "all" at v0; nothing to ask.
            return Ok(self.metadata());
        }
        let resp = match conn.request_at(&req, version) {
            Ok(r) => r,
            Err(e) => {
                self.request_refresh();
                return Err(e);
            }
        };
        let fresh = ClusterMetadata::from_response(&resp);
        self.warn_topic_errors(&fresh, conn.address());
        let mut denied: Vec<&str> = fresh
            .topics
            .values()
            .filter(|t| t.error == Some(KafkaCode::TopicAuthorizationFailed))
            .map(|t| t.name.as_str())
            .collect();
        if !denied.is_empty() {
            denied.sort_unstable();
            *self.unauthorized.lock().unwrap() = Some(Error::kafka(
                KafkaCode::TopicAuthorizationFailed,
                format!(
                    "Metadata for topic{} {} on broker {} (the principal lacks DESCRIBE/READ/WRITE ACLs: ask an administrator to grant them)",
                    if denied.len() > 1 { "s" } else { "" },
                    denied.join(", "),
                    conn.address()
                ),
            ));
        }
        // Retriable: a topic error, a partition without leader, or a leader
        // the answer does not list among its brokers (one restarting, say):
        // the metadata stays stale so that the next refresh comes soon.
        let unlisted =
            |leader: i32| !fresh.brokers.is_empty() && !fresh.brokers.contains_key(&leader);
        let any_error = fresh.topics.values().any(|t| {
            t.error.is_some_and(|e| e.is_retriable())
                || t.partitions
                    .iter()
                    .any(|p| p.leader < 0 || unlisted(p.leader))
        });
        let merged = {
            let mut guard = self.metadata.write().unwrap();
            let mut md = (**guard).clone();
            if topics.is_none() {
                let mut fresh = fresh;
                fresh.keep_newer_epochs(&md);
                md = fresh;
            } else {
                md.merge(fresh);
            }
            let md = Arc::new(md);
            *guard = md.clone();
            md
        };
        self.refresh.lock().unwrap().stale = any_error;
        Ok(merged)
    }

    /// Logs a warning for each topic the broker answered with an error
    /// (as Java's `NetworkClient` does), once per topic and error code until
    /// the topic is answered without error: e.g. a consumer assigned a topic
    /// that does not exist would otherwise wait forever in silence.
    fn warn_topic_errors(&self, fresh: &ClusterMetadata, broker: &BrokerAddress) {
        let mut warned = self.warned_topics.lock().unwrap();
        for t in fresh.topics.values() {
            match t.error {
                Some(code) => {
                    if warned.insert((t.name.clone(), code)) {
                        let hint = if code == KafkaCode::UnknownTopicOrPartition {
                            if self.settings.allow_auto_create_topics {
                                " (does the topic exist? the broker did not create it)"
                            } else {
                                " (does the topic exist? allow.auto.create.topics=false, so it is not created)"
                            }
                        } else {
                            ""
                        };
                        log::warn!(
                            "{}{hint}",
                            Error::kafka(
                                code,
                                format!("Metadata for topic {} on broker {broker}", t.name)
                            )
                        );
                    }
                }
                None => warned.retain(|(name, _)| name != &t.name),
            }
        }
    }

    /// [`Cluster::refresh_topics`], retried on retriable errors (after
    /// `retry.backoff.ms`, or the reconnect backoff) until `deadline`.
    pub fn refresh_topics_until(
        &self,
        topics: Option<&[String]>,
        deadline: Instant,
    ) -> Result<Arc<ClusterMetadata>> {
        let mut retry = Retry::new(self, deadline);
        loop {
            match self.refresh_topics(topics) {
                Ok(md) => return Ok(md),
                Err(e) => retry.backoff("Metadata", e)?,
            }
        }
    }

    /// Metadata of one topic with a leader for every partition, refreshing
    /// (with the [`Retry`] backoff between tries) until `deadline`. A topic
    /// that does not exist yields UNKNOWN_TOPIC_OR_PARTITION at the deadline.
    pub fn wait_for_topic(&self, topic: &str, deadline: Instant) -> Result<TopicMetadata> {
        self.wait_for_topic_with(topic, deadline, true)
    }

    /// Metadata of one topic whose partition count is known, leaders or not
    /// (as Java's producer `waitOnMetadata`): a partition without leader
    /// (its broker restarting, say) is the sender's to wait for, not a
    /// reason to block `send`.
    pub(crate) fn wait_for_partition_count(
        &self,
        topic: &str,
        deadline: Instant,
    ) -> Result<TopicMetadata> {
        self.wait_for_topic_with(topic, deadline, false)
    }

    fn wait_for_topic_with(
        &self,
        topic: &str,
        deadline: Instant,
        need_leaders: bool,
    ) -> Result<TopicMetadata> {
        self.add_topics(&[topic]);
        let started = Instant::now();
        let mut retry = Retry::new(self, deadline);
        let mut last_refresh_err: Option<Error> = None;
        // Whether the metadata was refreshed since the last backoff: a miss
        // in the cache is refreshed at once, a miss after a refresh waits.
        let mut refreshed = false;
        loop {
            let waiting = match self.metadata().topics.get(topic) {
                Some(t)
                    if t.error.is_none()
                        && !t.partitions.is_empty()
                        && (!need_leaders || t.partitions.iter().all(|p| p.leader >= 0)) =>
                {
                    return Ok(t.clone());
                }
                Some(t) => t
                    .error
                    .map(|code| Error::kafka(code, format!("Metadata for topic {topic}"))),
                None => None,
            };
            let err = match waiting {
                Some(e) if !e.is_retriable() => return Err(e),
                Some(e) => e,
                // No answer about the topic: the last failed refresh (and, at
                // the deadline, the unreachable brokers) as the cause.
                None => Error::Timeout {
                    what: match &last_refresh_err {
                        Some(e) => {
                            format!("waiting for metadata of topic {topic}; last error: {e}")
                        }
                        None => format!("waiting for metadata of topic {topic}"),
                    },
                    after: started.elapsed(),
                },
            };
            if !refreshed && Instant::now() < deadline {
                refreshed = true;
                if let Err(e) = self.refresh_topics(Some(&[topic.to_string()])) {
                    if !e.is_retriable() {
                        return Err(e);
                    }
                    last_refresh_err = Some(e);
                }
                continue;
            }
            retry.backoff(&format!("Metadata for topic {topic}"), err)?;
            refreshed = false;
        }
    }

    /// Sends `req` to any broker, retrying on network errors and retriable
    /// failures (after `retry.backoff.ms`) until `deadline`.
    pub fn request_any<R: Request>(&self, req: &R, deadline: Instant) -> Result<R::Response> {
        let mut retry = Retry::new(self, deadline);
        loop {
            match self.any_connection().and_then(|c| c.request(req)) {
                Ok(r) => return Ok(r),
                Err(e) => retry.backoff(R::NAME, e)?,
            }
        }
    }

    /// Sends `req` to the controller (from metadata), retrying network
    /// errors with a metadata refresh until `deadline`; see
    /// [`Cluster::request_controller_with`].
    pub fn request_controller<R: Request>(
        &self,
        req: &R,
        deadline: Instant,
    ) -> Result<R::Response> {
        self.request_controller_with(R::NAME, deadline, |c| c.request(req))
    }

    /// Runs `attempt` on a connection to the controller, retrying retriable
    /// failures (network errors, [`Error::UnknownBroker`]) with a metadata
    /// refresh ([`Retry::controller_moved`]) until `deadline`. When no
    /// controller is known (none named, or the id named is not among the
    /// brokers) metadata is refreshed (at most once per `retry.backoff.ms`)
    /// and, if it still names none, the request goes to any live broker:
    /// KRaft brokers forward controller requests. Answers with
    /// NOT_CONTROLLER inside the response are the caller's to retry, the
    /// same way.
    pub fn request_controller_with<T>(
        &self,
        api: &str,
        deadline: Instant,
        mut attempt: impl FnMut(&Connection) -> Result<T>,
    ) -> Result<T> {
        let mut retry = Retry::new(self, deadline);
        loop {
            let controller = self.known_controller().or_else(|| {
                self.request_refresh();
                let _ = self.maybe_refresh();
                self.known_controller()
            });
            let result = match controller {
                Some(id) => self.connection(id),
                None => self.any_connection(),
            }
            .and_then(|c| attempt(&c));
            match result {
                Ok(r) => return Ok(r),
                Err(e) => retry.controller_moved(&format!("{api} to the controller"), e)?,
            }
        }
    }

    /// Refreshes the brokers and the controller id (after a NOT_CONTROLLER
    /// answer or a failed controller request: the controller moved, or the
    /// broker that answered does not forward).
    pub fn refresh_controller(&self) {
        self.request_refresh();
        if let Err(e) = self.refresh_topics(Some(&[])) {
            log::debug!("metadata refresh for the controller failed: {e}");
        }
    }

    /// Closes every connection (joining their threads).
    pub fn close(&self) {
        self.pool.close_all();
    }
}

/// The longest topic name Kafka accepts.
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Checks `name` against Kafka's rules for topic names (as the broker and
/// the Java client's `Topic.validate`): 1 to 249 characters, only ASCII
/// letters, digits, `.`, `_` and `-`, and neither `.` nor `..`. Clients call
/// it before any request, so an invalid name fails locally with the rule it
/// breaks ([`Error::InvalidArgument`]) whatever a broker would accept.
pub fn validate_topic_name(name: &str) -> Result<()> {
    let bad = |rule: String| {
        Err(Error::InvalidArgument(format!(
            "invalid topic name \"{}\": {rule}",
            name.escape_debug()
        )))
    };
    if name.is_empty() {
        return bad("a topic name must not be empty".into());
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not allowed as topic names".into());
    }
    let len = name.chars().count();
    if len > MAX_TOPIC_NAME_LEN {
        return bad(format!(
            "it is {len} characters long; Kafka allows at most {MAX_TOPIC_NAME_LEN}"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return bad(format!(
            "character '{}' is not allowed (Kafka topic names use only ASCII letters, digits, '.', '_' and '-')",
            c.escape_debug()
        ));
    }
    Ok(())
}

/// True for errors that mean "the metadata is out of date".
pub fn is_routing_error(code: KafkaCode) -> bool {
    matches!(
        code,
        KafkaCode::NotLeaderOrFollower
            | KafkaCode::UnknownTopicOrPartition
            | KafkaCode::LeaderNotAvailable
            | KafkaCode::FencedLeaderEpoch
            | KafkaCode::UnknownLeaderEpoch
            | KafkaCode::KafkaStorageError
            | KafkaCode::NotCoordinator
            | KafkaCode::CoordinatorNotAvailable
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_name_rules() {
        for ok in ["a", "science", "a.b_c-D9", &"x".repeat(249), "..."] {
            validate_topic_name(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let cases: [(&str, &str); 6] = [
            ("", "must not be empty"),
            (".", "'.' and '..'"),
            ("..", "'.' and '..'"),
            ("bad topic", "character ' ' is not allowed"),
            ("caf\u{e9}", "character 'é' is not allowed"),
            ("a/b", "character '/' is not allowed"),
        ];
        for (bad, rule) in cases {
            let e = validate_topic_name(bad).unwrap_err().to_string();
            assert!(
                e.contains("invalid topic name") && e.contains(rule),
                "{bad}: {e}"
            );
        }
        let long = "y".repeat(250);
        let e = validate_topic_name(&long).unwrap_err().to_string();
        assert!(
            e.contains("250 characters long") && e.contains("at most 249"),
            "{e}"
        );
    }

    #[test]
    fn bootstrap_parsing() {
        let v = parse_bootstrap(&["localhost:9092".into(), "[::1]:19092".into()]).unwrap();
        assert_eq!(v[0].host, "localhost");
        assert_eq!(v[0].port, 9092);
        assert_eq!(v[0].node_id, -1);
        assert_eq!(v[1].host, "::1");
        assert_eq!(v[1].node_id, -2);
        for bad in ["localhost", "h:0", "h:port", ":9092"] {
            let e = parse_bootstrap(&[bad.into()]).unwrap_err();
            assert!(e.to_string().contains("bootstrap.servers"), "{e}");
        }
    }
}
