//! Issue 17: every failure names its real cause, and nothing fails silently.
//!
//! * Timeouts on the metadata path (producer `send` and `partitions_for`,
//!   consumer `partitions_for`, `offsets_for_times`, `end_offsets`, `poll` in
//!   a group, admin calls) name the connect failures behind them: a refused
//!   connection, an unresolvable host, a listener that closes the connection
//!   at once. No broker is needed for these.
//! * A consumer assigned a topic that does not exist logs one warning naming
//!   the topic and the broker's error (captured by a test logger). Needs a
//!   broker (`support::tansu::bootstrap()`, or `$KAFKA_BOOTSTRAP`).
//! * Invalid topic names and an empty group id fail locally, before any
//!   request, with the rule they break.

#[path = "support/mod.rs"]
mod support;

use std::net::TcpListener;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::consumer::{Consumer, TopicPartition};
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::{AdminConfig, ConsumerConfig, ProducerConfig};

/// Every log record of this test process, as `LEVEL target: message`.
fn captured() -> &'static Mutex<Vec<String>> {
    static LINES: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    LINES.get_or_init(|| Mutex::new(Vec::new()))
}

/// Installs the capturing logger (once per process).
fn capture_log() {
    struct Capture;
    impl log::Log for Capture {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::Level::Info
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                captured().lock().unwrap().push(format!(
                    "{} {}: {}",
                    r.level(),
                    r.target(),
                    r.args()
                ));
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: Capture = Capture;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

/// An address where nothing listens (a port bound, then released).
fn refused_address() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr.to_string()
}

/// A listener that accepts every connection and closes it at once.
fn closing_listener() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            drop(s);
        }
    });
    addr.to_string()
}

/// Short limits so that each call times out in about a second, with several
/// connect attempts before.
fn fast(bootstrap: &str) -> Vec<(&'static str, String)> {
    vec![
        ("bootstrap.servers", bootstrap.to_string()),
        ("reconnect.backoff.ms", "50".into()),
        ("reconnect.backoff.max.ms", "200".into()),
        ("retry.backoff.ms", "50".into()),
        ("socket.connection.setup.timeout.ms", "1000".into()),
    ]
}

fn producer(bootstrap: &str) -> Producer {
    let mut c = ProducerConfig::new().set("max.block.ms", "1500");
    for (k, v) in fast(bootstrap) {
        c = c.set(k, &v);
    }
    Producer::new(c).unwrap()
}

fn consumer(bootstrap: &str, group: Option<&str>) -> Consumer {
    let mut c = ConsumerConfig::new().set("default.api.timeout.ms", "1500");
    for (k, v) in fast(bootstrap) {
        c = c.set(k, &v);
    }
    if let Some(g) = group {
        c = c.set("group.id", g);
    }
    Consumer::new(c).unwrap()
}

fn admin(bootstrap: &str) -> AdminClient {
    let mut c = AdminConfig::new().set("default.api.timeout.ms", "1500");
    for (k, v) in fast(bootstrap) {
        c = c.set(k, &v);
    }
    AdminClient::new(c).unwrap()
}

/// Every call that waits for the cluster fails naming `cause` (lowercase)
/// and the address, never blaming the topic.
fn every_call_names(bootstrap: &str, cause: &str) {
    let check = |call: &str, e: kafka_blocking::Error| {
        let text = e.to_string();
        let lower = text.to_lowercase();
        assert!(
            lower.contains(cause) && text.contains(bootstrap),
            "{call}: the error does not name {cause:?} at {bootstrap}: {text}"
        );
        assert!(
            !lower.contains("does it exist"),
            "{call}: blames the topic: {text}"
        );
    };
    let p = producer(bootstrap);
    let e = p.send(ProducerRecord::new("diag-topic", b"v")).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("no broker reachable") && text.contains("attempt"),
        "send: {text}"
    );
    check("Producer::send", e);
    check(
        "Producer::partitions_for",
        p.partitions_for("diag-topic").unwrap_err(),
    );
    p.close(Some(Duration::ZERO)).unwrap();

    let mut c = consumer(bootstrap, None);
    check(
        "Consumer::partitions_for",
        c.partitions_for("diag-topic").unwrap_err(),
    );
    let tp = TopicPartition::new("diag-topic", 0);
    check(
        "Consumer::offsets_for_times",
        c.offsets_for_times(&[(tp.clone(), 0)]).unwrap_err(),
    );
    check("Consumer::end_offsets", c.end_offsets(&[tp]).unwrap_err());
    c.close();

    let a = admin(bootstrap);
    check("AdminClient::list_topics", a.list_topics().unwrap_err());
    check(
        "AdminClient::create_topic",
        a.create_topic(NewTopic::new("diag-topic", 1, 1))
            .unwrap_err(),
    );
    check(
        "AdminClient::describe_cluster",
        a.describe_cluster().unwrap_err(),
    );
    a.close();
}

