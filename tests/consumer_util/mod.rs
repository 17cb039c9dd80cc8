//! Helpers shared by the consumer integration tests (`tests/consumer_*.rs`).
#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::consumer::{Consumer, ConsumerRecord};
use kafka_blocking::{AdminConfig, ConsumerConfig};

use super::support;

/// Runs `python3 -c script args...` and returns its stdout; panics with its
/// stderr when it fails.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new(support::python())
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python failed ({}):\n--- stderr ---\n{}\n--- stdout ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Creates `topic` with `partitions` partitions (replication factor 1).
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin =
        AdminClient::new(AdminConfig::new().bootstrap_servers(bootstrap)).expect("admin client");
    admin
        .create_topic(NewTopic::new(topic, partitions, 1))
        .expect("create topic");
    admin.close();
}

/// A consumer for `bootstrap` with short test timeouts plus `extra` settings.
pub fn consumer(bootstrap: &str, extra: &[(&str, &str)]) -> Consumer {
    let mut c = ConsumerConfig::new()
        .bootstrap_servers(bootstrap)
        .client_id("kafka-blocking-test")
        .set("fetch.max.wait.ms", "100")
        .set("retry.backoff.ms", "50")
        .set("default.api.timeout.ms", "10000");
    for (k, v) in extra {
        c = c.set(k, v);
    }
    Consumer::new(c).expect("consumer")
}

/// Polls until `n` records arrived or `timeout` passed.
pub fn read_n(c: &mut Consumer, n: usize, timeout: Duration) -> Vec<ConsumerRecord> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < n && Instant::now() < deadline {
        out.extend(c.poll(Duration::from_millis(200)).expect("poll"));
    }
    out
}

/// Lower-case hex of `b`.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Prints `log` records at `KAFKA_BLOCKING_TEST_LOG` level (e.g. `debug`) to stderr.
pub fn init_log() {
    struct Stderr(log::LevelFilter);
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= self.0
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                eprintln!("[{} {}] {}", r.level(), r.target(), r.args());
            }
        }
        fn flush(&self) {}
    }
    let level = match std::env::var("KAFKA_BLOCKING_TEST_LOG").as_deref() {
        Ok("trace") => log::LevelFilter::Trace,
        Ok("debug") => log::LevelFilter::Debug,
        Ok("info") => log::LevelFilter::Info,
        Ok("warn") => log::LevelFilter::Warn,
        _ => return,
    };
    static LOGGER: std::sync::OnceLock<Stderr> = std::sync::OnceLock::new();
    let l = LOGGER.get_or_init(|| Stderr(level));
    if log::set_logger(l).is_ok() {
        log::set_max_level(level);
    }
}
