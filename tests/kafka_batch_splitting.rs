//! Issue 12, point 5: oversized batches are split.
//!
//! A topic whose `max.message.bytes` is below the producer's `batch.size`
//! answers MESSAGE_TOO_LARGE to a batch of records that each fit on their own.
//! The producer splits such a batch (as Java's `splitAndReenqueue`) and sends
//! the parts in record order; an idempotent producer numbers the parts from
//! the big batch's first sequence on, so the broker sees no gap and the
//! producer id is kept. A record too large on its own fails alone, with an
//! error that names the limit; the records beside it are delivered.
//!
//! Checked against a real Apache Kafka node (tansu does not enforce
//! `max.message.bytes`): the records' handles, the records read back with the
//! consumer, and the raw batches of the log (one producer id and epoch,
//! sequence numbers without a gap).
//!
//! Runs in the Apache Kafka pass of `scripts/test.sh` (`tests/kafka_*.rs`); on
//! another broker (a plain `cargo test` on tansu) each test says it is skipped.

#[path = "support/mod.rs"]
mod support;

#[path = "consumer_util/mod.rs"]
mod util;

use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::consumer::TopicPartition;
use kafka_blocking::producer::{DeliveryFuture, Producer, ProducerRecord};
use kafka_blocking::unstable::cluster::{Cluster, ClusterSettings, parse_bootstrap};
use kafka_blocking::unstable::net::ConnectionSettings;
use kafka_blocking::unstable::net::pool::Backoff;
use kafka_blocking::unstable::protocol::messages::FetchRequest;
use kafka_blocking::unstable::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_blocking::unstable::protocol::records::{DecodeOptions, RecordBatch, decode_batches};
use kafka_blocking::{AdminConfig, KafkaCode, ProducerConfig};

/// The topic's `max.message.bytes`: about 12 of the test's small records.
const LIMIT: usize = 4096;
/// Small records: each fits a batch on its own, 300 of them do not.
const SMALL: usize = 300;

/// Creates a one-partition topic whose batches may not exceed [`LIMIT`] bytes.
fn create_limited_topic(bootstrap: &str, topic: &str) {
    let admin = AdminClient::new(
        AdminConfig::new()
            .bootstrap_servers(bootstrap)
            .set("default.api.timeout.ms", 20000),
    )
    .unwrap();
    admin
        .create_topic(NewTopic::new(topic, 1, 1).config("max.message.bytes", &LIMIT.to_string()))
        .unwrap();
    admin.close();
}

/// A producer that puts everything sent before a flush in one batch: a
/// large `batch.size`, a `linger.ms` longer than the test.
fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> Producer {
    let mut c = ProducerConfig::new()
        .bootstrap_servers(bootstrap)
        .set("acks", "all")
        .set("linger.ms", 60_000)
        .set("batch.size", 262_144)
        .set("retry.backoff.ms", 50);
    for (k, v) in extra {
        c = c.set(k, v);
    }
    Producer::new(c).unwrap()
}

/// Record `i`'s value: its number, then `len` bytes that do not compress.
fn value(i: usize, len: usize) -> Vec<u8> {
    let mut v = format!("rec-{i:06}-").into_bytes();
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x as u8);
    }
    v
}

fn send(p: &Producer, topic: &str, v: &[u8]) -> DeliveryFuture {
    p.send(ProducerRecord::new(topic, v).partition(0)).unwrap()
}

/// A cluster handle for raw fetches.
fn cluster(bootstrap: &str) -> Cluster {
    let servers: Vec<String> = bootstrap.split(',').map(str::to_string).collect();
    Cluster::new(ClusterSettings {
        bootstrap: parse_bootstrap(&servers).unwrap(),
        connection: ConnectionSettings {
            client_id: Some("batch-splitting-test".into()),
            ..Default::default()
        },
        reconnect_backoff: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(1000),
        },
        retry_backoff: Duration::from_millis(100),
        retry_backoff_max: Duration::from_millis(1000),
        metadata_max_age: Duration::from_secs(300),
        allow_auto_create_topics: false,
    })
}

