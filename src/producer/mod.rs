//! The producer: record → partitioner → per-partition batch → one background
//! sender thread → partition leader → [`RecordMetadata`] or an error.
//!
//! ```no_run
//! use kafka_blocking::producer::{Producer, ProducerRecord};
//! use kafka_blocking::ProducerConfig;
//!
//! let producer = Producer::new(ProducerConfig::new().bootstrap_servers("localhost:9092"))?;
//! let handle = producer.send(ProducerRecord::new("science", b"Hello world"))?;
//! let md = handle.wait()?;
//! println!("written to {}-{} at offset {}", md.topic, md.partition, md.offset);
//! producer.close(None)?;
//! # Ok::<(), kafka_blocking::Error>(())
//! ```
//!
//! Ordering and retries (the rules, written next to the code that keeps
//! them, in `sender.rs`): records of one partition are delivered in `send`
//! order. Retriable errors are retried after the retry backoff
//! (`retry.backoff.ms`, doubling up to `retry.backoff.max.ms`) with a metadata
//! refresh until `delivery.timeout.ms` has passed since the batch was created.
//! With idempotence (the default), sequence numbers let the broker drop
//! duplicates from retries, and a partition with a batch waiting for retry
//! sends nothing else until that batch is back in flight alone, so order
//! survives retries even with several requests in flight. A batch a broker
//! refuses as too large (MESSAGE_TOO_LARGE: more than the topic's
//! `max.message.bytes`) is split and its records sent again in order, in
//! smaller batches; only a record too large on its own fails.
//!
//! Failures: each record's outcome is on its [`DeliveryFuture`] (or its
//! callback). Besides, [`Producer::flush`] and [`Producer::close`] return an
//! error when records failed since the previous flush or close (the first
//! failure, with the count in its text), so fire-and-forget sending still
//! learns about lost records. Dropping an unclosed producer blocks at most
//! [`Producer::DROP_TIMEOUT`], and not at all while panicking.

pub mod accumulator;
pub mod partitioner;
mod sender;
pub mod serializer;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use partitioner::{
    DefaultPartitioner, Partitioner, RoundRobinPartitioner, murmur2, partition_for_key,
};
pub use serializer::{
    BytesSerializer, IntegerSerializer, OptionSerializer, Serializer, StringSerializer,
};

use crate::cluster::{Cluster, ClusterSettings, PartitionMetadata};
use crate::config::{PartitionerKind, ProducerConfig, ProducerSettings};
use crate::error::{Error, Result};
use accumulator::{Accumulator, PendingRecord, TryAppend, record_size_upper_bound};
use sender::{Event, Sender};

/// A topic and partition.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic-partition.
    pub fn new(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: Arc::from(topic),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A record to send. Borrowed: its bytes are copied into the partition's
/// batch inside `send`, so nothing is allocated per record for them.
#[derive(Clone, Debug, Default)]
pub struct ProducerRecord<'a> {
    /// Topic to write to.
    pub topic: &'a str,
    /// Explicit partition (wins over the partitioner).
    pub partition: Option<i32>,
    /// Key (`None` = null key: the sticky partitioner chooses).
    pub key: Option<&'a [u8]>,
    /// Value (`None` = null value: a tombstone on compacted topics).
    pub value: Option<&'a [u8]>,
    /// Headers (key, optional value), in order.
    pub headers: Vec<(&'a str, Option<&'a [u8]>)>,
    /// CreateTime in milliseconds since the epoch (`None` = now).
    pub timestamp: Option<i64>,
}

impl<'a> ProducerRecord<'a> {
    /// A record with a value and no key.
    pub fn new(topic: &'a str, value: &'a [u8]) -> ProducerRecord<'a> {
        ProducerRecord {
            topic,
            value: Some(value),
            ..Default::default()
        }
    }

    /// A record with a null value (a tombstone).
    pub fn tombstone(topic: &'a str, key: &'a [u8]) -> ProducerRecord<'a> {
        ProducerRecord {
            topic,
            key: Some(key),
            ..Default::default()
        }
    }

    /// Sets the key.
    pub fn key(mut self, key: &'a [u8]) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets an explicit partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Adds a header.
    pub fn header(mut self, key: &'a str, value: Option<&'a [u8]>) -> Self {
        self.headers.push((key, value));
        self
    }

    /// Sets the timestamp (milliseconds since the epoch).
    pub fn timestamp(mut self, ms: i64) -> Self {
        self.timestamp = Some(ms);
        self
    }
}

