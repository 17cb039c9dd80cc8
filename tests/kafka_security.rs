//! Security against a real Apache Kafka node (issue 10): TLS, mutual TLS,
//! SASL PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512 / OAUTHBEARER in plaintext and
//! over TLS, re-authentication (KIP-368), ACL errors, and secrets kept out of
//! logs, `Debug` output and error messages.
//!
//! The file starts one secured node of its own (`KafkaCluster::start_secured`,
//! shared by its tests; `scripts/kafka.sh --security` describes the listeners)
//! with a fresh test PKI (`support::pki`), only in the Apache Kafka pass of
//! `scripts/test.sh` (`KAFKA_BLOCKING_BROKER=kafka`); elsewhere every test
//! prints "skipped" and passes. Run it alone with
//!
//! ```text
//! KAFKA_BLOCKING_BROKER=kafka cargo test --all-features --test kafka_security
//! ```
//!
//! `java_client_reaches_every_secured_listener` and
//! `reauth_listener_gives_three_second_sessions` check the test broker itself,
//! with the Java client (an embedded peer, compiled with `javac`) and with raw
//! SASL frames: they hold whatever this crate's client does.
//!
//! The re-authentication tests also read the broker's log, which on this node
//! records each re-authentication and each connection dropped for an expired
//! session: sessions must be renewed in place, never cut.
//!
//! A logger capturing every record at Trace level is installed for the whole
//! test process when the node starts, so that `secrets_stay_out_of_logs_debug_and_errors`
//! checks the log lines of every session of the file.

// TLS and SCRAM are optional features (scripts/test.sh builds with
// --all-features); without them there is nothing to test here.
#![cfg(all(feature = "tls", feature = "scram"))]

mod support;

#[path = "support/deadline.rs"]
mod deadline;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::consumer::{Consumer, TopicPartition};
use kafka_blocking::producer::{Producer, ProducerRecord, RecordMetadata};
use kafka_blocking::{
    AdminConfig, ConsumerConfig, Error, KafkaCode, OAuthBearerToken, OAuthBearerTokenProvider,
    ProducerConfig,
};

use support::kafka::{KafkaCluster, real_kafka};
use support::pki::{CLIENT_KEY_PASSWORD, Pki};

/// How long a failure that retrying cannot fix (a bad certificate, a wrong
/// password, a missing ACL) may take to surface: well under the 60 s of
/// `max.block.ms` and the 120 s of `delivery.timeout.ms`.
const FAIL_FAST: Duration = Duration::from_secs(20);
/// Bound for a whole test body (a stuck client fails the test, not the run).
const TEST_LIMIT: Duration = Duration::from_secs(150);
/// The broker's `connections.max.reauth.ms` on the REAUTH listener.
const REAUTH_SESSION: Duration = Duration::from_secs(3);
/// How long the re-authentication tests keep producing and consuming.
const REAUTH_RUN: Duration = Duration::from_secs(15);
/// A wrong password (containing none of the real ones).
const WRONG_PASSWORD: &str = "not-the-password-0";

const PLAIN: &str = "PLAIN";
const SCRAM_256: &str = "SCRAM-SHA-256";
const SCRAM_512: &str = "SCRAM-SHA-512";
const OAUTHBEARER: &str = "OAUTHBEARER";

// ---------------------------------------------------------------------------
// The secured node, shared by the file

struct Env {
    cluster: KafkaCluster,
    pki: Pki,
}

impl Env {
    fn listener(&self, name: &str) -> String {
        self.cluster.listener(name)
    }

    /// The last lines of the broker's log, for failure messages.
    fn broker_log(&self) -> String {
        format!(
            "--- broker log {} (tail) ---\n{}",
            self.cluster.log_path(1).display(),
            support::log_tail(&self.cluster.log_path(1), 0, 6000)
        )
    }

    /// Creates `topic` over PLAINTEXT (a super user).
    fn create_topic(&self, topic: &str, partitions: i32) {
        let admin = AdminClient::new(
            AdminConfig::new()
                .bootstrap_servers(&self.listener("PLAINTEXT"))
                .set("default.api.timeout.ms", "20000"),
        )
        .expect("PLAINTEXT admin client");
        admin
            .create_topic(NewTopic::new(topic, partitions, 1))
            .unwrap_or_else(|e| panic!("create {topic}: {e}\n{}", self.broker_log()));
        admin
            .cluster()
            .wait_for_topic(topic, Instant::now() + Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("wait for {topic}: {e}"));
        admin.close();
    }
}

/// Held by the tests that re-authenticate on REAUTH (and by the Java checks,
/// which include REAUTH), so that each can count the broker's
/// re-authentications during its own run.
static REAUTH_LOCK: Mutex<()> = Mutex::new(());

fn reauth_lock() -> std::sync::MutexGuard<'static, ()> {
    REAUTH_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// How many times the broker's log says `needle` (the secured node logs
/// "Beginning re-authentication" and "Disconnecting expired channel").
fn broker_log_count(env: &Env, needle: &str) -> usize {
    std::fs::read_to_string(env.cluster.log_path(1))
        .map(|text| text.matches(needle).count())
        .unwrap_or(0)
}

/// The secured node, started on first use; `None` (after printing
/// "skipped") when this run does not target Apache Kafka.
fn env() -> Option<&'static Env> {
    static ENV: OnceLock<Result<Env, String>> = OnceLock::new();
    if !real_kafka() {
        eprintln!(
            "skipped: needs Apache Kafka (KAFKA_BLOCKING_BROKER=kafka, as in scripts/test.sh's second pass)"
        );
        return None;
    }
    let env = ENV.get_or_init(|| {
        capture::install();
        let started = Instant::now();
        let pki = Pki::temp().map_err(|e| format!("test PKI: {e}"))?;
        let cluster = KafkaCluster::start_secured(&pki).map_err(|e| e.to_string())?;
        eprintln!(
            "secured Apache Kafka node started in {:?}: {}",
            started.elapsed(),
            [
                "PLAINTEXT",
                "SSL",
                "MTLS",
                "BADHOST",
                "SASL_PLAINTEXT",
                "SASL_SSL",
                "REAUTH"
            ]
            .map(|l| format!("{l}={}", cluster.listener(l)))
            .join(" ")
        );
        Ok(Env { cluster, pki })
    });
    match env {
        Ok(env) => Some(env),
        Err(e) => panic!("cannot start the secured Apache Kafka node: {e}"),
    }
}

// ---------------------------------------------------------------------------
// Client settings, shared by our client and the Java peer

/// Client settings (Java names) plus, for our client, an OAUTHBEARER token
/// provider.
#[derive(Clone)]
struct Settings {
    pairs: Vec<(String, String)>,
    provider: Option<Arc<dyn OAuthBearerTokenProvider>>,
}

/// One client config of type `$ty` from the settings (the three config types
/// share their builder methods but no trait).
macro_rules! build {
    ($s:expr, $ty:ty) => {{
        let mut c = <$ty>::new();
        for (k, v) in &$s.pairs {
            c = c.set(k, v);
        }
        match &$s.provider {
            Some(p) => c.sasl_oauthbearer_token_provider(p.clone()),
            None => c,
        }
    }};
}

impl Settings {
    fn new(bootstrap: &str) -> Settings {
        Settings {
            pairs: vec![("bootstrap.servers".into(), bootstrap.into())],
            provider: None,
        }
    }

    fn with(mut self, key: &str, value: impl ToString) -> Settings {
        self.pairs.retain(|(k, _)| k != key);
        self.pairs.push((key.to_string(), value.to_string()));
        self
    }

    fn without(mut self, key: &str) -> Settings {
        self.pairs.retain(|(k, _)| k != key);
        self
    }

    fn with_provider(mut self, provider: Arc<dyn OAuthBearerTokenProvider>) -> Settings {
        self.provider = Some(provider);
        self
    }

    fn producer(&self) -> ProducerConfig {
        build!(self, ProducerConfig)
    }

    fn consumer(&self) -> ConsumerConfig {
        build!(self, ConsumerConfig)
    }

    fn admin(&self) -> AdminConfig {
        build!(self, AdminConfig)
    }

    /// The settings as `java.util.Properties` text (values escaped).
    fn java_properties(&self) -> String {
        assert!(
            self.provider.is_none(),
            "the Java peer takes no token provider"
        );
        let mut out = String::new();
        for (k, v) in &self.pairs {
            let v = v
                .replace('\\', "\\\\")
                .replace('\n', "\\n")
                .replace('\r', "");
            out.push_str(&format!("{k}={v}\n"));
        }
        out
    }
}

