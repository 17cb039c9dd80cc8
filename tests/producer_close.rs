//! close() waits for every record and leaves no thread behind. Alone in its
//! test binary so that the thread count is not disturbed by other tests.

#[path = "support/mod.rs"]
mod support;

#[path = "support/threads.rs"]
mod threads;

use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::{AdminConfig, ProducerConfig};

fn kafka_threads() -> usize {
    threads::named("kafka-").len()
}

/// The `kafka-` threads left once joined threads had time to leave `/proc`
/// (see [`threads::remaining_after_grace`]).
fn threads_left() -> Vec<String> {
    threads::remaining_after_grace("kafka-")
}

#[test]
fn close_waits_for_every_record_and_joins_threads() {
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("producer-close");
    {
        let admin = AdminClient::new(AdminConfig::new().bootstrap_servers(&bootstrap)).unwrap();
        admin.create_topic(NewTopic::new(&topic, 3, 1)).unwrap();
        admin
            .cluster()
            .wait_for_topic(&topic, Instant::now() + Duration::from_secs(10))
            .unwrap();
    }
    assert_eq!(threads_left(), Vec::<String>::new(), "the admin client's");
    let producer = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(&bootstrap)
            .set("linger.ms", 200)
            .set("batch.size", 1_000_000),
    )
    .unwrap();
    let handles: Vec<_> = (0..5000)
        .map(|i| {
            producer
                .send(ProducerRecord::new(&topic, format!("v{i}").as_bytes()))
                .unwrap()
        })
        .collect();
    assert!(
        kafka_threads() >= 2,
        "sender and at least one connection thread"
    );
    // With linger.ms=200 nothing is acknowledged yet; close must wait for all.
    producer.close(None).unwrap();
    for h in &handles {
        assert!(h.is_done());
        h.try_get().unwrap().unwrap();
    }
    assert_eq!(
        threads_left(),
        Vec::<String>::new(),
        "close() must join the sender and connection threads"
    );

    // Drop without close does the same.
    let producer = Producer::new(ProducerConfig::new().bootstrap_servers(&bootstrap)).unwrap();
    let h = producer
        .send(ProducerRecord::new(&topic, b"dropped"))
        .unwrap();
    drop(producer);
    assert!(h.try_get().unwrap().is_ok());
    assert_eq!(
        threads_left(),
        Vec::<String>::new(),
        "drop must join them too"
    );
}
