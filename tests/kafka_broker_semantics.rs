//! What only a real Apache Kafka answers correctly, checked against ideal values
//! (the tansu and mock-cluster suites compare with what those brokers say, or
//! leave these cases out):
//! - the high watermark is the log end offset (tansu: base offset of the last
//!   batch + 1), and ListOffsets by timestamp finds the first record at or after
//!   the timestamp (tansu: always 0);
//! - a fetch past the end is answered OFFSET_OUT_OF_RANGE, so
//!   auto.offset.reset applies (tansu answers with no data and no error; the
//!   mock-cluster version of this test is `consumer_mock.rs`).
//!
//! Runs in the Apache Kafka pass of `scripts/test.sh` (`tests/kafka_*.rs`); on
//! another broker (a plain `cargo test` on tansu) each test says it is skipped.

#[path = "support/mod.rs"]
mod support;

#[path = "consumer_util/mod.rs"]
mod util;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_blocking::consumer::{Consumer, TopicPartition};
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::{KafkaCode, ProducerConfig};

/// Produces `count` records `v{first..}` to partition 0 of `topic`, `per_batch`
/// to a batch (each batch flushed before the next), record i stamped
/// `base_ts + i * 1000`.
fn produce(bootstrap: &str, topic: &str, first: i64, count: i64, per_batch: i64, base_ts: i64) {
    let p = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(bootstrap)
            .set("linger.ms", 1000)
            .set("acks", "all"),
    )
    .unwrap();
    let mut i = first;
    while i < first + count {
        let handles: Vec<_> = (i..(i + per_batch).min(first + count))
            .map(|j| {
                let v = format!("v{j}");
                p.send(
                    ProducerRecord::new(topic, v.as_bytes())
                        .partition(0)
                        .timestamp(base_ts + j * 1000),
                )
                .unwrap()
            })
            .collect();
        p.flush().unwrap();
        for h in handles {
            h.wait().unwrap();
        }
        i += per_batch;
    }
    p.close(None).unwrap();
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn offsets(c: &mut Consumer, n: usize) -> Vec<i64> {
    util::read_n(c, n, Duration::from_secs(60))
        .iter()
        .map(|r| r.offset)
        .collect()
}

#[test]
fn end_offsets_and_offsets_for_times_are_exact() {
    let Some(bootstrap) = support::kafka::kafka_bootstrap() else {
        return;
    };
    let topic = support::unique_topic("exact-offsets");
    util::create_topic(&bootstrap, &topic, 1);
    // An hour ago: recent enough that retention keeps it.
    let base = now_ms() - 3_600_000;
    produce(&bootstrap, &topic, 0, 100, 10, base);
    let tp = TopicPartition::new(&topic, 0);
    let mut c = util::consumer(&bootstrap, &[]);
    assert_eq!(
        c.end_offsets(std::slice::from_ref(&tp)).unwrap()[&tp],
        100,
        "the high watermark is the log end, not the last batch's base + 1"
    );
    assert_eq!(
        c.beginning_offsets(std::slice::from_ref(&tp)).unwrap()[&tp],
        0
    );
    let found = c.offsets_for_times(&[(tp.clone(), base + 35_000)]).unwrap();
    let at = found[&tp]
        .as_ref()
        .expect("an offset for a timestamp inside the log");
    assert_eq!((at.offset, at.timestamp), (35, base + 35_000));
    // Between two records: the next one.
    let found = c.offsets_for_times(&[(tp.clone(), base + 35_500)]).unwrap();
    assert_eq!(found[&tp].as_ref().map(|o| o.offset), Some(36));
    // After the last record: none.
    let found = c
        .offsets_for_times(&[(tp.clone(), base + 100_000)])
        .unwrap();
    assert!(found[&tp].is_none(), "{found:?}");
    c.close();
}

#[test]
fn seek_past_the_end_resets_per_policy() {
    util::init_log();
    let Some(bootstrap) = support::kafka::kafka_bootstrap() else {
        return;
    };
    let topic = support::unique_topic("reset-past-end");
    util::create_topic(&bootstrap, &topic, 1);
    produce(&bootstrap, &topic, 0, 5, 1, now_ms());
    let tp = TopicPartition::new(&topic, 0);

    let mut earliest = util::consumer(&bootstrap, &[("auto.offset.reset", "earliest")]);
    earliest.assign(vec![tp.clone()]).unwrap();
    assert_eq!(offsets(&mut earliest, 5), [0, 1, 2, 3, 4]);
    earliest.seek(&tp, 1000).unwrap();
    assert_eq!(
        offsets(&mut earliest, 5),
        [0, 1, 2, 3, 4],
        "earliest: back to the beginning"
    );

    let mut latest = util::consumer(&bootstrap, &[("auto.offset.reset", "latest")]);
    latest.assign(vec![tp.clone()]).unwrap();
    assert_eq!(latest.position(&tp).unwrap(), 5);
    latest.seek(&tp, 1000).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while latest.position(&tp).unwrap() != 5 {
        assert!(latest.poll(Duration::from_millis(200)).unwrap().is_empty());
        assert!(Instant::now() < deadline, "latest: never reset to the end");
    }
    produce(&bootstrap, &topic, 5, 2, 1, now_ms());
    assert_eq!(offsets(&mut latest, 2), [5, 6], "then only new records");

    let mut none = util::consumer(&bootstrap, &[("auto.offset.reset", "none")]);
    none.assign(vec![tp.clone()]).unwrap();
    none.seek(&tp, 1000).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let e = loop {
        match none.poll(Duration::from_millis(200)) {
            Err(e) => break e,
            Ok(rs) => assert!(rs.is_empty()),
        }
        assert!(Instant::now() < deadline, "no OFFSET_OUT_OF_RANGE error");
    };
    assert_eq!(e.kafka_code(), Some(KafkaCode::OffsetOutOfRange), "{e}");
    assert!(e.to_string().contains(&tp.to_string()), "{e}");
    // The application decides: seek back and read on.
    none.seek(&tp, 3).unwrap();
    assert_eq!(offsets(&mut none, 4), [3, 4, 5, 6]);
    earliest.close();
    latest.close();
    none.close();
}

/// Issue 12, point 8: commits carry the leader epoch of the consumed record
/// (KIP-320), and `committed` returns it, so a member resuming from a commit
/// detects a log truncated below it.
#[test]
fn commits_carry_the_leader_epoch_of_the_consumed_record() {
    let Some(bootstrap) = support::kafka::kafka_bootstrap() else {
        return;
    };
    let topic = support::unique_topic("commit-epoch");
    util::create_topic(&bootstrap, &topic, 1);
    produce(&bootstrap, &topic, 0, 5, 5, now_ms());
    let tp = TopicPartition::new(&topic, 0);
    let group = support::unique_topic("commit-epoch-group");
    let mut c = util::consumer(
        &bootstrap,
        &[
            ("group.id", &group),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
        ],
    );
    c.assign(vec![tp.clone()]).unwrap();
    assert_eq!(offsets(&mut c, 5), [0, 1, 2, 3, 4]);
    c.commit_sync().unwrap();
    let committed = c.committed(std::slice::from_ref(&tp)).unwrap();
    let om = committed[&tp].clone().expect("a committed offset");
    assert_eq!(om.offset, 5);
    assert_eq!(
        om.leader_epoch,
        Some(0),
        "the epoch of the record before the committed offset (a new topic's first leader)"
    );
    c.close();
}
