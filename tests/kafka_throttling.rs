//! Issue 12, point 9: throttling is honoured (KIP-219).
//!
//! With a client quota on the real broker (`producer_byte_rate` and
//! `consumer_byte_rate` for the test's own `client.id`, set with Kafka's
//! `ConfigCommand`), a producer and a consumer (at the same time, into and out
//! of different topics) slow down to the quota: no failed record, no retry,
//! no request timeout, no error, no poll blocked; and the client itself held
//! its requests back for the `throttle_time_ms` the broker returned (the
//! broker answers at once and expects the client to back off): the
//! connections' throttle counters, read through the `unstable` feature, and
//! their debug log say so.
//!
//! The broker measures a client's rate over at least 10 s (its quota windows:
//! 11 samples of 1 s by default), so a young client gets about 10 s worth of
//! quota at once and is throttled only beyond that: 3 MiB at 256 KiB/s (12 s
//! worth) take about 12 s.

#[path = "support/mod.rs"]
mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::consumer::{Consumer, TopicPartition};
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::unstable::net::{ThrottleStats, throttle_totals};
use kafka_blocking::{AdminConfig, ConsumerConfig, ProducerConfig};

/// The quota, per direction.
const QUOTA: u64 = 256 * 1024;
/// Record value size and count: 3 MiB in all, 12 s worth of quota.
const VALUE: usize = 1024;
const RECORDS: usize = 3072;

/// Log lines of interest, captured from the client's `log` output.
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.target().starts_with("kafka_blocking")
    }
    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let line = format!("[{} {}] {}", r.level(), r.target(), r.args());
        let keep = line.contains("throttl")
            || line.contains("got no response")
            || line.contains("not sent")
            || line.contains("failed")
            || r.level() <= log::Level::Warn;
        if keep {
            LINES.lock().unwrap().push(line);
        }
    }
    fn flush(&self) {}
}

fn capture_logs() {
    static LOGGER: Capture = Capture;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Debug);
    }
}

/// Captured lines containing every one of `words`.
fn lines_with(words: &[&str]) -> Vec<String> {
    LINES
        .lock()
        .unwrap()
        .iter()
        .filter(|l| words.iter().all(|w| l.contains(w)))
        .cloned()
        .collect()
}

/// `bytes` at `QUOTA` per second.
fn quota_seconds(bytes: u64) -> f64 {
    bytes as f64 / QUOTA as f64
}

/// Asserts that `bytes` took roughly the quota's time: not much faster
/// (unthrottled, 3 MiB take well under a second here) and without long
/// stalls.
fn assert_paced(what: &str, bytes: u64, took: Duration) {
    let at_quota = quota_seconds(bytes);
    let secs = took.as_secs_f64();
    assert!(
        secs >= at_quota * 0.5,
        "{bytes} bytes {what} in {took:?}: far faster than the quota allows ({at_quota:.1} s at the quota)"
    );
    assert!(
        secs <= at_quota * 1.5 + 5.0,
        "{bytes} bytes {what} in {took:?}: far slower than the quota ({at_quota:.1} s at the quota)"
    );
}

fn minus(a: ThrottleStats, b: ThrottleStats) -> ThrottleStats {
    ThrottleStats {
        throttled_responses: a.throttled_responses - b.throttled_responses,
        throttle_time: a.throttle_time - b.throttle_time,
        held_requests: a.held_requests - b.held_requests,
        held_time: a.held_time - b.held_time,
    }
}

fn plus(a: ThrottleStats, b: ThrottleStats) -> ThrottleStats {
    ThrottleStats {
        throttled_responses: a.throttled_responses + b.throttled_responses,
        throttle_time: a.throttle_time + b.throttle_time,
        held_requests: a.held_requests + b.held_requests,
        held_time: a.held_time + b.held_time,
    }
}

/// What the consumer read, and what throttling did to its connections.
struct Consumed {
    records: usize,
    bytes: u64,
    took: Duration,
    longest_poll: Duration,
    throttling: ThrottleStats,
}

/// Reads the `RECORDS` records of `topic`-0 as `client_id`.
fn consume(bootstrap: &str, client_id: &str, topic: &str) -> Consumed {
    let mut consumer = Consumer::new(
        ConsumerConfig::new()
            .bootstrap_servers(bootstrap)
            .set("client.id", client_id)
            .set("max.partition.fetch.bytes", 262144)
            .set("request.timeout.ms", 10000),
    )
    .unwrap();
    let tp = TopicPartition::new(topic, 0);
    consumer.assign(vec![tp.clone()]).unwrap();
    consumer.seek(&tp, 0).unwrap();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(40);
    let (mut records, mut bytes, mut longest_poll) = (0usize, 0u64, Duration::ZERO);
    while records < RECORDS {
        assert!(
            Instant::now() < deadline,
            "read {records} of {RECORDS} records in 40 s"
        );
        let poll_started = Instant::now();
        let batch = consumer.poll(Duration::from_millis(200)).expect("poll");
        longest_poll = longest_poll.max(poll_started.elapsed());
        for r in batch.iter() {
            assert_eq!(r.offset, records as i64, "records out of order");
            records += 1;
            bytes += r.value.as_ref().map_or(0, |v| v.len()) as u64;
        }
    }
    let took = started.elapsed();
    // Read on the consumer's own broker connections.
    let md = consumer.cluster().metadata();
    let throttling = md
        .brokers
        .keys()
        .filter_map(|&id| consumer.cluster().pool().existing(id))
        .map(|c| c.throttle_stats())
        .fold(ThrottleStats::default(), plus);
    consumer.close();
    Consumed {
        records,
        bytes,
        took,
        longest_poll,
        throttling,
    }
}

