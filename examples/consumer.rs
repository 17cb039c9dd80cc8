//! Reads one partition from the beginning and prints its records.
//!
//! ```sh
//! cargo run --example consumer -- [TOPIC] [PARTITION]
//! KAFKA_BOOTSTRAP=host:9092 cargo run --example consumer -- science 0
//! ```
//!
//! Without `KAFKA_BOOTSTRAP` a local tansu broker is started (see
//! `tests/support`), so there is nothing to read unless you produce into it
//! meanwhile. Stops after 5 seconds without a new record.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use kafka_blocking::ConsumerConfig;
use kafka_blocking::consumer::{Consumer, StringDeserializer, TopicPartition};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let topic = args.next().unwrap_or_else(|| "science".to_string());
    let partition: i32 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(0);
    let bootstrap = support::tansu::bootstrap();

    let mut consumer = Consumer::new(
        ConsumerConfig::new()
            .bootstrap_servers(&bootstrap)
            .client_id("consumer-example")
            .set("auto.offset.reset", "earliest"),
    )?;
    let tp = TopicPartition::new(&topic, partition);
    consumer.assign(vec![tp.clone()])?;
    consumer.seek_to_beginning(std::slice::from_ref(&tp))?;
    eprintln!(
        "reading {tp} from offset {} on {bootstrap}",
        consumer.position(&tp)?
    );

    let mut count = 0;
    for record in consumer.iter(Duration::from_secs(5)) {
        let record = record?;
        let key: Option<String> = record.key_as(&StringDeserializer).unwrap_or(None);
        let value: Option<String> = record.value_as(&StringDeserializer).unwrap_or(None);
        println!(
            "{}-{}@{} ts={} key={:?} value={:?}",
            record.topic, record.partition, record.offset, record.timestamp, key, value
        );
        count += 1;
    }
    eprintln!("{count} records; no new record for 5 s, stopping");
    consumer.close();
    Ok(())
}