#[test]
fn refused_connection_is_the_cause_of_every_timeout() {
    every_call_names(&refused_address(), "connection refused");
}

#[test]
fn unresolvable_host_is_the_cause_of_every_timeout() {
    every_call_names(
        "nohost.invalid:9092",
        "cannot resolve host name nohost.invalid",
    );
}

#[test]
fn listener_that_closes_at_once_is_the_cause_of_every_timeout() {
    every_call_names(&closing_listener(), "closed the connection");
}

/// Like Java's, `poll` does not fail while the cluster is unreachable (it
/// returns nothing and retries); the cause is in the log, as a warning.
#[test]
fn group_poll_logs_the_refused_connection() {
    capture_log();
    let bootstrap = refused_address();
    let mut c = consumer(&bootstrap, Some("diag-group"));
    c.subscribe(&["diag-topic"]).unwrap();
    let _ = c.poll(Duration::from_millis(800));
    let lines = captured().lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.starts_with("WARN")
            && l.contains(&bootstrap)
            && l.to_lowercase().contains("connection refused")),
        "no warning names the refused connection: {lines:#?}"
    );
}

#[test]
fn connect_failures_are_logged_as_warnings() {
    capture_log();
    let bootstrap = refused_address();
    let mut c = consumer(&bootstrap, None);
    c.assign(vec![TopicPartition::new("diag-topic", 0)])
        .unwrap();
    let _ = c.poll(Duration::from_millis(800));
    let lines = captured().lock().unwrap().clone();
    let warned: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("WARN") && l.contains(&bootstrap))
        .collect();
    assert!(
        warned
            .iter()
            .any(|l| l.contains("could not be established") && l.to_lowercase().contains("refused")),
        "no warning names the refused connection: {lines:#?}"
    );
}

#[test]
fn missing_topic_is_warned_about_once() {
    capture_log();
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("diag-missing");
    let mut c = Consumer::new(
        ConsumerConfig::new()
            .bootstrap_servers(&bootstrap)
            .set("allow.auto.create.topics", "false")
            .set("retry.backoff.ms", "100")
            .set("metadata.max.age.ms", "1000"),
    )
    .unwrap();
    c.assign(vec![TopicPartition::new(&topic, 0)]).unwrap();
    let end = Instant::now() + Duration::from_secs(4);
    while Instant::now() < end {
        assert!(c.poll(Duration::from_millis(500)).unwrap().is_empty());
    }
    c.close();
    let lines = captured().lock().unwrap().clone();
    let warned: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("WARN") && l.contains(&topic))
        .collect();
    assert_eq!(
        warned.len(),
        1,
        "expected one warning about {topic}: {lines:#?}"
    );
    assert!(
        warned[0].contains("UNKNOWN_TOPIC_OR_PARTITION")
            && warned[0].contains("allow.auto.create.topics=false"),
        "{}",
        warned[0]
    );
}

