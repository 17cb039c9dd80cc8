//! The Apache Kafka Java client as an interop peer (issue 9, acceptance 4),
//! against the Apache Kafka node of `scripts/test.sh`'s second pass
//! (`KAFKA_BOOTSTRAP`, `KAFKA_BLOCKING_BROKER=kafka`).
//!
//! The peer is `tests/java/JavaPeer.java`, compiled once per test process with
//! `javac` against the `kafka-clients` jars that `scripts/kafka.sh` resolves
//! (cached under the cargo target dir, keyed by a hash of the source) and run
//! with `java -cp`. It talks over stdin/stdout in space-separated lines, with
//! byte strings written as `-` (null) or `x` plus hex (see the source).
//!
//! * Records: Java writes keyed and unkeyed records with several headers
//!   (duplicate names, empty and null values), null and empty keys and values,
//!   explicit timestamps, with each codec (none, gzip, snappy, lz4, zstd); our
//!   consumer reads every one back exactly at the offset Java's producer got.
//!   The reverse with our producer and Java's consumer. Keyed records without
//!   a partition land where the other client's partitioner says.
//! * Mixed groups: two members of ours and two Java members over an 8-partition
//!   topic, for range, roundrobin and cooperative-sticky (classic protocol) and
//!   for group.protocol=consumer (KIP-848): the final assignment is disjoint
//!   and complete (for range and roundrobin exactly what the strategy gives the
//!   member ids), every record is read by some member; then one member of each
//!   side commits offsets in the middle of its partitions and leaves, and the
//!   survivors take over those partitions at exactly the committed offsets.
//!   In the classic tests one member joins alone first and so leads (computes
//!   the assignments of) the mixed generations: a Java member for range, one
//!   of ours for roundrobin, either for cooperative-sticky (two tests). This
//!   is arranged by the join order, not observed.
//!
//! Without `KAFKA_BLOCKING_BROKER=kafka` the tests only print that they are
//! skipped (tansu lacks the KIP-848 protocol; the JDK is needed only for the
//! real-Kafka pass).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::consumer::{Consumer, OffsetAndMetadata, TopicPartition};
use kafka_blocking::producer::{Producer, ProducerRecord, partition_for_key};
use kafka_blocking::{AdminConfig, ConsumerConfig, ProducerConfig};

const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
/// Partitions of the topics of the record tests.
const RECORD_PARTITIONS: i32 = 3;
/// Partitions of the group topics.
const GROUP_PARTITIONS: i32 = 8;
/// Records per partition of the group topics.
const GROUP_RECORDS: i64 = 25;

// ---------------------------------------------------------------------------
// The Java peer

fn bootstrap() -> String {
    support::tansu::bootstrap()
}

/// The Java class path for running the peer: its compiled classes, then the
/// Kafka jars (`tests/java/JavaPeer.java`, compiled once per source version).
fn java_classpath() -> String {
    static CLASSPATH: OnceLock<String> = OnceLock::new();
    CLASSPATH
        .get_or_init(|| {
            let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/java/JavaPeer.java");
            let text = std::fs::read(&source).expect("read tests/java/JavaPeer.java");
            support::kafka::compile_java(
                "JavaPeer",
                &text,
                &PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
            )
        })
        .clone()
}

/// `java ... JavaPeer args...`, with the JVM options that keep start-up cheap.
fn java(args: &[&str]) -> Command {
    let mut cmd = Command::new("java");
    cmd.args([
        "-XX:TieredStopAtLevel=1",
        "-Xshare:auto",
        "-XX:+UseSerialGC",
        "-XX:-UsePerfData",
        "-Xss512k",
        "-Xms32m",
        "-Xmx192m",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-cp",
    ])
    .arg(java_classpath())
    .arg("JavaPeer")
    .args(args);
    cmd
}

