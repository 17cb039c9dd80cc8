//! The producer's public API contract (issue 11): flush and close report
//! what failed, Drop is bounded, a wait_timeout expiry is not a failed send,
//! serializers can fail without sending anything, send_serialized carries
//! partition, timestamp and headers, and one Producer is shared by threads.

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::consumer::{Consumer, ConsumerRecord, TimestampType, TopicPartition};
use kafka_blocking::producer::{
    IntegerSerializer, Producer, ProducerRecord, SerializedRecord, Serializer, StringSerializer,
};
use kafka_blocking::{AdminConfig, ConsumerConfig, Error, ProducerConfig, Result};

// The compile-time half of "Producer is Send + Sync".
const _: fn() = || {
    fn check<T: Send + Sync>() {}
    check::<Producer>();
};

fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin = AdminClient::new(AdminConfig::new().bootstrap_servers(bootstrap)).unwrap();
    admin
        .create_topic(NewTopic::new(topic, partitions, 1))
        .unwrap();
    admin
        .cluster()
        .wait_for_topic(topic, Instant::now() + Duration::from_secs(15))
        .unwrap();
}

/// Reads `expected` records of one partition from offset 0 with a Consumer
/// (then polls a little longer to catch any extra one).
fn read_back(bootstrap: &str, topic: &str, partition: i32, expected: usize) -> Vec<ConsumerRecord> {
    let mut c = Consumer::new(ConsumerConfig::new().bootstrap_servers(bootstrap)).unwrap();
    let tp = TopicPartition::new(topic, partition);
    c.assign(vec![tp.clone()]).unwrap();
    c.seek(&tp, 0).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < expected && Instant::now() < deadline {
        out.extend(c.poll(Duration::from_millis(200)).unwrap());
    }
    for _ in 0..3 {
        out.extend(c.poll(Duration::from_millis(100)).unwrap());
    }
    c.close();
    out
}

fn config(bootstrap: &str) -> ProducerConfig {
    ProducerConfig::new().bootstrap_servers(bootstrap)
}

#[test]
fn flush_timeout_gives_up_without_failing_the_records() {
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("api-flush-timeout");
    create_topic(&bootstrap, &topic, 1);
    let producer = Producer::new(config(&bootstrap).set("linger.ms", 60_000)).unwrap();
    let h = producer.send(ProducerRecord::new(&topic, b"v")).unwrap();
    let e = producer.flush_timeout(Duration::ZERO).unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("may yet be delivered"), "{e}");
    // The record was not failed: it is delivered.
    producer.flush_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(h.try_get().unwrap().unwrap().offset, 0);
    producer.close(None).unwrap();
}

#[test]
fn close_reports_records_aborted_at_its_timeout() {
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("api-close-abort");
    create_topic(&bootstrap, &topic, 1);
    let producer = Producer::new(
        config(&bootstrap)
            .set("linger.ms", 60_000)
            .set("batch.size", 1 << 20),
    )
    .unwrap();
    // Metadata first, so that the records are in a lingering batch.
    producer.partitions_for(&topic).unwrap();
    let handles: Vec<_> = (0..10)
        .map(|i| {
            producer
                .send(ProducerRecord::new(&topic, format!("v{i}").as_bytes()))
                .unwrap()
        })
        .collect();
    let started = Instant::now();
    let e = producer.close(Some(Duration::ZERO)).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(e, Error::Closed(_)), "{e}");
    assert!(e.to_string().contains("close: 10 record(s)"), "{e}");
    for h in &handles {
        assert!(matches!(h.try_get(), Some(Err(Error::Closed(_)))));
    }
    // Closing again has nothing more to say.
    producer.close(None).unwrap();
    assert!(matches!(
        producer.send(ProducerRecord::new(&topic, b"late")),
        Err(Error::Closed(_))
    ));
}

#[test]
fn wait_timeout_expiring_is_not_a_failed_send() {
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("api-wait-timeout");
    create_topic(&bootstrap, &topic, 1);
    let producer = Producer::new(config(&bootstrap).set("linger.ms", 60_000)).unwrap();
    let h = producer.send(ProducerRecord::new(&topic, b"v")).unwrap();
    let e = h.wait_timeout(Duration::from_millis(50)).unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("not a failed send"), "{text}");
    assert!(text.contains("may still be delivered"), "{text}");
    assert!(!h.is_done());
    producer.flush().unwrap();
    assert_eq!(h.wait_timeout(Duration::from_secs(1)).unwrap().offset, 0);
    producer.close(None).unwrap();
}

/// Fails every value (a serializer that cannot encode what it is given).
struct Refusing;

