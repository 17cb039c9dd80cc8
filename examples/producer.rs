//! The hello-world producer: sends "Hello world" to topic `science` and prints
//! where it was written.
//!
//! `cargo run --example producer` starts a local tansu broker unless
//! `KAFKA_BOOTSTRAP` names a cluster.

#[path = "../tests/support/mod.rs"]
mod support;

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::{AdminConfig, KafkaCode, ProducerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bootstrap = support::tansu::bootstrap();
    let admin = AdminClient::new(AdminConfig::new().bootstrap_servers(&bootstrap))?;
    match admin.create_topic(NewTopic::new("science", 1, 1)) {
        Err(e) if e.kafka_code() != Some(KafkaCode::TopicAlreadyExists) => return Err(e.into()),
        _ => {}
    }
    let producer = Producer::new(ProducerConfig::new().bootstrap_servers(&bootstrap))?;
    let md = producer
        .send(ProducerRecord::new("science", b"Hello world"))?
        .wait()?;
    println!(
        "sent \"Hello world\" to {}-{} at offset {} (timestamp {})",
        md.topic, md.partition, md.offset, md.timestamp
    );
    producer.close(None)?;
    Ok(())
}
