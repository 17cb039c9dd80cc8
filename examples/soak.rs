//! A bounded soak run: produce numbered records at a steady rate, consume
//! them in a consumer group that commits after processing, optionally drive
//! the librdkafka mock cluster's fault commands on a schedule, then count.
//!
//! ```sh
//! cargo run --example soak -- --duration-secs 60 --rate 2000 --faults
//! cargo run --example soak -- --bootstrap localhost:9092 --duration-secs 30
//! ```
//!
//! Flags: `--duration-secs N` (default 30), `--rate N` records/s (default
//! 1000), `--partitions N` (default 3), `--bootstrap host:port,...` (default:
//! start a 3-broker mock cluster, `tests/support/mock_cluster.py`, which
//! needs Python with `confluent-kafka`), `--faults` (mock cluster only: every
//! `--fault-interval-ms` (default 1500), the next of: a partition leader move,
//! retriable Produce errors, a group coordinator move, retriable Fetch errors,
//! a broker down for one interval, a broker slowed by 300 ms for one
//! interval), `--replication-factor N` (with `--bootstrap`, default 1),
//! `--quiet`.
//!
//! It ends with one line:
//! `produced N, acknowledged N, consumed N, lost N, duplicated N, reordered N`
//! (consumed: distinct records read; lost: acknowledged but never read;
//! duplicated: reads beyond the first of a record; reordered: records found
//! in a partition's log after a record sent later) and exits with status 1
//! when anything was lost or reordered (2 on a setup error).
//!
//! Against the mock cluster the producer runs with
//! max.in.flight.requests.per.connection=1: the mock checks sequence numbers
//! only for transactional producers, so it cannot stand in for a broker's
//! duplicate and ordering checks (see tests/faults_producer.rs). For the same
//! reason a broker taken down while a Produce request is in flight may keep a
//! batch whose answer was lost, and its retry is written twice: counted as
//! duplicated, never as lost or reordered.

// Public so that a test can include this file as a module and share it.
#[path = "../tests/support/mod.rs"]
pub mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::consumer::{Consumer, OffsetAndMetadata, TopicPartition};
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::{AdminConfig, ConsumerConfig, ProducerConfig};
use support::mock::MockCluster;

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// How long to produce.
    pub duration: Duration,
    /// Records per second.
    pub rate: u64,
    /// Partitions of the soak topic.
    pub partitions: i32,
    /// An existing cluster; `None` starts a 3-broker mock cluster.
    pub bootstrap: Option<String>,
    /// Replication factor of the topic on an existing cluster.
    pub replication_factor: i16,
    /// Drive the mock cluster's fault commands.
    pub faults: bool,
    /// Time between two faults.
    pub fault_interval: Duration,
    /// After producing, how long consumption may stall before giving up.
    pub drain_timeout: Duration,
    /// Progress and faults on stderr.
    pub verbose: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            duration: Duration::from_secs(30),
            rate: 1000,
            partitions: 3,
            bootstrap: None,
            replication_factor: 1,
            faults: false,
            fault_interval: Duration::from_millis(1500),
            drain_timeout: Duration::from_secs(20),
            verbose: true,
        }
    }
}

/// The counts of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Records handed to `send`.
    pub produced: u64,
    /// Records the brokers acknowledged.
    pub acknowledged: u64,
    /// Records that failed (each got an error).
    pub failed: u64,
    /// Distinct records the group read.
    pub consumed: u64,
    /// Acknowledged records the group never read.
    pub lost: u64,
    /// Reads beyond the first of a record.
    pub duplicated: u64,
    /// Records found in a partition's log after a record sent later.
    pub reordered: u64,
    /// Faults injected.
    pub faults: u64,
}

impl Report {
    /// True when nothing was lost or reordered.
    pub fn ok(&self) -> bool {
        self.lost == 0 && self.reordered == 0
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "produced {}, acknowledged {}, consumed {}, lost {}, duplicated {}, reordered {}",
            self.produced,
            self.acknowledged,
            self.consumed,
            self.lost,
            self.duplicated,
            self.reordered
        )
    }
}

/// A record read by the group: partition, offset, and the per-partition
/// sequence number the producer gave it.
type Read = (i32, i64, u64);

struct Group {
    reads: Mutex<Vec<Read>>,
    stop: AtomicBool,
    commit_errors: AtomicU64,
    poll_errors: AtomicU64,
}

