//! Like Kafka's kafka-consumer-perf-test: reads N records as fast as possible
//! and prints throughput in the same CSV-style format.
//!
//! ```text
//! cargo run --release --example consumer_perf -- --bootstrap-server localhost:9092 --topic t --messages 1000000 \
//!     [--timeout MS] [--from-latest] [--exit-at-end] [--consumer-property k=v]... [--hide-header]
//! ```
//!
//! `--exit-at-end` reads up to the end offsets captured at start and stops
//! there (a bounded read; `--messages` is then optional).
//!
//! All partitions of the topic are assigned (no consumer group: the
//! `rebalance.time.ms` column is 0) and read from the beginning. Without
//! `--bootstrap-server` (and `KAFKA_BOOTSTRAP`) a local tansu broker is
//! started and the topic filled with `--messages` records of
//! `--record-size` bytes (default 100) first, with this crate's producer.
//! Times are UTC. `-v`/`--verbose` prints the client's debug log on stderr
//! (`RUST_LOG` overrides, see `examples/common/log.rs`).

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "common/log.rs"]
mod tool_log;

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_blocking::consumer::Consumer;
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::{ConsumerConfig, ProducerConfig};

const USAGE: &str = "usage: consumer_perf --bootstrap-server HOST:PORT --topic TOPIC --messages N [--timeout MS] \
[--from-latest] [--exit-at-end] [--consumer-property k=v]... [--hide-header] [--record-size BYTES (self-contained mode)] [-v|--verbose]";

fn usage(why: &str) -> ExitCode {
    if !why.is_empty() {
        eprintln!("error: {why}");
    }
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

/// `yyyy-MM-dd HH:mm:ss:SSS` (UTC), as the Java tool prints times.
fn format_time(t: SystemTime) -> String {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}:{:03}",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

fn fill(
    bootstrap: &str,
    topic: &str,
    messages: u64,
    size: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let producer = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(bootstrap)
            .set("linger.ms", 5)
            .set("batch.size", 65536),
    )?;
    let value = vec![b'x'; size];
    for _ in 0..messages {
        let _ = producer.send(ProducerRecord::new(topic, &value).partition(0))?;
    }
    producer.flush()?;
    producer.close(None)?;
    Ok(())
}

fn main() -> ExitCode {
    run_cli(tool_log::init_from_args(std::env::args().skip(1)))
}

/// The tool with its command-line arguments (after the program name);
/// tests call it directly.
pub fn run_cli(mut args: impl Iterator<Item = String>) -> ExitCode {
    let mut bootstrap = std::env::var("KAFKA_BOOTSTRAP")
        .ok()
        .filter(|b| !b.is_empty());
    let mut topic = None;
    let mut messages: Option<u64> = None;
    let mut timeout = Duration::from_secs(10);
    let mut from_latest = false;
    let mut exit_at_end = false;
    let mut hide_header = false;
    let mut record_size = 100usize;
    let mut config = ConsumerConfig::new().client_id("consumer-perf");
    while let Some(a) = args.next() {
        let mut value = || args.next();
        match a.as_str() {
            "--bootstrap-server" | "--broker-list" => bootstrap = value(),
            "--topic" => topic = value(),
            "--messages" => match value().and_then(|v| v.parse().ok()) {
                Some(n) => messages = Some(n),
                None => return usage("--messages needs a number"),
            },
            "--timeout" => match value().and_then(|v| v.parse().ok()) {
                Some(ms) => timeout = Duration::from_millis(ms),
                None => return usage("--timeout needs milliseconds"),
            },
            "--record-size" => match value().and_then(|v| v.parse().ok()) {
                Some(n) => record_size = n,
                None => return usage("--record-size needs a number of bytes"),
            },
            "--from-latest" => from_latest = true,
            "--exit-at-end" => exit_at_end = true,
            "--hide-header" => hide_header = true,
            "--consumer-property" => match value().as_deref().and_then(|kv| kv.split_once('=')) {
                Some((k, v)) => config = config.set(k, v),
                None => return usage("--consumer-property takes key=value"),
            },
            "--help" | "-h" => return usage(""),
            other => return usage(&format!("unknown argument {other}")),
        }
    }
    let Some(messages) = messages.or(exit_at_end.then_some(u64::MAX)) else {
        return usage("--messages is required (or --exit-at-end)");
    };
    let bootstrap = match bootstrap {
        Some(b) => b,
        None => {
            // Self-contained: a local broker filled with the records to read.
            let b = support::tansu::bootstrap();
            let t = topic
                .get_or_insert_with(|| support::unique_topic("consumer-perf"))
                .clone();
            eprintln!(
                "no --bootstrap-server: filling {t} on a local tansu ({b}) with {messages} records of {record_size} bytes"
            );
            if let Err(e) = fill(&b, &t, messages, record_size) {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
            b
        }
    };
    let Some(topic) = topic else {
        return usage("--topic is required");
    };
    match run(
        config.bootstrap_servers(&bootstrap),
        &topic,
        messages,
        timeout,
        from_latest,
        exit_at_end,
        hide_header,
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(
    config: ConsumerConfig,
    topic: &str,
    messages: u64,
    timeout: Duration,
    from_latest: bool,
    exit_at_end: bool,
    hide_header: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let start_wall = SystemTime::now();
    let start = Instant::now();
    let mut consumer = Consumer::new(config)?;
    let partitions = consumer.partitions_for(topic)?;
    consumer.assign(partitions.clone())?;
    if from_latest {
        consumer.seek_to_end(&partitions)?;
    } else {
        consumer.seek_to_beginning(&partitions)?;
    }
    if exit_at_end {
        consumer.stop_at_end_offsets()?;
    }
    let mut count = 0u64;
    let mut bytes = 0u64;
    let mut last_record = Instant::now();
    let mut end = start;
    while count < messages && !(exit_at_end && consumer.reached_stop_offsets()) {
        let records = consumer.poll(Duration::from_millis(100))?;
        if records.is_empty() {
            if last_record.elapsed() >= timeout {
                eprintln!(
                    "WARNING: Exiting before consuming the expected number of messages: timeout ({} ms) exceeded. \
                     You can use the --timeout option to increase the timeout.",
                    timeout.as_millis()
                );
                break;
            }
            continue;
        }
        for r in &records {
            bytes += r.key.as_ref().map_or(0, |k| k.len() as u64)
                + r.value.as_ref().map_or(0, |v| v.len() as u64);
        }
        count += records.len() as u64;
        last_record = Instant::now();
        end = last_record;
    }
    let end_wall = start_wall + (end - start);
    consumer.close();
    let secs = (end - start).as_secs_f64().max(1e-9);
    let mb = bytes as f64 / (1024.0 * 1024.0);
    let fetch_ms = (end - start).as_millis();
    if !hide_header {
        println!(
            "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, \
             fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
        );
    }
    println!(
        "{}, {}, {mb:.4}, {:.4}, {count}, {:.4}, 0, {fetch_ms}, {:.4}, {:.4}",
        format_time(start_wall),
        format_time(end_wall),
        mb / secs,
        count as f64 / secs,
        mb / secs,
        count as f64 / secs
    );
    Ok(())
}
