//! Acceptance 2 of the consumer issue: seek, seek_to_beginning, seek_to_end,
//! position, offsets_for_times, beginning_offsets and end_offsets return what
//! the broker says, checked against kafka-python's answers on the same topic
//! (tansu has known ListOffsets bugs, see the README's Tests section: the answers
//! are compared with what the broker says, not with ideal values).

#[path = "support/mod.rs"]
mod support;

#[path = "consumer_util/mod.rs"]
mod util;

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_blocking::consumer::TopicPartition;

use util::{consumer, create_topic, python, read_n};

const BASE_TS: i64 = 1_700_000_000_000;

/// Produces partition 0: 10 batches of 10 records; partition 1: 5 batches
/// of 1 record; record i of a partition has timestamp BASE + i * 1000.
const PRODUCE: &str = r#"
import sys
from kafka import KafkaProducer
boot, topic = sys.argv[1:3]
base = 1_700_000_000_000
p = KafkaProducer(bootstrap_servers=boot, linger_ms=50)
for part, batches, size in ((0, 10, 10), (1, 5, 1)):
    i = 0
    for b in range(batches):
        fs = [p.send(topic, value=b'x%d' % (i + j), partition=part, timestamp_ms=base + (i + j) * 1000) for j in range(size)]
        p.flush()
        for f in fs:
            f.get(timeout=10)
        i += size
p.close()
"#;

/// Prints kafka-python's answers, one `what partition offset [timestamp]` per line.
const QUERY: &str = r#"
import sys
from kafka import KafkaConsumer, TopicPartition
boot, topic = sys.argv[1:3]
times = [int(t) for t in sys.argv[3:]]
c = KafkaConsumer(bootstrap_servers=boot, enable_auto_commit=False)
tps = [TopicPartition(topic, p) for p in (0, 1)]
c.assign(tps)
for tp, o in sorted(c.beginning_offsets(tps).items()):
    print('beginning', tp.partition, o)
for tp, o in sorted(c.end_offsets(tps).items()):
    print('end', tp.partition, o)
for t in times:
    for tp, o in sorted(c.offsets_for_times({tp: t for tp in tps}).items()):
        print('time%d' % t, tp.partition, '-' if o is None else '%d %d' % (o.offset, o.timestamp))
c.seek_to_end()
for tp in tps:
    print('position_end', tp.partition, c.position(tp))
c.seek_to_beginning()
for tp in tps:
    print('position_beginning', tp.partition, c.position(tp))
c.close()
"#;

#[test]
fn offsets_agree_with_kafka_python() {
    util::init_log();
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("consumer-offsets");
    create_topic(&bootstrap, &topic, 2);
    python(PRODUCE, &[&bootstrap, &topic]);
    let times = [
        BASE_TS,
        BASE_TS + 15_500,
        BASE_TS + 99_000,
        BASE_TS + 1_000_000_000,
    ];
    let time_args: Vec<String> = times.iter().map(|t| t.to_string()).collect();
    let mut args = vec![bootstrap.as_str(), topic.as_str()];
    args.extend(time_args.iter().map(String::as_str));
    let theirs: BTreeMap<String, String> = python(QUERY, &args)
        .lines()
        .map(|l| {
            let (k, v) = l.split_at(l.find(' ').unwrap());
            let (p, v) = v.trim().split_at(v.trim().find(' ').unwrap());
            (format!("{k} {p}"), v.trim().to_string())
        })
        .collect();
    eprintln!("kafka-python says: {theirs:?}");

    let tps: Vec<TopicPartition> = (0..2).map(|p| TopicPartition::new(&topic, p)).collect();
    let mut c = consumer(&bootstrap, &[("auto.offset.reset", "none")]);
    c.assign(tps.clone()).unwrap();
    let mut ours: BTreeMap<String, String> = BTreeMap::new();
    for (tp, o) in c.beginning_offsets(&tps).unwrap() {
        ours.insert(format!("beginning {}", tp.partition), o.to_string());
    }
    let ends = c.end_offsets(&tps).unwrap();
    for (tp, o) in &ends {
        ours.insert(format!("end {}", tp.partition), o.to_string());
    }
    for t in times {
        let q: Vec<(TopicPartition, i64)> = tps.iter().map(|tp| (tp.clone(), t)).collect();
        for (tp, o) in c.offsets_for_times(&q).unwrap() {
            let v = o.map_or("-".to_string(), |o| format!("{} {}", o.offset, o.timestamp));
            ours.insert(format!("time{t} {}", tp.partition), v);
        }
    }
    c.seek_to_end(&[]).unwrap();
    for tp in &tps {
        ours.insert(
            format!("position_end {}", tp.partition),
            c.position(tp).unwrap().to_string(),
        );
    }
    c.seek_to_beginning(&[]).unwrap();
    for tp in &tps {
        ours.insert(
            format!("position_beginning {}", tp.partition),
            c.position(tp).unwrap().to_string(),
        );
    }
    assert_eq!(ours, theirs);

    // seek: the next record returned is the one at the offset sought, also
    // in the middle of a batch.
    let p0 = &tps[0];
    for target in [37, 0, 99, 50] {
        c.seek(p0, target).unwrap();
        assert_eq!(c.position(p0).unwrap(), target);
        c.pause(&tps[1..]).unwrap();
        let got = read_n(&mut c, 1, Duration::from_secs(60));
        assert_eq!(got[0].offset, target, "first record after seek({target})");
        assert_eq!(
            got[0].value.as_deref(),
            Some(format!("x{target}").as_bytes())
        );
        assert_eq!(got[0].timestamp, BASE_TS + target * 1000);
        // Positions move with what poll returned.
        let last = got
            .iter()
            .filter(|r| r.partition == 0)
            .map(|r| r.offset)
            .max()
            .unwrap();
        assert_eq!(c.position(p0).unwrap(), last + 1);
        c.resume(&tps[1..]).unwrap();
    }
    // seek_to_end then poll: nothing (no new records), position stays at the end.
    c.seek_to_end(&[]).unwrap();
    let end1 = c.position(&tps[1]).unwrap();
    assert_eq!(end1, ends[&tps[1]]);
    c.poll(Duration::from_millis(300)).unwrap();
    assert_eq!(c.position(&tps[1]).unwrap(), end1);
    // Unassigned partitions are refused with a clear error.
    let other = TopicPartition::new(&topic, 7);
    let e = c.seek(&other, 1).unwrap_err();
    assert!(e.to_string().contains("not assigned"), "{e}");
    c.close();
}