/// Runs the peer with `input` on stdin to its end; returns its stdout lines
/// and its stderr, panicking with its output when it fails.
fn java_run(args: &[&str], input: &str) -> (Vec<String>, String) {
    let mut child = java(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start java");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().expect("wait for java");
    writer.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "JavaPeer {args:?} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (
        stdout.lines().map(str::to_string).collect(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A byte string as the peer writes it: `-` for null, `x` + hex otherwise.
fn enc(b: Option<&[u8]>) -> String {
    match b {
        None => "-".to_string(),
        Some(b) => {
            let mut s = String::with_capacity(1 + 2 * b.len());
            s.push('x');
            for x in b {
                s.push_str(&format!("{x:02x}"));
            }
            s
        }
    }
}

fn dec(t: &str) -> Option<Vec<u8>> {
    if t == "-" {
        return None;
    }
    let hex = t
        .strip_prefix('x')
        .unwrap_or_else(|| panic!("bad byte string {t:?}"));
    assert!(hex.len() % 2 == 0, "bad byte string {t:?}");
    Some(
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect(),
    )
}

#[test]
fn byte_string_encoding_round_trips() {
    for b in [None, Some(&b""[..]), Some(&[0u8, 0xff, 0x10, b'a'][..])] {
        assert_eq!(dec(&enc(b)).as_deref(), b);
    }
    assert_eq!(enc(Some(b"")), "x");
    assert_eq!(enc(Some(&[0x0a, 0xf0])), "x0af0");
}

// ---------------------------------------------------------------------------
// Records

/// One record of the variety both sides write.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rec {
    /// Explicit partition, or `None` for the partitioner (keyed records only).
    partition: Option<i32>,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

/// What was read: contents plus where.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Got {
    topic: String,
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

/// The records written to one topic: null, empty, text and binary keys and
/// values, a large compressible value, no headers or several (a duplicate
/// name, an empty value, a null value, a non-ASCII name), explicit partitions
/// and partitioner-chosen ones.
///
/// Timestamps are explicit but recent (an hour ago plus the record's index):
/// records older than the broker's retention (7 days) would be deleted by
/// its next retention check, possibly before they are read.
fn variety(seed: usize) -> Vec<Rec> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let base = now - 3_600_000 + seed as i64 * 1000;
    (0..36usize)
        .map(|i| {
            let key = match i % 6 {
                0 | 3 => None,
                1 => Some(Vec::new()),
                2 => Some(vec![0, 0xff, i as u8, 0x80]),
                _ => Some(format!("key-{seed}-{i}").into_bytes()),
            };
            let value = match i % 5 {
                0 => None,
                1 => Some(Vec::new()),
                2 => Some(
                    format!("compressible {i} ")
                        .repeat(300 + i * 7)
                        .into_bytes(),
                ),
                3 => Some((0..=255u8).rev().chain([0, i as u8]).collect()),
                _ => Some(format!("value-{seed}-{i} \u{e9}\u{1f600}").into_bytes()),
            };
            let headers = match i % 4 {
                0 => Vec::new(),
                1 => vec![
                    ("dup".to_string(), Some(b"first".to_vec())),
                    ("empty".to_string(), Some(Vec::new())),
                    ("dup".to_string(), Some(b"second".to_vec())),
                    ("null".to_string(), None),
                ],
                2 => vec![(
                    "\u{fc}ber-\u{2603}".to_string(),
                    Some(vec![0, 1, 0xfe, 0xff]),
                )],
                _ => vec![
                    ("".to_string(), Some(b"empty name".to_vec())),
                    ("n".to_string(), Some(format!("{i}").into_bytes())),
                ],
            };
            // Keyed records alternate between an explicit partition and the
            // partitioner; unkeyed ones always name one (the sticky
            // partitioner's choice is not reproducible).
            let partition = if key.is_some() && i % 4 < 2 {
                None
            } else {
                Some((i as i32 * 7) % RECORD_PARTITIONS)
            };
            Rec {
                partition,
                timestamp: base + i as i64,
                key,
                value,
                headers,
            }
        })
        .collect()
}

fn create_topic(topic: &str, partitions: i32) {
    let admin =
        AdminClient::new(AdminConfig::new().bootstrap_servers(&bootstrap())).expect("admin client");
    admin
        .create_topic(NewTopic::new(topic, partitions, 1))
        .expect("create topic");
    admin.close();
}

/// Reads every partition of `topics` from the beginning with our consumer
/// until `count` records arrived (or 60 s passed).
fn our_read_all(topics: &[String], partitions: i32, count: usize) -> Vec<Got> {
    let mut c = Consumer::new(
        ConsumerConfig::new()
            .bootstrap_servers(&bootstrap())
            .set("auto.offset.reset", "earliest")
            .set("fetch.max.wait.ms", 100),
    )
    .unwrap();
    let tps: Vec<TopicPartition> = topics
        .iter()
        .flat_map(|t| (0..partitions).map(move |p| TopicPartition::new(t, p)))
        .collect();
    c.assign(tps.clone()).unwrap();
    c.seek_to_beginning(&tps).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while out.len() < count && Instant::now() < deadline {
        for r in c.poll(Duration::from_millis(200)).unwrap() {
            out.push(Got {
                topic: r.topic.to_string(),
                partition: r.partition,
                offset: r.offset,
                timestamp: r.timestamp,
                key: r.key.as_ref().map(|b| b.to_vec()),
                value: r.value.as_ref().map(|b| b.to_vec()),
                headers: r
                    .headers
                    .iter()
                    .map(|h| (h.key.clone(), h.value.as_ref().map(|b| b.to_vec())))
                    .collect(),
            });
        }
    }
    c.close();
    out
}

/// Checks that `read` holds exactly `sent` (each with the partition and offset
/// the producer reported), nothing else.
fn assert_read_exactly(sent: &BTreeMap<(String, i32, i64), Rec>, read: &[Got], who: &str) {
    let mut seen = BTreeSet::new();
    for r in read {
        let at = (r.topic.clone(), r.partition, r.offset);
        let want = sent
            .get(&at)
            .unwrap_or_else(|| panic!("{who} read a record nobody wrote: {r:?}"));
        assert!(seen.insert(at.clone()), "{who} read {at:?} twice");
        let got = Rec {
            partition: want.partition,
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r.headers.clone(),
        };
        assert_eq!(&got, want, "{who}: record at {at:?}");
    }
    let missing: Vec<_> = sent.keys().filter(|k| !seen.contains(*k)).collect();
    assert!(missing.is_empty(), "{who} did not read {missing:?}");
}

#[test]
fn java_writes_every_codec_and_we_read_it_exactly() {
    let Some(bootstrap) = support::kafka::kafka_bootstrap() else {
        return;
    };
    let started = Instant::now();
    let topics: Vec<String> = CODECS
        .iter()
        .map(|c| support::unique_topic(&format!("java-to-us-{c}")))
        .collect();
    for t in &topics {
        create_topic(t, RECORD_PARTITIONS);
    }
    // One input line per record; remember which record each line is.
    let mut input = String::new();
    let mut lines = Vec::new();
    for (i, (codec, topic)) in CODECS.iter().zip(&topics).enumerate() {
        for rec in variety(i) {
            input.push_str(&format!(
                "P {topic} {codec} {} {} {} {} {}",
                rec.partition.unwrap_or(-1),
                rec.timestamp,
                enc(rec.key.as_deref()),
                enc(rec.value.as_deref()),
                rec.headers.len()
            ));
            for (k, v) in &rec.headers {
                input.push_str(&format!(
                    " {} {}",
                    enc(Some(k.as_bytes())),
                    enc(v.as_deref())
                ));
            }
            input.push('\n');
            lines.push((topic.clone(), rec));
        }
    }
    let (out, stderr) = java_run(&["produce", &bootstrap], &input);
    assert_eq!(
        out.last().map(String::as_str),
        Some("done"),
        "{out:?}\n{stderr}"
    );
    let mut sent = BTreeMap::new();
    for line in &out[..out.len() - 1] {
        let t: Vec<&str> = line.split(' ').collect();
        assert_eq!(t[0], "A", "Java failed to write: {line}");
        let (n, partition, offset): (usize, i32, i64) = (
            t[1].parse().unwrap(),
            t[2].parse().unwrap(),
            t[3].parse().unwrap(),
        );
        let (topic, rec) = &lines[n];
        match (rec.partition, &rec.key) {
            (Some(p), _) => assert_eq!(partition, p, "{rec:?}"),
            (None, Some(key)) => assert_eq!(
                partition,
                partition_for_key(key, RECORD_PARTITIONS as usize),
                "Java's partitioner and ours disagree on {key:?}"
            ),
            (None, None) => unreachable!(),
        }
        assert!(
            sent.insert((topic.clone(), partition, offset), rec.clone())
                .is_none(),
            "two acks for {topic}-{partition}@{offset}"
        );
    }
    assert_eq!(sent.len(), lines.len(), "every record acknowledged");

    let read = our_read_all(&topics, RECORD_PARTITIONS, sent.len());
    assert_read_exactly(&sent, &read, "our consumer");
    eprintln!(
        "Java -> us: {} records over {} codecs in {:?}",
        sent.len(),
        CODECS.len(),
        started.elapsed()
    );
}

#[test]
fn we_write_every_codec_and_java_reads_it_exactly() {
    let Some(bootstrap) = support::kafka::kafka_bootstrap() else {
        return;
    };
    let started = Instant::now();
    let topics: Vec<String> = CODECS
        .iter()
        .map(|c| support::unique_topic(&format!("us-to-java-{c}")))
        .collect();
    for t in &topics {
        create_topic(t, RECORD_PARTITIONS);
    }
    let mut sent = BTreeMap::new();
    for (i, (codec, topic)) in CODECS.iter().zip(&topics).enumerate() {
        let producer = Producer::new(
            ProducerConfig::new()
                .bootstrap_servers(&bootstrap)
                .set("compression.type", codec)
                .set("linger.ms", 20),
        )
        .unwrap();
        let recs = variety(i);
        let futures: Vec<_> = recs
            .iter()
            .map(|rec| {
                let mut r = ProducerRecord {
                    topic,
                    partition: rec.partition,
                    key: rec.key.as_deref(),
                    value: rec.value.as_deref(),
                    timestamp: Some(rec.timestamp),
                    ..Default::default()
                };
                for (k, v) in &rec.headers {
                    r = r.header(k, v.as_deref());
                }
                producer.send(r).unwrap()
            })
            .collect();
        for (rec, f) in recs.into_iter().zip(futures) {
            let md = f.wait().unwrap_or_else(|e| panic!("{codec}: {e}"));
            sent.insert((topic.clone(), md.partition, md.offset), rec);
        }
        producer.close(None).unwrap();
    }

    let (out, stderr) = java_run(
        &[
            "consume",
            &bootstrap,
            &topics.join(","),
            &sent.len().to_string(),
            "60000",
        ],
        "",
    );
    let done = format!("done {}", sent.len());
    assert_eq!(
        out.last(),
        Some(&done),
        "Java read too little: {out:?}\n--- stderr ---\n{stderr}"
    );
    let mut read = Vec::new();
    for line in &out[..out.len() - 1] {
        let t: Vec<&str> = line.split(' ').collect();
        assert_eq!(t[0], "R", "{line}");
        let n: usize = t[8].parse().unwrap();
        assert_eq!(t.len(), 9 + 2 * n, "{line}");
        let r = Got {
            topic: t[1].to_string(),
            partition: t[2].parse().unwrap(),
            offset: t[3].parse().unwrap(),
            timestamp: t[4].parse().unwrap(),
            key: dec(t[6]),
            value: dec(t[7]),
            headers: (0..n)
                .map(|h| {
                    (
                        String::from_utf8(dec(t[9 + 2 * h]).expect("a header name"))
                            .expect("a UTF-8 header name"),
                        dec(t[10 + 2 * h]),
                    )
                })
                .collect(),
        };
        // Keyed records we let our partitioner place are where Java's would.
        let key_partition: i32 = t[5].parse().unwrap();
        if let Some(rec) = sent.get(&(r.topic.clone(), r.partition, r.offset))
            && rec.partition.is_none()
        {
            assert_eq!(
                r.partition, key_partition,
                "our partitioner and Java's disagree on {:?}",
                rec.key
            );
        }
        read.push(r);
    }
    assert_read_exactly(&sent, &read, "the Java consumer");
    eprintln!(
        "us -> Java: {} records over {} codecs in {:?}",
        sent.len(),
        CODECS.len(),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------
// Group members

/// What a member reported, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    /// The partitions it owns from now on, in `generation` (the member epoch
    /// with group.protocol=consumer).
    Owned {
        generation: i32,
        member_id: String,
        partitions: BTreeSet<i32>,
    },
    /// A record read: partition, offset.
    Record(i32, i64),
}

#[derive(Default)]
struct MemberLog {
    events: Vec<Ev>,
    /// Outcomes of the Java member's commits, in order.
    commits: Vec<Result<(), String>>,
    /// Set when the member failed (our poll failed, Java wrote something unexpected).
    error: Option<String>,
    /// The Java member's stderr.
    stderr: String,
    closed: bool,
}

impl MemberLog {
    fn owned(&mut self, generation: i32, member_id: &str, partitions: BTreeSet<i32>) {
        let ev = Ev::Owned {
            generation,
            member_id: member_id.to_string(),
            partitions,
        };
        if self.current().as_ref() != Some(&ev) {
            self.events.push(ev);
        }
    }

    /// The latest `Owned` event.
    fn current(&self) -> Option<Ev> {
        self.events
            .iter()
            .rev()
            .find(|e| matches!(e, Ev::Owned { .. }))
            .cloned()
    }

    fn partitions(&self) -> BTreeSet<i32> {
        match self.current() {
            Some(Ev::Owned { partitions, .. }) => partitions,
            _ => BTreeSet::new(),
        }
    }

    /// The offsets read from `p` since the member last gained `p`.
    fn reads_since_gained(&self, p: i32) -> Vec<i64> {
        let mut owned = false;
        let mut reads = Vec::new();
        for e in &self.events {
            match e {
                Ev::Owned { partitions, .. } => {
                    let now = partitions.contains(&p);
                    if now && !owned {
                        reads.clear();
                    }
                    owned = now;
                }
                Ev::Record(rp, o) if *rp == p => reads.push(*o),
                Ev::Record(..) => {}
            }
        }
        reads
    }

    fn records(&self) -> impl Iterator<Item = (i32, i64)> + '_ {
        self.events.iter().filter_map(|e| match e {
            Ev::Record(p, o) => Some((*p, *o)),
            Ev::Owned { .. } => None,
        })
    }
}

enum Cmd {
    Commit(BTreeMap<i32, i64>, Sender<Result<(), String>>),
    Close,
}

enum Side {
    Java {
        child: Child,
        stdin: Option<ChildStdin>,
        readers: Vec<JoinHandle<()>>,
    },
    Ours {
        commands: Sender<Cmd>,
        thread: Option<JoinHandle<()>>,
    },
}

/// A group member: a Java peer process or one of our consumers on a thread.
struct Member {
    name: String,
    topic: String,
    log: Arc<Mutex<MemberLog>>,
    side: Side,
}

/// What a group test runs: protocol (classic or consumer) and strategy.
#[derive(Clone, Copy)]
struct Setup<'a> {
    bootstrap: &'a str,
    topic: &'a str,
    group: &'a str,
    protocol: &'a str,
    strategy: &'a str,
}

impl Member {
    fn java(name: &str, s: Setup<'_>) -> Member {
        let mut child = java(&[
            "member",
            s.bootstrap,
            s.topic,
            s.group,
            s.protocol,
            s.strategy,
            name,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start java");
        let log = Arc::new(Mutex::new(MemberLog::default()));
        let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let l = log.clone();
        let stdout_reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let t: Vec<&str> = line.split(' ').collect();
                let mut log = l.lock().unwrap();
                match t[..] {
                    ["S"] => {}
                    ["G", _event, generation, member_id, parts] => {
                        // `parts` are the callback's partitions: gained
                        // (assigned) or given up (revoked, lost).
                        let parts: BTreeSet<i32> = if parts == "-" {
                            BTreeSet::new()
                        } else {
                            parts.split(',').map(|p| p.parse().unwrap()).collect()
                        };
                        let mut now = log.partitions();
                        if t[1] == "assigned" {
                            now.extend(parts);
                        } else {
                            now.retain(|p| !parts.contains(p));
                        }
                        log.owned(generation.parse().unwrap(), member_id, now);
                    }
                    ["R", p, o] => log
                        .events
                        .push(Ev::Record(p.parse().unwrap(), o.parse().unwrap())),
                    ["C", "ok"] => log.commits.push(Ok(())),
                    ["C", "err", ..] => log.commits.push(Err(line.clone())),
                    ["X"] => log.closed = true,
                    _ => log.error = Some(format!("unexpected output line {line:?}")),
                }
            }
        });
        let l = log.clone();
        let stderr_reader = std::thread::spawn(move || {
            let mut err = err;
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                l.lock()
                    .unwrap()
                    .stderr
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Member {
            name: name.to_string(),
            topic: s.topic.to_string(),
            log,
            side: Side::Java {
                stdin: child.stdin.take(),
                child,
                readers: vec![stdout_reader, stderr_reader],
            },
        }
    }

    fn ours(name: &str, s: Setup<'_>) -> Member {
        let mut config = ConsumerConfig::new()
            .bootstrap_servers(s.bootstrap)
            .client_id(name)
            .set("group.id", s.group)
            .set("group.protocol", s.protocol)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("fetch.max.wait.ms", 100);
        if s.protocol == "classic" {
            config = config
                .set("partition.assignment.strategy", s.strategy)
                .set("session.timeout.ms", 10000)
                .set("heartbeat.interval.ms", 500)
                .set("max.poll.interval.ms", 30000);
        }
        let mut consumer = Consumer::new(config).unwrap();
        consumer.subscribe(&[s.topic]).unwrap();
        let (tx, rx) = mpsc::channel();
        let log = Arc::new(Mutex::new(MemberLog::default()));
        let (l, topic) = (log.clone(), s.topic.to_string());
        let thread = std::thread::spawn(move || run_ours(consumer, &topic, rx, l));
        Member {
            name: name.to_string(),
            topic: s.topic.to_string(),
            log,
            side: Side::Ours {
                commands: tx,
                thread: Some(thread),
            },
        }
    }

    /// Commits `offsets` (partition to offset) synchronously.
    fn commit(&mut self, offsets: &BTreeMap<i32, i64>) {
        let result = match &mut self.side {
            Side::Java { stdin, .. } => {
                let body: Vec<String> = offsets.iter().map(|(p, o)| format!("{p}:{o}")).collect();
                let stdin = stdin.as_mut().expect("member still running");
                writeln!(stdin, "commit {}", body.join(",")).unwrap();
                stdin.flush().unwrap();
                let before = self.log.lock().unwrap().commits.len();
                wait_for(&format!("{} commits", self.name), 30, &[&*self], || {
                    self.log.lock().unwrap().commits.len() > before
                });
                self.log.lock().unwrap().commits[before].clone()
            }
            Side::Ours { commands, .. } => {
                let (tx, rx) = mpsc::channel();
                commands.send(Cmd::Commit(offsets.clone(), tx)).unwrap();
                rx.recv_timeout(Duration::from_secs(30))
                    .expect("commit answered")
            }
        };
        if let Err(e) = result {
            panic!("{}: commit {offsets:?} failed: {e}", self.name);
        }
    }

    /// Leaves the group and waits until the member is gone.
    fn close(&mut self) {
        match &mut self.side {
            Side::Java {
                child,
                stdin,
                readers,
            } => {
                if let Some(mut s) = stdin.take() {
                    let _ = writeln!(s, "close");
                }
                let deadline = Instant::now() + Duration::from_secs(30);
                let status = loop {
                    if let Some(status) = child.try_wait().unwrap() {
                        break status;
                    }
                    assert!(Instant::now() < deadline, "{} does not exit", self.name);
                    std::thread::sleep(Duration::from_millis(20));
                };
                for r in readers.drain(..) {
                    r.join().unwrap();
                }
                let log = self.log.lock().unwrap();
                assert!(
                    status.success() && log.closed,
                    "{} exited with {status}:\n{}",
                    self.name,
                    log.stderr
                );
            }
            Side::Ours { commands, thread } => {
                let _ = commands.send(Cmd::Close);
                if let Some(t) = thread.take() {
                    t.join().unwrap();
                }
            }
        }
        if let Some(e) = &self.log.lock().unwrap().error {
            panic!("{}: {e}", self.name);
        }
    }

    fn describe(&self) -> String {
        let log = self.log.lock().unwrap();
        let owned: Vec<String> = log
            .events
            .iter()
            .filter(|e| matches!(e, Ev::Owned { .. }))
            .map(|e| format!("{e:?}"))
            .collect();
        format!(
            "{} ({}): {} records read; error {:?}; ownership:\n    {}{}",
            self.name,
            self.topic,
            log.records().count(),
            log.error,
            owned.join("\n    "),
            if log.stderr.is_empty() {
                String::new()
            } else {
                format!("\n  --- stderr ---\n{}", log.stderr)
            }
        )
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        match &mut self.side {
            Side::Java { child, stdin, .. } => {
                drop(stdin.take());
                if matches!(child.try_wait(), Ok(None)) {
                    let _ = child.kill();
                }
                let _ = child.wait();
            }
            Side::Ours { commands, thread } => {
                let _ = commands.send(Cmd::Close);
                if let Some(t) = thread.take() {
                    let _ = t.join();
                }
            }
        }
    }
}

/// Our member's poll loop: after every poll it logs the assignment (with the
/// generation and member id) if it changed, then the records.
fn run_ours(
    mut consumer: Consumer,
    topic: &str,
    commands: Receiver<Cmd>,
    log: Arc<Mutex<MemberLog>>,
) {
    loop {
        match commands.try_recv() {
            Ok(Cmd::Commit(offsets, reply)) => {
                let offsets = offsets
                    .iter()
                    .map(|(p, o)| (TopicPartition::new(topic, *p), OffsetAndMetadata::new(*o)))
                    .collect();
                let _ = reply.send(
                    consumer
                        .commit_sync_offsets(&offsets)
                        .map_err(|e| e.to_string()),
                );
            }
            Ok(Cmd::Close) | Err(TryRecvError::Disconnected) => {
                consumer.close();
                log.lock().unwrap().closed = true;
                return;
            }
            Err(TryRecvError::Empty) => {}
        }
        let records = match consumer.poll(Duration::from_millis(100)) {
            Ok(r) => r,
            Err(e) => {
                log.lock().unwrap().error = Some(format!("poll failed: {e}"));
                consumer.close();
                return;
            }
        };
        let md = consumer.group_metadata().unwrap();
        let partitions = consumer
            .assignment()
            .iter()
            .map(|tp| tp.partition)
            .collect();
        let mut log = log.lock().unwrap();
        log.owned(md.generation_id, &md.member_id, partitions);
        for r in records {
            log.events.push(Ev::Record(r.partition, r.offset));
        }
    }
}

/// Polls `cond` every 20 ms until it holds; panics after `secs` (or as soon as
/// a member failed) with every member's story.
fn wait_for(what: &str, secs: u64, members: &[&Member], mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if cond() {
            return;
        }
        let failed = members
            .iter()
            .any(|m| m.log.lock().unwrap().error.is_some());
        if failed || Instant::now() > deadline {
            let mut s = format!("{what}: not reached after {secs} s\n");
            for m in members {
                s.push_str(&m.describe());
                s.push('\n');
            }
            panic!("{s}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What `strategy` gives each member id over one topic of `GROUP_PARTITIONS`
/// partitions that every member subscribes to: members sorted by id; range
/// gives each a contiguous run (the first `GROUP_PARTITIONS % n` one more),
/// roundrobin deals the partitions out in turn.
fn expected(strategy: &str, member_ids: &[String]) -> BTreeMap<String, BTreeSet<i32>> {
    let mut ids = member_ids.to_vec();
    ids.sort();
    let n = ids.len() as i32;
    let mut out = BTreeMap::new();
    for (i, id) in ids.iter().enumerate() {
        let i = i as i32;
        let parts: BTreeSet<i32> = match strategy {
            "range" => {
                let (per, extra) = (GROUP_PARTITIONS / n, GROUP_PARTITIONS % n);
                let start = i * per + i.min(extra);
                (start..start + per + i32::from(i < extra)).collect()
            }
            "roundrobin" => (0..GROUP_PARTITIONS).filter(|p| p % n == i).collect(),
            other => panic!("no specification for {other}"),
        };
        out.insert(id.clone(), parts);
    }
    out
}

#[test]
fn expected_assignments_follow_the_specification() {
    let ids: Vec<String> = ["b", "a", "c"].iter().map(|s| s.to_string()).collect();
    let range = expected("range", &ids);
    assert_eq!(range["a"], BTreeSet::from([0, 1, 2]));
    assert_eq!(range["b"], BTreeSet::from([3, 4, 5]));
    assert_eq!(range["c"], BTreeSet::from([6, 7]));
    let rr = expected("roundrobin", &ids);
    assert_eq!(rr["a"], BTreeSet::from([0, 3, 6]));
    assert_eq!(rr["c"], BTreeSet::from([2, 5]));
}

/// Waits until `members` own disjoint, non-empty sets of partitions that
/// cover the topic, all in one generation (classic; with KIP-848, where
/// epochs are per member: balanced sets, unchanged for 1.5 s), and checks the
/// sets: exactly the specification for range and roundrobin, balanced
/// otherwise. Meanwhile no partition may be owned by two members for more
/// than 3 s (a report may lag a revocation by one poll, not more). Returns
/// each member's partitions by name.
fn settled(s: Setup<'_>, members: &[&Member], secs: u64) -> BTreeMap<String, BTreeSet<i32>> {
    type Snapshot = BTreeMap<String, (i32, String, BTreeSet<i32>)>;
    let snapshot = || -> Option<Snapshot> {
        let mut all = Snapshot::new();
        for m in members {
            let Some(Ev::Owned {
                generation,
                member_id,
                partitions,
            }) = m.log.lock().unwrap().current()
            else {
                return None;
            };
            all.insert(m.name.clone(), (generation, member_id, partitions));
        }
        Some(all)
    };
    let balanced = |all: &Snapshot| {
        let sizes: Vec<usize> = all.values().map(|v| v.2.len()).collect();
        sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1
    };
    let classic = s.protocol == "classic";
    let shared = |all: &Snapshot| {
        let generations: BTreeSet<i32> = all.values().map(|v| v.0).collect();
        let total: usize = all.values().map(|v| v.2.len()).sum();
        let union: BTreeSet<i32> = all.values().flat_map(|v| v.2.iter().copied()).collect();
        (if classic {
            generations.len() == 1
        } else {
            balanced(all)
        }) && all.values().all(|v| !v.2.is_empty())
            && total == GROUP_PARTITIONS as usize
            && union.len() == GROUP_PARTITIONS as usize
    };
    let stable_for = if classic {
        Duration::ZERO
    } else {
        Duration::from_millis(1500)
    };
    let mut candidate: Option<(Instant, Snapshot)> = None;
    let mut overlap_since: Option<Instant> = None;
    let mut done = None;
    wait_for(
        &format!(
            "{} members sharing the topic ({} {})",
            members.len(),
            s.protocol,
            s.strategy
        ),
        secs,
        members,
        || {
            let Some(now) = snapshot() else {
                return false;
            };
            let mut seen = BTreeSet::new();
            if now.values().any(|v| v.2.iter().any(|p| !seen.insert(*p))) {
                let since = *overlap_since.get_or_insert_with(Instant::now);
                assert!(
                    since.elapsed() < Duration::from_secs(3),
                    "a partition owned by two members for 3 s: {now:?}"
                );
            } else {
                overlap_since = None;
            }
            if !shared(&now) {
                candidate = None;
                return false;
            }
            let sets =
                |s: &Snapshot| -> Vec<BTreeSet<i32>> { s.values().map(|v| v.2.clone()).collect() };
            match &candidate {
                Some((since, c)) if sets(c) == sets(&now) => {
                    if since.elapsed() >= stable_for {
                        done = Some(now);
                        return true;
                    }
                }
                _ => candidate = Some((Instant::now(), now)),
            }
            stable_for.is_zero() && {
                done = candidate.take().map(|c| c.1);
                true
            }
        },
    );
    let all = done.unwrap();
    match s.strategy {
        "range" | "roundrobin" if s.protocol == "classic" => {
            let ids: Vec<String> = all.values().map(|v| v.1.clone()).collect();
            let want = expected(s.strategy, &ids);
            for (name, (generation, id, parts)) in &all {
                assert_eq!(
                    parts, &want[id],
                    "{}: {name} ({id}) in generation {generation}; all: {all:?}",
                    s.strategy
                );
            }
        }
        _ => {
            assert!(
                balanced(&all),
                "{} {}: unbalanced: {all:?}",
                s.protocol,
                s.strategy
            );
        }
    }
    eprintln!("{} {}: settled: {all:?}", s.protocol, s.strategy);
    all.into_iter().map(|(name, v)| (name, v.2)).collect()
}

/// Writes `GROUP_RECORDS` records to each partition of `topic`.
fn produce_group_topic(bootstrap: &str, topic: &str) {
    let producer = Producer::new(ProducerConfig::new().bootstrap_servers(bootstrap)).unwrap();
    let futures: Vec<_> = (0..GROUP_PARTITIONS)
        .flat_map(|p| (0..GROUP_RECORDS).map(move |i| (p, i)))
        .map(|(p, i)| {
            let v = format!("p{p}-{i}");
            producer
                .send(ProducerRecord::new(topic, v.as_bytes()).partition(p))
                .unwrap()
        })
        .collect();
    for f in futures {
        f.wait().unwrap();
    }
    producer.close(None).unwrap();
}

/// Which side starts first, alone, and so leads the classic mixed generations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum First {
    Java,
    Ours,
}

/// A mixed group of two Java members and two of ours:
///
/// 1. one member (of side `first`) joins alone and takes every partition; the
///    three others join: the four share the topic (see [`settled`]) and read
///    every record;
/// 2. one Java member and one of ours commit offsets in the middle of their
///    partitions and leave; the two left share the topic, and whoever now owns
///    a committed partition reads it from exactly the committed offset on, to
///    its end.
fn mixed_group(protocol: &str, strategy: &str, first: First) {
    let Some(bootstrap) = support::kafka::kafka_bootstrap() else {
        return;
    };
    let started = Instant::now();
    let topic = support::unique_topic(&format!("java-group-{strategy}"));
    create_topic(&topic, GROUP_PARTITIONS);
    produce_group_topic(&bootstrap, &topic);
    let group = support::unique_topic(&format!("java-group-{strategy}"));
    let s = Setup {
        bootstrap: &bootstrap,
        topic: &topic,
        group: &group,
        protocol,
        strategy,
    };
    java_classpath(); // compile before the clock of any wait starts

    // 1. The first member alone, then the other three.
    let (mut java1, mut ours1, mut java2, mut ours2);
    if first == First::Java {
        java1 = Member::java("java1", s);
        settled(s, &[&java1], 60);
        ours1 = Member::ours("ours1", s);
    } else {
        ours1 = Member::ours("ours1", s);
        settled(s, &[&ours1], 60);
        java1 = Member::java("java1", s);
    }
    java2 = Member::java("java2", s);
    ours2 = Member::ours("ours2", s);
    let four = [&java1, &ours1, &java2, &ours2];
    let owned = settled(s, &four, 90);
    let everything: BTreeSet<(i32, i64)> = (0..GROUP_PARTITIONS)
        .flat_map(|p| (0..GROUP_RECORDS).map(move |o| (p, o)))
        .collect();
    wait_for("every record read by some member", 60, &four, || {
        let read: BTreeSet<(i32, i64)> = four
            .iter()
            .flat_map(|m| m.log.lock().unwrap().records().collect::<Vec<_>>())
            .collect();
        everything.is_subset(&read)
    });

    // 2. java2 and ours2 commit in the middle of their partitions and leave.
    let mut commits = BTreeMap::new();
    for (m, shift) in [(&mut java2, 3), (&mut ours2, 7)] {
        let c: BTreeMap<i32, i64> = owned[&m.name]
            .iter()
            .map(|p| (*p, shift + i64::from(*p)))
            .collect();
        m.commit(&c);
        commits.extend(c);
    }
    java2.close();
    ours2.close();
    let two = [&java1, &ours1];
    let owned = settled(s, &two, 90);
    for (p, c) in &commits {
        let owner = two
            .iter()
            .find(|m| owned[&m.name].contains(p))
            .expect("owner");
        wait_for(
            &format!("{} reads partition {p} to its end", owner.name),
            60,
            &two,
            || {
                owner
                    .log
                    .lock()
                    .unwrap()
                    .reads_since_gained(*p)
                    .contains(&(GROUP_RECORDS - 1))
            },
        );
        let reads = owner.log.lock().unwrap().reads_since_gained(*p);
        assert_eq!(
            reads.first(),
            Some(c),
            "{} takes over partition {p} at the committed offset {c}: {reads:?}",
            owner.name
        );
        let covered: BTreeSet<i64> = reads.iter().copied().collect();
        assert_eq!(
            covered,
            (*c..GROUP_RECORDS).collect(),
            "{} reads partition {p} from {c} to the end: {reads:?}",
            owner.name
        );
    }
    java1.close();
    ours1.close();
    eprintln!(
        "{protocol} {strategy} ({first:?} first): done in {:?}",
        started.elapsed()
    );
}

#[test]
fn mixed_classic_group_with_range_led_by_java() {
    mixed_group("classic", "range", First::Java);
}

#[test]
fn mixed_classic_group_with_roundrobin_led_by_us() {
    mixed_group("classic", "roundrobin", First::Ours);
}

#[test]
fn mixed_classic_group_with_cooperative_sticky_led_by_java() {
    mixed_group("classic", "cooperative-sticky", First::Java);
}

#[test]
fn mixed_classic_group_with_cooperative_sticky_led_by_us() {
    mixed_group("classic", "cooperative-sticky", First::Ours);
}

#[test]
fn mixed_consumer_protocol_group() {
    mixed_group("consumer", "uniform", First::Java);
}