#[test]
fn invalid_topic_names_fail_locally_with_the_rule() {
    // A refused address: any request would fail with a connect error, so a
    // message naming the rule, at once, proves nothing was sent.
    let bootstrap = refused_address();
    let long = "t".repeat(250);
    let cases: [(&str, &str); 5] = [
        ("bad topic", "character ' ' is not allowed"),
        ("a/b", "character '/' is not allowed"),
        (&long, "250 characters long; Kafka allows at most 249"),
        (".", "'.' and '..' are not allowed"),
        ("..", "'.' and '..' are not allowed"),
    ];
    let p = producer(&bootstrap);
    let mut c = consumer(&bootstrap, Some("diag-group"));
    let a = admin(&bootstrap);
    for (name, rule) in cases {
        let started = Instant::now();
        let errors = [
            (
                "Producer::send",
                p.send(ProducerRecord::new(name, b"v")).unwrap_err(),
            ),
            (
                "Producer::partitions_for",
                p.partitions_for(name).unwrap_err(),
            ),
            (
                "Consumer::assign",
                c.assign(vec![TopicPartition::new(name, 0)]).unwrap_err(),
            ),
            ("Consumer::subscribe", c.subscribe(&[name]).unwrap_err()),
            (
                "Consumer::partitions_for",
                c.partitions_for(name).unwrap_err(),
            ),
            (
                "AdminClient::create_topic",
                a.create_topic(NewTopic::new(name, 1, 1)).unwrap_err(),
            ),
            (
                "AdminClient::delete_topic",
                a.delete_topic(name).unwrap_err(),
            ),
        ];
        for (call, e) in errors {
            let text = e.to_string();
            assert!(
                text.contains("invalid topic name") && text.contains(rule),
                "{call}({name}): {text}"
            );
            assert!(
                !text.contains("refused"),
                "{call}({name}) sent a request: {text}"
            );
        }
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "validation waited for the network"
        );
    }
    p.close(Some(Duration::ZERO)).unwrap();
    c.close();
    a.close();
}

#[test]
fn empty_group_id_fails_locally() {
    let bootstrap = refused_address();
    let mut c = consumer(&bootstrap, Some(""));
    let started = Instant::now();
    let e = c.subscribe(&["diag-topic"]).unwrap_err().to_string();
    assert!(
        e.contains("group.id") && e.contains("must be non-empty"),
        "{e}"
    );
    let e = c.commit_sync().unwrap_err().to_string();
    assert!(e.contains("group.id"), "{e}");
    assert!(started.elapsed() < Duration::from_millis(500));
}

/// Debug forms (`{:?}`) the message checks allow, by file and the text
/// around them: quoting a value the user typed, so that an empty or
/// space-padded value is visible.
const DEBUG_FORMAT_ALLOWED: &[(&str, &str)] = &[
    // `invalid configuration acks="2 ": ...`
    ("src/error.rs", "invalid configuration {key}={value:?}"),
    // `unknown compression.type "gzp": ...`
    (
        "src/protocol/compression.rs",
        "unknown compression.type {:?}",
    ),
    // rustls's enums (alerts, certificate errors, versions) have no Display:
    // their variant names (`UnknownIssuer`) are what users search for.
    ("src/net/tls.rs", "format!(\"{value:?}\")"),
];

/// Acceptance 3: no `{:?}`/`{x:?}` in the library's messages (errors and
/// log lines) outside test modules and comments, except the allowed list;
/// user-facing text uses Display forms (`topic-0`, not `TopicPartition {..}`).
#[test]
fn no_debug_formatting_in_messages() {
    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                // Test modules kept in their own folder or file (`mod tests;` under
                // `#[cfg(test)]`, e.g. src/consumer/assignor/tests/) may print
                // what they like, as inline test modules may.
                if path.file_name().is_some_and(|n| n != "tests") {
                    rust_files(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "rs")
                // A test module in a file of its own (`#[cfg(test)] mod
                // tests;`, e.g. src/config/tests.rs) too.
                && path.file_name().is_some_and(|n| n != "tests.rs")
            {
                out.push(path);
            }
        }
    }
    /// `{` name or nothing, `:`, optional `#`, `?`, `}`.
    fn debug_placeholder(line: &str) -> bool {
        let b = line.as_bytes();
        (0..b.len()).any(|i| {
            if b[i] != b'{' {
                return false;
            }
            let mut j = i + 1;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.') {
                j += 1;
            }
            let rest = &line[j..];
            rest.starts_with(":?}") || rest.starts_with(":#?}")
        })
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(files.len() > 20, "src/ not found");
    let mut found = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim();
            // Test modules may print what they like.
            if t == "#[cfg(test)]"
                && lines
                    .get(i + 1)
                    .is_some_and(|n| n.trim().starts_with("mod "))
            {
                break;
            }
            if t.starts_with("//") || !debug_placeholder(line) {
                continue;
            }
            let allowed = DEBUG_FORMAT_ALLOWED
                .iter()
                .any(|(f, snippet)| *f == rel && line.contains(snippet));
            if !allowed {
                found.push(format!("{rel}:{}: {t}", i + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "Debug formatting in messages (use the Display form, or add to DEBUG_FORMAT_ALLOWED with a reason):\n{}",
        found.join("\n")
    );
}
