//! Apache Kafka clusters for tests, started from `scripts/kafka.sh` (which resolves
//! the broker from Maven Central into the tool cache and writes each node's
//! `server.properties`).
//!
//! * [`KafkaCluster::start`]: one combined broker+controller node, or three
//!   (replication factor 3, `min.insync.replicas=2`, `broker.rack=rack-K`), on free
//!   loopback ports with their own data folder, removed on drop.
//! * Node control by node id: [`KafkaCluster::kill9`], [`KafkaCluster::pause`]
//!   (SIGSTOP) / [`KafkaCluster::resume`] (SIGCONT), [`KafkaCluster::restart`],
//!   [`KafkaCluster::stop_node`] (SIGTERM: controlled shutdown) and
//!   [`KafkaCluster::wait_healthy`] (every broker registered, no under-replicated
//!   or leaderless partition).
//! * [`KafkaCluster::start_secured`]: one node with the secured client listeners
//!   of `scripts/kafka.sh --security` (TLS, mutual TLS, a certificate for the
//!   wrong host name, SASL PLAIN/SCRAM/OAUTHBEARER in plaintext and over TLS, a
//!   listener with a 3 s re-authentication interval, ACLs): addresses by name
//!   with [`KafkaCluster::listener`], ACLs with [`KafkaCluster::acl_add`]; the
//!   PKI comes from [`super::pki::Pki`].
//! * [`real_kafka`]: whether this run targets Apache Kafka
//!   (`KAFKA_BLOCKING_BROKER=kafka`, set by `scripts/test.sh` for its real-broker
//!   pass). Then `tansu::bootstrap()` is `$KAFKA_BOOTSTRAP`, else one node of
//!   [`shared_cluster`] per test binary, and suites drop tansu workarounds.
//!
//! Each node runs under the same watchdog as tansu (see `tansu.rs`): it dies with
//! the test process however that ends.

use std::collections::BTreeMap;
use std::env;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use kafka_blocking::AdminConfig;
use kafka_blocking::admin::AdminClient;

use super::pki::Pki;
use super::tansu::WATCHDOG_PY;
use super::{python, unique_suffix};

/// How long a node gets to log "Kafka Server started".
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Which broker the integration suites target: `KAFKA_BLOCKING_BROKER=kafka` means
/// Apache Kafka (its bootstrap in `KAFKA_BOOTSTRAP`); anything else, tansu or the
/// broker named by `KAFKA_BOOTSTRAP`.
pub fn real_kafka() -> bool {
    env::var("KAFKA_BLOCKING_BROKER").is_ok_and(|v| v.eq_ignore_ascii_case("kafka"))
}

/// The bootstrap of this run's Apache Kafka broker, or `None` with a note
/// ("skipped") when the run targets another broker. For the `tests/kafka_*.rs`
/// tests that use the run's broker: `scripts/test.sh` runs them in its Apache
/// Kafka pass only; a plain `cargo test` on tansu skips them rather than
/// judging tansu by Kafka's answers.
pub fn kafka_bootstrap() -> Option<String> {
    if real_kafka() {
        Some(super::tansu::bootstrap())
    } else {
        eprintln!(
            "skipped: needs Apache Kafka (KAFKA_BLOCKING_BROKER=kafka, as in scripts/test.sh's second pass)"
        );
        None
    }
}

/// One Apache Kafka node shared by all tests of this test binary, started on
/// first use (for `KAFKA_BLOCKING_BROKER=kafka` without `KAFKA_BOOTSTRAP`).
///
/// Never dropped: when the test process exits, the watchdogs see EOF and kill
/// the node (its data folder stays in the temp dir). Panics if it cannot start.
pub fn shared_cluster() -> &'static KafkaCluster {
    static SHARED: OnceLock<Result<KafkaCluster, String>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| {
        let started = Instant::now();
        KafkaCluster::start(1)
            .inspect(|c| {
                eprintln!(
                    "Apache Kafka node started on {} in {:?}",
                    c.bootstrap,
                    started.elapsed()
                )
            })
            .map_err(|e| e.to_string())
    });
    match shared {
        Ok(c) => c,
        Err(e) => panic!("cannot start the shared Apache Kafka node: {e}"),
    }
}

/// The repository's `scripts/kafka.sh`.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join("kafka.sh")
}

