//! Like Kafka's kafka-producer-perf-test.
//!
//! ```text
//! cargo run --release --example producer_perf -- --topic perf --num-records 1000000 \
//!     --record-size 100 --throughput -1 --producer-props bootstrap.servers=localhost:9092 acks=all
//! ```
//! Without `bootstrap.servers` (and without `KAFKA_BOOTSTRAP`) a local tansu
//! broker is started. The topic is created (1 partition) if missing (a broker
//! without the CreateTopics API must have it or create it on first use). Prints
//! Java's summary line:
//! `N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency,
//! P50 ms 50th, P95 ms 95th, P99 ms 99th, P999 ms 99.9th.`
//! `-v`/`--verbose` prints the client's debug log on stderr (`RUST_LOG`
//! overrides, see `examples/common/log.rs`).

#[path = "../tests/support/mod.rs"]
pub mod support;

#[path = "common/log.rs"]
mod tool_log;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::{AdminConfig, KafkaCode, ProducerConfig};

struct Stats {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    run_cli(tool_log::init_from_args(std::env::args().skip(1)))
}

/// The tool with its command-line arguments (after the program name);
/// tests call it directly.
pub fn run_cli(args: impl Iterator<Item = String>) -> Result<(), Box<dyn std::error::Error>> {
    let mut topic = None;
    let mut num_records: u64 = 0;
    let mut record_size: usize = 100;
    let mut throughput: f64 = -1.0;
    let mut props: Vec<(String, String)> = Vec::new();
    let mut args = args.peekable();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--topic" => topic = args.next(),
            "--num-records" => num_records = args.next().ok_or("--num-records N")?.parse()?,
            "--record-size" => record_size = args.next().ok_or("--record-size N")?.parse()?,
            "--throughput" => throughput = args.next().ok_or("--throughput N")?.parse()?,
            "--producer-props" => {
                while let Some(kv) = args.next_if(|s| !s.starts_with("--")) {
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or("--producer-props takes k=v pairs")?;
                    props.push((k.to_string(), v.to_string()));
                }
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let topic = topic.ok_or("--topic is required")?;
    if num_records == 0 {
        return Err("--num-records is required".into());
    }
    let bootstrap = match props.iter().find(|(k, _)| k == "bootstrap.servers") {
        Some((_, v)) => v.clone(),
        None => support::tansu::bootstrap(),
    };
    // The admin client that creates the topic connects as the producer does:
    // the same security, TLS and SASL settings.
    let mut admin_config = AdminConfig::new().bootstrap_servers(&bootstrap);
    for (k, v) in &props {
        if ["security.", "ssl.", "sasl.", "client."]
            .iter()
            .any(|p| k.starts_with(p))
        {
            admin_config = admin_config.set(k, v);
        }
    }
    let admin = AdminClient::new(admin_config)?;
    match admin.create_topic(NewTopic::new(&topic, 1, 1)) {
        // A broker without CreateTopics (the librdkafka mock cluster) may
        // still have the topic or create it on first use, as Java's tool
        // (which never creates topics) assumes.
        Err(kafka_blocking::Error::UnsupportedVersion {
            api: "CreateTopics",
            broker_range: None,
            ..
        }) => eprintln!("note: the broker cannot create topics; using {topic} as it is"),
        Err(e) if e.kafka_code() != Some(KafkaCode::TopicAlreadyExists) => return Err(e.into()),
        _ => {}
    }
    drop(admin);
    let mut config = ProducerConfig::new().bootstrap_servers(&bootstrap);
    for (k, v) in &props {
        config = config.set(k, v);
    }
    let producer = Producer::new(config)?;
    // Same payload shape as the Java tool: random uppercase letters.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let payload: Vec<u8> = (0..record_size)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            b'A' + (seed % 26) as u8
        })
        .collect();
    let stats = Arc::new(Mutex::new(Stats {
        latencies_us: Vec::with_capacity(num_records as usize),
        errors: 0,
        first_error: None,
    }));
    let start = Instant::now();
    for i in 0..num_records {
        if throughput > 0.0 {
            let due = start + Duration::from_secs_f64(i as f64 / throughput);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let sent = Instant::now();
        let stats = stats.clone();
        producer.send_with_callback(ProducerRecord::new(&topic, &payload), move |r| {
            let mut s = stats.lock().unwrap();
            match r {
                Ok(_) => s
                    .latencies_us
                    .push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32),
                Err(e) => {
                    s.errors += 1;
                    s.first_error.get_or_insert_with(|| e.to_string());
                }
            }
        })?;
    }
    producer.flush()?;
    let elapsed = start.elapsed().as_secs_f64();
    producer.close(None)?;
    let mut s = stats.lock().unwrap();
    let n = s.latencies_us.len().max(1);
    s.latencies_us.sort_unstable();
    let pct = |p: f64| s.latencies_us[((n as f64 * p) as usize).min(n - 1)] as f64 / 1000.0;
    let avg = s.latencies_us.iter().map(|&l| l as f64).sum::<f64>() / n as f64 / 1000.0;
    let max = s.latencies_us.last().copied().unwrap_or(0) as f64 / 1000.0;
    let rate = num_records as f64 / elapsed;
    println!(
        "{num_records} records sent, {rate:.1} records/sec ({:.2} MB/sec), {avg:.2} ms avg latency, {max:.2} ms max latency, {:.0} ms 50th, {:.0} ms 95th, {:.0} ms 99th, {:.0} ms 99.9th.",
        rate * record_size as f64 / (1024.0 * 1024.0),
        pct(0.5),
        pct(0.95),
        pct(0.99),
        pct(0.999),
    );
    if s.errors > 0 {
        return Err(format!(
            "{} records failed; first error: {}",
            s.errors,
            s.first_error.clone().unwrap_or_default()
        )
        .into());
    }
    Ok(())
}