/// TLS towards listener `name`, trusting the test CA (PEM file).
fn ssl(env: &Env, name: &str) -> Settings {
    Settings::new(&env.listener(name))
        .with("security.protocol", "SSL")
        .with("ssl.truststore.type", "PEM")
        .with("ssl.truststore.location", Pki::path(&env.pki.ca))
}

/// Mutual TLS: the client key and chain from one PEM file.
fn mtls(env: &Env) -> Settings {
    ssl(env, "MTLS")
        .with("ssl.keystore.type", "PEM")
        .with("ssl.keystore.location", Pki::path(&env.pki.client_keystore))
}

/// Mutual TLS with the key and chain inline (PEM text).
fn mtls_inline(env: &Env) -> Settings {
    ssl(env, "MTLS")
        .with("ssl.keystore.type", "PEM")
        .with("ssl.keystore.key", env.pki.pem(&env.pki.client_key))
        .with(
            "ssl.keystore.certificate.chain",
            env.pki.pem(&env.pki.client_chain),
        )
}

/// The JAAS line of `mechanism` for `user`/`password` (OAUTHBEARER: an
/// unsecured token for `user`, no password).
fn jaas(mechanism: &str, user: &str, password: &str) -> String {
    match mechanism {
        PLAIN => format!(
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"{user}\" password=\"{password}\";"
        ),
        SCRAM_256 | SCRAM_512 => format!(
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{user}\" password=\"{password}\";"
        ),
        OAUTHBEARER => format!(
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"{user}\";"
        ),
        other => panic!("no JAAS line for {other}"),
    }
}

/// SASL towards `listener` (SASL_PLAINTEXT, SASL_SSL or REAUTH) with
/// `mechanism` for `user`/`password` in `sasl.jaas.config`.
fn sasl(env: &Env, listener: &str, mechanism: &str, user: &str, password: &str) -> Settings {
    let base = Settings::new(&env.listener(listener));
    let base = if listener == "SASL_SSL" {
        base.with("security.protocol", "SASL_SSL")
            .with("ssl.truststore.type", "PEM")
            .with("ssl.truststore.location", Pki::path(&env.pki.ca))
    } else {
        base.with("security.protocol", "SASL_PLAINTEXT")
    };
    base.with("sasl.mechanism", mechanism)
        .with("sasl.jaas.config", jaas(mechanism, user, password))
}

/// `user`'s password on the test broker.
fn password(user: &str) -> String {
    format!("{user}-secret")
}

/// An OAUTHBEARER token provider handing out unsecured tokens for `sub`,
/// counting its calls and remembering every token value.
struct TestTokens {
    sub: String,
    lifetime: Duration,
    calls: AtomicUsize,
    values: Mutex<Vec<String>>,
}

