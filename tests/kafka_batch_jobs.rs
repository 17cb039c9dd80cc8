//! Batch jobs on a real Apache Kafka (issue 18): partition end events
//! (`enable.partition.eof`), bounded reads (`stop_at_end_offsets` /
//! `reached_stop_offsets`) alone and in a group that rebalances, and the
//! tools built on them (`examples/batch_job.rs`, `console_consumer
//! --exit-at-end`).
//!
//! The topic of the first tests has six partitions that each end differently:
//! empty, one record, many records in many batches, a compacted partition
//! whose first offsets are cleaned away (when the broker's cleaner gets to it
//! in time), a transactional partition whose last entry is an ABORT marker
//! (written by confluent-kafka: the high watermark is past the last data
//! record), and a plain one. Exact high watermarks, compaction and aborted
//! transactions need the real broker: in a run on another broker each test
//! says it is skipped.

#[path = "support/mod.rs"]
mod support;

#[path = "consumer_util/mod.rs"]
mod util;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::consumer::{
    Consumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition,
};
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::{AdminConfig, ProducerConfig};

const MANY: usize = 2000;
const PLAIN: usize = 300;
const COMPACT_KEYS: usize = 10;
const COMPACT_ROUNDS: usize = 20;
const TXN_COMMITTED: usize = 5;
const TXN_ABORTED: usize = 3;

fn producer(bootstrap: &str) -> Producer {
    Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(bootstrap)
            .set("acks", "all")
            .set("linger.ms", 5)
            .set("batch.size", 4096),
    )
    .unwrap()
}

/// Sends `(partition, key, value)` records and waits for every one.
fn send_all(p: &Producer, topic: &str, records: impl IntoIterator<Item = (i32, String, String)>) {
    let handles: Vec<_> = records
        .into_iter()
        .map(|(part, k, v)| {
            p.send(
                ProducerRecord::new(topic, v.as_bytes())
                    .key(k.as_bytes())
                    .partition(part),
            )
            .unwrap()
        })
        .collect();
    p.flush().unwrap();
    for h in handles {
        h.wait().unwrap();
    }
}

/// Reads `tp` from its beginning to its end offset with a plain consumer (no
/// bounded read): the records a bounded read must return.
fn read_whole(bootstrap: &str, tp: &TopicPartition, isolation: &str) -> Vec<ConsumerRecord> {
    let mut c = util::consumer(bootstrap, &[("isolation.level", isolation)]);
    c.assign(vec![tp.clone()]).unwrap();
    c.seek_to_beginning(std::slice::from_ref(tp)).unwrap();
    let end = c.end_offsets(std::slice::from_ref(tp)).unwrap()[tp];
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while c.position(tp).unwrap() < end {
        assert!(Instant::now() < deadline, "{tp}: never reached {end}");
        out.extend(c.poll(Duration::from_millis(200)).unwrap());
    }
    out.retain(|r| r.offset < end);
    c.close();
    out
}