fn consumer_config(bootstrap: &str, group: &str, mock: bool) -> ConsumerConfig {
    ConsumerConfig::new()
        .bootstrap_servers(bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        // The mock's rebalances wait session.timeout.ms - 1 s.
        .set("session.timeout.ms", if mock { 3000 } else { 6000 })
        .set("heartbeat.interval.ms", 300)
        .set("max.poll.interval.ms", 30000)
        .set("fetch.max.wait.ms", 100)
        .set("request.timeout.ms", 5000)
        .set("retry.backoff.ms", 50)
        .set("reconnect.backoff.ms", 50)
        .set("reconnect.backoff.max.ms", 500)
        .set("default.api.timeout.ms", 10000)
}

/// A group member: read, record, commit after processing.
fn consume(bootstrap: String, topic: String, group_id: String, mock: bool, group: Arc<Group>) {
    let mut c = match Consumer::new(consumer_config(&bootstrap, &group_id, mock)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("soak: consumer: {e}");
            return;
        }
    };
    if let Err(e) = c.subscribe(&[&topic]) {
        eprintln!("soak: subscribe: {e}");
        return;
    }
    while !group.stop.load(Ordering::SeqCst) {
        let records = match c.poll(Duration::from_millis(100)) {
            Ok(r) => r,
            Err(_) => {
                group.poll_errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        if records.is_empty() {
            continue;
        }
        let mut next: BTreeMap<TopicPartition, OffsetAndMetadata> = BTreeMap::new();
        let mut batch = Vec::with_capacity(records.len());
        for r in records {
            let seq = r
                .value
                .as_deref()
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.rsplit(':').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(u64::MAX);
            batch.push((r.partition, r.offset, seq));
            next.insert(r.topic_partition(), OffsetAndMetadata::new(r.offset + 1));
        }
        group.reads.lock().unwrap().extend(batch);
        if c.commit_sync_offsets(&next).is_err() {
            group.commit_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    c.close();
}

/// The mock cluster's fault schedule: one step per interval.
struct Faults {
    mock: MockCluster,
    topic: String,
    group: String,
    partitions: i32,
    step: u64,
    /// What to undo at the next step.
    undo: Option<String>,
    leaders: Vec<i32>,
    coordinator: i32,
    verbose: bool,
}

impl Faults {
    fn cmd(&mut self, line: &str) -> Result<(), String> {
        if self.verbose {
            eprintln!("soak: fault: {line}");
        }
        self.mock.cmd(line).map(drop).map_err(|e| e.to_string())
    }

    fn next(&mut self) -> Result<(), String> {
        if let Some(undo) = self.undo.take() {
            return self.cmd(&undo);
        }
        let k = self.step;
        self.step += 1;
        match k % 6 {
            0 => {
                let p = (k / 6) as i32 % self.partitions;
                let to = self.leaders[p as usize] % 3 + 1;
                self.leaders[p as usize] = to;
                self.cmd(&format!("leader {} {p} {to}", self.topic))
            }
            1 => self.cmd(
                "errors Produce 4 NOT_LEADER_OR_FOLLOWER REQUEST_TIMED_OUT NOT_ENOUGH_REPLICAS NETWORK_EXCEPTION",
            ),
            2 => {
                self.coordinator = self.coordinator % 3 + 1;
                let line = format!("coordinator group {} {}", self.group, self.coordinator);
                self.cmd(&line)
            }
            3 => self.cmd("errors Fetch 2 NOT_LEADER_OR_FOLLOWER"),
            4 => {
                let b = (k / 6) % 3 + 1;
                self.undo = Some(format!("up {b}"));
                self.cmd(&format!("down {b}"))
            }
            _ => {
                let b = (k / 6 + 1) % 3 + 1;
                self.undo = Some(format!("rtt {b} 0"));
                self.cmd(&format!("rtt {b} 300"))
            }
        }
    }

    /// Brings every broker back to normal.
    fn heal(&mut self) -> Result<(), String> {
        if let Some(undo) = self.undo.take() {
            self.cmd(&undo)?;
        }
        for b in 1..=3 {
            self.mock
                .cmd(&format!("up {b}"))
                .map_err(|e| e.to_string())?;
            self.mock
                .cmd(&format!("rtt {b} 0"))
                .map_err(|e| e.to_string())?;
        }
        for api in ["Produce", "Fetch"] {
            self.mock
                .cmd(&format!("clear_errors {api}"))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// Runs a soak and returns its counts.
pub fn run(opts: &Options) -> Result<Report, String> {
    if opts.partitions < 1 || opts.rate == 0 {
        return Err("--partitions and --rate must be positive".into());
    }
    let topic = support::unique_topic("soak");
    let group_id = support::unique_topic("soak-group");
    let (bootstrap, mut faults) = match &opts.bootstrap {
        Some(b) => {
            if opts.faults {
                return Err(
                    "--faults drives the built-in mock cluster's fault commands: omit --bootstrap"
                        .into(),
                );
            }
            let admin = AdminClient::new(AdminConfig::new().bootstrap_servers(b))
                .map_err(|e| e.to_string())?;
            admin
                .create_topic(NewTopic::new(
                    &topic,
                    opts.partitions,
                    opts.replication_factor,
                ))
                .map_err(|e| format!("creating {topic}: {e}"))?;
            (b.clone(), None)
        }
        None => {
            let mut mock = MockCluster::start(3).map_err(|e| e.to_string())?;
            // The mock's group handlers parse JoinGroup up to v5 and
            // SyncGroup up to v3 (see tests/faults_consumer.rs).
            let setup = |m: &mut MockCluster| -> std::io::Result<()> {
                m.apiversion("JoinGroup", 0, 5)?;
                m.apiversion("SyncGroup", 0, 3)?;
                m.create_topic(&topic, opts.partitions, 3)?;
                m.coordinator("group", &group_id, 1)
            };
            setup(&mut mock).map_err(|e| e.to_string())?;
            let bootstrap = mock.bootstrap().to_string();
            let faults = Faults {
                mock,
                topic: topic.clone(),
                group: group_id.clone(),
                partitions: opts.partitions,
                step: 0,
                undo: None,
                leaders: (0..opts.partitions).map(|p| p % 3 + 1).collect(),
                coordinator: 1,
                verbose: opts.verbose,
            };
            (bootstrap, Some(faults))
        }
    };
    let mock = faults.is_some();
    if opts.verbose {
        eprintln!(
            "soak: {} partitions on {}, {} records/s for {:?}{}",
            opts.partitions,
            if mock { "the mock cluster" } else { &bootstrap },
            opts.rate,
            opts.duration,
            if opts.faults { ", with faults" } else { "" }
        );
    }

    // Two group members.
    let group = Arc::new(Group {
        reads: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
        commit_errors: AtomicU64::new(0),
        poll_errors: AtomicU64::new(0),
    });
    let members: Vec<_> = (0..2)
        .map(|_| {
            let (b, t, g, s) = (
                bootstrap.clone(),
                topic.clone(),
                group_id.clone(),
                group.clone(),
            );
            thread::spawn(move || consume(b, t, g, mock, s))
        })
        .collect();

    // Produce at the rate, injecting faults on schedule.
    let mut config = ProducerConfig::new()
        .bootstrap_servers(&bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", 5)
        .set("retry.backoff.ms", 50)
        .set("reconnect.backoff.ms", 50)
        .set("reconnect.backoff.max.ms", 500)
        .set("request.timeout.ms", 5000)
        .set("delivery.timeout.ms", 30000);
    if mock {
        // See the module comment.
        config = config.set("max.in.flight.requests.per.connection", 1);
    }
    let producer = Producer::new(config).map_err(|e| e.to_string())?;
    let acked: Arc<Mutex<Vec<BTreeSet<u64>>>> =
        Arc::new(Mutex::new(vec![BTreeSet::new(); opts.partitions as usize]));
    let failed = Arc::new(AtomicU64::new(0));
    let mut next_seq = vec![0u64; opts.partitions as usize];
    let mut produced = 0u64;
    let mut injected = 0u64;
    let start = Instant::now();
    let mut next_fault = start + opts.fault_interval;
    let mut next_report = start + Duration::from_secs(5);
    while start.elapsed() < opts.duration {
        let due = (opts.rate as f64 * start.elapsed().as_secs_f64()) as u64;
        while produced < due {
            let p = (produced % opts.partitions as u64) as i32;
            let seq = next_seq[p as usize];
            next_seq[p as usize] += 1;
            let value = format!("{p}:{seq}");
            let (acked, failed) = (acked.clone(), failed.clone());
            producer
                .send_with_callback(
                    ProducerRecord::new(&topic, value.as_bytes()).partition(p),
                    move |r| match r {
                        Ok(_) => {
                            acked.lock().unwrap()[p as usize].insert(seq);
                        }
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    },
                )
                .map_err(|e| format!("send: {e}"))?;
            produced += 1;
        }
        let now = Instant::now();
        if opts.faults && now >= next_fault {
            if let Some(f) = faults.as_mut() {
                f.next()?;
                injected += 1;
            }
            next_fault = now + opts.fault_interval;
        }
        if opts.verbose && now >= next_report {
            next_report = now + Duration::from_secs(5);
            eprintln!(
                "soak: {:?}: produced {produced}, read {}",
                start.elapsed(),
                group.reads.lock().unwrap().len()
            );
        }
        thread::sleep(Duration::from_millis(5));
    }
    if let Some(f) = faults.as_mut() {
        f.heal()?;
    }
    producer.flush().map_err(|e| e.to_string())?;
    producer.close(None).map_err(|e| e.to_string())?;
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let acknowledged: u64 = acked.iter().map(|s| s.len() as u64).sum();
    let failed = failed.load(Ordering::Relaxed);

    // Let the group catch up with every acknowledged record, as long as it
    // makes progress.
    let missing = |reads: &[Read]| -> u64 {
        let seen: BTreeSet<(i32, u64)> = reads.iter().map(|&(p, _, s)| (p, s)).collect();
        acked
            .iter()
            .enumerate()
            .map(|(p, s)| {
                s.iter()
                    .filter(|&&q| !seen.contains(&(p as i32, q)))
                    .count() as u64
            })
            .sum()
    };
    let mut last = (u64::MAX, Instant::now());
    loop {
        let m = missing(&group.reads.lock().unwrap());
        if m == 0 || last.1.elapsed() > opts.drain_timeout {
            break;
        }
        if m != last.0 {
            last = (m, Instant::now());
        }
        thread::sleep(Duration::from_millis(100));
    }
    group.stop.store(true, Ordering::SeqCst);
    for m in members {
        let _ = m.join();
    }

    let reads = std::mem::take(&mut *group.reads.lock().unwrap());
    let distinct: BTreeSet<(i32, u64)> = reads.iter().map(|&(p, _, s)| (p, s)).collect();
    // A partition's log as the group saw it: sequence numbers by offset.
    let mut logs: BTreeMap<i32, BTreeMap<i64, u64>> = BTreeMap::new();
    for &(p, offset, seq) in &reads {
        logs.entry(p).or_default().entry(offset).or_insert(seq);
    }
    let mut reordered = 0;
    for log in logs.values() {
        let mut seen = BTreeSet::new();
        let mut max = None;
        for &seq in log.values() {
            if !seen.insert(seq) {
                continue; // written twice: a duplicate, not a reordering
            }
            if max.is_some_and(|m| seq < m) {
                reordered += 1;
            }
            max = max.max(Some(seq));
        }
    }
    let report = Report {
        produced,
        acknowledged,
        failed,
        consumed: distinct.len() as u64,
        lost: missing(&reads),
        duplicated: (reads.len() - distinct.len()) as u64,
        reordered,
        faults: injected,
    };
    if opts.verbose {
        eprintln!(
            "soak: {failed} failed sends, {injected} faults, {} commit errors, {} poll errors, in {:?}",
            group.commit_errors.load(Ordering::Relaxed),
            group.poll_errors.load(Ordering::Relaxed),
            start.elapsed()
        );
    }
    Ok(report)
}

fn parse_args() -> Result<Options, String> {
    let mut opts = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let number = |name: &str, v: String| -> Result<u64, String> {
            v.parse()
                .map_err(|_| format!("{name}: expected a number, got {v:?}"))
        };
        match flag.as_str() {
            "--duration-secs" => opts.duration = Duration::from_secs(number(&flag, value(&flag)?)?),
            "--rate" => opts.rate = number(&flag, value(&flag)?)?,
            "--partitions" => opts.partitions = number(&flag, value(&flag)?)? as i32,
            "--bootstrap" => opts.bootstrap = Some(value(&flag)?),
            "--replication-factor" => {
                opts.replication_factor = number(&flag, value(&flag)?)? as i16
            }
            "--faults" => opts.faults = true,
            "--fault-interval-ms" => {
                opts.fault_interval = Duration::from_millis(number(&flag, value(&flag)?)?)
            }
            "--quiet" => opts.verbose = false,
            "-h" | "--help" => {
                println!(
                    "usage: soak [--duration-secs N] [--rate N] [--partitions N] \
                     [--bootstrap HOST:PORT,... [--replication-factor N]] [--faults [--fault-interval-ms N]] [--quiet]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown flag {other} (try --help)")),
        }
    }
    Ok(opts)
}

fn main() {
    let report = parse_args().and_then(|opts| run(&opts));
    match report {
        Ok(r) => {
            println!("{r}");
            std::process::exit(if r.ok() { 0 } else { 1 });
        }
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(2);
        }
    }
}
