//! The producer against real brokers (tansu), checked by reading the log back
//! with raw fetches and with kafka-python.

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::producer::{Producer, ProducerRecord, partition_for_key};
use kafka_blocking::unstable::protocol::records::Record;
use kafka_blocking::{AdminConfig, Error, KafkaCode, ProducerConfig};

/// `delivery_timeout_against_a_stopped_broker` checks that the sender idles
/// while backing off by this process's CPU time, which counts every thread:
/// the other tests of this binary, run beside it in parallel (100,000 records
/// are produced in one), would be counted too. They hold this lock shared and
/// that test holds it alone.
static CPU_MEASURED: RwLock<()> = RwLock::new(());

fn beside_others() -> RwLockReadGuard<'static, ()> {
    CPU_MEASURED.read().unwrap_or_else(|e| e.into_inner())
}

fn alone() -> RwLockWriteGuard<'static, ()> {
    CPU_MEASURED.write().unwrap_or_else(|e| e.into_inner())
}

fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin = AdminClient::new(AdminConfig::new().bootstrap_servers(bootstrap)).unwrap();
    admin
        .create_topic(NewTopic::new(topic, partitions, 1))
        .unwrap();
    admin
        .cluster()
        .wait_for_topic(topic, Instant::now() + Duration::from_secs(15))
        .unwrap();
}

/// Reads a whole partition with raw fetches.
fn read_partition(bootstrap: &str, topic: &str, partition: i32) -> Vec<Record> {
    let admin = AdminClient::new(AdminConfig::new().bootstrap_servers(bootstrap)).unwrap();
    support::log::read_partition(admin.cluster(), topic, partition, 0)
}

#[test]
fn hundred_thousand_keyed_records_are_contiguous_and_in_order() {
    let _cpu = beside_others();
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("producer-100k");
    create_topic(&bootstrap, &topic, 6);
    let producer = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(&bootstrap)
            .set("acks", "all")
            .set("linger.ms", 5)
            .set("batch.size", 65536),
    )
    .unwrap();
    let n = 100_000;
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let key = format!("key-{}", i % 1000);
        let value = format!("value-{i}");
        handles.push((
            i,
            producer
                .send(ProducerRecord::new(&topic, value.as_bytes()).key(key.as_bytes()))
                .unwrap(),
        ));
    }
    producer.flush().unwrap();
    let mut per_partition: BTreeMap<i32, Vec<(i64, usize)>> = BTreeMap::new();
    for (i, h) in &handles {
        let md = h.wait().unwrap();
        assert_eq!(md.topic, topic);
        let key = format!("key-{}", i % 1000);
        assert_eq!(
            md.partition,
            partition_for_key(key.as_bytes(), 6),
            "murmur2 partition"
        );
        per_partition
            .entry(md.partition)
            .or_default()
            .push((md.offset, *i));
    }
    let m = producer.metrics();
    assert_eq!(m.records_sent, n as u64);
    assert_eq!(m.records_failed, 0);
    assert!(m.batches_sent > 0 && m.average_batch_size > 0.0);
    producer.close(None).unwrap();
    for (p, sent) in per_partition {
        // Offsets contiguous from 0, in send order.
        for (k, (offset, _)) in sent.iter().enumerate() {
            assert_eq!(*offset, k as i64, "partition {p}");
        }
        let log = read_partition(&bootstrap, &topic, p);
        assert_eq!(log.len(), sent.len(), "partition {p}");
        for (r, (offset, i)) in log.iter().zip(&sent) {
            assert_eq!(r.offset, *offset);
            assert_eq!(r.value.as_deref(), Some(format!("value-{i}").as_bytes()));
            assert_eq!(
                r.key.as_deref(),
                Some(format!("key-{}", i % 1000).as_bytes())
            );
        }
    }
}