/// A record whose key and value are application values, serialized by
/// [`Producer::send_serialized`]; otherwise as [`ProducerRecord`]: an
/// explicit partition, a timestamp and headers (header values are bytes).
///
/// `K` and `V` are the types the serializers take (`str`, `i64`, ...). A
/// record with no key still names its key type, e.g.
/// `SerializedRecord::new("t", None::<&str>, Some("v"))`.
#[derive(Debug)]
pub struct SerializedRecord<'a, K: ?Sized, V: ?Sized> {
    /// Topic to write to.
    pub topic: &'a str,
    /// Explicit partition (wins over the partitioner).
    pub partition: Option<i32>,
    /// Key (`None` = null key: the serializer is not called).
    pub key: Option<&'a K>,
    /// Value (`None` = null value, a tombstone: the serializer is not called).
    pub value: Option<&'a V>,
    /// Headers (key, optional value), in order.
    pub headers: Vec<(&'a str, Option<&'a [u8]>)>,
    /// CreateTime in milliseconds since the epoch (`None` = now).
    pub timestamp: Option<i64>,
}

impl<K: ?Sized, V: ?Sized> Clone for SerializedRecord<'_, K, V> {
    fn clone(&self) -> Self {
        SerializedRecord {
            topic: self.topic,
            partition: self.partition,
            key: self.key,
            value: self.value,
            headers: self.headers.clone(),
            timestamp: self.timestamp,
        }
    }
}

impl<'a, K: ?Sized, V: ?Sized> SerializedRecord<'a, K, V> {
    /// A record with an optional key and value, no headers, the partitioner's
    /// partition and the current time.
    pub fn new(topic: &'a str, key: Option<&'a K>, value: Option<&'a V>) -> Self {
        SerializedRecord {
            topic,
            partition: None,
            key,
            value,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Sets an explicit partition.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Adds a header.
    pub fn header(mut self, key: &'a str, value: Option<&'a [u8]>) -> Self {
        self.headers.push((key, value));
        self
    }

    /// Sets the timestamp (milliseconds since the epoch).
    pub fn timestamp(mut self, ms: i64) -> Self {
        self.timestamp = Some(ms);
        self
    }
}

/// Where a record was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset in the partition (-1 with acks=0, where the broker does not say).
    pub offset: i64,
    /// The record's timestamp: its CreateTime, or the broker's LogAppendTime
    /// when the topic uses `message.timestamp.type=LogAppendTime`.
    pub timestamp: i64,
}

/// A callback run on the sender thread when a record is acknowledged or fails.
/// Keep it short; it delays other deliveries.
pub type DeliveryCallback = Box<dyn FnOnce(Result<RecordMetadata>) + Send + 'static>;

/// What the broker said about a whole batch.
#[derive(Clone, Debug)]
pub(crate) struct BatchAck {
    pub(crate) base_offset: i64,
    pub(crate) log_append_time: Option<i64>,
}

/// The shared result slot of one batch: every record's handle points here
/// (with its index), so no per-record allocation is needed.
///
/// A batch the broker refused as too large is split by the sender thread
/// into parts sent on their own; each part's outcome covers its range of
/// record indexes, and the batch is complete once every record has one.
pub struct BatchResult {
    id: u64,
    tp: TopicPartition,
    state: Mutex<Outcomes>,
    done: Condvar,
}

/// The outcomes known so far, by range of record indexes.
#[derive(Default)]
struct Outcomes {
    /// Sorted by `first`, not overlapping: one part for the whole batch
    /// unless it was split.
    parts: Vec<Part>,
    /// Records with an outcome.
    resolved: i32,
    /// Every record has its outcome.
    complete: bool,
}

struct Part {
    first: i32,
    count: i32,
    outcome: Result<BatchAck>,
}

impl Outcomes {
    fn part_of(&self, index: i32) -> Option<&Part> {
        let i = self.parts.partition_point(|p| p.first <= index);
        let p = self.parts.get(i.checked_sub(1)?)?;
        (index - p.first < p.count).then_some(p)
    }
}

/// Which records of a batch (by index, as `send` appended them) an outcome
/// is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    /// Index of the first record.
    pub(crate) first: i32,
    /// Records in the span.
    pub(crate) count: i32,
    /// Records in the whole batch.
    pub(crate) whole: i32,
}

impl Span {
    /// The whole batch of `records` records.
    pub(crate) fn whole(records: i32) -> Span {
        Span {
            first: 0,
            count: records,
            whole: records,
        }
    }
}

impl fmt::Debug for BatchResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchResult").field("tp", &self.tp).finish()
    }
}

impl BatchResult {
    fn new(id: u64, tp: TopicPartition) -> BatchResult {
        BatchResult {
            id,
            tp,
            state: Mutex::new(Outcomes::default()),
            done: Condvar::new(),
        }
    }

