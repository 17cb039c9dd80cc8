//! Issue 12, point 8: log truncation is detected (KIP-320), against a real
//! three-node Apache Kafka cluster with `unclean.leader.election.enable=true`.
//!
//! A one-partition topic with replication factor 2 (leader L, follower F,
//! `min.insync.replicas=1`) gets [`KEPT`] records on both replicas. F is
//! stopped; [`LOST`] more records are written to L alone (acks=1) and two
//! consumers read all of them. Then L is killed and F started again: the
//! controller elects F, which never saw the last records, by an unclean
//! election, and [`NEW`] different records are written to F from offset
//! [`KEPT`] on, where the lost ones were.
//!
//! Each Fetch carries the leader epoch of the last batch fetched
//! (`last_fetched_epoch`); F answers that this epoch ends at offset
//! [`KEPT`] (`diverging_epoch`). The consumer with `auto.offset.reset=earliest`
//! moves back to [`KEPT`], the first offset of the truncated range, and reads
//! every new record; the one with `auto.offset.reset=none` fails its poll
//! with a log truncation error naming the partition, its position and the
//! divergent offset, and reads the new records once it seeks there.
//!
//! Before KIP-320 support the consumers fetched from their position
//! ([`KEPT`] + [`LOST`]) on F and silently skipped the first [`LOST`] new
//! records.

#[path = "support/mod.rs"]
mod support;

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::consumer::{Consumer, TopicPartition};
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::{AdminConfig, ConsumerConfig, Error, ProducerConfig};
use support::kafka::{KafkaCluster, java_tool, real_kafka};

/// Records on both replicas.
const KEPT: usize = 20;
/// Records on the old leader only, read by the consumers, then lost.
const LOST: usize = 10;
/// Records written to the new leader after the unclean election.
const NEW: usize = 40;

/// Info log lines of this crate, captured for the whole test binary.
struct Capture {
    lines: Mutex<Vec<String>>,
}

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info && metadata.target().starts_with("kafka_blocking")
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            self.lines.lock().unwrap().push(record.args().to_string());
        }
    }

    fn flush(&self) {}
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let c: &'static Capture = Box::leak(Box::new(Capture {
            lines: Mutex::new(Vec::new()),
        }));
        log::set_logger(c).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Info);
        c
    })
}

fn truncation_lines() -> Vec<String> {
    capture()
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("truncation"))
        .cloned()
        .collect()
}

fn admin(bootstrap: &str) -> AdminClient {
    AdminClient::new(
        AdminConfig::new()
            .bootstrap_servers(bootstrap)
            .set("request.timeout.ms", "5000")
            .set("default.api.timeout.ms", "10000"),
    )
    .unwrap()
}

/// The partition's (leader, leader epoch, replicas, ISR) as the cluster
/// describes it now.
fn describe(bootstrap: &str, topic: &str) -> Option<(i32, i32, Vec<i32>, Vec<i32>)> {
    let a = admin(bootstrap);
    let t = a.describe_topics(&[topic]);
    a.close();
    let p = t.ok()?.first()?.partitions.first()?.clone();
    Some((p.leader, p.leader_epoch, p.replicas, p.isr))
}