impl TestTokens {
    fn new(sub: &str, lifetime: Duration) -> Arc<TestTokens> {
        Arc::new(TestTokens {
            sub: sub.to_string(),
            lifetime,
            calls: AtomicUsize::new(0),
            values: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn values(&self) -> Vec<String> {
        self.values.lock().unwrap().clone()
    }
}

impl OAuthBearerTokenProvider for TestTokens {
    fn token(&self) -> kafka_blocking::Result<OAuthBearerToken> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let token = kafka_blocking::unsecured_oauthbearer_token(
            &self.sub,
            self.lifetime,
            &[("test".to_string(), "kafka-blocking".to_string())],
        );
        self.values.lock().unwrap().push(token.value.clone());
        Ok(token)
    }
}

/// SASL OAUTHBEARER towards `listener` with `provider` instead of JAAS.
fn oauth_provider(env: &Env, listener: &str, provider: Arc<TestTokens>) -> Settings {
    sasl(env, listener, OAUTHBEARER, "unused", "")
        .without("sasl.jaas.config")
        .with_provider(provider)
}

// ---------------------------------------------------------------------------
// Client round trips

/// Test-friendly timeouts (none of them shortens the time an authentication
/// or TLS failure may take: those must fail fast by themselves).
fn quick(s: Settings) -> Settings {
    s.with("request.timeout.ms", 15000)
        .with("retry.backoff.ms", 50)
}

fn consumer_settings(s: &Settings, group: &str) -> Settings {
    quick(s.clone())
        .with("default.api.timeout.ms", 20000)
        .with("group.id", group)
        .with("auto.offset.reset", "earliest")
        .with("enable.auto.commit", "false")
        .with("session.timeout.ms", 6000)
        .with("heartbeat.interval.ms", 500)
        .with("max.poll.interval.ms", 30000)
        .with("fetch.max.wait.ms", 100)
}

/// Sends `values` to `topic` (partition `partition`, or the partitioner's
/// choice) with acks=all and waits for every acknowledgement.
fn produce(s: &Settings, topic: &str, partition: Option<i32>, values: &[String]) -> Vec<i64> {
    let producer = Producer::new(quick(s.clone()).with("acks", "all").producer())
        .unwrap_or_else(|e| panic!("producer for {topic}: {e}"));
    let futures: Vec<_> = values
        .iter()
        .map(|v| {
            let mut r = ProducerRecord::new(topic, v.as_bytes()).key(v.as_bytes());
            if let Some(p) = partition {
                r = r.partition(p);
            }
            producer
                .send(r)
                .unwrap_or_else(|e| panic!("send to {topic}: {e}"))
        })
        .collect();
    let offsets = futures
        .iter()
        .map(|f| {
            f.wait()
                .unwrap_or_else(|e| panic!("delivery to {topic}: {e}"))
                .offset
        })
        .collect();
    producer
        .close(Some(Duration::from_secs(10)))
        .unwrap_or_else(|e| panic!("close the producer of {topic}: {e}"));
    offsets
}

/// Polls `consumer` until `want` values arrived (or panics after `limit`);
/// returns them in arrival order.
fn read_values(consumer: &mut Consumer, want: usize, limit: Duration, what: &str) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    while got.len() < want {
        assert!(
            Instant::now() < deadline,
            "{what}: read {} of {want} records in {limit:?}: {got:?}",
            got.len()
        );
        let records = consumer
            .poll(Duration::from_millis(200))
            .unwrap_or_else(|e| panic!("{what}: poll: {e}"));
        for r in records {
            got.push(String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned());
        }
    }
    got
}

/// Creates a topic through these settings' admin client, produces records,
/// reads them back as the only member of a group, commits and checks the
/// committed offset: the whole client over one listener and mechanism.
fn round_trip(env: &Env, s: &Settings, label: &str) {
    let topic = support::unique_topic(&format!("sec-{label}"));
    let group = support::unique_topic(&format!("sec-{label}-g"));
    let admin = AdminClient::new(
        quick(s.clone())
            .with("default.api.timeout.ms", 20000)
            .admin(),
    )
    .unwrap_or_else(|e| panic!("{label}: admin client: {e}"));
    admin
        .create_topic(NewTopic::new(&topic, 1, 1))
        .unwrap_or_else(|e| panic!("{label}: create {topic}: {e}\n{}", env.broker_log()));
    admin
        .cluster()
        .wait_for_topic(&topic, Instant::now() + Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{label}: wait for {topic}: {e}"));
    admin.close();

    let values: Vec<String> = (0..10).map(|i| format!("{label}-{i}")).collect();
    let offsets = produce(s, &topic, Some(0), &values);
    assert_eq!(offsets, (0..10).collect::<Vec<i64>>(), "{label}: offsets");

    let mut consumer = Consumer::new(consumer_settings(s, &group).consumer())
        .unwrap_or_else(|e| panic!("{label}: consumer: {e}"));
    consumer
        .subscribe(&[&topic])
        .unwrap_or_else(|e| panic!("{label}: subscribe: {e}"));
    let got = read_values(&mut consumer, values.len(), Duration::from_secs(60), label);
    assert_eq!(got, values, "{label}: records read back");
    consumer
        .commit_sync()
        .unwrap_or_else(|e| panic!("{label}: commit: {e}"));
    let tp = TopicPartition::new(&topic, 0);
    let committed = consumer
        .committed(std::slice::from_ref(&tp))
        .unwrap_or_else(|e| panic!("{label}: committed: {e}"));
    assert_eq!(
        committed.get(&tp).cloned().flatten().map(|o| o.offset),
        Some(10),
        "{label}: committed offset"
    );
    consumer.close();
}

/// A group of two over these settings: the first member reads everything
/// and commits; the second joins and takes one of the two partitions; new
/// records are then read exactly once between them, and none of the
/// committed ones again.
fn two_member_group(env: &Env, s: &Settings, label: &str) {
    let topic = support::unique_topic(&format!("sec-{label}"));
    let group = support::unique_topic(&format!("sec-{label}-g"));
    env.create_topic(&topic, 2);
    let phase1: Vec<String> = (0..20).map(|i| format!("one-{i}")).collect();
    produce(s, &topic, Some(0), &phase1[..10]);
    produce(s, &topic, Some(1), &phase1[10..]);

    #[derive(Default)]
    struct Member {
        seen: Vec<String>,
        assignment: BTreeSet<i32>,
        committed_all: bool,
        error: Option<String>,
    }
    let stop = Arc::new(AtomicBool::new(false));
    let spawn = |name: &'static str, want_first: usize, state: Arc<Mutex<Member>>| {
        let settings = consumer_settings(s, &group);
        let topic = topic.clone();
        let stop = stop.clone();
        thread::Builder::new()
            .name(format!("{label}-{name}"))
            .spawn(move || {
                let run = || -> Result<(), String> {
                    let mut c = Consumer::new(settings.consumer()).map_err(|e| e.to_string())?;
                    c.subscribe(&[&topic]).map_err(|e| e.to_string())?;
                    let mut read = 0;
                    while !stop.load(Ordering::SeqCst) {
                        let records = c
                            .poll(Duration::from_millis(200))
                            .map_err(|e| format!("poll: {e}"))?;
                        let n = records.len();
                        {
                            let mut m = state.lock().unwrap();
                            for r in records {
                                m.seen.push(
                                    String::from_utf8_lossy(r.value.as_deref().unwrap_or_default())
                                        .into_owned(),
                                );
                            }
                            m.assignment = c.assignment().iter().map(|tp| tp.partition).collect();
                        }
                        if n > 0 {
                            read += n;
                            c.commit_sync().map_err(|e| format!("commit: {e}"))?;
                            if read >= want_first {
                                state.lock().unwrap().committed_all = true;
                            }
                        }
                    }
                    c.close();
                    Ok(())
                };
                if let Err(e) = run() {
                    state.lock().unwrap().error = Some(e);
                }
            })
            .expect("spawn a member")
    };
    let wait_for = |what: &str, limit: Duration, cond: &dyn Fn() -> bool| {
        let deadline = Instant::now() + limit;
        while !cond() {
            assert!(
                Instant::now() < deadline,
                "{label}: {what} within {limit:?}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    };
    let a = Arc::new(Mutex::new(Member::default()));
    let b = Arc::new(Mutex::new(Member::default()));
    let failed = |m: &Arc<Mutex<Member>>| m.lock().unwrap().error.clone();
    let first = spawn("a", phase1.len(), a.clone());
    wait_for(
        "the first member reads and commits everything",
        Duration::from_secs(60),
        &|| {
            if let Some(e) = failed(&a) {
                panic!("{label}: first member: {e}");
            }
            a.lock().unwrap().committed_all
        },
    );
    let second = spawn("b", 0, b.clone());
    wait_for(
        "the members share the two partitions",
        Duration::from_secs(60),
        &|| {
            for m in [&a, &b] {
                if let Some(e) = failed(m) {
                    panic!("{label}: member: {e}");
                }
            }
            let (pa, pb) = (
                a.lock().unwrap().assignment.clone(),
                b.lock().unwrap().assignment.clone(),
            );
            pa.len() == 1 && pb.len() == 1 && pa.is_disjoint(&pb)
        },
    );
    let phase2: Vec<String> = (0..20).map(|i| format!("two-{i}")).collect();
    produce(s, &topic, Some(0), &phase2[..10]);
    produce(s, &topic, Some(1), &phase2[10..]);
    wait_for("the new records are read", Duration::from_secs(60), &|| {
        for m in [&a, &b] {
            if let Some(e) = failed(m) {
                panic!("{label}: member: {e}");
            }
        }
        let n = |m: &Arc<Mutex<Member>>| {
            m.lock()
                .unwrap()
                .seen
                .iter()
                .filter(|v| v.starts_with("two-"))
                .count()
        };
        n(&a) + n(&b) >= phase2.len()
    });
    thread::sleep(Duration::from_millis(500)); // any duplicate would arrive now
    stop.store(true, Ordering::SeqCst);
    first.join().expect("first member");
    second.join().expect("second member");
    let (a, b) = (a.lock().unwrap(), b.lock().unwrap());
    assert!(
        a.error.is_none() && b.error.is_none(),
        "{label}: {:?} {:?}",
        a.error,
        b.error
    );
    let first_phase1: BTreeSet<_> = a.seen.iter().filter(|v| v.starts_with("one-")).collect();
    assert_eq!(
        first_phase1.len(),
        phase1.len(),
        "{label}: first member's records"
    );
    assert!(
        b.seen.iter().all(|v| v.starts_with("two-")),
        "{label}: the second member read committed records again: {:?}",
        b.seen
    );
    assert!(
        !b.seen.is_empty(),
        "{label}: the second member read nothing"
    );
    let mut phase2_seen: Vec<&String> = a
        .seen
        .iter()
        .chain(b.seen.iter())
        .filter(|v| v.starts_with("two-"))
        .collect();
    phase2_seen.sort();
    let mut want: Vec<&String> = phase2.iter().collect();
    want.sort();
    assert_eq!(phase2_seen, want, "{label}: new records read exactly once");
}

/// What happened when a client with these settings tried to send one record:
/// the outcome and how long it took (from building the producer).
fn try_produce(s: &Settings, topic: &str) -> (Result<RecordMetadata, Error>, Duration) {
    let started = Instant::now();
    let result = Producer::new(s.producer()).and_then(|p| {
        let r = p
            .send(ProducerRecord::new(topic, b"x"))
            .and_then(|f| f.wait());
        let _ = p.close(Some(Duration::from_secs(5)));
        r
    });
    (result, started.elapsed())
}

/// Runs `try_produce` under a hang bound; expects a failure within
/// [`FAIL_FAST`]; returns the error (also remembered for the secrets check).
fn expect_fast_failure(env: &'static Env, s: Settings, what: &str) -> Error {
    let topic = support::unique_topic("sec-refused");
    let (result, took) = deadline::within(Duration::from_secs(90), what, move || {
        try_produce(&s, &topic)
    });
    match result {
        Ok(md) => panic!(
            "{what}: the record was accepted ({md:?}); expected a failure\n{}",
            env.broker_log()
        ),
        Err(e) => {
            assert!(
                took < FAIL_FAST,
                "{what}: failed only after {took:?} (limit {FAIL_FAST:?}): {e}"
            );
            capture::remember_error(&e);
            e
        }
    }
}

fn assert_tls_error(e: &Error, needle: &str, what: &str) {
    match e {
        Error::Tls { message, .. } => assert!(
            message.to_lowercase().contains(needle),
            "{what}: the TLS error should mention {needle:?}: {message}"
        ),
        other => {
            panic!("{what}: expected Error::Tls mentioning {needle:?}, got {other:?} ({other})")
        }
    }
}

fn assert_auth_failed(e: &Error, user: &str, mechanism: &str, what: &str) {
    assert!(
        matches!(
            e,
            Error::Kafka {
                code: KafkaCode::SaslAuthenticationFailed,
                ..
            }
        ),
        "{what}: expected SaslAuthenticationFailed, got {e:?} ({e})"
    );
    let text = e.to_string();
    assert!(
        text.contains(user) && text.contains(mechanism),
        "{what}: the error should name the user {user:?} and the mechanism {mechanism}: {text}"
    );
}

fn assert_topic_authorization(e: &Error, topic: &str, what: &str) {
    assert!(
        matches!(
            e,
            Error::Kafka {
                code: KafkaCode::TopicAuthorizationFailed,
                ..
            }
        ),
        "{what}: expected TopicAuthorizationFailed, got {e:?} ({e})"
    );
    assert!(
        e.to_string().contains(topic),
        "{what}: the error should name the topic {topic}: {e}"
    );
}

// ---------------------------------------------------------------------------
// The test broker itself, checked with the Java client and raw frames

/// The embedded Java peer (see its comment); written out and compiled once
/// per test process into the cargo target tmp dir.
const SECURITY_PEER_JAVA: &str = r#"// The Apache Kafka Java client against the secured listeners of
// tests/kafka_security.rs (the proof that the test broker is set up right,
// independent of kafka-blocking). Written out and compiled by that test.
//
// stdin: blocks of
//     check|reject LABEL TOPIC PAUSE_MS
//     key=value            (java.util.Properties syntax: client settings)
//     ...
//     end
// For each block: a producer sends LABEL-1 to TOPIC partition 0, waits PAUSE_MS,
// sends LABEL-2 (acks=all), then a consumer reads the partition from the start
// until both are back. `check` expects that to work, `reject` expects it to fail.
// stdout, per block: "ok LABEL DETAIL" or "fail LABEL DETAIL" (DETAIL: what was
// read, or the exception chain, on one line), then "done" at the end of input.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class SecurityPeer {
    private static final PrintStream OUT =
            new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);

    private SecurityPeer() {}

    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            String[] head = line.trim().split(" ");
            StringBuilder text = new StringBuilder();
            String l;
            while ((l = in.readLine()) != null && !l.equals("end")) {
                text.append(l).append('\n');
            }
            Properties props = new Properties();
            props.load(new StringReader(text.toString()));
            boolean expectOk = head[0].equals("check");
            long start = System.nanoTime();
            String outcome;
            try {
                String detail = roundTrip(props, head[1], head[2], Long.parseLong(head[3]));
                outcome = (expectOk ? "ok " : "fail ") + head[1] + " worked: " + detail;
            } catch (Exception e) {
                outcome = (expectOk ? "fail " : "ok ") + head[1] + " failed: " + describe(e);
            }
            OUT.println(outcome + " [" + (System.nanoTime() - start) / 1_000_000 + " ms]");
        }
        OUT.println("done");
        System.exit(0);
    }