/// Creates the six-partition topic described in the module documentation.
/// Returns its name.
fn six_partition_topic(bootstrap: &str) -> String {
    let topic = support::unique_topic("batch-six");
    let admin = AdminClient::new(AdminConfig::new().bootstrap_servers(bootstrap)).unwrap();
    admin
        .create_topic(
            NewTopic::new(&topic, 6, 1)
                .config("cleanup.policy", "compact")
                .config("segment.ms", "100")
                .config("min.cleanable.dirty.ratio", "0.01")
                .config("min.compaction.lag.ms", "0")
                .config("delete.retention.ms", "100"),
        )
        .unwrap();
    admin.close();
    let p = producer(bootstrap);
    // p0 stays empty.
    send_all(&p, &topic, [(1, "one".into(), "v-one".into())]);
    for chunk in 0..(MANY / 100) {
        send_all(
            &p,
            &topic,
            (0..100).map(|i| {
                let n = chunk * 100 + i;
                (2, format!("m{n}"), format!("v{n}"))
            }),
        );
    }
    // p3: the same keys over and over; a later append rolls the segment so
    // that the cleaner may keep only each key's last value of it.
    for round in 0..COMPACT_ROUNDS {
        send_all(
            &p,
            &topic,
            (0..COMPACT_KEYS).map(|k| (3, format!("k{k}"), format!("r{round}"))),
        );
    }
    send_all(
        &p,
        &topic,
        (0..PLAIN).map(|n| (5, format!("p{n}"), format!("v{n}"))),
    );
    std::thread::sleep(Duration::from_millis(300));
    send_all(
        &p,
        &topic,
        (0..COMPACT_KEYS).map(|k| (3, format!("k{k}"), "last".to_string())),
    );
    p.close(None).unwrap();
    // p4: a committed transaction, then an aborted one: its last entry is
    // the ABORT marker.
    let script = r#"
import sys
from confluent_kafka import Producer
bootstrap, topic, committed, aborted = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
p = Producer({"bootstrap.servers": bootstrap, "transactional.id": "batch-" + topic})
p.init_transactions(30)
p.begin_transaction()
for i in range(committed):
    p.produce(topic, key=b"t%d" % i, value=b"committed", partition=4)
p.commit_transaction(30)
p.begin_transaction()
acked = []
def report(err, msg):
    if err is None:
        acked.append(msg.offset())
    else:
        print("aborted-transaction record not delivered: %s" % err, file=sys.stderr)
for i in range(aborted):
    p.produce(topic, key=b"a%d" % i, value=b"aborted", partition=4, on_delivery=report)
left = p.flush(30)
p.abort_transaction(30)
# How many of the aborted records reached the log (librdkafka purges what is
# still queued when the transaction aborts): the test expects exactly these.
print(len(acked))
if left:
    print("flush left %d records" % left, file=sys.stderr)
"#;
    let out = util::python(
        script,
        &[
            bootstrap,
            &topic,
            &TXN_COMMITTED.to_string(),
            &TXN_ABORTED.to_string(),
        ],
    );
    let written: usize = out.trim().parse().expect("the script prints a count");
    if written != TXN_ABORTED {
        eprintln!(
            "{topic}: only {written} of {TXN_ABORTED} aborted-transaction records reached the log (librdkafka)"
        );
    }
    ABORTED_WRITTEN.with(|w| w.set(written));
    topic
}

thread_local! {
    /// How many aborted-transaction records the last `six_partition_topic`
    /// really wrote to partition 4.
    static ABORTED_WRITTEN: std::cell::Cell<usize> = const { std::cell::Cell::new(TXN_ABORTED) };
}