/// Waits up to `timeout` until the partition's state satisfies `ok`.
fn wait_for(
    bootstrap: &str,
    topic: &str,
    what: &str,
    timeout: Duration,
    ok: impl Fn(&(i32, i32, Vec<i32>, Vec<i32>)) -> bool,
) -> (i32, i32, Vec<i32>, Vec<i32>) {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    loop {
        if let Some(d) = describe(bootstrap, topic) {
            if ok(&d) {
                return d;
            }
            last = Some(d);
        }
        assert!(
            Instant::now() < deadline,
            "{topic}: {what} not reached in {timeout:?}; last seen (leader, epoch, replicas, isr): {last:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Writes `values` to partition 0 with `acks`, checking that they land at
/// `first`, `first + 1`, ...
fn produce(bootstrap: &str, topic: &str, acks: &str, first: usize, values: &[String]) {
    let producer = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(bootstrap)
            .set("acks", acks)
            .set("enable.idempotence", "false")
            .set("linger.ms", "0")
            .set("request.timeout.ms", "10000")
            .set("delivery.timeout.ms", "60000"),
    )
    .unwrap();
    let futures: Vec<_> = values
        .iter()
        .map(|v| {
            producer
                .send(ProducerRecord::new(topic, v.as_bytes()).partition(0))
                .unwrap()
        })
        .collect();
    producer.flush().unwrap();
    for (i, f) in futures.into_iter().enumerate() {
        let md = f.wait().unwrap();
        assert_eq!(
            md.offset,
            (first + i) as i64,
            "{} written at its offset",
            values[i]
        );
    }
    producer.close(Some(Duration::from_secs(10))).unwrap();
}

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

fn consumer(bootstrap: &str, reset: &str) -> Consumer {
    Consumer::new(
        ConsumerConfig::new()
            .bootstrap_servers(bootstrap)
            .set("auto.offset.reset", reset)
            .set("fetch.max.wait.ms", "200")
            .set("request.timeout.ms", "10000"),
    )
    .unwrap()
}

/// A received record: offset, value, leader epoch.
type Got = (i64, String, Option<i32>);

/// Polls until the last record received is `last` (or `timeout`), returning
/// every record received.
fn read_until(consumer: &mut Consumer, last: &str, timeout: Duration) -> Vec<Got> {
    let deadline = Instant::now() + timeout;
    let mut got: Vec<Got> = Vec::new();
    while got.last().is_none_or(|g| g.1 != last) {
        if Instant::now() > deadline {
            break;
        }
        for r in consumer.poll(Duration::from_millis(500)).unwrap() {
            got.push((
                r.offset,
                String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned(),
                r.leader_epoch,
            ));
        }
    }
    got
}

fn offsets_and_values(got: &[Got]) -> Vec<(i64, String)> {
    got.iter().map(|(o, v, _)| (*o, v.clone())).collect()
}

fn expected(first: usize, values: &[String]) -> Vec<(i64, String)> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| ((first + i) as i64, v.clone()))
        .collect()
}