    private static String describe(Throwable e) {
        StringBuilder s = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (s.length() > 0) {
                s.append(" <- ");
            }
            s.append(t.getClass().getSimpleName()).append(": ").append(String.valueOf(t.getMessage()).replace('\n', ' '));
            if (t.getCause() == t) {
                break;
            }
        }
        return s.toString();
    }

    private static String roundTrip(Properties common, String label, String topic, long pauseMs) throws Exception {
        Properties pp = new Properties();
        pp.putAll(common);
        pp.put("key.serializer", StringSerializer.class.getName());
        pp.put("value.serializer", StringSerializer.class.getName());
        pp.put("acks", "all");
        pp.put("linger.ms", "0");
        pp.putIfAbsent("max.block.ms", "15000");
        pp.putIfAbsent("request.timeout.ms", "10000");
        pp.putIfAbsent("delivery.timeout.ms", "20000");
        List<Long> offsets = new ArrayList<>();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
            RecordMetadata m = producer.send(new ProducerRecord<>(topic, 0, null, label + "-1")).get();
            offsets.add(m.offset());
            if (pauseMs > 0) {
                Thread.sleep(pauseMs);
            }
            m = producer.send(new ProducerRecord<>(topic, 0, null, label + "-2")).get();
            offsets.add(m.offset());
        }
        Properties cp = new Properties();
        cp.putAll(common);
        cp.put("key.deserializer", StringDeserializer.class.getName());
        cp.put("value.deserializer", StringDeserializer.class.getName());
        cp.put("enable.auto.commit", "false");
        cp.putIfAbsent("default.api.timeout.ms", "15000");
        cp.putIfAbsent("request.timeout.ms", "10000");
        List<String> read = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp)) {
            TopicPartition tp = new TopicPartition(topic, 0);
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long deadline = System.nanoTime() + 20_000_000_000L;
            while (read.size() < 2) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("read only " + read + " in 20 s");
                }
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    if (r.value().startsWith(label + "-")) {
                        read.add(r.offset() + "=" + r.value());
                    }
                }
            }
        }
        return "produced at " + offsets + ", read " + read;
    }
}
"#;

/// The class path for the Java peer (its classes, then the Kafka jars).
fn java_peer_classpath() -> String {
    support::kafka::compile_java(
        "SecurityPeer",
        SECURITY_PEER_JAVA.as_bytes(),
        Path::new(env!("CARGO_TARGET_TMPDIR")),
    )
}

/// One block for the Java peer.
struct JavaCheck {
    expect_ok: bool,
    label: String,
    topic: String,
    pause_ms: u64,
    settings: Settings,
}

fn java_check(label: &str, topic: &str, settings: Settings) -> JavaCheck {
    JavaCheck {
        expect_ok: true,
        label: label.to_string(),
        topic: topic.to_string(),
        pause_ms: 0,
        settings,
    }
}

fn java_reject(label: &str, topic: &str, settings: Settings) -> JavaCheck {
    JavaCheck {
        expect_ok: false,
        ..java_check(label, topic, settings)
    }
}

/// Runs the checks in one JVM; returns its stdout lines (one per check, then
/// "done") and its stderr.
fn run_java_peer(checks: &[JavaCheck]) -> (Vec<String>, String) {
    let mut input = String::new();
    for c in checks {
        input.push_str(&format!(
            "{} {} {} {}\n{}end\n",
            if c.expect_ok { "check" } else { "reject" },
            c.label,
            c.topic,
            c.pause_ms,
            c.settings.java_properties()
        ));
    }
    let mut child = Command::new("java")
        .args(support::kafka::JAVA_TOOL_OPTS)
        .arg("-cp")
        .arg(java_peer_classpath())
        .arg("SecurityPeer")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start java");
    let mut stdin = child.stdin.take().unwrap();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().expect("wait for java");
    writer.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "SecurityPeer failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    (stdout.lines().map(str::to_string).collect(), stderr)
}

/// The harness, proved with the Java client: one record produced and read
/// back on every listener and mechanism, and refusals where there must be
/// refusals (unknown CA, wrong host name, no client certificate, wrong
/// password, a topic whose ACLs leave the user out).
#[test]
fn java_client_reaches_every_secured_listener() {
    let Some(env) = env() else { return };
    deadline::within(TEST_LIMIT, "java checks", move || {
        let t = |name: &str| support::unique_topic(&format!("java-{name}"));
        let acl_topic = support::unique_topic("java-acl");
        env.create_topic(&acl_topic, 1);
        env.cluster
            .acl_add(&[
                "--allow-principal",
                "User:alice",
                "--operation",
                "Read",
                "--operation",
                "Write",
                "--operation",
                "Describe",
                "--topic",
                &acl_topic,
            ])
            .expect("add ACLs");

        let mut checks = vec![
            java_check("ssl", &t("ssl"), ssl(env, "SSL")),
            java_reject(
                "ssl-other-ca",
                &t("ssl"),
                ssl(env, "SSL").with("ssl.truststore.location", Pki::path(&env.pki.other_ca)),
            ),
            java_reject("badhost-checked", &t("badhost"), ssl(env, "BADHOST")),
            java_check(
                "badhost-unchecked",
                &t("badhost"),
                ssl(env, "BADHOST").with("ssl.endpoint.identification.algorithm", ""),
            ),
            java_check("mtls-keystore-file", &t("mtls"), mtls(env)),
            java_check("mtls-inline", &t("mtls"), mtls_inline(env)),
            java_reject("mtls-no-certificate", &t("mtls"), ssl(env, "MTLS")),
        ];
        for listener in ["SASL_PLAINTEXT", "SASL_SSL"] {
            for mechanism in [PLAIN, SCRAM_256, SCRAM_512, OAUTHBEARER] {
                let label = format!("{listener}-{mechanism}").to_lowercase();
                checks.push(java_check(
                    &label,
                    &t(&label),
                    sasl(env, listener, mechanism, "alice", &password("alice")),
                ));
            }
        }
        for mechanism in [PLAIN, SCRAM_256, SCRAM_512] {
            let label = format!("wrong-password-{mechanism}").to_lowercase();
            checks.push(java_reject(
                &label,
                &t("wrong"),
                sasl(env, "SASL_PLAINTEXT", mechanism, "alice", WRONG_PASSWORD),
            ));
        }
        // Across a session expiry on REAUTH (the Java client re-authenticates).
        for mechanism in [PLAIN, SCRAM_256, OAUTHBEARER] {
            let label = format!("reauth-{mechanism}").to_lowercase();
            let mut c = java_check(
                &label,
                &t(&label),
                sasl(env, "REAUTH", mechanism, "alice", &password("alice")),
            );
            if mechanism == PLAIN {
                c.pause_ms = REAUTH_SESSION.as_millis() as u64 + 1500;
            }
            checks.push(c);
        }
        checks.push(java_check(
            "acl-alice",
            &acl_topic,
            sasl(
                env,
                "SASL_PLAINTEXT",
                SCRAM_256,
                "alice",
                &password("alice"),
            ),
        ));
        checks.push(java_reject(
            "acl-bob",
            &acl_topic,
            sasl(env, "SASL_PLAINTEXT", SCRAM_256, "bob", &password("bob")),
        ));

        let (lines, stderr) = {
            let _alone = reauth_lock();
            let reauths = broker_log_count(env, REAUTH_LINE);
            let out = run_java_peer(&checks);
            eprintln!(
                "java: the broker saw {} re-authentications",
                broker_log_count(env, REAUTH_LINE) - reauths
            );
            out
        };
        for l in &lines {
            eprintln!("java: {l}");
        }
        let failed: Vec<&String> = lines.iter().filter(|l| !l.starts_with("ok ")).collect();
        let outcomes = lines
            .iter()
            .filter(|l| l.starts_with("ok ") || l.starts_with("fail "))
            .count();
        assert!(
            failed.len() == 1 && failed[0] == "done" && outcomes == checks.len(),
            "Java client checks failed: {failed:#?}\n--- java stderr (tail) ---\n{}\n{}",
            tail(&stderr, 4000),
            env.broker_log()
        );
        // The refusals are the right ones.
        let line = |label: &str| {
            lines
                .iter()
                .find(|l| l.starts_with(&format!("ok {label} ")))
                .cloned()
                .unwrap_or_default()
        };
        assert!(
            line("ssl-other-ca").contains("PKIX"),
            "{}",
            line("ssl-other-ca")
        );
        assert!(
            line("badhost-checked").contains("subject alternative names"),
            "{}",
            line("badhost-checked")
        );
        assert!(
            line("wrong-password-plain").contains("SaslAuthenticationException"),
            "{}",
            line("wrong-password-plain")
        );
        assert!(
            line("acl-bob").contains("TopicAuthorizationException"),
            "{}",
            line("acl-bob")
        );
    });
}

fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// One request on a raw socket: header v1 (api key, version, correlation id,
/// client id) and `body`; returns the response body after the correlation id.
fn raw_request(
    sock: &mut TcpStream,
    api_key: i16,
    version: i16,
    correlation: i32,
    body: &[u8],
) -> std::io::Result<Vec<u8>> {
    let client_id = b"kafka-blocking-raw";
    let mut msg = Vec::new();
    msg.extend_from_slice(&api_key.to_be_bytes());
    msg.extend_from_slice(&version.to_be_bytes());
    msg.extend_from_slice(&correlation.to_be_bytes());
    msg.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    msg.extend_from_slice(client_id);
    msg.extend_from_slice(body);
    let mut frame = (msg.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&msg);
    sock.write_all(&frame)?;
    let mut len = [0u8; 4];
    sock.read_exact(&mut len)?;
    let mut resp = vec![0u8; i32::from_be_bytes(len).max(4) as usize];
    sock.read_exact(&mut resp)?;
    assert_eq!(
        i32::from_be_bytes(resp[..4].try_into().unwrap()),
        correlation,
        "correlation id"
    );
    Ok(resp[4..].to_vec())
}

/// SASL PLAIN by hand (SaslHandshake v1, SaslAuthenticate v1) on `address`;
/// returns the socket, the authentication's error code and the session
/// lifetime the broker grants.
fn raw_plain_session(address: &str, user: &str, password: &str) -> (TcpStream, i16, i64) {
    let mut sock = TcpStream::connect(address).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut body = (PLAIN.len() as i16).to_be_bytes().to_vec();
    body.extend_from_slice(PLAIN.as_bytes());
    let resp = raw_request(&mut sock, 17, 1, 1, &body).expect("SaslHandshake");
    assert_eq!(
        i16::from_be_bytes([resp[0], resp[1]]),
        0,
        "SaslHandshake error"
    );
    let token = format!("\0{user}\0{password}");
    let mut body = (token.len() as i32).to_be_bytes().to_vec();
    body.extend_from_slice(token.as_bytes());
    let resp = raw_request(&mut sock, 36, 1, 2, &body).expect("SaslAuthenticate");
    let error = i16::from_be_bytes([resp[0], resp[1]]);
    let mut p = 2;
    let msg_len = i16::from_be_bytes([resp[p], resp[p + 1]]);
    p += 2 + msg_len.max(0) as usize;
    let bytes_len = i32::from_be_bytes(resp[p..p + 4].try_into().unwrap());
    p += 4 + bytes_len.max(0) as usize;
    let lifetime = i64::from_be_bytes(resp[p..p + 8].try_into().unwrap());
    (sock, error, lifetime)
}

/// ApiVersions v0 on a raw socket.
fn raw_api_versions(sock: &mut TcpStream, correlation: i32) -> std::io::Result<Vec<u8>> {
    raw_request(sock, 18, 0, correlation, &[])
}