impl Serializer<str> for Refusing {
    fn serialize(&self, topic: &str, value: &str) -> Result<Option<Vec<u8>>> {
        Err(Error::InvalidArgument(format!(
            "refusing to serialize {value:?} for {topic}"
        )))
    }
}

#[test]
fn a_serializer_error_sends_nothing() {
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("api-ser-error");
    create_topic(&bootstrap, &topic, 1);
    let producer = Producer::new(config(&bootstrap).set("linger.ms", 0)).unwrap();
    // Value serializer fails: its error comes back, unchanged.
    let e = producer
        .send_serialized(
            SerializedRecord::new(&topic, Some("k"), Some("bad value")),
            &StringSerializer,
            &Refusing,
        )
        .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    assert!(
        e.to_string()
            .contains("refusing to serialize \"bad value\""),
        "{e}"
    );
    // Key serializer fails.
    let e = producer
        .send_serialized(
            SerializedRecord::new(&topic, Some("bad key"), Some("v")),
            &Refusing,
            &StringSerializer,
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("refusing to serialize \"bad key\""),
        "{e}"
    );
    // Then a good record: it is the only one in the log, at offset 0.
    let md = producer
        .send_serialized(
            SerializedRecord::new(&topic, Some("k"), Some("good")),
            &StringSerializer,
            &StringSerializer,
        )
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(md.offset, 0, "a failed serialization sent something");
    producer.flush().unwrap();
    assert_eq!(producer.metrics().records_sent, 1);
    producer.close(None).unwrap();
    let log = read_back(&bootstrap, &topic, 0, 1);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].value.as_deref(), Some(&b"good"[..]));
}

#[test]
fn send_serialized_carries_partition_timestamp_and_headers() {
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("api-ser-record");
    create_topic(&bootstrap, &topic, 3);
    let producer = Producer::new(config(&bootstrap).set("linger.ms", 0)).unwrap();
    let key = 42i64;
    let md = producer
        .send_serialized(
            SerializedRecord::new(&topic, Some(&key), Some("hello"))
                .partition(2)
                .timestamp(1_600_000_000_456)
                .header("h1", Some(b"x"))
                .header("h2", None),
            &IntegerSerializer,
            &StringSerializer,
        )
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!((md.partition, md.offset), (2, 0));
    assert_eq!(md.timestamp, 1_600_000_000_456);
    // A null value (tombstone) without calling the serializer.
    producer
        .send_serialized(
            SerializedRecord::new(&topic, Some(&key), None::<&str>).partition(2),
            &IntegerSerializer,
            &Refusing,
        )
        .unwrap()
        .wait()
        .unwrap();
    producer.close(None).unwrap();
    let log = read_back(&bootstrap, &topic, 2, 2);
    assert_eq!(log.len(), 2);
    let r = &log[0];
    assert_eq!(r.key.as_deref(), Some(&42i64.to_be_bytes()[..]));
    assert_eq!(r.value.as_deref(), Some(&b"hello"[..]));
    assert_eq!(r.timestamp, 1_600_000_000_456);
    assert_eq!(r.timestamp_type, TimestampType::CreateTime);
    assert_eq!(r.headers.len(), 2);
    assert_eq!(r.headers[0].key, "h1");
    assert_eq!(r.headers[0].value.as_deref(), Some(&b"x"[..]));
    assert_eq!(r.headers[1].key, "h2");
    assert_eq!(r.headers[1].value, None);
    assert_eq!(log[1].value, None);
    assert_eq!(log[1].key.as_deref(), Some(&42i64.to_be_bytes()[..]));
}

#[test]
fn one_producer_shared_by_threads() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 500;
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("api-shared");
    create_topic(&bootstrap, &topic, 3);
    let producer = Arc::new(Producer::new(config(&bootstrap).set("linger.ms", 5)).unwrap());
    // By reference (scoped threads) ...
    thread::scope(|s| {
        for t in 0..THREADS {
            let (producer, topic) = (&producer, &topic);
            s.spawn(move || {
                let handles: Vec<_> = (0..PER_THREAD)
                    .map(|i| {
                        let v = format!("t{t}-{i}");
                        producer
                            .send(ProducerRecord::new(topic, v.as_bytes()).key(v.as_bytes()))
                            .unwrap()
                    })
                    .collect();
                for h in handles {
                    h.wait().unwrap();
                }
            });
        }
    });
    // ... and in an Arc, flushing while others send.
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (producer, topic) = (Arc::clone(&producer), topic.clone());
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let v = format!("a{t}-{i}");
                    let _ = producer
                        .send(ProducerRecord::new(&topic, v.as_bytes()))
                        .unwrap();
                    if i % 100 == 99 {
                        producer.flush().unwrap();
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    producer.flush().unwrap();
    let total = 2 * THREADS * PER_THREAD;
    let m = producer.metrics();
    assert_eq!(m.records_sent as usize, total, "{m:?}");
    assert_eq!(m.records_failed, 0, "{m:?}");
    producer.close(None).unwrap();
    let read: usize = (0..3)
        .map(|p| {
            let n = producer_partition_len(&bootstrap, &topic, p);
            assert!(n > 0, "partition {p} got nothing");
            n
        })
        .sum();
    assert_eq!(read, total);
}

