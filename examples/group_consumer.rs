//! The classic group consumer: joins a consumer group, prints the records of
//! the partitions the group gives it, and commits what it printed.
//!
//! ```sh
//! cargo run --example group_consumer -- [TOPIC] [GROUP]
//! KAFKA_BOOTSTRAP=host:9092 cargo run --example group_consumer -- science science-readers
//! ```
//!
//! Run it twice with the same group and watch the partitions being shared
//! (each process prints what it is assigned and revoked); stop one and the
//! other takes its partitions over, starting after the last committed record.
//! Ctrl-C commits and leaves the group, so the others rebalance at once (a
//! second Ctrl-C exits without that).
//!
//! Without `KAFKA_BOOTSTRAP` a local tansu broker is started (see
//! `tests/support`) with the topic and a few records in it, so there is
//! something to read.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::consumer::{
    Consumer, ConsumerRebalanceListener, StringDeserializer, TopicPartition,
};
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::{AdminConfig, ConsumerConfig, ProducerConfig};

/// Reports assignment changes; commits before partitions go to another member.
struct Rebalances;

impl ConsumerRebalanceListener for Rebalances {
    fn on_partitions_revoked(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        eprintln!("revoked: {}", list(partitions));
        // Everything polled so far was printed: commit it, so that the next
        // owner of these partitions starts right after.
        if let Err(e) = consumer.commit_sync() {
            eprintln!("commit before the rebalance failed: {e}");
        }
    }

    fn on_partitions_assigned(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        let starts: Vec<String> = partitions
            .iter()
            .map(|tp| match consumer.position(tp) {
                Ok(p) => format!("{tp}@{p}"),
                Err(e) => format!("{tp} ({e})"),
            })
            .collect();
        eprintln!("assigned: [{}]", starts.join(", "));
    }

    fn on_partitions_lost(&mut self, _consumer: &mut Consumer, partitions: &[TopicPartition]) {
        // They may belong to another member already: nothing to commit.
        eprintln!("lost: {}", list(partitions));
    }
}

fn list(partitions: &[TopicPartition]) -> String {
    let v: Vec<String> = partitions.iter().map(|tp| tp.to_string()).collect();
    format!("[{}]", v.join(", "))
}

/// Creates `topic` on the local broker and writes a few records into it.
fn seed_local_broker(bootstrap: &str, topic: &str) -> Result<(), Box<dyn std::error::Error>> {
    let admin = AdminClient::new(AdminConfig::new().bootstrap_servers(bootstrap))?;
    admin.create_topic(NewTopic::new(topic, 3, 1))?;
    admin
        .cluster()
        .wait_for_topic(topic, Instant::now() + Duration::from_secs(10))?;
    admin.close();
    let producer = Producer::new(ProducerConfig::new().bootstrap_servers(bootstrap))?;
    for i in 0..10 {
        let key = format!("key-{i}");
        let value = format!("Hello world {i}");
        producer
            .send(ProducerRecord::new(topic, value.as_bytes()).key(key.as_bytes()))?
            .wait()?;
    }
    producer.close(None)?;
    eprintln!("started a local tansu on {bootstrap} with 10 records in {topic}");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let topic = args.next().unwrap_or_else(|| "science".to_string());
    let group = args.next().unwrap_or_else(|| format!("{topic}-readers"));
    let local = std::env::var("KAFKA_BOOTSTRAP").map_or(true, |b| b.trim().is_empty());
    let bootstrap = support::tansu::bootstrap();
    if local {
        seed_local_broker(&bootstrap, &topic)?;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130); // second Ctrl-C: give up at once
        }
        eprintln!("stopping...");
    })?;

    let mut config = ConsumerConfig::new();
    if local {
        // tansu holds a JoinGroup for about session.timeout.ms/2: keep it short.
        config = config.set("session.timeout.ms", 6000);
    }
    let mut consumer = Consumer::new(
        config
            .bootstrap_servers(&bootstrap)
            .client_id("group-consumer-example")
            .set("group.id", &group)
            // Commit what was printed, ourselves (below), not on a timer.
            .set("enable.auto.commit", "false")
            // Where the group has no committed offset yet: from the start.
            .set("auto.offset.reset", "earliest"),
    )?;
    consumer.set_rebalance_listener(Rebalances);
    consumer.subscribe(&[&topic])?;
    eprintln!("joining group {group} for {topic} on {bootstrap} (Ctrl-C to stop)");

    let mut count = 0u64;
    while !stop.load(Ordering::SeqCst) {
        // Also heartbeats, rebalances and commit callbacks happen in here.
        let records = consumer.poll(Duration::from_millis(500))?;
        if records.is_empty() {
            continue;
        }
        for record in &records {
            let key: Option<String> = record.key_as(&StringDeserializer).unwrap_or(None);
            let value: Option<String> = record.value_as(&StringDeserializer).unwrap_or(None);
            println!(
                "{}-{}@{} key={:?} value={:?}",
                record.topic, record.partition, record.offset, key, value
            );
            count += 1;
        }
        // The batch is processed: commit without waiting (the outcome comes
        // with a later poll); a failure is repaired by the next commit.
        consumer.commit_async(|result| {
            if let Err(e) = result {
                eprintln!("commit failed: {e}");
            }
        });
    }

    // Clean exit: commit synchronously, then leave the group (close sends
    // LeaveGroup, so the other members take the partitions over at once).
    if let Err(e) = consumer.commit_sync() {
        eprintln!("final commit failed: {e}");
    }
    consumer.close();
    eprintln!("{count} records; left group {group}");
    Ok(())
}
