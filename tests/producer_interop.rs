//! Producer interop and faults: every codec read back by kafka-python and by
//! confluent-kafka (librdkafka); on the 3-broker mock cluster, leader moves
//! and injected retriable errors lose, duplicate and reorder nothing.

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::{AdminConfig, ProducerConfig};

const CODECS: [&str; 4] = ["gzip", "snappy", "lz4", "zstd"];

fn python_json_lines(script: &str, args: &[&str]) -> Vec<String> {
    let out = Command::new(support::python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn every_codec_is_read_back_by_kafka_python_and_librdkafka() {
    let bootstrap = support::tansu::bootstrap();
    let admin = AdminClient::new(AdminConfig::new().bootstrap_servers(&bootstrap)).unwrap();
    for codec in CODECS {
        let topic = support::unique_topic(&format!("codec-{codec}"));
        admin.create_topic(NewTopic::new(&topic, 1, 1)).unwrap();
        let producer = Producer::new(
            ProducerConfig::new()
                .bootstrap_servers(&bootstrap)
                .set("compression.type", codec)
                .set("linger.ms", 20),
        )
        .unwrap();
        let mut expected = Vec::new();
        let mut handles = Vec::new();
        for i in 0..300 {
            let key = format!("k{i}");
            let value = format!("{codec} value {i} {}", "abc".repeat(i % 17));
            let mut r = ProducerRecord::new(&topic, value.as_bytes())
                .key(key.as_bytes())
                .timestamp(1_650_000_000_000 + i as i64);
            if i % 3 == 0 {
                r = r.header("n", Some(key.as_bytes()));
            }
            handles.push(producer.send(r).unwrap());
            let header = if i % 3 == 0 {
                format!("n={key}")
            } else {
                String::new()
            };
            expected.push(format!(
                "{i}|{key}|{value}|{}|{header}",
                1_650_000_000_000 + i as i64
            ));
        }
        for h in handles {
            h.wait().unwrap();
        }
        producer.close(None).unwrap();

        let kafka_python = r#"
import sys, time
from kafka import KafkaConsumer, TopicPartition
c = KafkaConsumer(bootstrap_servers=sys.argv[1], enable_auto_commit=False)
tp = TopicPartition(sys.argv[2], 0)
c.assign([tp]); c.seek_to_beginning(tp)
n = 0
# Until all 300 arrived, up to a generous deadline: an empty poll is not the
# end (the first polls connect and reset the offset; slow on a busy machine).
deadline = time.monotonic() + 60
while n < 300 and time.monotonic() < deadline:
    batch = c.poll(timeout_ms=500)
    for r in batch.get(tp, []):
        h = ",".join("%s=%s" % (k, v.decode()) for k, v in r.headers)
        print("%d|%s|%s|%d|%s" % (r.offset, r.key.decode(), r.value.decode(), r.timestamp, h)); n += 1
"#;
        assert_eq!(
            python_json_lines(kafka_python, &[&bootstrap, &topic]),
            expected,
            "kafka-python, {codec}"
        );
        let librdkafka = r#"
import sys, time
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "g", "enable.auto.commit": False, "check.crcs": True})
c.assign([TopicPartition(sys.argv[2], 0, 0)])
n = 0
deadline = time.monotonic() + 60
while n < 300 and time.monotonic() < deadline:
    m = c.poll(0.5)
    if m is None: continue
    if m.error(): raise SystemExit(str(m.error()))
    h = ",".join("%s=%s" % (k, v.decode()) for k, v in (m.headers() or []))
    print("%d|%s|%s|%d|%s" % (m.offset(), m.key().decode(), m.value().decode(), m.timestamp()[1], h)); n += 1
c.close()
"#;
        assert_eq!(
            python_json_lines(librdkafka, &[&bootstrap, &topic]),
            expected,
            "confluent-kafka, {codec}"
        );
    }
}