/// The REAUTH listener grants 3 s sessions (`connections.max.reauth.ms` for
/// that listener only); SASL_PLAINTEXT sets no limit. Raw frames: independent
/// of this crate's client.
#[test]
fn reauth_listener_gives_three_second_sessions() {
    let Some(env) = env() else { return };
    let (mut sock, error, lifetime) =
        raw_plain_session(&env.listener("REAUTH"), "alice", &password("alice"));
    assert_eq!(error, 0, "PLAIN on REAUTH");
    assert_eq!(
        lifetime,
        REAUTH_SESSION.as_millis() as i64,
        "REAUTH session lifetime"
    );
    raw_api_versions(&mut sock, 3).expect("a request within the session");

    let (mut plain, error, lifetime) =
        raw_plain_session(&env.listener("SASL_PLAINTEXT"), "alice", &password("alice"));
    assert_eq!(error, 0, "PLAIN on SASL_PLAINTEXT");
    assert_eq!(lifetime, 0, "SASL_PLAINTEXT sets no session lifetime");
    let (_, error, _) = raw_plain_session(&env.listener("SASL_PLAINTEXT"), "alice", WRONG_PASSWORD);
    assert_eq!(error, 58, "a wrong password is SASL_AUTHENTICATION_FAILED");

    // A session left to expire: the broker drops the connection at the next
    // request, and says so in its log (what the re-authentication tests
    // count; they wait while this runs).
    let _alone = reauth_lock();
    let expired_before = broker_log_count(env, EXPIRED_LINE);
    thread::sleep(REAUTH_SESSION + Duration::from_millis(700));
    assert!(
        raw_api_versions(&mut sock, 4).is_err(),
        "the broker answered on a session that expired"
    );
    raw_api_versions(&mut plain, 3).expect("SASL_PLAINTEXT sessions do not expire");
    let deadline = Instant::now() + Duration::from_secs(10);
    while broker_log_count(env, EXPIRED_LINE) == expired_before {
        assert!(
            Instant::now() < deadline,
            "the broker did not log {EXPIRED_LINE:?}\n{}",
            env.broker_log()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------
// 1. TLS

#[test]
fn ssl_produce_consume_and_two_member_group() {
    let Some(env) = env() else { return };
    deadline::within(TEST_LIMIT, "SSL", move || {
        let s = ssl(env, "SSL");
        round_trip(env, &s, "ssl");
        two_member_group(env, &s, "ssl-group");
    });
}

#[test]
fn ssl_certificate_from_an_unknown_issuer_fails_fast() {
    let Some(env) = env() else { return };
    let s = ssl(env, "SSL").with("ssl.truststore.location", Pki::path(&env.pki.other_ca));
    let e = expect_fast_failure(env, s, "SSL trusting another CA");
    assert_tls_error(&e, "issuer", "SSL trusting another CA");
}

#[test]
fn ssl_certificate_for_another_host_name_fails_fast() {
    let Some(env) = env() else { return };
    let e = expect_fast_failure(
        env,
        ssl(env, "BADHOST"),
        "BADHOST with the host name checked",
    );
    assert_tls_error(&e, "name", "BADHOST with the host name checked");
}

#[test]
fn ssl_without_endpoint_identification_accepts_another_host_name() {
    let Some(env) = env() else { return };
    deadline::within(TEST_LIMIT, "BADHOST unchecked", move || {
        let s = ssl(env, "BADHOST").with("ssl.endpoint.identification.algorithm", "");
        round_trip(env, &s, "badhost-unchecked");
    });
}

#[test]
fn ssl_trusted_certificates_inline() {
    let Some(env) = env() else { return };
    deadline::within(TEST_LIMIT, "inline CA", move || {
        let s = ssl(env, "SSL")
            .without("ssl.truststore.location")
            .with("ssl.truststore.certificates", env.pki.pem(&env.pki.ca));
        round_trip(env, &s, "ssl-inline-ca");
    });
}

/// `ssl.enabled.protocols=TLSv1.2` (the broker offers 1.2 and 1.3): a round
/// trip, and the refusal of a missing client certificate, which TLS 1.2
/// reports inside the handshake.
#[test]
fn ssl_tls_1_2_only() {
    let Some(env) = env() else { return };
    deadline::within(TEST_LIMIT, "TLS 1.2", move || {
        let s = ssl(env, "SSL").with("ssl.enabled.protocols", "TLSv1.2");
        round_trip(env, &s, "ssl-tls12");
        let s = mtls(env).with("ssl.enabled.protocols", "TLSv1.2");
        round_trip(env, &s, "mtls-tls12");
    });
    let s = ssl(env, "MTLS").with("ssl.enabled.protocols", "TLSv1.2");
    expect_fast_failure(env, s, "MTLS over TLS 1.2 without a certificate");
}

#[test]
fn mtls_with_a_keystore_file() {
    let Some(env) = env() else { return };
    deadline::within(TEST_LIMIT, "MTLS keystore", move || {
        round_trip(env, &mtls(env), "mtls-keystore");
    });
}

#[test]
fn mtls_with_inline_key_and_chain() {
    let Some(env) = env() else { return };
    deadline::within(TEST_LIMIT, "MTLS inline", move || {
        round_trip(env, &mtls_inline(env), "mtls-inline");
    });
}

/// The encrypted client key (PKCS#8, PBES2 / AES-256-CBC) in the key store
/// file, with `ssl.key.password`.
#[test]
fn mtls_with_an_encrypted_key_file() {
    let Some(env) = env() else { return };
    deadline::within(TEST_LIMIT, "MTLS encrypted key file", move || {
        let s = ssl(env, "MTLS")
            .with("ssl.keystore.type", "PEM")
            .with(
                "ssl.keystore.location",
                Pki::path(&env.pki.client_enc_keystore),
            )
            .with("ssl.key.password", CLIENT_KEY_PASSWORD);
        round_trip(env, &s, "mtls-enc-file");
    });
}

/// The encrypted client key inline (`ssl.keystore.key`), with
/// `ssl.key.password`.
#[test]
fn mtls_with_an_encrypted_key_inline() {
    let Some(env) = env() else { return };
    deadline::within(TEST_LIMIT, "MTLS encrypted key inline", move || {
        let s = ssl(env, "MTLS")
            .with("ssl.keystore.type", "PEM")
            .with("ssl.keystore.key", env.pki.pem(&env.pki.client_enc_key))
            .with(
                "ssl.keystore.certificate.chain",
                env.pki.pem(&env.pki.client_chain),
            )
            .with("ssl.key.password", CLIENT_KEY_PASSWORD);
        round_trip(env, &s, "mtls-enc-inline");
    });
}

#[test]
fn mtls_with_librdkafka_names() {
    let Some(env) = env() else { return };
    deadline::within(TEST_LIMIT, "MTLS librdkafka names", move || {
        let s = Settings::new(&env.listener("MTLS"))
            .with("security.protocol", "SSL")
            .with("ssl.ca.location", Pki::path(&env.pki.ca))
            .with("ssl.certificate.location", Pki::path(&env.pki.client_chain))
            .with("ssl.key.location", Pki::path(&env.pki.client_key));
        round_trip(env, &s, "mtls-librdkafka");
    });
}

#[test]
fn mtls_without_a_client_certificate_fails_fast() {
    let Some(env) = env() else { return };
    // Any error will do (with TLS 1.3 the broker's refusal comes as an alert
    // after the client's side of the handshake); what matters is that it
    // comes, and soon.
    let e = expect_fast_failure(env, ssl(env, "MTLS"), "MTLS without a certificate");
    eprintln!("MTLS without a certificate: {e}");
}

// ---------------------------------------------------------------------------
// 2. SASL

fn sasl_round_trip(listener: &'static str, mechanism: &'static str) {
    let Some(env) = env() else { return };
    deadline::within(TEST_LIMIT, "SASL round trip", move || {
        let s = sasl(env, listener, mechanism, "alice", &password("alice"));
        round_trip(env, &s, &format!("{listener}-{mechanism}").to_lowercase());
    });
}

#[test]
fn sasl_plaintext_plain() {
    sasl_round_trip("SASL_PLAINTEXT", PLAIN);
}

#[test]
fn sasl_plaintext_scram_sha_256() {
    sasl_round_trip("SASL_PLAINTEXT", SCRAM_256);
}

#[test]
fn sasl_plaintext_scram_sha_512() {
    sasl_round_trip("SASL_PLAINTEXT", SCRAM_512);
}

#[test]
fn sasl_plaintext_oauthbearer_unsecured_jaas() {
    sasl_round_trip("SASL_PLAINTEXT", OAUTHBEARER);
}

#[test]
fn sasl_ssl_plain() {
    sasl_round_trip("SASL_SSL", PLAIN);
}

#[test]
fn sasl_ssl_scram_sha_256() {
    sasl_round_trip("SASL_SSL", SCRAM_256);
}

#[test]
fn sasl_ssl_scram_sha_512() {
    sasl_round_trip("SASL_SSL", SCRAM_512);
}

#[test]
fn sasl_ssl_oauthbearer_unsecured_jaas() {
    sasl_round_trip("SASL_SSL", OAUTHBEARER);
}

#[test]
fn sasl_ssl_oauthbearer_token_provider() {
    let Some(env) = env() else { return };
    deadline::within(TEST_LIMIT, "OAUTHBEARER provider", move || {
        let tokens = TestTokens::new("alice", Duration::from_secs(600));
        let s = oauth_provider(env, "SASL_SSL", tokens.clone());
        round_trip(env, &s, "sasl-ssl-oauth-provider");
        assert!(tokens.calls() >= 1, "the token provider was never asked");
    });
}

#[test]
fn sasl_username_and_password_settings() {
    let Some(env) = env() else { return };
    deadline::within(TEST_LIMIT, "sasl.username", move || {
        for mechanism in [PLAIN, SCRAM_256] {
            let s = sasl(env, "SASL_PLAINTEXT", mechanism, "unused", "")
                .without("sasl.jaas.config")
                .with("sasl.username", "alice")
                .with("sasl.password", password("alice"));
            round_trip(
                env,
                &s,
                &format!("sasl-username-{mechanism}").to_lowercase(),
            );
        }
    });
}

#[test]
fn sasl_ssl_scram_sha_512_two_member_group() {
    let Some(env) = env() else { return };
    deadline::within(TEST_LIMIT, "SASL_SSL group", move || {
        let s = sasl(env, "SASL_SSL", SCRAM_512, "alice", &password("alice"));
        two_member_group(env, &s, "sasl-ssl-group");
    });
}

#[test]
fn sasl_wrong_password_fails_fast_naming_user_and_mechanism() {
    let Some(env) = env() else { return };
    for (listener, mechanism) in [
        ("SASL_PLAINTEXT", PLAIN),
        ("SASL_PLAINTEXT", SCRAM_256),
        ("SASL_SSL", SCRAM_512),
    ] {
        let what = format!("{mechanism} over {listener} with a wrong password");
        let s = sasl(env, listener, mechanism, "alice", WRONG_PASSWORD);
        let e = expect_fast_failure(env, s, &what);
        assert_auth_failed(&e, "alice", mechanism, &what);
    }
}

/// Misconfigurations against real listeners end quickly and say what is
/// probably wrong: SASL towards a listener without SASL (Kafka answers
/// SaslHandshake with ILLEGAL_SASL_STATE there), and TLS towards a plaintext
/// listener (Kafka drops the ClientHello: retried as a network error until
/// max.block.ms, then named in the timeout).
#[test]
fn sasl_or_tls_towards_a_plaintext_listener_say_so() {
    let Some(env) = env() else { return };
    let s = Settings::new(&env.listener("PLAINTEXT"))
        .with("security.protocol", "SASL_PLAINTEXT")
        .with("sasl.mechanism", PLAIN)
        .with("sasl.jaas.config", jaas(PLAIN, "alice", &password("alice")));
    let e = expect_fast_failure(env, s, "SASL towards PLAINTEXT");
    let text = e.to_string();
    assert!(e.is_authentication(), "not retried: {text}");
    assert!(
        text.contains("ILLEGAL_SASL_STATE") && text.contains("not a SASL listener"),
        "says the listener has no SASL: {text}"
    );

    let s = Settings::new(&env.listener("PLAINTEXT"))
        .with("security.protocol", "SSL")
        .with("ssl.truststore.location", Pki::path(&env.pki.ca))
        .with("max.block.ms", "3000");
    let (result, took) = try_produce(&s, &support::unique_topic("sec-tls-at-plain"));
    let e = result.expect_err("TLS towards a plaintext listener");
    capture::remember_error(&e);
    assert!(took < FAIL_FAST, "bounded by max.block.ms: {took:?}");
    assert!(
        e.to_string().contains("does not use TLS"),
        "names the likely cause: {e}"
    );
}

// ---------------------------------------------------------------------------
// 3. Re-authentication

/// On REAUTH (3 s sessions) an idempotent acks=all producer sends for
/// [`REAUTH_RUN`] while a group member reads and commits: no error anywhere,
/// every acknowledged record read exactly once.
fn reauth_run(env: &'static Env, s: Settings, label: &str) {
    let topic = support::unique_topic(&format!("sec-{label}"));
    let group = support::unique_topic(&format!("sec-{label}-g"));
    env.create_topic(&topic, 2);
    let _alone = reauth_lock();
    let reauths_before = broker_log_count(env, REAUTH_LINE);
    let expired_before = broker_log_count(env, EXPIRED_LINE);

    let stop = Arc::new(AtomicBool::new(false));
    let read: Arc<Mutex<Vec<(i32, i64, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let consumer_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let member = {
        let (settings, topic, stop, read, consumer_error) = (
            consumer_settings(&s, &group),
            topic.clone(),
            stop.clone(),
            read.clone(),
            consumer_error.clone(),
        );
        thread::spawn(move || {
            let run = || -> Result<(), String> {
                let mut c = Consumer::new(settings.consumer()).map_err(|e| e.to_string())?;
                c.subscribe(&[&topic]).map_err(|e| e.to_string())?;
                let mut last_commit = Instant::now();
                while !stop.load(Ordering::SeqCst) {
                    let records = c
                        .poll(Duration::from_millis(200))
                        .map_err(|e| format!("poll: {e}"))?;
                    let mut r = read.lock().unwrap();
                    for rec in records {
                        r.push((
                            rec.partition,
                            rec.offset,
                            String::from_utf8_lossy(rec.value.as_deref().unwrap_or_default())
                                .into_owned(),
                        ));
                    }
                    drop(r);
                    if last_commit.elapsed() > Duration::from_millis(700) {
                        c.commit_sync().map_err(|e| format!("commit: {e}"))?;
                        last_commit = Instant::now();
                    }
                }
                c.commit_sync().map_err(|e| format!("final commit: {e}"))?;
                c.close();
                Ok(())
            };
            if let Err(e) = run() {
                *consumer_error.lock().unwrap() = Some(e);
            }
        })
    };

    let producer = Producer::new(
        quick(s.clone())
            .with("acks", "all")
            .with("enable.idempotence", "true")
            .with("linger.ms", 5)
            .producer(),
    )
    .unwrap_or_else(|e| panic!("{label}: producer: {e}"));
    let started = Instant::now();
    let mut pending = Vec::new();
    let mut acked: BTreeMap<String, (i32, i64)> = BTreeMap::new();
    let mut i = 0u64;
    while started.elapsed() < REAUTH_RUN {
        let value = format!("{label}-{i}");
        i += 1;
        let f = producer
            .send(ProducerRecord::new(&topic, value.as_bytes()).key(value.as_bytes()))
            .unwrap_or_else(|e| panic!("{label}: send after {:?}: {e}", started.elapsed()));
        pending.push((value, f));
        pending.retain(|(value, f)| match f.try_get() {
            None => true,
            Some(Ok(md)) => {
                acked.insert(value.clone(), (md.partition, md.offset));
                false
            }
            Some(Err(e)) => panic!(
                "{label}: delivery failed after {:?}: {e}\n{}",
                started.elapsed(),
                env.broker_log()
            ),
        });
        if let Some(e) = consumer_error.lock().unwrap().clone() {
            panic!(
                "{label}: consumer failed after {:?}: {e}",
                started.elapsed()
            );
        }
        thread::sleep(Duration::from_millis(10));
    }
    producer
        .flush()
        .unwrap_or_else(|e| panic!("{label}: flush: {e}"));
    for (value, f) in pending {
        let md = f
            .wait()
            .unwrap_or_else(|e| panic!("{label}: delivery of {value}: {e}"));
        acked.insert(value, (md.partition, md.offset));
    }
    producer
        .close(Some(Duration::from_secs(10)))
        .unwrap_or_else(|e| panic!("{label}: close: {e}"));
    assert!(
        acked.len() > 100,
        "{label}: only {} records acknowledged",
        acked.len()
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(e) = consumer_error.lock().unwrap().clone() {
            panic!("{label}: consumer failed: {e}");
        }
        let done = {
            let r = read.lock().unwrap();
            let got: BTreeSet<&String> = r.iter().map(|(_, _, v)| v).collect();
            acked.keys().all(|v| got.contains(v))
        };
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{label}: the consumer read {} of {} acknowledged records",
            read.lock().unwrap().len(),
            acked.len()
        );
        thread::sleep(Duration::from_millis(100));
    }
    thread::sleep(Duration::from_millis(500)); // duplicates would show up now
    stop.store(true, Ordering::SeqCst);
    member.join().expect("member thread");
    if let Some(e) = consumer_error.lock().unwrap().clone() {
        panic!("{label}: consumer failed: {e}");
    }
    let r = read.lock().unwrap();
    let mut count: BTreeMap<&String, usize> = BTreeMap::new();
    for (partition, offset, value) in r.iter() {
        *count.entry(value).or_default() += 1;
        if let Some(&(p, o)) = acked.get(value) {
            assert_eq!((p, o), (*partition, *offset), "{label}: {value} moved");
        }
    }
    let dups: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "{label}: read more than once: {dups:?}");
    assert_eq!(
        count.len(),
        acked.len(),
        "{label}: records read that were never acknowledged"
    );
    // The sessions were renewed in place (KIP-368), not cut by the broker.
    let reauths = broker_log_count(env, REAUTH_LINE) - reauths_before;
    let expired = broker_log_count(env, EXPIRED_LINE) - expired_before;
    eprintln!(
        "{label}: {} records over {:?} of {:?} sessions, each read once; {reauths} re-authentications, {expired} expired connections",
        acked.len(),
        REAUTH_RUN,
        REAUTH_SESSION
    );
    assert_eq!(
        expired,
        0,
        "{label}: the broker dropped {expired} connections whose session had expired: no re-authentication in time\n{}",
        env.broker_log()
    );
    let at_least = (REAUTH_RUN.as_millis() / REAUTH_SESSION.as_millis()) as usize - 1;
    assert!(
        reauths >= at_least,
        "{label}: the broker saw {reauths} re-authentications in {REAUTH_RUN:?} of {REAUTH_SESSION:?} sessions (want {at_least}, one connection's worth)"
    );
}

/// What the secured node logs for a re-authentication and for a connection
/// it drops because its session expired (see scripts/kafka.sh `run`).
const REAUTH_LINE: &str = "Beginning re-authentication";
const EXPIRED_LINE: &str = "Disconnecting expired channel";

#[test]
fn reauth_plain_keeps_producing_and_consuming() {
    let Some(env) = env() else { return };
    deadline::within(TEST_LIMIT, "re-auth PLAIN", move || {
        let s = sasl(env, "REAUTH", PLAIN, "alice", &password("alice"));
        reauth_run(env, s, "reauth-plain");
    });
}

#[test]
fn reauth_scram_sha_256_keeps_producing_and_consuming() {
    let Some(env) = env() else { return };
    deadline::within(TEST_LIMIT, "re-auth SCRAM-SHA-256", move || {
        let s = sasl(env, "REAUTH", SCRAM_256, "alice", &password("alice"));
        reauth_run(env, s, "reauth-scram");
    });
}

#[test]
fn reauth_oauthbearer_provider_keeps_producing_and_consuming() {
    let Some(env) = env() else { return };
    deadline::within(TEST_LIMIT, "re-auth OAUTHBEARER", move || {
        // Tokens outlive the run: the 3 s sessions come from the listener.
        let tokens = TestTokens::new("alice", Duration::from_secs(600));
        let s = oauth_provider(env, "REAUTH", tokens.clone());
        reauth_run(env, s, "reauth-oauth");
        // Every (re-)authentication asks the provider: at least one a session
        // on one connection over the run.
        let sessions = (REAUTH_RUN.as_millis() / REAUTH_SESSION.as_millis()) as usize;
        assert!(
            tokens.calls() > sessions,
            "the provider was asked {} times over {REAUTH_RUN:?} of {REAUTH_SESSION:?} sessions: no re-authentication?",
            tokens.calls()
        );
    });
}

// ---------------------------------------------------------------------------
// 4. ACLs

#[test]
fn acl_topic_refuses_bob_and_serves_alice() {
    let Some(env) = env() else { return };
    deadline::within(TEST_LIMIT, "ACLs", move || {
        let topic = support::unique_topic("acl-secret");
        env.create_topic(&topic, 1);
        env.cluster
            .acl_add(&[
                "--allow-principal",
                "User:alice",
                "--operation",
                "Read",
                "--operation",
                "Write",
                "--operation",
                "Describe",
                "--topic",
                &topic,
            ])
            .expect("add ACLs");
        let bob = sasl(env, "SASL_PLAINTEXT", SCRAM_256, "bob", &password("bob"));
        let alice = sasl(
            env,
            "SASL_PLAINTEXT",
            SCRAM_256,
            "alice",
            &password("alice"),
        );

        // bob producing: the send fails, soon, naming the topic.
        let started = Instant::now();
        let (result, took) = try_produce(&bob, &topic);
        let e = result.expect_err("bob's record was accepted");
        assert!(
            took < FAIL_FAST,
            "bob's send failed only after {took:?}: {e}"
        );
        assert_topic_authorization(&e, &topic, "bob producing");
        capture::remember_error(&e);

        // bob consuming, as a group member and with assign(): poll fails.
        let group = support::unique_topic("acl-bob-g");
        for how in ["subscribe", "assign"] {
            let mut c = Consumer::new(consumer_settings(&bob, &group).consumer())
                .unwrap_or_else(|e| panic!("bob's consumer: {e}"));
            if how == "subscribe" {
                c.subscribe(&[&topic])
                    .unwrap_or_else(|e| panic!("subscribe: {e}"));
            } else {
                c.assign([TopicPartition::new(&topic, 0)])
                    .unwrap_or_else(|e| panic!("assign: {e}"));
            }
            let started = Instant::now();
            let e = loop {
                match c.poll(Duration::from_millis(200)) {
                    Err(e) => break e,
                    Ok(records) => {
                        assert!(records.is_empty(), "bob ({how}) read records of {topic}");
                        assert!(
                            started.elapsed() < FAIL_FAST,
                            "bob ({how}): no error after {FAIL_FAST:?} of polling {topic}"
                        );
                    }
                }
            };
            assert_topic_authorization(&e, &topic, &format!("bob consuming ({how})"));
            capture::remember_error(&e);
            c.close();
        }
        eprintln!("bob refused in {:?}", started.elapsed());

        // alice can do both.
        let values: Vec<String> = (0..5).map(|i| format!("secret-{i}")).collect();
        produce(&alice, &topic, Some(0), &values);
        let mut c = Consumer::new(
            consumer_settings(&alice, &support::unique_topic("acl-alice-g")).consumer(),
        )
        .unwrap_or_else(|e| panic!("alice's consumer: {e}"));
        c.subscribe(&[&topic])
            .unwrap_or_else(|e| panic!("subscribe: {e}"));
        let got = read_values(&mut c, values.len(), Duration::from_secs(60), "alice");
        assert_eq!(got, values);
        c.commit_sync()
            .unwrap_or_else(|e| panic!("alice's commit: {e}"));
        c.close();
    });
}

// ---------------------------------------------------------------------------
// 5. Secrets

/// A process-wide logger that keeps every record (Trace and up) in memory,
/// and the errors the tests saw, for the secrets check.
mod capture {
    use std::sync::{Mutex, Once};

    use kafka_blocking::Error;
    use log::{Level, LevelFilter, Log, Metadata, Record};

    /// Captured text stops growing past this (the check then covers the
    /// first 256 MiB; noted in its failure messages).
    const MAX: usize = 256 << 20;

    static TEXT: Mutex<String> = Mutex::new(String::new());
    static ERRORS: Mutex<Vec<String>> = Mutex::new(Vec::new());

    struct Capture;

    impl Log for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }

        fn log(&self, record: &Record<'_>) {
            let line = format!("{} {} {}\n", record.level(), record.target(), record.args());
            let mut text = TEXT.lock().unwrap_or_else(|e| e.into_inner());
            if text.len() + line.len() <= MAX {
                text.push_str(&line);
            }
            if record.level() <= Level::Warn {
                eprint!("log: {line}");
            }
        }

        fn flush(&self) {}
    }

    /// Installs the logger at Trace (once per process; quietly keeps another
    /// logger that was there first, in which case nothing is captured).
    pub fn install() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            static CAPTURE: Capture = Capture;
            if log::set_logger(&CAPTURE).is_ok() {
                log::set_max_level(LevelFilter::Trace);
            } else {
                eprintln!("another logger is installed: log lines are not captured");
            }
        });
    }

    /// Everything logged so far.
    pub fn text() -> String {
        TEXT.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Keeps an error's `Debug` and `Display` text for the secrets check.
    pub fn remember_error(e: &Error) {
        ERRORS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{e:?}\n{e}"));
    }

    /// The errors remembered so far.
    pub fn errors() -> Vec<String> {
        ERRORS.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Sessions that carry every kind of secret (a SCRAM password over TLS, an
/// OAUTHBEARER token, a private key inline, an encrypted key and its
/// password, a wrong password), then: none of the secrets in the captured
/// log of the whole process, in the `Debug` output of the configurations, or
/// in any error seen by this file's tests.
#[test]
fn secrets_stay_out_of_logs_debug_and_errors() {
    let Some(env) = env() else { return };
    deadline::within(TEST_LIMIT, "secrets", move || {
        let tokens = TestTokens::new("alice", Duration::from_secs(600));
        let scram = sasl(env, "SASL_SSL", SCRAM_256, "alice", &password("alice"));
        let oauth = oauth_provider(env, "SASL_SSL", tokens.clone());
        let key_inline = mtls_inline(env);
        let wrong = sasl(env, "SASL_SSL", PLAIN, "alice", WRONG_PASSWORD);
        let wrong_scram = sasl(env, "SASL_PLAINTEXT", SCRAM_512, "alice", WRONG_PASSWORD);
        let encrypted = ssl(env, "MTLS")
            .with("ssl.keystore.type", "PEM")
            .with("ssl.keystore.key", env.pki.pem(&env.pki.client_enc_key))
            .with(
                "ssl.keystore.certificate.chain",
                env.pki.pem(&env.pki.client_chain),
            )
            .with("ssl.key.password", CLIENT_KEY_PASSWORD);

        round_trip(env, &scram, "secrets-scram");
        round_trip(env, &oauth, "secrets-oauth");
        round_trip(env, &key_inline, "secrets-key");
        let e = expect_fast_failure(env, wrong, "PLAIN with a wrong password");
        assert_auth_failed(&e, "alice", PLAIN, "PLAIN with a wrong password");
        let e = expect_fast_failure(env, wrong_scram, "SCRAM with a wrong password");
        assert_auth_failed(&e, "alice", SCRAM_512, "SCRAM with a wrong password");
        // The encrypted key: whatever happens (it is tested for success in
        // mtls_with_an_encrypted_key), nothing may leak.
        let (result, _) = try_produce(&encrypted, &support::unique_topic("sec-enc"));
        if let Err(e) = &result {
            capture::remember_error(e);
        }

        let token_values = tokens.values();
        assert!(
            !token_values.is_empty(),
            "the token provider was never asked"
        );
        let mut secrets: Vec<String> = vec![
            password("alice"),
            password("bob"),
            password("admin"),
            WRONG_PASSWORD.to_string(),
            CLIENT_KEY_PASSWORD.to_string(),
            "PRIVATE KEY".to_string(),
        ];
        for v in &token_values {
            secrets.push(v.clone());
            // The claims part alone (the header is the same for every
            // unsecured token, so it is no secret).
            if let Some(claims) = v.split('.').nth(1).filter(|c| c.len() > 16) {
                secrets.push(claims.to_string());
            }
        }
        // The base64 body of the private keys.
        for key in [&env.pki.client_key, &env.pki.client_enc_key] {
            let pem = env.pki.pem(key);
            if let Some(line) = pem
                .lines()
                .find(|l| !l.starts_with("-----") && l.len() > 40)
            {
                secrets.push(line.to_string());
            }
        }

        let mut places: Vec<(String, String)> = Vec::new();
        for (name, s) in [
            ("scram", &scram),
            ("oauth", &oauth),
            ("key-inline", &key_inline),
            ("encrypted-key", &encrypted),
        ] {
            places.push((
                format!("{name} ProducerConfig"),
                format!("{:?}", s.producer()),
            ));
            places.push((
                format!("{name} ConsumerConfig"),
                format!("{:?}", s.consumer()),
            ));
            places.push((format!("{name} AdminConfig"), format!("{:?}", s.admin())));
        }
        for (i, e) in capture::errors().into_iter().enumerate() {
            places.push((format!("error #{i}"), e));
        }
        let log = capture::text();
        eprintln!(
            "secrets: checking {} bytes of log ({} lines), {} errors, {} configurations",
            log.len(),
            log.lines().count(),
            capture::errors().len(),
            places.len() - capture::errors().len()
        );
        places.push(("the captured log".to_string(), log));
        for (place, text) in &places {
            for (n, secret) in secrets.iter().enumerate() {
                if let Some(at) = text.find(secret.as_str()) {
                    // The text before it (not the secret itself).
                    let from = text[..at]
                        .char_indices()
                        .rev()
                        .nth(300)
                        .map_or(0, |(i, _)| i);
                    panic!(
                        "{place} shows secret #{n} ({} chars) right after: ...{}",
                        secret.len(),
                        &text[from..at]
                    );
                }
            }
        }
    });
}

/// Paths used above exist (a quick sanity check of the PKI when the node is
/// up; the PKI itself needs only openssl).
#[test]
fn pki_has_every_file() {
    let Some(env) = env() else { return };
    for f in env.pki.files() {
        assert!(Path::new(f).is_file(), "missing {}", f.display());
    }
}
