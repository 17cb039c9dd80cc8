//! Issue 12, point 7: fetch from the closest replica (KIP-392), against a
//! real three-node Apache Kafka cluster whose nodes are in racks `rack-1`,
//! `rack-2`, `rack-3` and whose brokers run the `RackAwareReplicaSelector`.
//!
//! A one-partition topic with replication factor 3 is led by node L; the
//! consumer sets `client.rack` to the rack of another node F. The leader
//! answers its first Fetch with `preferred_read_replica = F` and no records:
//! every record must then come from F. That the fetches really go to F is
//! shown two ways: right after `poll` returns records the next Fetch is
//! already in flight (pipelining) and exactly one Fetch is in flight, so the
//! connection holding a request names the broker it went to (the
//! consumer's connections are visible with the `unstable` feature); and the
//! consumer's debug log names F as the preferred read replica (a logger
//! installed by this test captures it). Then F is stopped in the middle of
//! the consumption and more records are produced: the consumer goes back to
//! the leader and every record arrives, in order, exactly once.
//!
//! Before KIP-392 support the consumer ignored `preferred_read_replica` and
//! asked the leader again forever, receiving nothing.

#[path = "support/mod.rs"]
mod support;

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::consumer::{Consumer, TopicPartition};
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::{AdminConfig, ConsumerConfig, ProducerConfig};
use support::kafka::{KafkaCluster, real_kafka};

/// Records per produced batch (each batch is flushed before the next).
const BATCH: usize = 10;
/// Records produced before the consumer starts.
const FIRST: usize = 400;
/// Records consumed (from the follower) before it is stopped.
const BEFORE_STOP: usize = 200;
/// Records produced after the follower is stopped.
const SECOND: usize = 100;

/// Debug log lines of this crate, captured for the whole test binary.
struct Capture {
    lines: Mutex<Vec<String>>,
}

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Debug && metadata.target().starts_with("kafka_blocking")
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            self.lines
                .lock()
                .unwrap()
                .push(format!("{} {}", record.target(), record.args()));
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
        log::set_max_level(log::LevelFilter::Debug);
        c
    })
}

/// Captured lines that mention the preferred read replica.
fn replica_lines() -> Vec<String> {
    capture()
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("preferred read replica"))
        .cloned()
        .collect()
}

fn admin(bootstrap: &str) -> AdminClient {
    AdminClient::new(
        AdminConfig::new()
            .bootstrap_servers(bootstrap)
            .set("request.timeout.ms", "10000")
            .set("default.api.timeout.ms", "30000"),
    )
    .unwrap()
}

fn value(i: usize) -> Vec<u8> {
    let mut v = format!("record-{i:05}-").into_bytes();
    v.resize(100, b'x');
    v
}

/// Produces records `from..to` with acks=all, in batches of [`BATCH`].
fn produce(bootstrap: &str, topic: &str, from: usize, to: usize) {
    let producer = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(bootstrap)
            .set("acks", "all")
            .set("linger.ms", "0")
            .set("delivery.timeout.ms", "60000"),
    )
    .unwrap();
    let mut i = from;
    while i < to {
        let end = (i + BATCH).min(to);
        let futures: Vec<_> = (i..end)
            .map(|k| {
                producer
                    .send(ProducerRecord::new(topic, &value(k)).partition(0))
                    .unwrap()
            })
            .collect();
        producer.flush().unwrap();
        for (k, f) in (i..end).zip(futures) {
            let md = f.wait().unwrap();
            assert_eq!(md.offset, k as i64, "record {k} written at its offset");
        }
        i = end;
    }
    producer.close(Some(Duration::from_secs(10))).unwrap();
}

/// Which brokers the consumer's Fetch went to, seen right after a poll that
/// returned records: exactly one Fetch in flight, and the one connection
/// holding a request names its broker.
fn fetch_target(consumer: &Consumer, nodes: &[i32]) -> Option<i32> {
    if consumer.fetches_in_flight() != 1 {
        return None;
    }
    let busy: Vec<i32> = nodes
        .iter()
        .copied()
        .filter(|&n| {
            consumer
                .cluster()
                .pool()
                .existing(n)
                .is_some_and(|c| c.in_flight() > 0)
        })
        .collect();
    match busy[..] {
        [n] => Some(n),
        _ => None,
    }
}

/// Polls until `want` records in total were received (appending them to
/// `got`), counting after each poll that returned records which broker the
/// next Fetch went to.
fn consume_until(
    consumer: &mut Consumer,
    got: &mut Vec<(i64, Vec<u8>)>,
    want: usize,
    nodes: &[i32],
    targets: &mut Vec<i32>,
    timeout: Duration,
) {
    let deadline = Instant::now() + timeout;
    while got.len() < want {
        assert!(
            Instant::now() < deadline,
            "only {} of {want} records after {timeout:?}; captured replica log lines: {:#?}",
            got.len(),
            replica_lines()
        );
        let records = consumer.poll(Duration::from_millis(500)).unwrap();
        if records.is_empty() {
            continue;
        }
        for r in &records {
            got.push((r.offset, r.value.as_deref().unwrap_or_default().to_vec()));
        }
        if let Some(n) = fetch_target(consumer, nodes) {
            targets.push(n);
        }
    }
}