    /// Sets the outcome of the records of `span` (the first outcome of a
    /// record wins). Returns true when this completed the batch: every
    /// record has its outcome now.
    pub(crate) fn complete(&self, span: Span, result: Result<BatchAck>) -> bool {
        let mut s = self.state.lock().unwrap();
        if s.complete || span.count <= 0 {
            return false;
        }
        let i = s.parts.partition_point(|p| p.first < span.first);
        let overlaps = s
            .parts
            .get(i)
            .is_some_and(|p| p.first < span.first + span.count)
            || i.checked_sub(1)
                .and_then(|j| s.parts.get(j))
                .is_some_and(|p| p.first + p.count > span.first);
        if overlaps {
            return false;
        }
        s.parts.insert(
            i,
            Part {
                first: span.first,
                count: span.count,
                outcome: result,
            },
        );
        s.resolved += span.count;
        s.complete = s.resolved >= span.whole;
        let completed = s.complete;
        drop(s);
        self.done.notify_all();
        completed
    }

    /// The metadata of the record `offset_in_part` records after the first
    /// one its part's outcome `r` is for.
    fn metadata(
        &self,
        offset_in_part: i32,
        timestamp: i64,
        r: &Result<BatchAck>,
    ) -> Result<RecordMetadata> {
        match r {
            Ok(ack) => Ok(RecordMetadata {
                topic: self.tp.topic.to_string(),
                partition: self.tp.partition,
                offset: if ack.base_offset < 0 {
                    -1
                } else {
                    ack.base_offset + offset_in_part as i64
                },
                timestamp: ack.log_append_time.unwrap_or(timestamp),
            }),
            Err(e) => Err(e.clone()),
        }
    }

    /// The outcome of record `index`, if known.
    fn record(&self, index: i32, timestamp: i64) -> Option<Result<RecordMetadata>> {
        let s = self.state.lock().unwrap();
        s.part_of(index)
            .map(|p| self.metadata(index - p.first, timestamp, &p.outcome))
    }

    /// Waits until record `index` (None: every record) has its outcome, or
    /// `deadline` has passed (false).
    fn wait_until(&self, deadline: Option<Instant>, index: Option<i32>) -> bool {
        let mut s = self.state.lock().unwrap();
        while !(s.complete || index.is_some_and(|i| s.part_of(i).is_some())) {
            match deadline {
                None => s = self.done.wait(s).unwrap(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    s = self.done.wait_timeout(s, d - now).unwrap().0;
                }
            }
        }
        true
    }
}

/// The handle `send` returns: wait on it for the record's [`RecordMetadata`].
#[must_use = "a send's outcome is only known through its handle (or use flush)"]
#[derive(Debug, Clone)]
pub struct DeliveryFuture {
    result: Arc<BatchResult>,
    index: i32,
    timestamp: i64,
}

impl DeliveryFuture {
    /// Blocks until the record is acknowledged or has failed.
    pub fn wait(&self) -> Result<RecordMetadata> {
        self.result.wait_until(None, Some(self.index));
        self.try_get().expect("completed")
    }

    /// Like [`DeliveryFuture::wait`] but gives up after `timeout` with
    /// [`Error::Timeout`]. That timeout is *not* a failed send: the record is
    /// still on its way and may yet be delivered (it fails on its own only
    /// after `delivery.timeout.ms`). Wait again, or check later with
    /// [`DeliveryFuture::try_get`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<RecordMetadata> {
        if !self
            .result
            .wait_until(Some(Instant::now() + timeout), Some(self.index))
        {
            return Err(Error::Timeout {
                what: format!(
                    "no acknowledgement yet for a record to {}; this is not a failed send: \
                     the record may still be delivered (wait on its handle again, or check \
                     it later with try_get; it fails on its own after delivery.timeout.ms)",
                    self.result.tp
                ),
                after: timeout,
            });
        }
        self.try_get().expect("completed")
    }

    /// The outcome if known, without blocking.
    pub fn try_get(&self) -> Option<Result<RecordMetadata>> {
        self.result.record(self.index, self.timestamp)
    }

    /// True once the outcome is known.
    pub fn is_done(&self) -> bool {
        self.result
            .state
            .lock()
            .unwrap()
            .part_of(self.index)
            .is_some()
    }
}