/// Waits (up to 40 s, the broker's cleaner runs every 15 s) for the cleaner
/// to compact partition 3; says so when it did not (the test still holds:
/// the read must end at the end offset either way).
fn wait_for_compaction(bootstrap: &str, topic: &str) {
    let tp = TopicPartition::new(topic, 3);
    let written = COMPACT_KEYS * (COMPACT_ROUNDS + 1);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let n = read_whole(bootstrap, &tp, "read_uncommitted").len();
        if n < written {
            eprintln!("{tp}: compacted to {n} of {written} records");
            return;
        }
        if Instant::now() >= deadline {
            eprintln!("note: the cleaner did not compact {tp} within 40 s");
            return;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn partitions(topic: &str) -> Vec<TopicPartition> {
    (0..6).map(|p| TopicPartition::new(topic, p)).collect()
}

/// Bounded read of every partition of `topic` with assign: returns the
/// records by partition, checking that no record comes twice, none at or
/// past the stop offsets, and that the read finishes.
fn bounded_read(
    bootstrap: &str,
    topic: &str,
    isolation: &str,
) -> (
    BTreeMap<i32, Vec<ConsumerRecord>>,
    HashMap<TopicPartition, i64>,
) {
    let mut c = util::consumer(
        bootstrap,
        &[
            ("isolation.level", isolation),
            ("auto.offset.reset", "earliest"),
            ("max.poll.records", "70"),
        ],
    );
    c.assign(partitions(topic)).unwrap();
    assert!(!c.reached_stop_offsets(), "no bounded read started yet");
    let ends = c.stop_at_end_offsets().unwrap();
    assert_eq!(ends.len(), 6, "{ends:?}");
    if isolation == "read_committed" {
        // Written after the ends were captured: not part of this read (the
        // first fetches return them in the same batches as what is).
        let p = producer(bootstrap);
        send_all(
            &p,
            topic,
            [0, 1, 2, 5]
                .into_iter()
                .flat_map(|part| (0..50).map(move |n| (part, format!("late{n}"), "late".into()))),
        );
        p.close(None).unwrap();
    }
    let mut got: BTreeMap<i32, Vec<ConsumerRecord>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !c.reached_stop_offsets() {
        assert!(
            Instant::now() < deadline,
            "the bounded read did not finish: positions {:?}, ends {ends:?}",
            partitions(topic)
                .iter()
                .map(|tp| c.position(tp).ok())
                .collect::<Vec<_>>()
        );
        for r in c.poll(Duration::from_millis(200)).unwrap() {
            let stop = ends[&r.topic_partition()];
            assert!(
                r.offset < stop,
                "{r:?} is at or past the stop offset {stop}"
            );
            got.entry(r.partition).or_default().push(r);
        }
    }
    // Finished means finished: more polls return nothing.
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(600) {
        let more = c.poll(Duration::from_millis(200)).unwrap();
        assert!(more.is_empty(), "records after the end: {more:?}");
    }
    for tp in partitions(topic) {
        assert_eq!(
            c.position(&tp).unwrap().max(ends[&tp]),
            c.position(&tp).unwrap()
        );
    }
    c.close();
    (got, ends)
}

fn offsets(records: &[ConsumerRecord]) -> Vec<i64> {
    records.iter().map(|r| r.offset).collect()
}

#[test]
fn bounded_reads_finish_on_empty_compacted_and_aborted_partitions() {
    let Some(bootstrap) = support::kafka::kafka_bootstrap() else {
        return;
    };
    let topic = six_partition_topic(&bootstrap);
    wait_for_compaction(&bootstrap, &topic);
    for isolation in ["read_uncommitted", "read_committed"] {
        let (got, ends) = bounded_read(&bootstrap, &topic, isolation);
        for tp in partitions(&topic) {
            let mut want = read_whole(&bootstrap, &tp, isolation);
            want.retain(|r| r.offset < ends[&tp]);
            let have = got.get(&tp.partition).map(Vec::as_slice).unwrap_or(&[]);
            assert_eq!(
                offsets(have),
                offsets(&want),
                "{isolation}: {tp} (end {}) returned other records than a plain read",
                ends[&tp]
            );
            let mut seen = HashSet::new();
            assert!(
                have.iter().all(|r| seen.insert(r.offset)),
                "{tp}: duplicates"
            );
        }
        let count = |p: i32| got.get(&p).map_or(0, Vec::len);
        assert_eq!(count(0), 0);
        assert_eq!(ends[&TopicPartition::new(&topic, 0)], 0);
        assert_eq!(count(1), 1);
        assert_eq!(count(2), MANY);
        assert_eq!(count(5), PLAIN);
        // Every key's last value survives compaction.
        let p3: HashMap<String, String> = got[&3]
            .iter()
            .map(|r| {
                (
                    String::from_utf8_lossy(r.key.as_deref().unwrap()).into_owned(),
                    String::from_utf8_lossy(r.value.as_deref().unwrap()).into_owned(),
                )
            })
            .collect();
        assert_eq!(p3.len(), COMPACT_KEYS);
        assert!(p3.values().all(|v| v == "last"), "{p3:?}");
        // The transactional partition: aborted records only under
        // read_uncommitted; its end is past the last record either way
        // (the markers).
        // The topic is compacted, and the log cleaner also removes the
        // records of aborted transactions once it cleans partition 4's
        // segments (it runs on this topic every few hundred milliseconds):
        // read_uncommitted sees the aborted records written (librdkafka's
        // delivery reports) only until then. A plain read of the same log
        // was compared above, record for record.
        let txn = &got[&4];
        if isolation == "read_committed" {
            assert_eq!(txn.len(), TXN_COMMITTED, "{isolation}: {txn:?}");
        } else {
            let written = ABORTED_WRITTEN.with(|w| w.get());
            assert!(
                (TXN_COMMITTED..=TXN_COMMITTED + written).contains(&txn.len()),
                "{isolation}: {} records, expected {TXN_COMMITTED} committed plus up to {written} aborted: {txn:?}",
                txn.len()
            );
        }
        let end4 = ends[&TopicPartition::new(&topic, 4)];
        assert!(
            txn.last().unwrap().offset + 1 < end4,
            "{isolation}: the end {end4} of the transactional partition should be past its last record (a marker)"
        );
    }
}

#[test]
fn partition_end_events_fire_once_per_partition_reaching_its_end() {
    let Some(bootstrap) = support::kafka::kafka_bootstrap() else {
        return;
    };
    let topic = six_partition_topic(&bootstrap);
    for isolation in ["read_uncommitted", "read_committed"] {
        let mut c = util::consumer(
            &bootstrap,
            &[
                ("isolation.level", isolation),
                ("enable.partition.eof", "true"),
                ("max.poll.records", "70"),
            ],
        );
        c.assign(partitions(&topic)).unwrap();
        c.seek_to_beginning(&[]).unwrap();
        let ends = c.end_offsets(&partitions(&topic)).unwrap();
        let mut eofs: BTreeMap<i32, usize> = BTreeMap::new();
        let mut read: BTreeMap<i32, usize> = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while eofs.len() < 6 {
            assert!(
                Instant::now() < deadline,
                "{isolation}: end events {eofs:?}"
            );
            let records = c.poll(Duration::from_millis(500)).unwrap();
            for r in &records {
                *read.entry(r.partition).or_default() += 1;
            }
            for tp in records.partition_eofs() {
                *eofs.entry(tp.partition).or_default() += 1;
                // Reported when everything before the end was returned.
                assert_eq!(c.position(tp).unwrap(), ends[tp], "{isolation}: {tp}");
                let whole = read_whole(&bootstrap, tp, isolation).len();
                assert_eq!(read.get(&tp.partition).copied().unwrap_or(0), whole);
            }
        }
        // Once each; nothing more while nothing is written.
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(1500) {
            let records = c.poll(Duration::from_millis(300)).unwrap();
            assert!(records.is_empty(), "{records:?}");
            for tp in records.partition_eofs() {
                *eofs.entry(tp.partition).or_default() += 1;
            }
        }
        assert!(eofs.values().all(|n| *n == 1), "{isolation}: {eofs:?}");
        // A new record: the partition reaches its end again, once.
        let p = producer(&bootstrap);
        send_all(&p, &topic, [(1, "again".into(), isolation.into())]);
        p.close(None).unwrap();
        let mut again = 0;
        let mut new_records = 0;
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(3) {
            let records = c.poll(Duration::from_millis(300)).unwrap();
            new_records += records.len();
            for tp in records.partition_eofs() {
                assert_eq!(tp.partition, 1, "{tp} had nothing new");
                assert_eq!(
                    new_records, 1,
                    "reported before the new record was returned"
                );
                again += 1;
            }
        }
        assert_eq!((new_records, again), (1, 1), "{isolation}");
        c.close();
    }
}

#[test]
fn end_events_are_off_by_default_and_checked() {
    let Some(bootstrap) = support::kafka::kafka_bootstrap() else {
        return;
    };
    let e = Consumer::new(
        kafka_blocking::ConsumerConfig::new()
            .bootstrap_servers(&bootstrap)
            .set("enable.partition.eof", "yes"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("enable.partition.eof"), "{e}");
    let topic = support::unique_topic("batch-noeof");
    util::create_topic(&bootstrap, &topic, 1);
    let tp = TopicPartition::new(&topic, 0);
    let mut c = util::consumer(&bootstrap, &[("auto.offset.reset", "earliest")]);
    c.assign(vec![tp]).unwrap();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(1) {
        assert!(
            c.poll(Duration::from_millis(200))
                .unwrap()
                .partition_eofs()
                .is_empty()
        );
    }
}

/// Commits what was returned before partitions move.
struct CommitOnRevoke;

impl ConsumerRebalanceListener for CommitOnRevoke {
    fn on_partitions_revoked(&mut self, consumer: &mut Consumer, _: &[TopicPartition]) {
        consumer.commit_sync().expect("commit on revoke");
    }
}

#[test]
fn bounded_read_in_a_group_that_rebalances_reads_each_record_once() {
    let Some(bootstrap) = support::kafka::kafka_bootstrap() else {
        return;
    };
    let topic = support::unique_topic("batch-group");
    util::create_topic(&bootstrap, &topic, 6);
    let p = producer(&bootstrap);
    // Partition 0 stays empty; the others get 0..=400 records.
    let records: Vec<(i32, String, String)> = (1..6)
        .flat_map(|part| (0..part * 80).map(move |n| (part, format!("{part}-{n}"), "v".into())))
        .collect();
    let total = records.len();
    send_all(&p, &topic, records);
    p.close(None).unwrap();
    let group = support::unique_topic("batch-group-g");
    let run = |delay: Duration| {
        let (bootstrap, topic, group) = (bootstrap.clone(), topic.clone(), group.clone());
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            let mut c = util::consumer(
                &bootstrap,
                &[
                    ("group.id", &group),
                    ("auto.offset.reset", "earliest"),
                    ("enable.auto.commit", "false"),
                    ("session.timeout.ms", "6000"),
                    ("heartbeat.interval.ms", "200"),
                    // Slowly, so that the second member joins mid-read.
                    ("max.poll.records", "5"),
                ],
            );
            c.set_rebalance_listener(CommitOnRevoke);
            c.subscribe(&[&topic]).unwrap();
            c.stop_at_end_offsets().unwrap();
            let mut keys = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(90);
            while !c.reached_stop_offsets() {
                assert!(Instant::now() < deadline, "member did not finish");
                for r in c.poll(Duration::from_millis(100)).unwrap() {
                    keys.push(String::from_utf8(r.key.unwrap().to_vec()).unwrap());
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            c.commit_sync().unwrap();
            c.close();
            keys
        })
    };
    let a = run(Duration::ZERO);
    let b = run(Duration::from_millis(1500));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    eprintln!("member a read {}, member b read {}", a.len(), b.len());
    assert!(
        !a.is_empty() && !b.is_empty(),
        "the second member joined mid-read and should have finished some partitions"
    );
    let mut all: Vec<String> = a.into_iter().chain(b).collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "a record was read twice");
    assert_eq!(n, total, "not every record was read");
}

/// Builds the examples and returns `target/<profile>/examples/NAME`.
fn example(name: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--all-features", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build --example {name} failed");
    // This test binary is target/<profile>/deps/NAME-HASH.
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(|d| d.parent())
        .unwrap()
        .join("examples")
        .join(name);
    assert!(path.exists(), "{} not built", path.display());
    path
}

/// Output of one `batch_job` run: per-key counts and the total.
fn parse_batch_job(stdout: &str) -> (BTreeMap<String, u64>, u64) {
    let mut counts = BTreeMap::new();
    let mut total = None;
    for line in stdout.lines() {
        if let Some(n) = line.strip_prefix("processed ") {
            total = Some(n.trim_end_matches(" records").parse().unwrap());
        } else if let Some((k, n)) = line.split_once('\t') {
            counts.insert(k.to_string(), n.parse().unwrap());
        }
    }
    (counts, total.expect("a 'processed N records' line"))
}

#[test]
fn batch_job_instances_share_the_work_and_a_later_one_finds_nothing() {
    let Some(bootstrap) = support::kafka::kafka_bootstrap() else {
        return;
    };
    let job = example("batch_job");
    let topic = support::unique_topic("batch-job");
    util::create_topic(&bootstrap, &topic, 6);
    let p = producer(&bootstrap);
    // Keys k0..k9 spread over partitions 1..5; partition 0 empty.
    let records: Vec<(i32, String, String)> = (0..3000)
        .map(|n| (1 + n % 5, format!("k{}", n % 10), format!("v{n}")))
        .collect();
    send_all(&p, &topic, records);
    p.close(None).unwrap();
    let group = support::unique_topic("batch-job-g");
    let start = || {
        Command::new(&job)
            .args([
                "--bootstrap-server",
                &bootstrap,
                "--topic",
                &topic,
                "--group",
                &group,
            ])
            .args(["--consumer-property", "session.timeout.ms=6000"])
            .args(["--consumer-property", "max.poll.records=20"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    let mut per_key: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0;
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "batch_job failed: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let (counts, n) = parse_batch_job(&stdout);
        eprintln!("one instance processed {n}");
        total += n;
        for (k, c) in counts {
            *per_key.entry(k).or_default() += c;
        }
    }
    assert_eq!(total, 3000, "each record exactly once between the two");
    assert_eq!(per_key.len(), 10);
    assert!(per_key.values().all(|c| *c == 300), "{per_key:?}");
    // A third run: everything is committed, nothing to do, exits at once.
    let t = Instant::now();
    let out = start().wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (counts, n) = parse_batch_job(&String::from_utf8_lossy(&out.stdout));
    assert_eq!((n, counts.len()), (0, 0));
    eprintln!("the third run took {:?}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
}

#[test]
fn console_consumer_exit_at_end_prints_everything_and_exits() {
    let Some(bootstrap) = support::kafka::kafka_bootstrap() else {
        return;
    };
    let tool = example("console_consumer");
    let topic = support::unique_topic("batch-console");
    util::create_topic(&bootstrap, &topic, 3);
    let p = producer(&bootstrap);
    // Partition 2 stays empty.
    let records: Vec<(i32, String, String)> = (0..250)
        .map(|n| (n % 2, format!("k{n}"), format!("value-{n}")))
        .collect();
    send_all(&p, &topic, records);
    p.close(None).unwrap();
    for group in [None, Some(support::unique_topic("batch-console-g"))] {
        let mut cmd = Command::new(&tool);
        cmd.args(["--bootstrap-server", &bootstrap, "--topic", &topic])
            .args(["--from-beginning", "--exit-at-end"]);
        if let Some(g) = &group {
            cmd.args(["--group", g])
                .args(["--consumer-property", "session.timeout.ms=6000"]);
        }
        let out = cmd.stderr(Stdio::piped()).output().unwrap();
        assert!(
            out.status.success(),
            "{group:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        lines.sort();
        let mut want: Vec<String> = (0..250).map(|n| format!("value-{n}")).collect();
        want.sort();
        assert_eq!(lines, want, "{group:?}");
    }
}
