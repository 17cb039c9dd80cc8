//! Test support shared by the integration tests: brokers to test against.
//!
//! Include it from a test file with `mod support;` (or `#[path = "support/mod.rs"]
//! mod support;`). Only std is used.
//!
//! * [`tansu`]: a real single-node broker (tansu 0.6.0, memory storage);
//!   [`tansu::bootstrap`] honours `$KAFKA_BOOTSTRAP`.
//! * [`mock`]: the librdkafka mock cluster (several brokers, fault injection),
//!   driven through `tests/support/mock_cluster.py` (needs `confluent-kafka`, see
//!   `tests/support/requirements.txt`).
//! * [`kafka`]: Apache Kafka nodes from Maven Central (`scripts/kafka.sh`), plain or
//!   secured (`KafkaCluster::start_secured`: SSL, mutual TLS, SASL and ACL listeners).
//! * [`pki`]: a test CA with server and client certificates, made by
//!   `scripts/kafka.sh pki` with the openssl CLI.
//!
//! Environment knobs: `KAFKA_BOOTSTRAP`, `KAFKA_BLOCKING_CACHE` (tool cache dir),
//! `KAFKA_BLOCKING_TANSU` (use this tansu binary), `KAFKA_BLOCKING_PYTHON`
//! (interpreter, default `python3`), `TANSU_RUST_LOG` (tansu's `RUST_LOG`, default
//! `warn`).
#![allow(dead_code)]

pub mod fake;
pub mod kafka;
pub mod log;
pub mod mock;
pub mod pki;
pub mod tansu;

use std::collections::HashMap;
use std::env;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The Python interpreter used by the test support code (`$KAFKA_BLOCKING_PYTHON`,
/// default `python3`), resolved once to its real path (`sys.executable`) so that
/// wrapper shims such as pyenv's are not paid for at every spawn.
pub fn python() -> OsString {
    static RESOLVED: OnceLock<OsString> = OnceLock::new();
    RESOLVED
        .get_or_init(|| {
            let name = env::var_os("KAFKA_BLOCKING_PYTHON")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "python3".into());
            Command::new(&name)
                .args(["-c", "import sys; sys.stdout.write(sys.executable or '')"])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .ok()
                .filter(|out| out.status.success() && !out.stdout.is_empty())
                .and_then(|out| String::from_utf8(out.stdout).ok())
                .map_or(name, OsString::from)
        })
        .clone()
}

/// `pid-counter-nanos`: unique across threads and concurrently running processes.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// A topic (or group, transactional id...) name nobody else uses:
/// `{prefix}-{pid}-{counter}-{nanos}`, made of legal topic characters if `prefix` is.
pub fn unique_topic(prefix: &str) -> String {
    format!("{prefix}-{}", unique_suffix())
}

/// Whether the Python interpreter can import `module` (e.g. `"confluent_kafka"`).
/// Cached per process.
pub fn python_has(module: &str) -> bool {
    static CACHE: Mutex<Option<HashMap<String, bool>>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(&known) = cache.get(module) {
        return known;
    }
    let found = Command::new(python())
        .args([
            "-c",
            "import importlib, sys; importlib.import_module(sys.argv[1])",
            module,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    cache.insert(module.to_string(), found);
    found
}

/// A fresh log file path `$TMPDIR/kafka-blocking-logs/{kind}-{unique}.log`. Logs
/// older than a day are pruned (once per process); launchers delete the logs of
/// brokers that stop while no test is panicking.
pub fn log_file(kind: &str) -> PathBuf {
    static PRUNED: Once = Once::new();
    let dir = env::temp_dir().join("kafka-blocking-logs");
    let _ = fs::create_dir_all(&dir);
    PRUNED.call_once(|| {
        let day = Duration::from_secs(24 * 3600);
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > day);
            if old {
                let _ = fs::remove_file(entry.path());
            }
        }
    });
    dir.join(format!("{kind}-{}.log", unique_suffix()))
}

/// At most the last `max` bytes of `path`, starting no earlier than byte `from`
/// (for error messages that quote a log file).
pub fn log_tail(path: &Path, from: u64, max: u64) -> String {
    let read = || -> io::Result<String> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(from.max(len.saturating_sub(max))))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    read().unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
}

/// A broker of a test's own, to stop and start again: a private tansu, or, with
/// `KAFKA_BLOCKING_BROKER=kafka`, a private single-node Apache Kafka cluster.
pub enum PrivateBroker {
    /// tansu 0.6.0, memory storage: a restart loses every topic and offset.
    Tansu(tansu::LocalBroker),
    /// One Apache Kafka node: a restart keeps the log and the group offsets.
    Kafka(kafka::KafkaCluster),
}

impl PrivateBroker {
    /// Starts the broker kind this run targets (see [`kafka::real_kafka`]).
    pub fn start() -> io::Result<PrivateBroker> {
        if kafka::real_kafka() {
            kafka::KafkaCluster::start(1).map(PrivateBroker::Kafka)
        } else {
            tansu::start_tansu().map(PrivateBroker::Tansu)
        }
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        match self {
            PrivateBroker::Tansu(b) => b.bootstrap.clone(),
            PrivateBroker::Kafka(c) => c.bootstrap.clone(),
        }
    }

    /// Kills the broker (SIGKILL) and waits until it is gone.
    pub fn stop(&mut self) {
        match self {
            PrivateBroker::Tansu(b) => b.stop(),
            PrivateBroker::Kafka(c) => c.kill9(1),
        }
    }

    /// Starts it again on the same port and waits until it serves (on Kafka:
    /// every partition has its leader back).
    pub fn start_again(&mut self) -> io::Result<()> {
        match self {
            PrivateBroker::Tansu(b) => b.start(),
            PrivateBroker::Kafka(c) => {
                c.restart(1)?;
                c.wait_healthy(Duration::from_secs(60))
            }
        }
    }

    /// Whether topics, records and committed offsets survive a restart.
    pub fn keeps_data(&self) -> bool {
        matches!(self, PrivateBroker::Kafka(_))
    }
}