#[test]
fn key_partitions_match_kafka_python() {
    let _cpu = beside_others();
    let script = r#"
import sys
from kafka.partitioner.default import DefaultPartitioner
n = int(sys.argv[1])
class Cluster:
    def topics(self): return {"t"}
    def partitions_for_topic(self, t): return set(range(n))
    def available_partitions_for_topic(self, t): return set(range(n))
p, c = DefaultPartitioner(), Cluster()
print(" ".join(str(p.partition("t", None, ("k%d" % i).encode(), None, None, c)) for i in range(10000)))
"#;
    for n in [1usize, 6, 7, 100] {
        let out = Command::new(support::python())
            .args(["-c", script, &n.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs: Vec<i32> = String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .map(|s| s.parse().unwrap())
            .collect();
        let ours: Vec<i32> = (0..10000)
            .map(|i| partition_for_key(format!("k{i}").as_bytes(), n))
            .collect();
        assert_eq!(ours, theirs, "{n} partitions");
    }
}

#[test]
fn headers_timestamps_tombstones_and_callbacks() {
    let _cpu = beside_others();
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("producer-misc");
    create_topic(&bootstrap, &topic, 2);
    let producer = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(&bootstrap)
            .set("linger.ms", 0),
    )
    .unwrap();
    let h1 = producer
        .send(
            ProducerRecord::new(&topic, b"v1")
                .partition(1)
                .timestamp(1_600_000_000_123)
                .header("a", Some(b"1"))
                .header("b", None),
        )
        .unwrap();
    let h2 = producer
        .send(ProducerRecord::tombstone(&topic, b"gone").partition(1))
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    producer
        .send_with_callback(ProducerRecord::new(&topic, b"cb").partition(1), move |r| {
            tx.send(r).unwrap();
        })
        .unwrap();
    let m1 = h1.wait_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(
        (m1.partition, m1.offset, m1.timestamp),
        (1, 0, 1_600_000_000_123)
    );
    assert_eq!(h2.wait().unwrap().offset, 1);
    let m3 = rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(m3.offset, 2);
    // A partition that does not exist, and an oversized record, fail at send.
    let e = producer
        .send(ProducerRecord::new(&topic, b"x").partition(5))
        .unwrap_err();
    assert!(e.to_string().contains("partition 5"), "{e}");
    let big = vec![0u8; 2 << 20];
    let e = producer
        .send(ProducerRecord::new(&topic, &big))
        .unwrap_err();
    assert_eq!(e.kafka_code(), Some(KafkaCode::MessageTooLarge), "{e}");
    assert!(e.to_string().contains("max.request.size"), "{e}");
    producer.close(None).unwrap();
    let log = read_partition(&bootstrap, &topic, 1);
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].headers.len(), 2);
    assert_eq!(log[0].headers[0].key, "a");
    assert_eq!(log[0].headers[1].value, None);
    assert_eq!(log[1].value, None);
    assert_eq!(log[1].key.as_deref(), Some(&b"gone"[..]));
    // Sending after close is an error.
    assert!(matches!(
        producer.send(ProducerRecord::new(&topic, b"late")),
        Err(Error::Closed(_))
    ));
}

#[test]
fn a_consumer_setting_on_a_producer_is_ignored_not_refused() {
    let _cpu = beside_others();
    let bootstrap = support::tansu::bootstrap();
    // allow.auto.create.topics is a consumer setting: as in Java, one
    // properties file may serve both, so the producer warns and goes on.
    let producer = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(&bootstrap)
            .set("max.block.ms", 1500)
            .set("allow.auto.create.topics", "false"),
    );
    assert!(producer.is_ok(), "{:?}", producer.err());
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

#[test]
fn delivery_timeout_against_a_stopped_broker() {
    let _cpu = alone();
    let mut broker = support::PrivateBroker::start().unwrap();
    let topic = support::unique_topic("producer-timeout");
    create_topic(&broker.bootstrap(), &topic, 1);
    let producer = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(&broker.bootstrap())
            .set("linger.ms", 0)
            .set("request.timeout.ms", 1000)
            .set("delivery.timeout.ms", 3000)
            .set("retry.backoff.ms", 100),
    )
    .unwrap();
    producer
        .send(ProducerRecord::new(&topic, b"before"))
        .unwrap()
        .wait()
        .unwrap();
    broker.stop();
    let start = Instant::now();
    let handles: Vec<_> = (0..20)
        .map(|i| {
            producer
                .send(ProducerRecord::new(&topic, format!("r{i}").as_bytes()))
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1000));
    let cpu0 = cpu_seconds();
    std::thread::sleep(Duration::from_millis(1500));
    let cpu = cpu_seconds() - cpu0;
    for h in &handles {
        let e = h.wait().unwrap_err();
        assert!(matches!(e, Error::Timeout { .. }), "{e}");
        assert!(e.to_string().contains("delivery.timeout.ms"), "{e}");
    }
    let took = start.elapsed();
    assert!(
        took < Duration::from_millis(4500),
        "handles resolved after {took:?}"
    );
    assert!(
        cpu < 0.3,
        "the sender should be idle while backing off, used {cpu} s CPU in 1.5 s"
    );
    assert_eq!(producer.metrics().records_failed, 20);
    // close reports what was not delivered (issue 11): the 20 failures.
    let e = producer
        .close(Some(Duration::from_secs(5)))
        .expect_err("close reports the undelivered records");
    assert!(e.to_string().contains("close: 20 record(s)"), "{e}");
}
