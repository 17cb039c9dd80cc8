//! The consumer on the librdkafka mock cluster (3 brokers): acceptance 5 of
//! the consumer issue (a leader move in the middle of consumption loses and
//! repeats nothing), and acceptance 3's "after seeking past the end" (tansu
//! never answers OFFSET_OUT_OF_RANGE; the mock does).

#[path = "support/mod.rs"]
mod support;

#[path = "consumer_util/mod.rs"]
mod util;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_blocking::KafkaCode;
use kafka_blocking::consumer::{Consumer, TopicPartition};
use support::mock::MockCluster;

use util::{consumer, python};

/// Produces `count` records per partition (`partitions` of them) with
/// confluent-kafka: value `p{partition}-{i}` for i in first..first+count.
const PRODUCE: &str = r#"
import sys
from confluent_kafka import Producer
boot, topic, partitions, first, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
p = Producer({'bootstrap.servers': boot, 'linger.ms': 5, 'batch.num.messages': 20})
errors = []
def cb(err, msg):
    if err is not None:
        errors.append(str(err))
for i in range(first, first + count):
    for part in range(partitions):
        p.produce(topic, value=b'p%d-%d' % (part, i), partition=part, on_delivery=cb)
    p.poll(0)
if p.flush(20) != 0 or errors:
    raise SystemExit('produce failed: %s' % errors[:3])
"#;

fn produce(mock: &MockCluster, topic: &str, partitions: i32, first: i64, count: i64) {
    python(
        PRODUCE,
        &[
            mock.bootstrap(),
            topic,
            &partitions.to_string(),
            &first.to_string(),
            &count.to_string(),
        ],
    );
}

/// Reads until every partition has `want` records in total in `got`.
fn read_until(
    c: &mut Consumer,
    got: &mut BTreeMap<i32, Vec<(i64, String)>>,
    want: usize,
    partitions: i32,
    timeout: Duration,
) {
    let deadline = Instant::now() + timeout;
    while (0..partitions).any(|p| got.get(&p).map_or(0, Vec::len) < want) {
        assert!(
            Instant::now() < deadline,
            "timed out; have {:?}",
            got.iter().map(|(p, v)| (p, v.len())).collect::<Vec<_>>()
        );
        for r in c.poll(Duration::from_millis(200)).unwrap() {
            let v = String::from_utf8(r.value.as_deref().unwrap().to_vec()).unwrap();
            got.entry(r.partition).or_default().push((r.offset, v));
        }
    }
}

fn check_exactly_once(got: &BTreeMap<i32, Vec<(i64, String)>>, want: i64) {
    for (p, recs) in got {
        let offsets: Vec<i64> = recs.iter().map(|r| r.0).collect();
        assert_eq!(
            offsets,
            (0..want).collect::<Vec<_>>(),
            "partition {p}: every offset once, in order"
        );
        for (o, v) in recs {
            assert_eq!(v, &format!("p{p}-{o}"), "partition {p} offset {o}");
        }
    }
}

#[test]
fn leader_move_mid_consumption_loses_and_repeats_nothing() {
    util::init_log();
    let mut mock = MockCluster::start(3).expect("mock cluster");
    let topic = support::unique_topic("consumer-leader-move");
    mock.create_topic(&topic, 2, 3).unwrap();
    produce(&mock, &topic, 2, 0, 300);

    let mut c = consumer(
        mock.bootstrap(),
        &[
            ("auto.offset.reset", "earliest"),
            ("max.poll.records", "25"),
        ],
    );
    let tps: Vec<TopicPartition> = (0..2).map(|p| TopicPartition::new(&topic, p)).collect();
    c.assign(tps.clone()).unwrap();
    let mut got = BTreeMap::new();
    read_until(&mut c, &mut got, 100, 2, Duration::from_secs(60));

    // Move both leaders (1 -> 3, 2 -> 1) while fetches are in flight.
    mock.leader(&topic, 0, 3).unwrap();
    mock.leader(&topic, 1, 1).unwrap();
    read_until(&mut c, &mut got, 300, 2, Duration::from_secs(60));
    // Records produced after the move come from the new leaders.
    produce(&mock, &topic, 2, 300, 50);
    mock.leader(&topic, 0, 2).unwrap();
    read_until(&mut c, &mut got, 350, 2, Duration::from_secs(60));
    check_exactly_once(&got, 350);
    assert!(
        c.poll(Duration::from_millis(300)).unwrap().is_empty(),
        "nothing repeated at the end"
    );
    c.close();
}