#[test]
fn leader_moves_and_retriable_errors_lose_and_duplicate_nothing() {
    let mut mock = support::mock::MockCluster::start(3).unwrap();
    let topic = support::unique_topic("producer-faults");
    mock.create_topic(&topic, 3, 3).unwrap();
    let producer = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(mock.bootstrap())
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // The mock cluster does not check sequence numbers, so a batch
            // already in flight behind a failing one would be appended first;
            // a real broker answers OUT_OF_ORDER_SEQUENCE_NUMBER instead (see
            // the ordering rules in src/producer/sender.rs). One request in
            // flight per connection keeps this test about the client's rules.
            .set("max.in.flight.requests.per.connection", 1)
            .set("linger.ms", 2)
            .set("batch.size", 2000)
            .set("retry.backoff.ms", 20)
            .set("request.timeout.ms", 3000),
    )
    .unwrap();
    let n = 6000;
    let mut handles = Vec::new();
    for i in 0..n {
        let key = format!("key-{}", i % 30);
        let value = format!("{key}:{i}");
        handles.push(
            producer
                .send(ProducerRecord::new(&topic, value.as_bytes()).key(key.as_bytes()))
                .unwrap(),
        );
        match i {
            1000 => {
                mock.push_errors(
                    "Produce",
                    4,
                    &[
                        "NOT_LEADER_OR_FOLLOWER",
                        "REQUEST_TIMED_OUT",
                        "NOT_ENOUGH_REPLICAS",
                    ],
                )
                .unwrap();
            }
            2000 => mock.leader(&topic, 0, 2).unwrap(),
            3000 => {
                mock.leader(&topic, 1, 3).unwrap();
                mock.push_errors(
                    "Produce",
                    3,
                    &["NOT_ENOUGH_REPLICAS_AFTER_APPEND", "NETWORK_EXCEPTION"],
                )
                .unwrap();
            }
            4500 => mock.leader(&topic, 2, 1).unwrap(),
            _ => {}
        }
        if i % 500 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let mut per_partition: BTreeMap<i32, Vec<(i64, usize)>> = BTreeMap::new();
    for (i, h) in handles.iter().enumerate() {
        let md = h
            .wait()
            .unwrap_or_else(|e| panic!("record {i} failed: {e}"));
        per_partition
            .entry(md.partition)
            .or_default()
            .push((md.offset, i));
    }
    assert!(
        producer.metrics().retries > 0,
        "the injected errors should have caused retries"
    );
    producer.close(None).unwrap();
    let admin = AdminClient::new(AdminConfig::new().bootstrap_servers(mock.bootstrap())).unwrap();
    for (p, acked) in per_partition {
        let log = support::log::read_partition(admin.cluster(), &topic, p, 0);
        let values: Vec<usize> = log
            .iter()
            .map(|r| {
                let v = String::from_utf8(r.value.as_deref().unwrap().to_vec()).unwrap();
                v.rsplit(':').next().unwrap().parse().unwrap()
            })
            .collect();
        let sent: Vec<usize> = acked.iter().map(|(_, i)| *i).collect();
        // Exactly the acknowledged records, once each, in send order.
        if values != sent {
            let first = values
                .iter()
                .zip(&sent)
                .position(|(a, b)| a != b)
                .unwrap_or(values.len().min(sent.len()));
            let lo = first.saturating_sub(3);
            panic!(
                "partition {p}: log has {} records, {} acknowledged; first difference at {first}: log {:?} sent {:?}",
                values.len(),
                sent.len(),
                &values[lo..(first + 5).min(values.len())],
                &sent[lo..(first + 5).min(sent.len())]
            );
        }
        let acked_offsets: Vec<i64> = acked.iter().map(|(o, _)| *o).collect();
        let log_offsets: Vec<i64> = log.iter().map(|r| r.offset).collect();
        if acked_offsets != log_offsets {
            let first = acked_offsets
                .iter()
                .zip(&log_offsets)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            let lo = first.saturating_sub(3);
            panic!(
                "partition {p}: acknowledged offsets differ from the log at index {first}: acked {:?} log {:?}",
                &acked_offsets[lo..(first + 5).min(acked_offsets.len())],
                &log_offsets[lo..(first + 5).min(log_offsets.len())]
            );
        }
    }
}