#[test]
fn fetch_from_the_closest_replica() {
    if !real_kafka() {
        println!("skipped: needs Apache Kafka (KAFKA_BLOCKING_BROKER=kafka)");
        return;
    }
    capture();
    let started = Instant::now();
    let mut cluster = KafkaCluster::start_configured(
        3,
        &["replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector"],
    )
    .expect("start a three-node Kafka cluster");
    eprintln!(
        "three Kafka nodes up in {:?}: {}",
        started.elapsed(),
        cluster.bootstrap
    );
    let bootstrap = cluster.bootstrap.clone();
    let topic = support::unique_topic("closest-replica");
    let a = admin(&bootstrap);
    a.create_topic(NewTopic::new(&topic, 1, 3)).unwrap();
    // Wait until the partition has a leader and a full ISR.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (leader, replicas) = loop {
        if let Ok(t) = a.describe_topics(&[&topic]) {
            if let Some(p) = t.first().and_then(|t| t.partitions.first()) {
                if p.leader > 0 && p.isr.len() == 3 {
                    break (p.leader, p.replicas.clone());
                }
            }
        }
        assert!(Instant::now() < deadline, "{topic} never got a full ISR");
        std::thread::sleep(Duration::from_millis(200));
    };
    a.close();
    let follower = *replicas.iter().find(|&&n| n != leader).expect("a follower");
    let nodes: Vec<i32> = cluster.node_ids().iter().map(|&n| n as i32).collect();
    eprintln!("{topic}: leader {leader}, consumer in rack-{follower}");

    produce(&bootstrap, &topic, 0, FIRST);

    let mut consumer = Consumer::new(
        ConsumerConfig::new()
            .bootstrap_servers(&bootstrap)
            .set("client.rack", format!("rack-{follower}"))
            .set("auto.offset.reset", "earliest")
            // About one batch per Fetch, so that consumption takes many.
            .set("max.partition.fetch.bytes", "1024")
            .set("max.poll.records", "10")
            .set("fetch.max.wait.ms", "200"),
    )
    .unwrap();
    let tp = TopicPartition::new(&topic, 0);
    consumer.assign(vec![tp.clone()]).unwrap();

    // Phase 1: from the follower in the consumer's rack.
    let mut got = Vec::new();
    let mut targets = Vec::new();
    consume_until(
        &mut consumer,
        &mut got,
        BEFORE_STOP,
        &nodes,
        &mut targets,
        Duration::from_secs(60),
    );
    let lines = replica_lines();
    eprintln!("phase 1: fetch targets {targets:?}; log: {lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains(&format!(
            "fetching from preferred read replica broker {follower}"
        ))),
        "the consumer was told to fetch from broker {follower}: {lines:#?}"
    );
    let to_follower = targets.iter().filter(|&&n| n == follower).count();
    assert!(
        to_follower >= 5 && targets.iter().all(|&n| n == follower),
        "the fetches went to the follower {follower} (leader {leader}): {targets:?}"
    );

    // Phase 2: the follower stops in the middle of the consumption.
    let stopped = Instant::now();
    cluster.stop_node(follower as u32);
    eprintln!("stopped node {follower} in {:?}", stopped.elapsed());
    produce(&bootstrap, &topic, FIRST, FIRST + SECOND);
    let mut after = Vec::new();
    consume_until(
        &mut consumer,
        &mut got,
        FIRST + SECOND,
        &nodes,
        &mut after,
        Duration::from_secs(90),
    );
    eprintln!(
        "phase 2: fetch targets {after:?}; log: {:#?}",
        replica_lines()
    );
    assert!(
        after.contains(&leader),
        "after the follower stopped, the leader {leader} served the fetches: {after:?}"
    );
    assert!(
        !after.contains(&follower),
        "nothing fetched from the stopped node {follower}: {after:?}"
    );

    // Every record, in order, exactly once.
    assert_eq!(got.len(), FIRST + SECOND, "no record lost or duplicated");
    for (i, (offset, v)) in got.iter().enumerate() {
        assert_eq!(*offset, i as i64, "record {i} at its offset");
        assert_eq!(v, &value(i), "record {i} intact");
    }
    // A poll now returns nothing new (no duplicates trailing).
    let extra = consumer.poll(Duration::from_millis(500)).unwrap();
    assert!(extra.is_empty(), "no record after the last one");
    assert_eq!(consumer.position(&tp).unwrap(), (FIRST + SECOND) as i64);
    consumer.close();
    eprintln!("done in {:?}", started.elapsed());
}