fn producer_partition_len(bootstrap: &str, topic: &str, partition: i32) -> usize {
    let admin = AdminClient::new(AdminConfig::new().bootstrap_servers(bootstrap)).unwrap();
    support::log::read_partition(admin.cluster(), topic, partition, 0).len()
}

/// With the broker gone (a real failure on tansu and Kafka alike, which the
/// broker's size limits are not: tansu accepts records over
/// max.message.bytes): records fail by delivery.timeout.ms and flush reports
/// them, once each; Drop returns within its bound, and at once while panicking.
#[test]
fn with_the_broker_down_flush_reports_and_drop_is_bounded() {
    let mut broker = support::PrivateBroker::start().unwrap();
    let bootstrap = broker.bootstrap();
    let topic = support::unique_topic("api-broker-down");
    create_topic(&bootstrap, &topic, 1);
    let down_config = || {
        config(&bootstrap)
            .set("linger.ms", 0)
            .set("request.timeout.ms", 1000)
            .set("delivery.timeout.ms", 2000)
            .set("retry.backoff.ms", 100)
    };
    let flushing = Producer::new(down_config()).unwrap();
    let dropped = Producer::new(down_config().set("delivery.timeout.ms", 60_000)).unwrap();
    let panicking = Producer::new(down_config().set("delivery.timeout.ms", 60_000)).unwrap();
    for p in [&flushing, &dropped, &panicking] {
        p.send(ProducerRecord::new(&topic, b"before"))
            .unwrap()
            .wait()
            .unwrap();
    }
    broker.stop();

    for i in 0..5 {
        let _ = flushing
            .send(ProducerRecord::new(&topic, format!("r{i}").as_bytes()))
            .unwrap();
    }
    let e = flushing.flush().unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("delivery.timeout.ms"), "{text}");
    assert!(text.contains("flush: 5 record(s)"), "{text}");
    // Each failure is reported once: the next flush has nothing to report.
    flushing.flush().unwrap();
    // A failure that happened before flush was called is reported too.
    let h = flushing.send(ProducerRecord::new(&topic, b"late")).unwrap();
    let own = h.wait().unwrap_err();
    let e = flushing.flush().unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("flush: 1 record(s)"), "{e}");
    assert!(e.to_string().starts_with(&own.to_string()), "{e}");
    flushing.close(Some(Duration::from_secs(5))).unwrap();

    // Drop: bounded by DROP_TIMEOUT (the record cannot be delivered).
    let h = dropped.send(ProducerRecord::new(&topic, b"lost")).unwrap();
    let t = Instant::now();
    drop(dropped);
    let took = t.elapsed();
    assert!(
        took <= Producer::DROP_TIMEOUT + Duration::from_millis(300),
        "drop took {took:?}"
    );
    assert!(
        took >= Producer::DROP_TIMEOUT - Duration::from_secs(1),
        "drop gave up after {took:?}"
    );
    assert!(matches!(h.try_get(), Some(Err(_))));

    // Drop while panicking: no wait at all.
    let h = panicking
        .send(ProducerRecord::new(&topic, b"lost"))
        .unwrap();
    let took = thread::spawn(move || {
        struct Timed(Option<Producer>, Arc<std::sync::Mutex<Option<Duration>>>);
        impl Drop for Timed {
            fn drop(&mut self) {
                let t = Instant::now();
                drop(self.0.take());
                *self.1.lock().unwrap() = Some(t.elapsed());
            }
        }
        let took = Arc::new(std::sync::Mutex::new(None));
        let guard = Timed(Some(panicking), took.clone());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _guard = guard;
            panic!("boom (expected by the test)");
        }));
        assert!(r.is_err());
        let d = took.lock().unwrap().take();
        d.unwrap()
    })
    .join()
    .unwrap();
    assert!(
        took < Duration::from_millis(100),
        "drop while panicking took {took:?}"
    );
    // The sender thread still fails the record on its own, within DROP_TIMEOUT.
    let e = h
        .wait_timeout(Producer::DROP_TIMEOUT + Duration::from_secs(2))
        .unwrap_err();
    assert!(matches!(e, Error::Closed(_)), "{e}");
}