#[test]
fn log_truncation_is_detected() {
    if !real_kafka() {
        println!("skipped: needs Apache Kafka (KAFKA_BLOCKING_BROKER=kafka)");
        return;
    }
    capture();
    let started = Instant::now();
    let mut cluster = KafkaCluster::start_configured(3, &["unclean.leader.election.enable=true"])
        .expect("start a three-node Kafka cluster");
    eprintln!(
        "three Kafka nodes up in {:?}: {}",
        started.elapsed(),
        cluster.bootstrap
    );
    let bootstrap = cluster.bootstrap.clone();
    let topic = support::unique_topic("log-truncation");
    let a = admin(&bootstrap);
    a.create_topic(
        NewTopic::new(&topic, 1, 2)
            .config("min.insync.replicas", "1")
            .config("unclean.leader.election.enable", "true"),
    )
    .unwrap();
    a.close();
    let (leader, epoch, replicas, _) = wait_for(
        &bootstrap,
        &topic,
        "a leader and a full ISR",
        Duration::from_secs(60),
        |(l, _, r, isr)| *l > 0 && r.len() == 2 && isr.len() == 2,
    );
    let follower = *replicas.iter().find(|&&n| n != leader).unwrap();
    let other = (1..=3).find(|n| !replicas.contains(n)).unwrap();
    eprintln!(
        "{topic}: leader {leader} (epoch {epoch}), follower {follower}, node {other} holds no replica"
    );
    let tp = TopicPartition::new(&topic, 0);
    let kept = values("kept", KEPT);
    let lost = values("lost", LOST);
    let new = values("new", NEW);
    produce(&bootstrap, &topic, "all", 0, &kept);

    // The follower stops; the leader alone takes LOST more records.
    cluster.stop_node(follower as u32);
    wait_for(
        &bootstrap,
        &topic,
        "the follower out of the ISR",
        Duration::from_secs(60),
        |(l, _, _, isr)| *l == leader && isr == &[leader],
    );
    produce(&bootstrap, &topic, "1", KEPT, &lost);

    // Both consumers read every record, the lost ones included.
    let mut earliest = consumer(&bootstrap, "earliest");
    earliest.assign(vec![tp.clone()]).unwrap();
    let mut none = consumer(&bootstrap, "none");
    none.assign(vec![tp.clone()]).unwrap();
    none.seek(&tp, 0).unwrap();
    let all_old: Vec<String> = kept.iter().chain(&lost).cloned().collect();
    for (name, c) in [("earliest", &mut earliest), ("none", &mut none)] {
        let got = read_until(c, &lost[LOST - 1], Duration::from_secs(60));
        assert_eq!(
            offsets_and_values(&got),
            expected(0, &all_old),
            "consumer {name} read the records of the old leader"
        );
    }
    assert_eq!(earliest.position(&tp).unwrap(), (KEPT + LOST) as i64);

    // The old leader dies; the follower, which missed the last records,
    // comes back and is elected although it is not in the ISR.
    cluster.kill9(leader as u32);
    let restarted = Instant::now();
    cluster.restart(follower as u32).unwrap();
    eprintln!("node {follower} restarted in {:?}", restarted.elapsed());
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut asked = false;
    let (_, new_epoch, _, _) = loop {
        if let Some(d) = describe(&bootstrap, &topic) {
            if d.0 == follower {
                break d;
            }
            eprintln!("waiting for the unclean election: {d:?}");
        }
        assert!(
            Instant::now() < deadline,
            "node {follower} never became the leader of {topic}"
        );
        if !asked && restarted.elapsed() > Duration::from_secs(45) {
            // The controller elects unclean leaders when a broker comes
            // back and periodically; ask for it explicitly if slow.
            asked = true;
            let out = java_tool(
                "org.apache.kafka.tools.LeaderElectionCommand",
                &[
                    "--bootstrap-server",
                    &cluster.address(follower as u32),
                    "--election-type",
                    "unclean",
                    "--topic",
                    &topic,
                    "--partition",
                    "0",
                ],
            );
            eprintln!("LeaderElectionCommand: {out:?}");
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!(
        "node {follower} leads {topic} (epoch {new_epoch}) {:?} after the restart",
        restarted.elapsed()
    );
    let survivors = format!(
        "{},{}",
        cluster.address(follower as u32),
        cluster.address(other as u32)
    );
    // The new leader's log ends at KEPT: the new records take the offsets
    // of the lost ones and more.
    produce(&survivors, &topic, "1", KEPT, &new);

    // auto.offset.reset=earliest: back to the first offset of the
    // truncated range, then every new record.
    let got = read_until(&mut earliest, &new[NEW - 1], Duration::from_secs(90));
    eprintln!("log: {:#?}", truncation_lines());
    assert_eq!(
        offsets_and_values(&got),
        expected(KEPT, &new),
        "after the truncation the consumer reads the new leader's records from offset {KEPT} \
         (the end of the last common leader epoch), none skipped"
    );
    assert!(
        got.iter().all(|g| g.2 == Some(new_epoch)),
        "the new records were written in the new leader epoch {new_epoch}: {got:?}"
    );
    assert_eq!(earliest.position(&tp).unwrap(), (KEPT + NEW) as i64);
    assert!(
        truncation_lines()
            .iter()
            .any(|l| l.contains(&format!("log truncation detected for {tp}"))),
        "the truncation is logged: {:#?}",
        truncation_lines()
    );

    // auto.offset.reset=none: an error naming the partition, the position
    // and the divergent offset; after a seek there, the new records.
    let deadline = Instant::now() + Duration::from_secs(60);
    let err = loop {
        match none.poll(Duration::from_millis(500)) {
            Err(e) => break e,
            Ok(records) => {
                let first = records.iter().next().map(|r| (r.offset, r.value.clone()));
                assert!(
                    first.is_none(),
                    "no record past the truncation without a seek: {first:?}"
                );
            }
        }
        assert!(
            Instant::now() < deadline,
            "auto.offset.reset=none: no truncation error"
        );
    };
    let text = err.to_string();
    eprintln!("auto.offset.reset=none: {text}");
    assert!(
        matches!(err, Error::Kafka { .. }) && text.contains("log truncation"),
        "{text}"
    );
    for part in [
        tp.to_string(),
        format!("position {}", KEPT + LOST),
        format!("offset {KEPT}"),
    ] {
        assert!(text.contains(&part), "{part:?} in {text}");
    }
    none.seek(&tp, KEPT as i64).unwrap();
    let got = read_until(&mut none, &new[NEW - 1], Duration::from_secs(60));
    assert_eq!(offsets_and_values(&got), expected(KEPT, &new));

    earliest.close();
    none.close();
    eprintln!("done in {:?}", started.elapsed());
}
