//! The main job of the quick start: send "Hello world" to topic `science` and
//! read it back.
//!
//! `cargo run --example hello` starts a local tansu broker unless
//! `KAFKA_BOOTSTRAP` names a cluster (`KAFKA_BOOTSTRAP=host:9092 cargo run --example hello`).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::consumer::{Consumer, TopicPartition};
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::{AdminConfig, ConsumerConfig, KafkaCode, ProducerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = support::tansu::bootstrap();
    println!("using Kafka at {bootstrap}");

    let admin = AdminClient::new(AdminConfig::new().bootstrap_servers(&bootstrap))?;
    match admin.create_topic(NewTopic::new("science", 1, 1)) {
        Err(e) if e.kafka_code() != Some(KafkaCode::TopicAlreadyExists) => return Err(e.into()),
        _ => {}
    }

    let producer = Producer::new(ProducerConfig::new().bootstrap_servers(&bootstrap))?;
    let sent = producer
        .send(ProducerRecord::new("science", b"Hello world"))?
        .wait()?;
    producer.close(None)?;
    println!(
        "sent:     \"Hello world\" to {}-{} at offset {}",
        sent.topic, sent.partition, sent.offset
    );

    let mut consumer = Consumer::new(ConsumerConfig::new().bootstrap_servers(&bootstrap))?;
    let tp = TopicPartition::new("science", sent.partition);
    consumer.assign(vec![tp.clone()])?;
    consumer.seek(&tp, sent.offset)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        for record in consumer.poll(Duration::from_secs(1))? {
            if record.offset == sent.offset {
                let value = String::from_utf8_lossy(record.value.as_deref().unwrap_or_default());
                println!(
                    "received: \"{value}\" from {}-{} at offset {}",
                    record.topic, record.partition, record.offset
                );
                consumer.close();
                return if value == "Hello world" {
                    Ok(())
                } else {
                    Err("read back a different value".into())
                };
            }
        }
    }
    Err("did not read the record back within 30 s".into())
}