fn run_script(args: &[&str]) -> io::Result<String> {
    run_script_env(args, &[])
}

/// [`run_script`] with extra environment variables for the script.
fn run_script_env(args: &[&str], env: &[(&str, &str)]) -> io::Result<String> {
    let out = Command::new("bash")
        .arg(script())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "scripts/kafka.sh {} failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The Java class path of the Apache Kafka jars (broker, tools, clients),
/// resolving them first if needed: `lib/*`, for `java -cp` and `javac -cp`.
pub fn classpath() -> io::Result<String> {
    run_script(&["classpath"])
}

/// JVM options that keep a short-lived Java tool or peer cheap to start.
pub const JAVA_TOOL_OPTS: &[&str] = &[
    "-XX:TieredStopAtLevel=1",
    "-Xshare:auto",
    "-XX:+UseSerialGC",
    "-XX:-UsePerfData",
    "-Xms32m",
    "-Xmx256m",
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
];

/// FNV-1a (64 bits): a stable hash for cache keys.
pub fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Compiles the Java class `class` from `source` against the Kafka jars into a
/// folder of `tmp` keyed by the source and the jars (once; concurrent test
/// processes each compile into a folder of their own and the first rename
/// wins). Returns the class path for `java -cp`: the classes, then the jars.
pub fn compile_java(class: &str, source: &[u8], tmp: &Path) -> String {
    let kafka = classpath().expect("scripts/kafka.sh classpath");
    let key = fnv1a(&[source, kafka.as_bytes()].concat());
    let dir = tmp.join(format!("{class}-{key:016x}"));
    if !dir.join(format!("{class}.class")).exists() {
        let work = tmp.join(format!("{class}-build-{}", unique_suffix()));
        fs::create_dir_all(&work).unwrap();
        let file = work.join(format!("{class}.java"));
        fs::write(&file, source).unwrap();
        let started = Instant::now();
        let out = Command::new("javac")
            .args(["-nowarn", "-d"])
            .arg(&work)
            .arg("-cp")
            .arg(&kafka)
            .arg(&file)
            .stdin(Stdio::null())
            .output()
            .expect("run javac (Java 17+ is needed for the real-Kafka pass)");
        assert!(
            out.status.success(),
            "javac {class} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("compiled {class} in {:?}", started.elapsed());
        if fs::rename(&work, &dir).is_err() {
            let _ = fs::remove_dir_all(&work); // another process won the race
        }
    }
    format!("{}:{kafka}", dir.display())
}

struct Node {
    id: u32,
    dir: PathBuf,
    port: u16,
    watchdog: Option<Child>,
    pid: Option<u32>,
}

impl Node {
    fn log(&self) -> PathBuf {
        self.dir.join("server.log")
    }
}

/// A KRaft cluster of Apache Kafka nodes (each broker and controller in one
/// process) on loopback.
pub struct KafkaCluster {
    /// `host:port,...` of every node (the PLAINTEXT listeners).
    pub bootstrap: String,
    dir: PathBuf,
    nodes: Vec<Node>,
    /// Listener name -> `host:port` (`DIR/listeners`; several nodes: the last).
    listeners: BTreeMap<String, String>,
}

impl KafkaCluster {
    /// Configures and starts `nodes` (1 or 3) nodes and waits until every broker
    /// is registered.
    pub fn start(nodes: u32) -> io::Result<KafkaCluster> {
        Self::start_with(nodes, &[])
    }

    /// Starts one node with the secured listeners of `scripts/kafka.sh
    /// --security` (see its header) beside PLAINTEXT, using the certificates of
    /// `pki`: `SSL`, `MTLS`, `BADHOST`, `SASL_PLAINTEXT`, `SASL_SSL`, `REAUTH`
    /// (addresses: [`listener`](Self::listener)). Users `admin`, `alice`, `bob`
    /// with passwords `NAME-secret` (PLAIN and SCRAM-SHA-256/512); OAUTHBEARER
    /// takes any unsecured token; `User:admin` and the PLAINTEXT principal are
    /// super users, and topics without ACLs are open to everyone.
    pub fn start_secured(pki: &Pki) -> io::Result<KafkaCluster> {
        let pki_dir = pki.dir.to_string_lossy().into_owned();
        Self::start_with(1, &["--security", &pki_dir])
    }

    /// Starts `nodes` nodes with extra `server.properties` lines (e.g.
    /// `group.initial.rebalance.delay.ms=3000`), which win over the test
    /// bed's own settings.
    pub fn start_configured(nodes: u32, properties: &[&str]) -> io::Result<KafkaCluster> {
        Self::start_env(nodes, &[], &properties.join("\n"))
    }

    fn start_with(nodes: u32, extra: &[&str]) -> io::Result<KafkaCluster> {
        Self::start_env(nodes, extra, "")
    }

    fn start_env(nodes: u32, extra: &[&str], properties: &str) -> io::Result<KafkaCluster> {
        let dir = env::temp_dir().join(format!("kafka-blocking-cluster-{}", unique_suffix()));
        let dir_s = dir.to_string_lossy().into_owned();
        let n = nodes.to_string();
        let mut args = vec!["configure", &dir_s, "--nodes", &n];
        args.extend_from_slice(extra);
        let env: &[(&str, &str)] = if properties.is_empty() {
            &[]
        } else {
            &[("KAFKA_BLOCKING_KAFKA_EXTRA", properties)]
        };
        run_script_env(&args, env)?;
        let bootstrap = fs::read_to_string(dir.join("bootstrap"))?
            .trim()
            .to_string();
        let listeners = fs::read_to_string(dir.join("listeners"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(name, addr)| (name.trim().to_string(), addr.trim().to_string()))
            .collect();
        let mut cluster = KafkaCluster {
            bootstrap,
            dir: dir.clone(),
            nodes: Vec::new(),
            listeners,
        };
        for id in 1..=nodes {
            let ndir = dir.join(format!("node-{id}"));
            let port = fs::read_to_string(ndir.join("port"))?
                .trim()
                .parse()
                .map_err(io::Error::other)?;
            cluster.nodes.push(Node {
                id,
                dir: ndir,
                port,
                watchdog: None,
                pid: None,
            });
        }
        let mut marks = Vec::new();
        for id in 1..=nodes {
            marks.push(cluster.spawn(id)?);
        }
        for (id, mark) in (1..=nodes).zip(marks) {
            cluster.wait_started(id, mark)?;
        }
        cluster.wait_brokers(Duration::from_secs(60))?;
        Ok(cluster)
    }

    /// Node ids, 1..=N.
    pub fn node_ids(&self) -> Vec<u32> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// `127.0.0.1:port` of node `id`'s client listener.
    pub fn address(&self, id: u32) -> String {
        format!("127.0.0.1:{}", self.node(id).port)
    }

    /// `host:port` of the listener called `name` (`PLAINTEXT`, and on a
    /// [`start_secured`](Self::start_secured) node `SSL`, `MTLS`, `BADHOST`,
    /// `SASL_PLAINTEXT`, `SASL_SSL`, `REAUTH`). Panics for an unknown name.
    pub fn listener(&self, name: &str) -> String {
        self.listeners.get(name).cloned().unwrap_or_else(|| {
            panic!(
                "no listener {name} (have {:?})",
                self.listeners.keys().collect::<Vec<_>>()
            )
        })
    }

    /// Runs a Kafka command-line tool (`class`, e.g.
    /// `org.apache.kafka.tools.AclCommand`) with `args`; returns its stdout, or
    /// an error with its output when it fails or runs longer than 60 s.
    pub fn run_tool(&self, class: &str, args: &[&str]) -> io::Result<String> {
        java_tool(class, args)
    }

    /// Adds ACLs with `org.apache.kafka.tools.AclCommand --add` over the
    /// PLAINTEXT listener (a super user), e.g. `["--allow-principal",
    /// "User:alice", "--operation", "Read", "--topic", "t"]`, then waits (up to
    /// 20 s) until the broker lists them for every `--topic`/`--group` named
    /// and `--allow-principal`/`--deny-principal` given: the authorizer
    /// enforces what it lists.
    pub fn acl_add(&self, args: &[&str]) -> io::Result<()> {
        const ACL: &str = "org.apache.kafka.tools.AclCommand";
        let plaintext = self.listener("PLAINTEXT");
        let mut add = vec!["--bootstrap-server", plaintext.as_str(), "--add", "--force"];
        add.extend_from_slice(args);
        self.run_tool(ACL, &add)?;
        let mut resources = Vec::new();
        let mut principals = Vec::new();
        for pair in args.windows(2) {
            match pair[0] {
                "--topic" | "--group" => resources.push([pair[0], pair[1]]),
                "--allow-principal" | "--deny-principal" => principals.push(pair[1]),
                _ => {}
            }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        for resource in resources {
            loop {
                let mut list = vec!["--bootstrap-server", plaintext.as_str(), "--list"];
                list.extend_from_slice(&resource);
                let listed = self.run_tool(ACL, &list)?;
                if principals
                    .iter()
                    .all(|p| listed.contains(&format!("principal={p},")))
                {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(io::Error::other(format!(
                        "ACLs {args:?} not listed after 20 s:\n{listed}"
                    )));
                }
                thread::sleep(Duration::from_millis(200));
            }
        }
        Ok(())
    }

    fn node(&self, id: u32) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    fn node_mut(&mut self, id: u32) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// Spawns node `id` under the watchdog; returns the log offset it starts at.
    fn spawn(&mut self, id: u32) -> io::Result<u64> {
        let dir = self.dir.clone();
        let node = self.node_mut(id);
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.log())?;
        let mark = log.seek(SeekFrom::End(0))?;
        let pidfile = node.dir.join("pid");
        let _ = fs::remove_file(&pidfile);
        let child = Command::new(python())
            .args(["-I", "-S", "-c", WATCHDOG_PY])
            .arg("bash")
            .arg(script())
            .arg("run")
            .arg(&dir)
            .arg(id.to_string())
            .env("WATCHDOG_PIDFILE", &pidfile)
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        node.watchdog = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(text) = fs::read_to_string(&pidfile) {
                if let Ok(pid) = text.trim().parse() {
                    node.pid = Some(pid);
                    break;
                }
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "node {id}: no pid from the watchdog"
                )));
            }
            thread::sleep(Duration::from_millis(10));
        }
        Ok(mark)
    }

    fn wait_started(&mut self, id: u32, mark: u64) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let log = self.node(id).log();
            let text = read_from(&log, mark);
            if text.contains("Kafka Server started") {
                return Ok(());
            }
            let exited = !matches!(
                self.node_mut(id).watchdog.as_mut().map(Child::try_wait),
                Some(Ok(None))
            );
            if exited || Instant::now() > deadline {
                let tail: String = text
                    .lines()
                    .rev()
                    .take(30)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                return Err(io::Error::other(format!(
                    "Kafka node {id} {} (log {}):\n{tail}",
                    if exited {
                        "exited during start-up"
                    } else {
                        "did not start in time"
                    },
                    log.display()
                )));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal(&self, id: u32, sig: &str) {
        if let Some(pid) = self.node(id).pid {
            let _ = Command::new("kill")
                .args([sig, &pid.to_string()])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    fn wait_exit(&mut self, id: u32, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let node = self.node_mut(id);
        let Some(child) = node.watchdog.as_mut() else {
            return true;
        };
        while Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                node.watchdog = None;
                node.pid = None;
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Kills node `id` with SIGKILL and waits until it is gone.
    pub fn kill9(&mut self, id: u32) {
        self.signal(id, "-CONT");
        self.signal(id, "-KILL");
        if !self.wait_exit(id, Duration::from_secs(10)) {
            if let Some(mut c) = self.node_mut(id).watchdog.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    /// Stops node `id` with SIGTERM (a controlled shutdown: leadership moves away
    /// first), SIGKILL after 60 s.
    pub fn stop_node(&mut self, id: u32) {
        self.signal(id, "-CONT");
        self.signal(id, "-TERM");
        if !self.wait_exit(id, Duration::from_secs(60)) {
            self.kill9(id);
        }
    }

    /// Freezes node `id` (SIGSTOP): its sockets stay open but nothing answers.
    pub fn pause(&self, id: u32) {
        self.signal(id, "-STOP");
    }

    /// Thaws node `id` (SIGCONT).
    pub fn resume(&self, id: u32) {
        self.signal(id, "-CONT");
    }

    /// Starts node `id` again (after [`kill9`](Self::kill9) or
    /// [`stop_node`](Self::stop_node)) with its data, and waits until it runs.
    pub fn restart(&mut self, id: u32) -> io::Result<()> {
        if self.node(id).watchdog.is_some() {
            self.kill9(id);
        }
        let mark = self.spawn(id)?;
        self.wait_started(id, mark)
    }

    fn admin(&self) -> io::Result<AdminClient> {
        AdminClient::new(
            AdminConfig::new()
                .bootstrap_servers(&self.bootstrap)
                .set("request.timeout.ms", "5000")
                .set("default.api.timeout.ms", "10000"),
        )
        .map_err(|e| io::Error::other(e.to_string()))
    }

    fn wait_brokers(&self, timeout: Duration) -> io::Result<()> {
        let want = self.nodes.len();
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.admin().and_then(|a| {
                let md = a.metadata().map_err(|e| io::Error::other(e.to_string()));
                a.close();
                md
            }) {
                Ok(md) if md.brokers.len() == want => return Ok(()),
                Ok(md) => last = format!("{} of {want} brokers registered", md.brokers.len()),
                Err(e) => last = e.to_string(),
            }
            thread::sleep(Duration::from_millis(200));
        }
        Err(io::Error::other(format!("cluster not ready: {last}")))
    }

    /// Waits until every node runs, every broker is registered and every
    /// partition of every topic (internal ones too) has a leader and a full ISR.
    pub fn wait_healthy(&self, timeout: Duration) -> io::Result<()> {
        let want = self.nodes.len();
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        while Instant::now() < deadline {
            let check = self.admin().and_then(|a| {
                let md = a.metadata().map_err(|e| io::Error::other(e.to_string()));
                a.close();
                md
            });
            match check {
                Ok(md) => {
                    let mut bad = Vec::new();
                    for t in md.topics.values() {
                        for p in &t.partitions {
                            if p.leader < 0 || p.isr.len() < p.replicas.len() {
                                bad.push(format!(
                                    "{}-{} leader {} isr {:?} replicas {:?}",
                                    t.name, p.partition, p.leader, p.isr, p.replicas
                                ));
                            }
                        }
                    }
                    if md.brokers.len() == want && bad.is_empty() {
                        return Ok(());
                    }
                    last = format!(
                        "{} of {want} brokers; {} partitions unhealthy, e.g. {:?}",
                        md.brokers.len(),
                        bad.len(),
                        bad.first()
                    );
                }
                Err(e) => last = e.to_string(),
            }
            thread::sleep(Duration::from_millis(250));
        }
        Err(io::Error::other(format!(
            "cluster not healthy after {timeout:?}: {last}"
        )))
    }

    /// The node id leading the most partitions of `topic` (ties: lowest id).
    pub fn busiest_leader(&self, topic: &str) -> io::Result<u32> {
        let a = self.admin()?;
        let t = a
            .describe_topics(&[topic])
            .map_err(|e| io::Error::other(e.to_string()))?;
        a.close();
        let mut counts = std::collections::BTreeMap::new();
        for p in &t[0].partitions {
            *counts.entry(p.leader).or_insert(0u32) += 1;
        }
        counts
            .into_iter()
            .filter(|(id, _)| *id > 0)
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(id, _)| id as u32)
            .ok_or_else(|| io::Error::other(format!("{topic} has no leaders")))
    }

    /// The log of node `id` (kept when a test panics).
    pub fn log_path(&self, id: u32) -> PathBuf {
        self.node(id).log()
    }
}

fn read_from(path: &Path, from: u64) -> String {
    let mut buf = Vec::new();
    if let Ok(mut f) = fs::File::open(path) {
        if f.seek(SeekFrom::Start(from)).is_ok() {
            let _ = f.read_to_end(&mut buf);
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        for id in self.node_ids() {
            self.kill9(id);
        }
        if thread::panicking() {
            eprintln!("Kafka cluster logs kept in {}", self.dir.display());
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Runs a Kafka command-line tool class (e.g.
/// `org.apache.kafka.tools.TopicCommand`) with the test bed's jars against any
/// broker named in `args`; its stdout, or an error with its output after a
/// failure or 60 s.
pub fn java_tool(class: &str, args: &[&str]) -> io::Result<String> {
    let mut child = Command::new("java")
        .args(JAVA_TOOL_OPTS)
        .arg("-cp")
        .arg(classpath()?)
        .arg(class)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    match status {
        Some(s) if s.success() => Ok(out),
        _ => Err(io::Error::other(format!(
            "{class} {} {}:\n{out}{err}",
            args.join(" "),
            status.map_or_else(|| "ran over 60 s".to_string(), |s| format!("failed ({s})"))
        ))),
    }
}
