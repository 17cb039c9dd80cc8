//! Acceptance 3 of the consumer issue: auto.offset.reset earliest, latest and
//! none on a fresh partition (tansu). The "after seeking past the end" half
//! runs on the mock cluster (`consumer_mock.rs`): tansu answers a fetch past
//! the end with no data and no OFFSET_OUT_OF_RANGE (kafka-python and
//! confluent-kafka then wait forever too), so there is nothing to reset on.

#[path = "support/mod.rs"]
mod support;

#[path = "consumer_util/mod.rs"]
mod util;

use std::time::Duration;

use kafka_blocking::consumer::{Consumer, TopicPartition};

use util::{consumer, create_topic, python, read_n};

/// Produces values `v{first}`..`v{first+count-1}` to partition 0, one record
/// per batch (so that tansu's end offset, "last batch base + 1", is exact).
const PRODUCE: &str = r#"
import sys
from kafka import KafkaProducer
boot, topic, first, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
p = KafkaProducer(bootstrap_servers=boot, linger_ms=0)
for i in range(first, first + count):
    p.send(topic, value=b'v%d' % i, partition=0).get(timeout=10)
p.close()
"#;

fn produce(bootstrap: &str, topic: &str, first: i64, count: i64) {
    python(
        PRODUCE,
        &[bootstrap, topic, &first.to_string(), &count.to_string()],
    );
}

fn offsets(c: &mut Consumer, n: usize) -> Vec<i64> {
    read_n(c, n, Duration::from_secs(60))
        .iter()
        .map(|r| r.offset)
        .collect()
}

fn setup(name: &str) -> (String, String, TopicPartition) {
    util::init_log();
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic(name);
    create_topic(&bootstrap, &topic, 1);
    produce(&bootstrap, &topic, 0, 5);
    let tp = TopicPartition::new(&topic, 0);
    (bootstrap, topic, tp)
}

#[test]
fn earliest() {
    let (bootstrap, _topic, tp) = setup("consumer-reset-earliest");
    let mut c = consumer(&bootstrap, &[("auto.offset.reset", "earliest")]);
    c.assign(vec![tp.clone()]).unwrap();
    assert_eq!(
        offsets(&mut c, 5),
        [0, 1, 2, 3, 4],
        "fresh partition starts at the beginning"
    );
    // A later seek_to_beginning goes back there; the blocking iterator
    // yields everything and ends once nothing new arrives.
    c.seek_to_beginning(&[]).unwrap();
    // The iterator ends at the first poll that returns nothing: give that
    // poll time for the reset and a fetch on a busy machine (300 ms was not
    // always enough).
    let all: Vec<i64> = c
        .iter(Duration::from_secs(3))
        .map(|r| r.unwrap().offset)
        .collect();
    assert_eq!(all, [0, 1, 2, 3, 4]);
    c.close();
}

#[test]
fn latest() {
    let (bootstrap, topic, tp) = setup("consumer-reset-latest");
    let mut c = consumer(&bootstrap, &[("auto.offset.reset", "latest")]);
    c.assign(vec![tp.clone()]).unwrap();
    assert_eq!(
        c.position(&tp).unwrap(),
        5,
        "fresh partition starts at the end"
    );
    assert!(c.poll(Duration::from_millis(300)).unwrap().is_empty());
    produce(&bootstrap, &topic, 5, 2);
    assert_eq!(
        offsets(&mut c, 2),
        [5, 6],
        "only records produced after the reset"
    );
    // A second fresh consumer with latest starts after those.
    let mut c2 = consumer(&bootstrap, &[("auto.offset.reset", "latest")]);
    c2.assign(vec![tp.clone()]).unwrap();
    // position() waits for the reset to "latest" (ListOffsets). A poll(300 ms)
    // alone did not always get that far on a busy machine: the reset then
    // resolved after v7 was produced, and v7 was skipped.
    assert_eq!(c2.position(&tp).unwrap(), 7, "starts at the end");
    assert!(c2.poll(Duration::from_millis(300)).unwrap().is_empty());
    produce(&bootstrap, &topic, 7, 1);
    let got = read_n(&mut c2, 1, Duration::from_secs(60));
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), [7]);
    assert_eq!(got[0].value.as_deref(), Some(&b"v7"[..]));
    assert_eq!(offsets(&mut c, 1), [7]);
    c.close();
}

#[test]
fn none() {
    let (bootstrap, _topic, tp) = setup("consumer-reset-none");
    let mut c = consumer(&bootstrap, &[("auto.offset.reset", "none")]);
    c.assign(vec![tp.clone()]).unwrap();
    // Fresh partition: an error naming the partition, from poll and position.
    let e = c.poll(Duration::from_millis(200)).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains(&tp.to_string()) && text.contains("auto.offset.reset=none"),
        "{text}"
    );
    assert!(
        c.position(&tp)
            .unwrap_err()
            .to_string()
            .contains(&tp.to_string())
    );
    // With a position it reads.
    c.seek(&tp, 2).unwrap();
    assert_eq!(offsets(&mut c, 3), [2, 3, 4]);
    // seek_to_beginning recovers.
    c.seek_to_beginning(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(offsets(&mut c, 5), [0, 1, 2, 3, 4]);
    c.close();
}
