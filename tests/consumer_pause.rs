//! Acceptance 4 of the consumer issue: a paused partition returns nothing
//! while others keep flowing, and resumes exactly where it stopped (tansu).

#[path = "support/mod.rs"]
mod support;

#[path = "consumer_util/mod.rs"]
mod util;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_blocking::consumer::TopicPartition;

use util::{consumer, create_topic, python};

/// Produces values `p{partition}-{i}` for i in first..first+count to partitions 0 and 1.
const PRODUCE: &str = r#"
import sys
from kafka import KafkaProducer
boot, topic, first, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
p = KafkaProducer(bootstrap_servers=boot, linger_ms=5, batch_size=200)
fs = [p.send(topic, value=b'p%d-%d' % (part, i), partition=part) for i in range(first, first + count) for part in (0, 1)]
p.flush()
for f in fs:
    f.get(timeout=10)
p.close()
"#;

#[test]
fn paused_partition_returns_nothing_and_resumes_where_it_stopped() {
    util::init_log();
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("consumer-pause");
    create_topic(&bootstrap, &topic, 2);
    python(PRODUCE, &[&bootstrap, &topic, "0", "50"]);
    let (p0, p1) = (
        TopicPartition::new(&topic, 0),
        TopicPartition::new(&topic, 1),
    );
    let mut c = consumer(
        &bootstrap,
        &[("auto.offset.reset", "earliest"), ("max.poll.records", "7")],
    );
    c.assign(vec![p0.clone(), p1.clone()]).unwrap();

    let mut got: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
    let take = |rs: kafka_blocking::ConsumerRecords,
                got: &mut BTreeMap<i32, Vec<(i64, String)>>| {
        for r in rs {
            let v = String::from_utf8(r.value.as_deref().unwrap().to_vec()).unwrap();
            got.entry(r.partition).or_default().push((r.offset, v));
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.get(&0).map_or(0, Vec::len) < 10 {
        assert!(Instant::now() < deadline);
        take(c.poll(Duration::from_millis(200)).unwrap(), &mut got);
    }
    c.pause(std::slice::from_ref(&p0)).unwrap();
    assert_eq!(c.paused(), std::slice::from_ref(&p0));
    let stopped_at = c.position(&p0).unwrap();
    let p0_before = got[&0].len();
    assert_eq!(stopped_at, got[&0].last().unwrap().0 + 1);

    // While paused: partition 1 keeps flowing (also records produced now), partition 0 is silent.
    python(PRODUCE, &[&bootstrap, &topic, "50", "20"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.get(&1).map_or(0, Vec::len) < 70 {
        assert!(
            Instant::now() < deadline,
            "partition 1 stalled while 0 was paused"
        );
        take(c.poll(Duration::from_millis(200)).unwrap(), &mut got);
    }
    take(c.poll(Duration::from_millis(300)).unwrap(), &mut got);
    assert_eq!(
        got[&0].len(),
        p0_before,
        "nothing from the paused partition"
    );
    assert_eq!(c.position(&p0).unwrap(), stopped_at);

    c.resume(std::slice::from_ref(&p0)).unwrap();
    assert!(c.paused().is_empty());
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.get(&0).map_or(0, Vec::len) < 70 {
        assert!(Instant::now() < deadline, "partition 0 did not resume");
        take(c.poll(Duration::from_millis(200)).unwrap(), &mut got);
    }
    assert_eq!(
        got[&0][p0_before].0, stopped_at,
        "resumed exactly where it stopped"
    );
    for (p, recs) in &got {
        let offsets: Vec<i64> = recs.iter().map(|r| r.0).collect();
        assert_eq!(offsets, (0..70).collect::<Vec<_>>(), "partition {p}");
        assert!(recs.iter().all(|(o, v)| v == &format!("p{p}-{o}")));
    }
    c.close();
}