/// A snapshot of producer counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProducerMetrics {
    /// Records acknowledged by the brokers.
    pub records_sent: u64,
    /// Records that failed.
    pub records_failed: u64,
    /// Batch retries.
    pub retries: u64,
    /// Bytes of record batches sent (after compression).
    pub bytes_sent: u64,
    /// Batches acknowledged.
    pub batches_sent: u64,
    /// Batches split because a broker refused them as too large
    /// (MESSAGE_TOO_LARGE: more than the topic's `max.message.bytes`); their
    /// records were sent again in smaller batches (Java's `batch-split-rate`).
    pub batch_splits: u64,
    /// Average acknowledged batch size in bytes.
    pub average_batch_size: f64,
    /// Average Produce request latency in milliseconds.
    pub average_request_latency_ms: f64,
    /// Produce requests completed.
    pub requests: u64,
    /// Bytes of buffer.memory in use.
    pub buffer_in_use: usize,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) records_sent: AtomicU64,
    pub(crate) records_failed: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) batches_sent: AtomicU64,
    pub(crate) batch_splits: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) request_latency_us: AtomicU64,
}

pub(crate) struct Shared {
    pub(crate) cluster: Arc<Cluster>,
    pub(crate) settings: ProducerSettings,
    pub(crate) accumulator: Accumulator,
    pub(crate) partitioner: Box<dyn Partitioner>,
    pub(crate) counters: Counters,
    pub(crate) closed: AtomicBool,
    events: Mutex<mpsc::Sender<Event>>,
    /// Records that failed since the last `flush`/`close` reported them.
    undelivered: Mutex<Undelivered>,
    /// Set (and signalled) when the sender thread has left `run`.
    sender_exited: Mutex<bool>,
    sender_exit: Condvar,
}

/// Failed records not yet reported by a `flush` or `close`.
#[derive(Default)]
struct Undelivered {
    records: u64,
    first: Option<Error>,
}

impl Shared {
    pub(crate) fn wake(&self, e: Event) {
        let _ = self.events.lock().unwrap().send(e);
    }

    /// Notes that `records` records failed with `err`, for the next
    /// `flush`/`close` to report. Called before their handles complete, so a
    /// flush waiting on them sees it.
    pub(crate) fn record_failure(&self, records: i32, err: &Error) {
        let mut u = self.undelivered.lock().unwrap();
        u.records += records.max(0) as u64;
        if u.first.is_none() {
            u.first = Some(err.clone());
        }
    }

    /// Takes the failures not yet reported: their count and the first error.
    fn take_undelivered(&self) -> Option<(u64, Error)> {
        let mut u = self.undelivered.lock().unwrap();
        let first = u.first.take()?;
        let n = std::mem::take(&mut u.records);
        Some((n, first))
    }

    fn undelivered_count(&self) -> u64 {
        self.undelivered.lock().unwrap().records
    }

    /// Waits until the sender thread has exited or `deadline` has passed.
    fn wait_sender_exit(&self, deadline: Option<Instant>) -> bool {
        let mut exited = self.sender_exited.lock().unwrap();
        while !*exited {
            match deadline {
                None => exited = self.sender_exit.wait(exited).unwrap(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    exited = self.sender_exit.wait_timeout(exited, d - now).unwrap().0;
                }
            }
        }
        true
    }
}

/// Marks the sender thread as exited when dropped (also on a panic).
struct SenderExit(Arc<Shared>);

impl Drop for SenderExit {
    fn drop(&mut self) {
        *self.0.sender_exited.lock().unwrap() = true;
        self.0.sender_exit.notify_all();
    }
}

/// The error `flush` and `close` return when records were not delivered: the
/// first failure itself (same variant, so `kafka_code()` and matching keep
/// working), its text extended with how many records failed. A variant with
/// no text to extend is returned unchanged and the count is logged.
fn undelivered_error(op: &str, records: u64, first: Error) -> Error {
    let note = format!(
        "[{op}: {records} record(s) sent before it could not be delivered; this is the first failure]"
    );
    match first {
        Error::Kafka {
            code,
            context,
            message,
        } => Error::Kafka {
            code,
            context: format!("{context} {note}"),
            message,
        },
        Error::Timeout { what, after } => Error::Timeout {
            what: format!("{what} {note}"),
            after,
        },
        Error::Closed(what) => Error::Closed(format!("{what} {note}")),
        Error::InvalidArgument(m) => Error::InvalidArgument(format!("{m} {note}")),
        Error::Protocol { broker, message } => Error::Protocol {
            broker,
            message: format!("{message} {note}"),
        },
        Error::Io { broker, source } => Error::Io {
            broker,
            source: std::io::Error::new(source.kind(), format!("{source} {note}")),
        },
        Error::Tls { broker, message } => Error::Tls {
            broker,
            message: format!("{message} {note}"),
        },
        other => {
            log::warn!(
                "{op}: {records} record(s) could not be delivered; the first error: {other}"
            );
            other
        }
    }
}

