//! Issue 12, point 1 "a topic that appears later is consumed", on a real
//! Apache Kafka broker: partitions added to a subscribed topic are picked up
//! by the group even when only a follower subscribes to that topic. The
//! group leader watches the partition counts of every member's topics (as
//! Java's assignmentSnapshot) and rejoins when one changes; before, it
//! watched only its own topics, and the new partitions stayed unread.
//!
//! Runs in the Apache Kafka pass of `scripts/test.sh` (`tests/kafka_*.rs`).

#[path = "support/mod.rs"]
mod support;

#[path = "consumer_util/mod.rs"]
mod util;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_blocking::ProducerConfig;
use kafka_blocking::consumer::{Consumer, TopicPartition};
use kafka_blocking::producer::{Producer, ProducerRecord};

fn member(bootstrap: &str, group: &str) -> Consumer {
    util::consumer(
        bootstrap,
        &[
            ("group.id", group),
            ("auto.offset.reset", "earliest"),
            ("metadata.max.age.ms", "1000"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "1000"),
        ],
    )
}

#[test]
fn partitions_added_to_a_topic_only_a_follower_reads_are_consumed() {
    util::init_log();
    let Some(bootstrap) = support::kafka::kafka_bootstrap() else {
        return;
    };
    let shared = support::unique_topic("only-leader-reads");
    let follower_only = support::unique_topic("only-follower-reads");
    util::create_topic(&bootstrap, &shared, 2);
    util::create_topic(&bootstrap, &follower_only, 1);
    let group = support::unique_topic("g-added-partitions");

    // The leader (first to join) reads only `shared`.
    let mut leader = member(&bootstrap, &group);
    leader.subscribe(&[&shared]).unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    while leader.assignment().is_empty() {
        assert!(Instant::now() < until, "the leader got no partitions");
        leader.poll(Duration::from_millis(100)).unwrap();
    }
    // The follower reads both topics.
    let mut follower = member(&bootstrap, &group);
    follower.subscribe(&[&shared, &follower_only]).unwrap();
    let settled = |f: &Consumer, n: i32| {
        (0..n).all(|p| {
            f.assignment()
                .contains(&TopicPartition::new(&follower_only, p))
        })
    };
    let until = Instant::now() + Duration::from_secs(60);
    while !settled(&follower, 1) || leader.assignment().is_empty() {
        assert!(
            Instant::now() < until,
            "no settled group: leader {:?}, follower {:?}",
            leader.assignment(),
            follower.assignment()
        );
        leader.poll(Duration::from_millis(100)).unwrap();
        follower.poll(Duration::from_millis(100)).unwrap();
    }

    support::kafka::java_tool(
        "org.apache.kafka.tools.TopicCommand",
        &[
            "--bootstrap-server",
            &bootstrap,
            "--alter",
            "--topic",
            &follower_only,
            "--partitions",
            "3",
        ],
    )
    .expect("add partitions with kafka-topics");
    let producer = Producer::new(ProducerConfig::new().bootstrap_servers(&bootstrap)).unwrap();
    for p in 1..3 {
        producer
            .send(ProducerRecord::new(&follower_only, format!("new-{p}").as_bytes()).partition(p))
            .unwrap()
            .wait()
            .expect("record to an added partition");
    }
    producer.close(None).unwrap();

    let mut read: BTreeSet<(i32, String)> = BTreeSet::new();
    let until = Instant::now() + Duration::from_secs(60);
    while read.len() < 2 {
        assert!(
            Instant::now() < until,
            "the added partitions were not consumed within 60 s: follower has {:?}, read {read:?}",
            follower.assignment()
        );
        for c in [&mut leader, &mut follower] {
            for r in c.poll(Duration::from_millis(100)).unwrap() {
                if *r.topic == *follower_only {
                    let v = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default());
                    read.insert((r.partition, v.into_owned()));
                }
            }
        }
    }
    assert_eq!(
        read,
        BTreeSet::from([(1, "new-1".to_string()), (2, "new-2".to_string())])
    );
    assert!(settled(&follower, 3), "{:?}", follower.assignment());
    leader.close();
    follower.close();
}
