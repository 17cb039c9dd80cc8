//! A group member subscribed to a topic that is not in metadata when it joins
//! (not created yet, or created a moment ago and not yet known to the broker
//! that answered Metadata) gets the topic's partitions as soon as it appears,
//! not after metadata.max.age.ms. On Apache Kafka 4.4 the second case made
//! `group_static.rs` fail about one run in four: the lone member joined with an
//! empty assignment and kept it.

#[path = "support/mod.rs"]
mod support;

#[path = "consumer_util/mod.rs"]
mod consumer_util;

use std::time::{Duration, Instant};

use kafka_blocking::ConsumerConfig;
use kafka_blocking::consumer::Consumer;

#[test]
fn member_gets_partitions_of_a_topic_created_after_it_joined() {
    consumer_util::init_log();
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("late-topic");
    let group = support::unique_topic("late-group");
    let mut c = Consumer::new(
        ConsumerConfig::new()
            .bootstrap_servers(&bootstrap)
            .set("group.id", &group)
            .set("session.timeout.ms", 6000)
            .set("heartbeat.interval.ms", 300)
            .set("auto.offset.reset", "earliest")
            .set("fetch.max.wait.ms", 100)
            // The metadata request must not create the topic itself.
            .set("allow.auto.create.topics", "false"),
    )
    .unwrap();
    c.subscribe(&[&topic]).unwrap();
    // Joined (tansu counts generations from 0), with nothing to own yet.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !c.group_metadata().is_ok_and(|m| m.generation_id >= 0) {
        assert!(Instant::now() < deadline, "never joined");
        c.poll(Duration::from_millis(100)).unwrap();
    }
    assert!(c.assignment().is_empty(), "{:?}", c.assignment());

    consumer_util::create_topic(&bootstrap, &topic, 3);
    let created = Instant::now();
    while c.assignment().len() < 3 {
        assert!(
            created.elapsed() < Duration::from_secs(30),
            "the member still owns {:?} {:?} after the topic appeared (metadata.max.age.ms is 5 min)",
            c.assignment(),
            created.elapsed()
        );
        c.poll(Duration::from_millis(100)).unwrap();
    }
    eprintln!(
        "partitions assigned {:?} after the topic was created",
        created.elapsed()
    );
    c.close();
}