/// Every batch of `topic`-0, as stored by the broker.
fn raw_batches(bootstrap: &str, topic: &str) -> Vec<RecordBatch> {
    let cluster = cluster(bootstrap);
    let md = cluster
        .wait_for_topic(topic, Instant::now() + Duration::from_secs(20))
        .unwrap();
    let conn = cluster.connection(md.partitions[0].leader).unwrap();
    let mut out: Vec<RecordBatch> = Vec::new();
    loop {
        let next = out.last().map_or(0, RecordBatch::next_offset);
        let req = FetchRequest {
            replica_id: -1,
            max_wait_ms: 10,
            min_bytes: 1,
            max_bytes: 50 << 20,
            session_epoch: -1,
            topics: vec![FetchTopic {
                topic: topic.to_string(),
                topic_id: md.topic_id,
                partitions: vec![FetchPartition {
                    partition: 0,
                    fetch_offset: next,
                    partition_max_bytes: 8 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let resp = conn.request(&req).unwrap();
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "raw fetch of {topic}-0 at {next}");
        let before = out.len();
        for b in decode_batches(
            p.records.clone().unwrap_or_default(),
            DecodeOptions::default(),
        ) {
            let b = b.unwrap();
            if b.next_offset() > next {
                out.push(b);
            }
        }
        if out.len() == before {
            cluster.close();
            return out;
        }
    }
}

/// The log holds `expected` (in order, each once), in batches no larger
/// than [`LIMIT`]. With `idempotent`: every batch has the same producer id
/// and epoch (no producer id reset, no epoch bump), and their sequence
/// numbers run from 0 without a gap.
fn check_log(bootstrap: &str, topic: &str, expected: &[Vec<u8>], idempotent: bool) {
    // What a consumer reads.
    let tp = TopicPartition::new(topic, 0);
    let mut c = util::consumer(bootstrap, &[]);
    c.assign(vec![tp.clone()]).unwrap();
    c.seek(&tp, 0).unwrap();
    // (The raw batches below show that there is nothing more.)
    let got = util::read_n(&mut c, expected.len(), Duration::from_secs(30));
    c.close();
    assert_eq!(got.len(), expected.len(), "records read back");
    for (i, (r, want)) in got.iter().zip(expected).enumerate() {
        assert_eq!(r.offset, i as i64, "offsets without a gap");
        assert_eq!(
            r.value.as_deref(),
            Some(&want[..]),
            "record at offset {i}: send order kept, no duplicate"
        );
    }

    // What the broker stored.
    let batches = raw_batches(bootstrap, topic);
    assert!(
        batches.len() > 1,
        "the records had to be split: {} batch(es)",
        batches.len()
    );
    let records: usize = batches.iter().map(|b| b.records.len()).sum();
    assert_eq!(records, expected.len());
    let first = &batches[0];
    let mut sequence = 0;
    for b in &batches {
        let size = b.batch_length as usize + 12;
        assert!(
            size <= LIMIT,
            "a stored batch of {size} bytes > max.message.bytes"
        );
        if idempotent {
            assert_eq!(
                (b.producer_id, b.producer_epoch),
                (first.producer_id, first.producer_epoch),
                "the producer id and epoch stay the same (no reset) at offset {}",
                b.base_offset
            );
            assert!(first.producer_id >= 0, "an idempotent producer's batch");
            assert_eq!(
                b.base_sequence, sequence,
                "sequence numbers without a gap at offset {}",
                b.base_offset
            );
            sequence += b.records_count;
        }
    }
}

/// Sends `small` records, one record larger than the topic allows, and
/// `small` more records, in one batch; checks that only the large one
/// failed, with an error naming the limit. Returns the delivered values.
fn send_with_one_too_large(p: &Producer, topic: &str, first: usize, small: usize) -> Vec<Vec<u8>> {
    let before: Vec<Vec<u8>> = (first..first + small).map(|i| value(i, 200)).collect();
    let big = value(first + small, 2 * LIMIT);
    let after: Vec<Vec<u8>> = (first + small + 1..first + 2 * small + 1)
        .map(|i| value(i, 200))
        .collect();
    let hb: Vec<_> = before.iter().map(|v| send(p, topic, v)).collect();
    let hbig = send(p, topic, &big);
    let ha: Vec<_> = after.iter().map(|v| send(p, topic, v)).collect();
    let flushed = p.flush().expect_err("flush reports the record that failed");
    assert_eq!(
        flushed.kafka_code(),
        Some(KafkaCode::MessageTooLarge),
        "{flushed}"
    );
    assert!(flushed.to_string().contains("1 record(s)"), "{flushed}");

    let e = hbig
        .wait()
        .expect_err("a record larger than the topic allows");
    assert_eq!(e.kafka_code(), Some(KafkaCode::MessageTooLarge), "{e}");
    let text = e.to_string();
    for needle in ["max.message.bytes", "message.max.bytes", topic] {
        assert!(text.contains(needle), "the error names {needle}: {text}");
    }
    assert!(
        text.contains("smaller records"),
        "the error says what to do: {text}"
    );

    let mut offset = None;
    for h in hb.iter().chain(&ha) {
        let md = h.wait().expect("the records beside it are delivered");
        if let Some(o) = offset {
            assert_eq!(md.offset, o + 1, "in send order");
        }
        offset = Some(md.offset);
    }
    before.into_iter().chain(after).collect()
}

#[test]
fn oversized_batches_are_split() {
    util::init_log();
    let Some(bootstrap) = support::kafka::kafka_bootstrap() else {
        return;
    };
    let topic = support::unique_topic("oversized-batches");
    create_limited_topic(&bootstrap, &topic);
    let p = producer(
        &bootstrap,
        &[
            ("enable.idempotence", "true"),
            ("max.in.flight.requests.per.connection", "5"),
        ],
    );

    // (a) Records that fit alone but not together: every one acknowledged,
    // at consecutive offsets in send order.
    let values: Vec<Vec<u8>> = (0..SMALL).map(|i| value(i, 300)).collect();
    let handles: Vec<_> = values.iter().map(|v| send(&p, &topic, v)).collect();
    p.flush()
        .expect("every record fits the topic's max.message.bytes");
    for (i, h) in handles.iter().enumerate() {
        let md = h.wait().unwrap();
        assert_eq!(md.offset, i as i64, "record {i}");
    }

    // (b) One record too large among small ones: it alone fails.
    let mut expected = values;
    expected.extend(send_with_one_too_large(&p, &topic, SMALL, 20));

    let m = p.metrics();
    assert_eq!(m.records_failed, 1, "{m:?}");
    assert_eq!(m.records_sent, expected.len() as u64, "{m:?}");
    p.close(None).unwrap();

    // (c) No duplicate, no gap, one producer id and epoch throughout.
    check_log(&bootstrap, &topic, &expected, true);
}

#[test]
fn a_record_too_large_alone_fails_without_a_producer_id_reset() {
    util::init_log();
    let Some(bootstrap) = support::kafka::kafka_bootstrap() else {
        return;
    };
    let topic = support::unique_topic("too-large-alone");
    create_limited_topic(&bootstrap, &topic);
    // No linger, small batches: the large record has a batch of its own,
    // and the small ones after it follow in other batches, in flight behind
    // it (timing permitting).
    let p = producer(
        &bootstrap,
        &[
            ("enable.idempotence", "true"),
            ("linger.ms", "0"),
            ("batch.size", "1024"),
            ("max.in.flight.requests.per.connection", "5"),
        ],
    );
    let mut expected = Vec::new();
    let mut handles = Vec::new();
    let mut large = Vec::new();
    let big = value(usize::MAX / 2, 2 * LIMIT);
    for round in 0..6 {
        if round > 0 {
            large.push(send(&p, &topic, &big));
        }
        for i in 0..40 {
            let v = value(round * 100 + i, 200);
            handles.push(send(&p, &topic, &v));
            expected.push(v);
        }
        if round == 0 {
            // The partition has acknowledged batches: later ones pipeline.
            for h in &handles {
                h.wait().unwrap();
            }
        }
    }
    let flushed = p
        .flush()
        .expect_err("flush reports the records that failed");
    assert!(flushed.to_string().contains("5 record(s)"), "{flushed}");
    for h in &large {
        let e = h.wait().expect_err("a record larger than the topic allows");
        assert_eq!(e.kafka_code(), Some(KafkaCode::MessageTooLarge), "{e}");
        assert!(e.to_string().contains("max.message.bytes"), "{e}");
    }
    for (i, h) in handles.iter().enumerate() {
        assert_eq!(h.wait().unwrap().offset, i as i64, "record {i}");
    }
    p.close(None).unwrap();
    check_log(&bootstrap, &topic, &expected, true);
}

#[test]
fn oversized_compressed_batches_are_split_without_idempotence() {
    util::init_log();
    let Some(bootstrap) = support::kafka::kafka_bootstrap() else {
        return;
    };
    let topic = support::unique_topic("oversized-gzip");
    create_limited_topic(&bootstrap, &topic);
    // One request in flight keeps the order without sequence numbers.
    let p = producer(
        &bootstrap,
        &[
            ("enable.idempotence", "false"),
            ("max.in.flight.requests.per.connection", "1"),
            ("compression.type", "gzip"),
        ],
    );
    let values: Vec<Vec<u8>> = (0..SMALL).map(|i| value(i, 300)).collect();
    let handles: Vec<_> = values.iter().map(|v| send(&p, &topic, v)).collect();
    p.flush().expect("every record fits");
    for (i, h) in handles.iter().enumerate() {
        assert_eq!(h.wait().unwrap().offset, i as i64, "record {i}");
    }
    let mut expected = values;
    expected.extend(send_with_one_too_large(&p, &topic, SMALL, 20));
    p.close(None).unwrap();
    check_log(&bootstrap, &topic, &expected, false);
}