/// A Kafka producer. `Send + Sync` (checked at compile time): share one
/// between threads by reference or in an `Arc`; `send` from many threads at
/// once appends to the same batches.
pub struct Producer {
    shared: Arc<Shared>,
    sender: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("settings", &self.shared.settings)
            .finish()
    }
}

// Producer is Send + Sync: a change that breaks this fails to compile.
const _: fn() = || {
    fn check<T: Send + Sync>() {}
    check::<Producer>();
    check::<DeliveryFuture>();
};

/// How long `close(Some(timeout))` waits, past its timeout, for the sender
/// thread to finish the step it is in (e.g. a connection attempt) before it
/// returns without joining it.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Producer {
    /// Builds a producer with the default partitioner (murmur2 for keys,
    /// sticky otherwise; `partitioner.class=round_robin` picks round-robin).
    pub fn new(config: ProducerConfig) -> Result<Producer> {
        let settings = config.settings()?;
        let partitioner: Box<dyn Partitioner> = match settings.partitioner {
            PartitionerKind::RoundRobin => Box::new(RoundRobinPartitioner::default()),
            PartitionerKind::Default => {
                Box::new(DefaultPartitioner::new(settings.partitioner_ignore_keys))
            }
        };
        Self::build(settings, partitioner)
    }

    /// Builds a producer with a custom partitioner.
    pub fn with_partitioner(
        config: ProducerConfig,
        partitioner: impl Partitioner + 'static,
    ) -> Result<Producer> {
        Self::build(config.settings()?, Box::new(partitioner))
    }

    fn build(settings: ProducerSettings, partitioner: Box<dyn Partitioner>) -> Result<Producer> {
        let cluster = Arc::new(Cluster::new(ClusterSettings::from_settings(
            &settings.common,
        )?));
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            accumulator: Accumulator::new(settings.batch_size, settings.buffer_memory),
            cluster,
            settings,
            partitioner,
            counters: Counters::default(),
            closed: AtomicBool::new(false),
            events: Mutex::new(tx.clone()),
            undelivered: Mutex::new(Undelivered::default()),
            sender_exited: Mutex::new(false),
            sender_exit: Condvar::new(),
        });
        let sender = Sender::new(shared.clone(), rx, tx);
        let exit = SenderExit(shared.clone());
        let handle = std::thread::Builder::new()
            .name("kafka-producer-sender".into())
            .spawn(move || {
                let _exit = exit;
                sender.run();
            })
            .map_err(|e| Error::Io {
                broker: "-".into(),
                source: e,
            })?;
        Ok(Producer {
            shared,
            sender: Mutex::new(Some(handle)),
        })
    }

    /// Sends a record: returns once it is in its partition's batch (blocking
    /// only for first metadata of a topic, or for buffer space, both at most
    /// `max.block.ms`). Wait on the handle for the outcome.
    pub fn send(&self, record: ProducerRecord<'_>) -> Result<DeliveryFuture> {
        self.send_inner(&record, None)
    }

    /// Sends a record and calls `callback` (on the sender thread) with its outcome.
    pub fn send_with_callback(
        &self,
        record: ProducerRecord<'_>,
        callback: impl FnOnce(Result<RecordMetadata>) + Send + 'static,
    ) -> Result<()> {
        self.send_inner(&record, Some(Box::new(callback)))
            .map(|_| ())
    }

    /// Serializes the record's key and value with the given serializers (key
    /// first, as Java does) and sends it like [`Producer::send`], with its
    /// partition, timestamp and headers.
    ///
    /// If a serializer fails, its error is returned unchanged and nothing is
    /// sent. A `None` key or value is sent as null without calling the
    /// serializer; a serializer that returns `Ok(None)` also makes a null.
    ///
    /// ```no_run
    /// use kafka_blocking::producer::{IntegerSerializer, Producer, SerializedRecord, StringSerializer};
    /// use kafka_blocking::ProducerConfig;
    ///
    /// let producer = Producer::new(ProducerConfig::new().bootstrap_servers("localhost:9092"))?;
    /// let record = SerializedRecord::new("scores", Some(&42i64), Some("alice"))
    ///     .partition(0)
    ///     .timestamp(1_700_000_000_000)
    ///     .header("source", Some(b"game-7"));
    /// let md = producer
    ///     .send_serialized(record, &IntegerSerializer, &StringSerializer)?
    ///     .wait()?;
    /// # Ok::<(), kafka_blocking::Error>(())
    /// ```
    pub fn send_serialized<K: ?Sized, V: ?Sized>(
        &self,
        record: SerializedRecord<'_, K, V>,
        key_serializer: &impl Serializer<K>,
        value_serializer: &impl Serializer<V>,
    ) -> Result<DeliveryFuture> {
        let topic = record.topic;
        let key = match record.key {
            Some(k) => key_serializer.serialize(topic, k)?,
            None => None,
        };
        let value = match record.value {
            Some(v) => value_serializer.serialize(topic, v)?,
            None => None,
        };
        self.send(ProducerRecord {
            topic,
            partition: record.partition,
            key: key.as_deref(),
            value: value.as_deref(),
            headers: record.headers,
            timestamp: record.timestamp,
        })
    }

    fn send_inner(
        &self,
        record: &ProducerRecord<'_>,
        mut callback: Option<DeliveryCallback>,
    ) -> Result<DeliveryFuture> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(Error::Closed("producer".into()));
        }
        let s = &self.shared.settings;
        let size = record_size_upper_bound(record.key, record.value, &record.headers);
        if size + crate::protocol::records::RECORD_BATCH_OVERHEAD > s.max_request_size {
            let err = Error::kafka(
                crate::KafkaCode::MessageTooLarge,
                format!(
                    "record for topic {} is {size} bytes, more than max.request.size ({}); raise max.request.size (and the broker's message.max.bytes) or send smaller records",
                    record.topic, s.max_request_size
                ),
            );
            return Err(err);
        }
        let partitions = self.partition_count(record.topic)?;
        let partition = match record.partition {
            Some(p) if p < 0 || p as usize >= partitions => {
                return Err(Error::InvalidArgument(format!(
                    "partition {p} does not exist: topic {} has {partitions} partitions",
                    record.topic
                )));
            }
            Some(p) => p,
            None => {
                // Partitions with a leader among the live brokers: the sticky
                // partition for unkeyed records is one of them.
                let available = self
                    .shared
                    .cluster
                    .metadata()
                    .available_partitions(record.topic);
                self.shared.partitioner.partition_available(
                    record.topic,
                    record.key,
                    partitions,
                    &available,
                )
            }
        };
        let timestamp = record.timestamp.unwrap_or_else(now_ms);
        let acc = &self.shared.accumulator;
        let rec = PendingRecord {
            timestamp,
            key: record.key,
            value: record.value,
            headers: &record.headers,
            size,
        };
        let appended = match acc.try_append(record.topic, partition, &rec, &mut callback)? {
            TryAppend::Done(a) => a,
            TryAppend::NeedBatch { batch_closed } => {
                if batch_closed {
                    self.shared
                        .partitioner
                        .on_new_batch(record.topic, partition, partitions);
                }
                let reserve = acc.reservation_for(size);
                acc.memory.reserve(reserve, s.max_block)?;
                acc.append_new_batch(record.topic, partition, &rec, reserve, &mut callback)?
            }
        };
        if appended.wake_sender || appended.batch_closed {
            self.shared.wake(Event::Wakeup);
        }
        Ok(DeliveryFuture {
            result: appended.result,
            index: appended.index,
            timestamp,
        })
    }

    fn partition_count(&self, topic: &str) -> Result<usize> {
        if let Some(n) = self.shared.cluster.metadata().partition_count(topic) {
            return Ok(n);
        }
        // Not known yet: an invalid name fails here, before any request.
        crate::cluster::validate_topic_name(topic)?;
        let deadline = Instant::now() + self.shared.settings.max_block;
        // The partition count is enough: a partition without leader is the
        // sender's to wait for (as Java's waitOnMetadata).
        match self
            .shared
            .cluster
            .wait_for_partition_count(topic, deadline)
        {
            Ok(t) => Ok(t.partitions.len()),
            // The real cause when brokers are unreachable, else the likely
            // one.
            Err(Error::Timeout { .. }) => Err(self.shared.cluster.timeout_error(
                &format!("topic {topic} not present in metadata (max.block.ms)"),
                "does it exist?",
                self.shared.settings.max_block,
            )),
            Err(e) => Err(e),
        }
    }

    /// Partitions of `topic` (waiting up to `max.block.ms` for metadata).
    pub fn partitions_for(&self, topic: &str) -> Result<Vec<PartitionMetadata>> {
        crate::cluster::validate_topic_name(topic)?;
        let deadline = Instant::now() + self.shared.settings.max_block;
        Ok(self
            .shared
            .cluster
            .wait_for_topic(topic, deadline)?
            .partitions)
    }

    /// Sends every buffered record now (ignoring linger.ms) and blocks until
    /// every record sent before this call is acknowledged or has failed (as
    /// Java's `flush`, with no time limit; see [`Producer::flush_timeout`]).
    ///
    /// Returns an error when records failed: every record that failed since
    /// the previous `flush`/`flush_timeout`/`close` reported failures (so
    /// also those that failed before this call began). The error is the first
    /// failure itself, same variant (`kafka_code()` works on it), its text
    /// extended with how many records failed. Each failure is reported once:
    /// with flushes on several threads at once, the flush that returns first
    /// reports it. Each record's own outcome stays on its handle or callback.
    pub fn flush(&self) -> Result<()> {
        self.flush_until(None, "flush")
    }

    /// Like [`Producer::flush`], but gives up at `timeout` with
    /// [`Error::Timeout`] when records sent before the call are still
    /// unacknowledged. They are not failed by this: they keep being sent,
    /// and failures seen so far stay for the next `flush` or `close` to report.
    pub fn flush_timeout(&self, timeout: Duration) -> Result<()> {
        self.flush_until(Some((Instant::now() + timeout, timeout)), "flush")
    }

    fn flush_until(&self, deadline: Option<(Instant, Duration)>, op: &str) -> Result<()> {
        let acc = &self.shared.accumulator;
        let pending = acc.incomplete();
        acc.flushing.fetch_add(1, Ordering::SeqCst);
        self.shared.wake(Event::Wakeup);
        let mut unfinished = 0;
        for r in &pending {
            if !r.wait_until(deadline.map(|d| d.0), None) {
                unfinished += 1;
            }
        }
        acc.flushing.fetch_sub(1, Ordering::SeqCst);
        if let (true, Some((_, timeout))) = (unfinished > 0, deadline) {
            let failed = self.shared.undelivered_count();
            return Err(Error::Timeout {
                what: format!(
                    "{op}: {unfinished} of {} batch(es) of records sent before the call are not \
                     acknowledged yet; they are still being sent and may yet be delivered \
                     (flush again, or wait on their handles){}",
                    pending.len(),
                    if failed > 0 {
                        format!(
                            "; {failed} record(s) failed meanwhile, reported by the next flush or close"
                        )
                    } else {
                        String::new()
                    }
                ),
                after: timeout,
            });
        }
        match self.shared.take_undelivered() {
            Some((n, first)) => Err(undelivered_error(op, n, first)),
            None => Ok(()),
        }
    }

    /// Flushes, then stops the sender thread and closes every connection.
    /// Records still unacknowledged after `timeout` (None = no limit) fail
    /// with [`Error::Closed`], and `close` returns within about `timeout`
    /// (plus at most half a second for the sender thread to finish the step it
    /// is in).
    ///
    /// Returns an error when records could not be delivered: every record
    /// that failed since the previous `flush`/`close` reported failures,
    /// including those failed at the timeout. As for [`Producer::flush`], the
    /// error is the first failure with the count added to its text. Closing
    /// again (or from another thread meanwhile) returns `Ok` at once.
    pub fn close(&self, timeout: Option<Duration>) -> Result<()> {
        self.close_with(timeout, CLOSE_GRACE)
    }

    fn close_with(&self, timeout: Option<Duration>, grace: Duration) -> Result<()> {
        let handle = self.sender.lock().unwrap().take();
        let Some(handle) = handle else {
            return Ok(());
        };
        self.shared.closed.store(true, Ordering::SeqCst);
        let deadline = timeout.map(|t| Instant::now() + t);
        self.shared.wake(Event::Close(deadline));
        if !self.shared.wait_sender_exit(deadline.map(|d| d + grace)) {
            // Stuck in a blocking step: it fails what is left on its own
            // when it returns to its loop (the deadline has passed) and
            // closes the connections when it drops the last reference.
            drop(handle);
            let failed = self.shared.undelivered_count();
            return Err(Error::Timeout {
                what: format!(
                    "close: the producer's sender thread did not stop within the timeout \
                     plus {} ms; records not yet acknowledged fail with a closed error when it \
                     does{}",
                    grace.as_millis(),
                    if failed > 0 {
                        format!("; {failed} record(s) failed already")
                    } else {
                        String::new()
                    }
                ),
                after: timeout.unwrap_or_default(),
            });
        }
        let _ = handle.join();
        sender::fail_leftovers(&self.shared);
        self.shared.cluster.close();
        match self.shared.take_undelivered() {
            Some((n, first)) => Err(undelivered_error("close", n, first)),
            None => Ok(()),
        }
    }

    /// How long dropping a producer that was not closed may block: `Drop`
    /// closes it with this timeout (less half a second left for the sender
    /// thread to stop), logging records that could not be delivered as a
    /// warning. Call [`Producer::close`] to choose the time and see the
    /// result. While the thread is panicking, `Drop` does not block at all:
    /// the sender thread keeps delivering for up to this long in the
    /// background, then fails what is left.
    pub const DROP_TIMEOUT: Duration = Duration::from_secs(5);

    /// A snapshot of the producer's counters.
    pub fn metrics(&self) -> ProducerMetrics {
        let c = &self.shared.counters;
        let batches = c.batches_sent.load(Ordering::Relaxed);
        let bytes = c.bytes_sent.load(Ordering::Relaxed);
        let requests = c.requests.load(Ordering::Relaxed);
        ProducerMetrics {
            records_sent: c.records_sent.load(Ordering::Relaxed),
            records_failed: c.records_failed.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            bytes_sent: bytes,
            batches_sent: batches,
            batch_splits: c.batch_splits.load(Ordering::Relaxed),
            average_batch_size: if batches == 0 {
                0.0
            } else {
                bytes as f64 / batches as f64
            },
            average_request_latency_ms: if requests == 0 {
                0.0
            } else {
                c.request_latency_us.load(Ordering::Relaxed) as f64 / requests as f64 / 1000.0
            },
            requests,
            buffer_in_use: self.shared.accumulator.memory.used(),
        }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Never block while unwinding: tell the sender thread to finish
            // within DROP_TIMEOUT on its own, and do not join it.
            let handle = self.sender.get_mut().map(Option::take);
            if let Ok(Some(handle)) = handle {
                self.shared.closed.store(true, Ordering::SeqCst);
                self.shared
                    .wake(Event::Close(Some(Instant::now() + Self::DROP_TIMEOUT)));
                drop(handle);
            }
            return;
        }
        if let Err(e) = self.close_with(Some(Self::DROP_TIMEOUT - CLOSE_GRACE), CLOSE_GRACE) {
            log::warn!("a producer dropped without close(): {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KafkaCode;

    fn ack(base_offset: i64) -> Result<BatchAck> {
        Ok(BatchAck {
            base_offset,
            log_append_time: None,
        })
    }

    fn future(r: &Arc<BatchResult>, index: i32) -> DeliveryFuture {
        DeliveryFuture {
            result: r.clone(),
            index,
            timestamp: 1000 + index as i64,
        }
    }

    #[test]
    fn a_whole_batch_completes_every_record() {
        let r = Arc::new(BatchResult::new(1, TopicPartition::new("t", 2)));
        let f = future(&r, 3);
        assert!(!f.is_done() && f.try_get().is_none());
        assert!(r.complete(Span::whole(5), ack(40)));
        let md = f.wait().unwrap();
        assert_eq!((md.partition, md.offset, md.timestamp), (2, 43, 1003));
        // The first outcome stays.
        assert!(!r.complete(Span::whole(5), ack(90)));
        assert_eq!(f.wait().unwrap().offset, 43);
        assert!(r.wait_until(Some(Instant::now()), None));
    }

    #[test]
    fn a_split_batch_completes_part_by_part() {
        let r = Arc::new(BatchResult::new(1, TopicPartition::new("t", 0)));
        let f: Vec<_> = (0..6).map(|i| future(&r, i)).collect();
        let span = |first, count| Span {
            first,
            count,
            whole: 6,
        };
        // Records 2..4 first (acknowledged at offset 10), then record 4 fails.
        assert!(!r.complete(span(2, 2), ack(10)));
        assert_eq!(f[3].try_get().unwrap().unwrap().offset, 11);
        assert!(f[0].try_get().is_none() && !f[4].is_done());
        assert!(!r.wait_until(Some(Instant::now()), None), "not complete");
        let err = Error::kafka(KafkaCode::MessageTooLarge, "test");
        assert!(!r.complete(span(4, 1), Err(err)));
        assert_eq!(
            f[4].wait().unwrap_err().kafka_code(),
            Some(KafkaCode::MessageTooLarge)
        );
        // An overlapping outcome is ignored.
        assert!(!r.complete(span(3, 2), ack(99)));
        assert_eq!(f[3].wait().unwrap().offset, 11);
        assert!(!r.complete(span(0, 2), ack(8)));
        assert!(
            r.complete(span(5, 1), ack(12)),
            "the last part completes it"
        );
        let offsets: Vec<_> = f.iter().map(|f| f.wait().map(|m| m.offset).ok()).collect();
        assert_eq!(
            offsets,
            [Some(8), Some(9), Some(10), Some(11), None, Some(12)]
        );
        assert!(r.wait_until(None, None));
    }
}
