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

/// The Apache Kafka node to test against (`KAFKA_BOOTSTRAP`), or `None` (the
/// test is skipped, with a note) when this run does not target Apache Kafka:
/// these tests need its group protocols and a JDK, which only
/// `scripts/test.sh`'s second pass promises.
fn kafka() -> Option<String> {
    if support::kafka::real_kafka() {
        Some(support::tansu::bootstrap())
    } else {
        eprintln!(
            "skipped: needs KAFKA_BLOCKING_BROKER=kafka and KAFKA_BOOTSTRAP (scripts/test.sh)"
        );
        None
    }
}

fn bootstrap() -> String {
    support::tansu::bootstrap()
}

/// FNV-1a (64 bits): a stable hash for the compiled-classes cache key.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The Java class path for running the peer: its compiled classes, then the
/// Kafka jars. Compiles `tests/java/JavaPeer.java` the first time (per source
/// version; concurrent test processes each compile into a temporary folder and
/// the first rename wins).
fn java_classpath() -> String {
    static CLASSPATH: OnceLock<String> = OnceLock::new();
    CLASSPATH
        .get_or_init(|| {
            let kafka = support::kafka::classpath().expect("scripts/kafka.sh classpath");
            let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/java/JavaPeer.java");
            let text = std::fs::read(&source).expect("read tests/java/JavaPeer.java");
            let key = fnv1a(&[&text[..], kafka.as_bytes()].concat());
            let dir =
                PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("java-peer-{key:016x}"));
            if !dir.join("JavaPeer.class").exists() {
                let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                    .join(format!("java-peer-build-{}", support::unique_suffix()));
                std::fs::create_dir_all(&work).unwrap();
                let started = Instant::now();
                let out = Command::new("javac")
                    .args(["-nowarn", "-d"])
                    .arg(&work)
                    .arg("-cp")
                    .arg(&kafka)
                    .arg(&source)
                    .stdin(Stdio::null())
                    .output()
                    .expect("run javac (Java 17+ is needed for the real-Kafka pass)");
                assert!(
                    out.status.success(),
                    "javac failed:\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                eprintln!("compiled JavaPeer in {:?}", started.elapsed());
                if std::fs::rename(&work, &dir).is_err() {
                    // Another process won the race.
                    let _ = std::fs::remove_dir_all(&work);
                }
            }
            format!("{}:{kafka}", dir.display())
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
struct Read_ {
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
fn variety(seed: usize) -> Vec<Rec> {
    let base = 1_700_000_000_000 + seed as i64 * 1000;
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
fn our_read_all(topics: &[String], partitions: i32, count: usize) -> Vec<Read_> {
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
            out.push(Read_ {
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
fn assert_read_exactly(sent: &BTreeMap<(String, i32, i64), Rec>, read: &[Read_], who: &str) {
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
    let Some(bootstrap) = kafka() else { return };
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
    let Some(bootstrap) = kafka() else { return };
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
        let r = Read_ {
            topic: t[1].to_string(),
            partition: t[2].parse().unwrap(),
            offset: t[3].parse().unwrap(),
            timestamp: t[4].parse().unwrap(),
            key: dec(t[6]),
            value: dec(t[7]),
            headers: (0..n)
                .map(|h| {
                    (
                        String::from_utf8(dec(t[9 + 2 * h]).unwrap()).unwrap(),
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
