//! What [`poll`](super::Consumer::poll) returns: records, grouped by partition.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::protocol::Bytes;
pub use crate::protocol::records::{Header, TimestampType};

pub use crate::producer::TopicPartition;

/// An offset found by [`offsets_for_times`](super::Consumer::offsets_for_times):
/// the earliest offset whose timestamp is at least the one asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetAndTimestamp {
    /// The offset.
    pub offset: i64,
    /// The timestamp of the record at `offset` (-1 when the broker does not say).
    pub timestamp: i64,
    /// Leader epoch of that record, when the broker says.
    pub leader_epoch: Option<i32>,
}

/// One record read from a partition.
///
/// Keys, values and header values of uncompressed batches are views into the
/// fetch response buffer (no copy); those of a compressed batch share the
/// batch's decompressed buffer. Holding a record keeps that buffer alive.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// Topic name (shared by every record of the partition).
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// Milliseconds since the Unix epoch (-1 for message format v0, which has none).
    pub timestamp: i64,
    /// Whether `timestamp` was set by the producer or by the broker.
    pub timestamp_type: TimestampType,
    /// The key; `None` is a null key.
    pub key: Option<Bytes>,
    /// The value; `None` is a null value (a tombstone on compacted topics).
    pub value: Option<Bytes>,
    /// The headers, in order.
    pub headers: Vec<Header>,
    /// Leader epoch of the broker that appended the record, when known.
    pub leader_epoch: Option<i32>,
}

impl ConsumerRecord {
    /// The record's topic and partition.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition {
            topic: self.topic.clone(),
            partition: self.partition,
        }
    }

    /// The key converted by `d` (e.g. [`StringDeserializer`](super::StringDeserializer)).
    pub fn key_as<T, D: super::Deserializer<T> + ?Sized>(
        &self,
        d: &D,
    ) -> Result<T, super::DeserializeError> {
        d.deserialize(&self.topic, &self.headers, self.key.as_ref())
    }

    /// The value converted by `d` (e.g. [`StringDeserializer`](super::StringDeserializer)).
    pub fn value_as<T, D: super::Deserializer<T> + ?Sized>(
        &self,
        d: &D,
    ) -> Result<T, super::DeserializeError> {
        d.deserialize(&self.topic, &self.headers, self.value.as_ref())
    }

    /// The first header named `key`.
    pub fn header(&self, key: &str) -> Option<&Header> {
        self.headers.iter().find(|h| h.key == key)
    }
}

impl fmt::Debug for ConsumerRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("ConsumerRecord");
        s.field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("offset", &self.offset)
            .field("timestamp", &self.timestamp)
            .field("timestamp_type", &self.timestamp_type)
            .field("key", &self.key)
            .field("value", &self.value);
        if !self.headers.is_empty() {
            s.field("headers", &self.headers);
        }
        if let Some(e) = self.leader_epoch {
            s.field("leader_epoch", &e);
        }
        s.finish()
    }
}

/// The records one [`poll`](super::Consumer::poll) returned, in offset order
/// within each partition, partitions one after another.
#[derive(Clone, Debug, Default)]
pub struct ConsumerRecords {
    records: Vec<ConsumerRecord>,
    /// Each partition with records, and where its records are in `records`.
    partitions: Vec<(TopicPartition, std::ops::Range<usize>)>,
    /// Partitions that reached their end in this poll (`enable.partition.eof`).
    eofs: Vec<TopicPartition>,
}

impl ConsumerRecords {
    pub(crate) fn new() -> ConsumerRecords {
        ConsumerRecords::default()
    }

    pub(crate) fn len_for_partition_start(&self) -> usize {
        self.records.len()
    }

    pub(crate) fn push(&mut self, r: ConsumerRecord) {
        self.records.push(r);
    }

    /// Drops the records pushed since `start` whose offset is `stop` or
    /// later (they are in offset order).
    pub(crate) fn truncate_at(&mut self, start: usize, stop: i64) -> bool {
        match self.records[start..].iter().position(|r| r.offset >= stop) {
            Some(i) => {
                self.records.truncate(start + i);
                true
            }
            None => false,
        }
    }

    pub(crate) fn push_eof(&mut self, tp: TopicPartition) {
        self.eofs.push(tp);
    }

    /// Closes the run of records of one partition pushed since `start`.
    pub(crate) fn close_partition(&mut self, tp: &TopicPartition, start: usize) {
        if self.records.len() > start {
            if let Some((last, range)) = self.partitions.last_mut() {
                if last == tp && range.end == start {
                    range.end = self.records.len();
                    return;
                }
            }
            self.partitions
                .push((tp.clone(), start..self.records.len()));
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when the poll returned no record (it may still report
    /// [`partition_eofs`](Self::partition_eofs)).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The partitions that reached their end during this poll, with
    /// `enable.partition.eof=true` (librdkafka's setting; always empty
    /// otherwise): their position is at the high watermark (the last stable
    /// offset under read_committed) and every record before it was returned,
    /// by this poll or an earlier one.
    ///
    /// Each partition is reported once each time it reaches its end: again
    /// only after more records were returned or it was sought or newly
    /// assigned. A newly assigned partition is not at its end until a fetch
    /// at its position answered, so an empty partition is reported by a
    /// later poll, not at once. `poll` returns as soon as a partition
    /// reaches its end, even without records.
    pub fn partition_eofs(&self) -> &[TopicPartition] {
        &self.eofs
    }

    /// The partitions that have records here.
    pub fn partitions(&self) -> impl Iterator<Item = &TopicPartition> {
        self.partitions.iter().map(|(tp, _)| tp)
    }

    /// The records of one partition, in offset order (empty when it has none).
    pub fn records(&self, tp: &TopicPartition) -> &[ConsumerRecord] {
        self.partitions
            .iter()
            .find(|(p, _)| p == tp)
            .map(|(_, r)| &self.records[r.clone()])
            .unwrap_or(&[])
    }

    /// Records grouped by partition.
    pub fn by_partition(&self) -> impl Iterator<Item = (&TopicPartition, &[ConsumerRecord])> {
        self.partitions
            .iter()
            .map(|(tp, r)| (tp, &self.records[r.clone()]))
    }

    /// Records grouped by partition, as a map.
    pub fn to_map(&self) -> HashMap<TopicPartition, &[ConsumerRecord]> {
        self.by_partition().map(|(tp, r)| (tp.clone(), r)).collect()
    }

    /// All records, partition by partition.
    pub fn iter(&self) -> std::slice::Iter<'_, ConsumerRecord> {
        self.records.iter()
    }

    /// All records as one slice, partition by partition.
    pub fn as_slice(&self) -> &[ConsumerRecord] {
        &self.records
    }

    /// The records, taken out.
    pub fn into_vec(self) -> Vec<ConsumerRecord> {
        self.records
    }
}

impl IntoIterator for ConsumerRecords {
    type Item = ConsumerRecord;
    type IntoIter = std::vec::IntoIter<ConsumerRecord>;
    fn into_iter(self) -> Self::IntoIter {
        self.records.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConsumerRecords {
    type Item = &'a ConsumerRecord;
    type IntoIter = std::slice::Iter<'a, ConsumerRecord>;
    fn into_iter(self) -> Self::IntoIter {
        self.records.iter()
    }
}