#[test]
fn fetch_errors_are_retried_without_loss() {
    util::init_log();
    let mut mock = MockCluster::start(3).expect("mock cluster");
    let topic = support::unique_topic("consumer-fetch-errors");
    mock.create_topic(&topic, 2, 3).unwrap();
    produce(&mock, &topic, 2, 0, 200);
    let mut c = consumer(
        mock.bootstrap(),
        &[
            ("auto.offset.reset", "earliest"),
            ("max.poll.records", "30"),
        ],
    );
    c.assign((0..2).map(|p| TopicPartition::new(&topic, p)))
        .unwrap();
    let mut got = BTreeMap::new();
    read_until(&mut c, &mut got, 50, 2, Duration::from_secs(60));
    mock.push_errors(
        "Fetch",
        6,
        &[
            "NOT_LEADER_OR_FOLLOWER",
            "FENCED_LEADER_EPOCH",
            "UNKNOWN_LEADER_EPOCH",
            "UNKNOWN_TOPIC_OR_PARTITION",
        ],
    )
    .unwrap();
    read_until(&mut c, &mut got, 120, 2, Duration::from_secs(60));
    // The same errors at the partition level.
    for err in [
        "NOT_LEADER_OR_FOLLOWER",
        "FENCED_LEADER_EPOCH",
        "UNKNOWN_LEADER_EPOCH",
        "UNKNOWN_TOPIC_OR_PARTITION",
    ] {
        mock.cmd(&format!("partition_errors {topic} 0 Fetch {err} {err}"))
            .unwrap();
    }
    read_until(&mut c, &mut got, 200, 2, Duration::from_secs(60));
    check_exactly_once(&got, 200);
    c.close();
}

/// auto.offset.reset after seeking past the end of the log.
#[test]
fn reset_after_seeking_past_the_end() {
    util::init_log();
    let mut mock = MockCluster::start(1).expect("mock cluster");
    let topic = support::unique_topic("consumer-reset-past-end");
    mock.create_topic(&topic, 1, 1).unwrap();
    produce(&mock, &topic, 1, 0, 5);
    let tp = TopicPartition::new(&topic, 0);
    let offsets = |c: &mut Consumer, n: usize| -> Vec<i64> {
        util::read_n(c, n, Duration::from_secs(60))
            .iter()
            .map(|r| r.offset)
            .collect()
    };

    let mut earliest = consumer(mock.bootstrap(), &[("auto.offset.reset", "earliest")]);
    earliest.assign(vec![tp.clone()]).unwrap();
    assert_eq!(offsets(&mut earliest, 5), [0, 1, 2, 3, 4]);
    earliest.seek(&tp, 1000).unwrap();
    assert_eq!(
        offsets(&mut earliest, 5),
        [0, 1, 2, 3, 4],
        "earliest: back to the beginning"
    );

    let mut latest = consumer(mock.bootstrap(), &[("auto.offset.reset", "latest")]);
    latest.assign(vec![tp.clone()]).unwrap();
    assert_eq!(latest.position(&tp).unwrap(), 5);
    latest.seek(&tp, 1000).unwrap();
    assert!(latest.poll(Duration::from_millis(500)).unwrap().is_empty());
    assert_eq!(latest.position(&tp).unwrap(), 5, "latest: to the end");
    produce(&mock, &topic, 1, 5, 2);
    assert_eq!(offsets(&mut latest, 2), [5, 6], "then only new records");

    let mut none = consumer(mock.bootstrap(), &[("auto.offset.reset", "none")]);
    none.assign(vec![tp.clone()]).unwrap();
    assert!(
        none.poll(Duration::from_millis(100))
            .unwrap_err()
            .to_string()
            .contains(&tp.to_string())
    );
    none.seek(&tp, 1000).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let e = loop {
        match none.poll(Duration::from_millis(200)) {
            Err(e) => break e,
            Ok(rs) => assert!(rs.is_empty()),
        }
        assert!(Instant::now() < deadline, "no OFFSET_OUT_OF_RANGE error");
    };
    assert_eq!(e.kafka_code(), Some(KafkaCode::OffsetOutOfRange), "{e}");
    assert!(
        e.to_string().contains(&tp.to_string()) && e.to_string().contains("1000"),
        "{e}"
    );
    assert_eq!(
        none.position(&tp).unwrap(),
        1000,
        "none: the position is left alone"
    );
    none.seek(&tp, 3).unwrap();
    assert_eq!(offsets(&mut none, 4), [3, 4, 5, 6]);
}