#[test]
fn throttling_is_honoured() {
    let Some(bootstrap) = support::kafka::kafka_bootstrap() else {
        return;
    };
    capture_logs();
    let client_id = format!("throttled-{}", support::unique_suffix());
    let produced_topic = support::unique_topic("throttling-produced");
    let consumed_topic = support::unique_topic("throttling-consumed");
    let value = vec![b'x'; VALUE];

    let admin = AdminClient::new(AdminConfig::new().bootstrap_servers(&bootstrap)).unwrap();
    admin
        .create_topic(NewTopic::new(&produced_topic, 1, 1))
        .unwrap();
    admin
        .create_topic(NewTopic::new(&consumed_topic, 1, 1))
        .unwrap();
    // What the consumer will read, written without a quota.
    let loader = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(&bootstrap)
            .set("linger.ms", 5),
    )
    .unwrap();
    let loaded: Vec<_> = (0..RECORDS)
        .map(|i| {
            loader
                .send(
                    ProducerRecord::new(&consumed_topic, &value)
                        .key(format!("{i}").as_bytes())
                        .partition(0),
                )
                .unwrap()
        })
        .collect();
    loader.flush().unwrap();
    for h in loaded {
        h.wait().expect("load the topic to consume");
    }
    loader.close(None).unwrap();

    let started = Instant::now();
    support::kafka::java_tool(
        "org.apache.kafka.tools.ConfigCommand",
        &[
            "--bootstrap-server",
            &bootstrap,
            "--alter",
            "--add-config",
            &format!("producer_byte_rate={QUOTA},consumer_byte_rate={QUOTA}"),
            "--entity-type",
            "clients",
            "--entity-name",
            &client_id,
        ],
    )
    .expect("set the client quota");
    eprintln!("quota set in {:?}", started.elapsed());
    // The broker applies the quota once the controller's record reaches it.
    std::thread::sleep(Duration::from_millis(500));
    let before = throttle_totals();

    // The consumer reads while the producer writes (separate quotas).
    let consumer = {
        let (bootstrap, client_id, topic) =
            (bootstrap.clone(), client_id.clone(), consumed_topic.clone());
        std::thread::spawn(move || consume(&bootstrap, &client_id, &topic))
    };

    let producer = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(&bootstrap)
            .set("client.id", &client_id)
            .set("acks", "all")
            .set("linger.ms", 5)
            .set("batch.size", 32768)
            .set("request.timeout.ms", 10000),
    )
    .unwrap();
    let started = Instant::now();
    let handles: Vec<_> = (0..RECORDS)
        .map(|i| {
            producer
                .send(
                    ProducerRecord::new(&produced_topic, &value)
                        .key(format!("{i}").as_bytes())
                        .partition(0),
                )
                .unwrap()
        })
        .collect();
    producer.flush().unwrap();
    let failed: Vec<_> = handles.iter().filter_map(|h| h.wait().err()).collect();
    let produce_time = started.elapsed();
    let m = producer.metrics();
    producer.close(None).unwrap();

    let consumed = consumer.join().expect("consumer thread");
    let all = minus(throttle_totals(), before);
    let producer_throttling = minus(all, consumed.throttling);
    let bytes = m.bytes_sent;
    eprintln!(
        "produced {RECORDS} records ({bytes} bytes) in {produce_time:?}: {:.0} KiB/s against a quota of {} KiB/s; {} requests, average latency {:.0} ms, {} retries, {} failed; {producer_throttling:?}",
        bytes as f64 / 1024.0 / produce_time.as_secs_f64(),
        QUOTA / 1024,
        m.requests,
        m.average_request_latency_ms,
        m.retries,
        m.records_failed,
    );
    eprintln!(
        "consumed {} records ({} value bytes) in {:?}: {:.0} KiB/s against a quota of {} KiB/s; longest poll(200 ms) {:?}; {:?}",
        consumed.records,
        consumed.bytes,
        consumed.took,
        consumed.bytes as f64 / 1024.0 / consumed.took.as_secs_f64(),
        QUOTA / 1024,
        consumed.longest_poll,
        consumed.throttling,
    );
    for l in LINES.lock().unwrap().iter().take(30) {
        eprintln!("  {l}");
    }

    // No errors, no retries, no request timeouts.
    assert!(
        failed.is_empty(),
        "failed records: {:?}",
        &failed[..failed.len().min(3)]
    );
    assert_eq!(m.records_failed, 0);
    assert_eq!(m.retries, 0, "a retry means a Produce request failed");
    assert!(
        lines_with(&["got no response"]).is_empty() && lines_with(&["not sent"]).is_empty(),
        "request timeouts"
    );
    assert!(
        lines_with(&["Fetch", "failed"]).is_empty(),
        "failed fetches"
    );
    // Both slowed down to the quota, without the poll loop blocking.
    assert_paced("produced", bytes, produce_time);
    assert_paced("consumed", consumed.bytes, consumed.took);
    assert!(
        consumed.longest_poll < Duration::from_secs(2),
        "a poll(200 ms) took {:?}",
        consumed.longest_poll
    );
    // And the client held its requests back for the throttle time.
    assert!(
        !lines_with(&["throttled this client", "Produce v"]).is_empty(),
        "the producer's connection did not report honouring throttle_time_ms"
    );
    assert!(
        !lines_with(&["throttled this client", "Fetch v"]).is_empty(),
        "the consumer's connection did not report honouring throttle_time_ms"
    );
    assert!(
        producer_throttling.throttled_responses > 0 && producer_throttling.held_requests > 0,
        "the producer did not hold requests back for the broker's throttle time: {producer_throttling:?}"
    );
    assert!(
        consumed.throttling.throttled_responses > 0 && consumed.throttling.held_requests > 0,
        "the consumer did not hold fetches back for the broker's throttle time: {:?}",
        consumed.throttling
    );
}
