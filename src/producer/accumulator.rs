//! The record accumulator: per-partition batches that `send` appends to and the
//! sender thread drains.
//!
//! `send` runs on application threads; it takes the accumulator lock only to
//! append bytes to the open batch of its partition. Memory is reserved per
//! batch (`batch.size`, or the record's size when larger) against
//! `buffer.memory` *before* taking that lock, so a producer that outruns the
//! brokers blocks in `send` for at most `max.block.ms` (back-pressure) and
//! memory stays bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{BatchResult, DeliveryCallback, TopicPartition};
use crate::error::{Error, Result};
use crate::protocol::Bytes;
use crate::protocol::records::{
    DecodeOptions, ProducerState, RECORD_BATCH_OVERHEAD, RecordBatchBuilder, decode_batches,
};

/// Upper bound of one record's encoded size inside a v2 batch (Java's
/// `estimateSizeInBytesUpperBound`): every varint at its widest.
pub(crate) fn record_size_upper_bound(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(&str, Option<&[u8]>)],
) -> usize {
    let mut n =
        5 + 1 + 10 + 5 + 5 + key.map_or(0, <[u8]>::len) + 5 + value.map_or(0, <[u8]>::len) + 5;
    for (k, v) in headers {
        n += 5 + k.len() + 5 + v.map_or(0, <[u8]>::len);
    }
    n
}

/// `buffer.memory`: bytes reserved by batches not yet acknowledged.
pub(crate) struct BufferMemory {
    total: usize,
    used: Mutex<usize>,
    freed: Condvar,
}

impl BufferMemory {
    pub(crate) fn new(total: usize) -> BufferMemory {
        BufferMemory {
            total,
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Reserves `n` bytes, waiting up to `max_block` for space.
    pub(crate) fn reserve(&self, n: usize, max_block: Duration) -> Result<()> {
        if n > self.total {
            return Err(Error::InvalidArgument(format!(
                "a batch of {n} bytes is larger than buffer.memory ({} bytes): raise buffer.memory or send smaller records",
                self.total
            )));
        }
        let deadline = Instant::now() + max_block;
        let mut used = self.used.lock().unwrap();
        while *used + n > self.total {
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout {
                    what: format!(
                        "waiting for buffer memory: {} of {} bytes (buffer.memory) are held by unsent records; \
                         the brokers are slower than the application or unreachable",
                        *used, self.total
                    ),
                    after: max_block,
                });
            }
            used = self.freed.wait_timeout(used, deadline - now).unwrap().0;
        }
        *used += n;
        Ok(())
    }

    pub(crate) fn release(&self, n: usize) {
        let mut used = self.used.lock().unwrap();
        *used = used.saturating_sub(n);
        drop(used);
        self.freed.notify_all();
    }

    pub(crate) fn used(&self) -> usize {
        *self.used.lock().unwrap()
    }
}

/// A batch being filled or waiting to be sent.
pub(crate) struct ProducerBatch {
    pub(crate) tp: TopicPartition,
    pub(crate) builder: RecordBatchBuilder,
    pub(crate) record_count: i32,
    pub(crate) created: Instant,
    pub(crate) result: Arc<BatchResult>,
    pub(crate) callbacks: Vec<(i32, i64, DeliveryCallback)>,
    /// Bytes reserved against buffer.memory.
    pub(crate) reserved: usize,
    /// Upper bound of the encoded size so far.
    pub(crate) size: usize,
}

#[derive(Default)]
struct PartitionQueue {
    /// Closed batches first, oldest first; the open one (if any) is last.
    batches: VecDeque<ProducerBatch>,
    open: bool,
}

/// What [`Accumulator::append`] did.
pub(crate) struct Appended {
    pub(crate) result: Arc<BatchResult>,
    pub(crate) index: i32,
    /// A batch was closed (full) or a new one opened: the sender should look.
    pub(crate) wake_sender: bool,
    /// The batch for this partition closed before this record: a sticky
    /// partitioner should move on.
    pub(crate) batch_closed: bool,
}

/// A record on its way into a batch: its parts, borrowed from the caller.
pub(crate) struct PendingRecord<'a> {
    pub(crate) timestamp: i64,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) headers: &'a [(&'a str, Option<&'a [u8]>)],
    /// Upper bound of the encoded size (see [`record_size_upper_bound`]).
    pub(crate) size: usize,
}

/// Per-partition batches plus the registry of incomplete batches (for flush).
pub(crate) struct Accumulator {
    batch_size: usize,
    /// Queues by topic, then partition: `send` looks its queue up by the
    /// record's `&str` topic without building a key (no allocation per record).
    queues: Mutex<HashMap<Arc<str>, HashMap<i32, PartitionQueue>>>,
    pub(crate) memory: BufferMemory,
    incomplete: Mutex<HashMap<u64, Arc<BatchResult>>>,
    next_batch_id: AtomicU64,
    /// Flush calls in progress: while non-zero every batch is ready at once.
    pub(crate) flushing: AtomicUsize,
    /// Buffers of finished batches, kept for reuse.
    free_buffers: Mutex<Vec<Vec<u8>>>,
}

/// Returned by [`Accumulator::append`] when the record needs a new batch and
/// memory must be reserved first (outside the lock).
pub(crate) enum TryAppend {
    Done(Appended),
    NeedBatch { batch_closed: bool },
}

impl Accumulator {
    pub(crate) fn new(batch_size: usize, buffer_memory: usize) -> Accumulator {
        Accumulator {
            batch_size: batch_size.max(RECORD_BATCH_OVERHEAD + 64),
            queues: Mutex::new(HashMap::new()),
            memory: BufferMemory::new(buffer_memory),
            incomplete: Mutex::new(HashMap::new()),
            next_batch_id: AtomicU64::new(1),
            flushing: AtomicUsize::new(0),
            free_buffers: Mutex::new(Vec::new()),
        }
    }

    /// Appends to the open batch of `q` if the record fits; closes a full one.
    fn append_open(
        &self,
        q: &mut PartitionQueue,
        rec: &PendingRecord<'_>,
        callback: &mut Option<DeliveryCallback>,
    ) -> Result<TryAppend> {
        if !q.open {
            return Ok(TryAppend::NeedBatch {
                batch_closed: false,
            });
        }
        let batch = q.batches.back_mut().expect("open batch");
        if batch.size + rec.size > self.batch_size && batch.record_count > 0 {
            // Full: close it; the sender will pick it up.
            q.open = false;
            return Ok(TryAppend::NeedBatch { batch_closed: true });
        }
        let index = append_to(batch, rec, callback)?;
        let full = batch.size >= self.batch_size;
        if full {
            q.open = false;
        }
        Ok(TryAppend::Done(Appended {
            result: batch.result.clone(),
            index,
            wake_sender: full,
            batch_closed: false,
        }))
    }

    /// Appends to the open batch of `topic`-`partition` if the record fits.
    pub(crate) fn try_append(
        &self,
        topic: &str,
        partition: i32,
        rec: &PendingRecord<'_>,
        callback: &mut Option<DeliveryCallback>,
    ) -> Result<TryAppend> {
        let mut queues = self.queues.lock().unwrap();
        match queues.get_mut(topic).and_then(|t| t.get_mut(&partition)) {
            Some(q) => self.append_open(q, rec, callback),
            None => Ok(TryAppend::NeedBatch {
                batch_closed: false,
            }),
        }
    }

    /// Opens a new batch for `topic`-`partition` (memory for it already
    /// reserved) and appends the record. If another thread opened one
    /// meanwhile and the record fits there, the reservation is returned instead.
    pub(crate) fn append_new_batch(
        &self,
        topic: &str,
        partition: i32,
        rec: &PendingRecord<'_>,
        reserved: usize,
        callback: &mut Option<DeliveryCallback>,
    ) -> Result<Appended> {
        let mut queues = self.queues.lock().unwrap();
        // One allocation per topic ever, shared by its batches' keys.
        let name = match queues.get_key_value(topic) {
            Some((name, _)) => name.clone(),
            None => Arc::from(topic),
        };
        let tp = TopicPartition {
            topic: name.clone(),
            partition,
        };
        let q = queues
            .entry(name)
            .or_default()
            .entry(partition)
            .or_default();
        if let TryAppend::Done(a) = self.append_open(q, rec, callback)? {
            drop(queues);
            self.memory.release(reserved);
            return Ok(a);
        }
        let buf = self
            .free_buffers
            .lock()
            .unwrap()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(reserved.min(self.batch_size)));
        let id = self.next_batch_id.fetch_add(1, Ordering::Relaxed);
        let result = Arc::new(BatchResult::new(id, tp.clone()));
        let mut batch = ProducerBatch {
            tp,
            builder: RecordBatchBuilder::with_buffer(buf),
            record_count: 0,
            created: Instant::now(),
            result: result.clone(),
            callbacks: Vec::new(),
            reserved,
            size: RECORD_BATCH_OVERHEAD,
        };
        let index = match append_to(&mut batch, rec, callback) {
            Ok(i) => i,
            Err(e) => {
                drop(queues);
                self.memory.release(reserved);
                return Err(e);
            }
        };
        let full = batch.size >= self.batch_size;
        q.batches.push_back(batch);
        q.open = !full;
        drop(queues);
        self.incomplete.lock().unwrap().insert(id, result.clone());
        Ok(Appended {
            result,
            index,
            wake_sender: true,
            batch_closed: false,
        })
    }

    /// `batch.size` (at least one record's room).
    pub(crate) fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The size to reserve for a new batch holding a record of `size` bytes.
    pub(crate) fn reservation_for(&self, size: usize) -> usize {
        self.batch_size.max(size + RECORD_BATCH_OVERHEAD)
    }

    /// Takes every batch that is ready to send (closed, older than `linger`,
    /// or everything while flushing/closing) for which `accept(tp)` agrees,
    /// oldest first per partition. Also returns the earliest time an open
    /// batch becomes ready (for the sender's wait), and calls `closed(tp)` for
    /// every open batch this closes (sticky partitioner).
    pub(crate) fn drain(
        &self,
        now: Instant,
        linger: Duration,
        force: bool,
        mut accept: impl FnMut(&TopicPartition) -> bool,
        mut closed: impl FnMut(&TopicPartition),
    ) -> (Vec<ProducerBatch>, Option<Instant>) {
        let force = force || self.flushing.load(Ordering::SeqCst) > 0;
        let mut out = Vec::new();
        let mut next_ready: Option<Instant> = None;
        let mut queues = self.queues.lock().unwrap();
        for q in queues.values_mut().flat_map(HashMap::values_mut) {
            let Some(first) = q.batches.front() else {
                continue;
            };
            let tp = &first.tp.clone();
            if q.open {
                let b = q.batches.back().expect("open batch");
                let due = b.created + linger;
                if force || due <= now {
                    q.open = false;
                    closed(tp);
                } else if q.batches.len() == 1 {
                    next_ready = Some(next_ready.map_or(due, |n| n.min(due)));
                }
            }
            let sendable = if q.open {
                q.batches.len() - 1
            } else {
                q.batches.len()
            };
            if sendable == 0 || !accept(tp) {
                continue;
            }
            // One batch per partition per request, as Kafka expects.
            out.push(q.batches.pop_front().expect("batch"));
            if q.batches.len() > usize::from(q.open) {
                // More closed batches wait: come back at once.
                next_ready = Some(now);
            }
        }
        (out, next_ready)
    }

    /// Removes every queued batch whose delivery timeout has passed.
    pub(crate) fn expire(&self, now: Instant, delivery_timeout: Duration) -> Vec<ProducerBatch> {
        let mut out = Vec::new();
        let mut queues = self.queues.lock().unwrap();
        for q in queues.values_mut().flat_map(HashMap::values_mut) {
            while let Some(b) = q.batches.front() {
                if now.duration_since(b.created) < delivery_timeout {
                    break;
                }
                if q.batches.len() == 1 {
                    q.open = false;
                }
                out.push(q.batches.pop_front().expect("batch"));
            }
        }
        out
    }

    /// Removes every queued batch (on close).
    pub(crate) fn take_all(&self) -> Vec<ProducerBatch> {
        let mut queues = self.queues.lock().unwrap();
        let mut out = Vec::new();
        for q in queues.values_mut().flat_map(HashMap::values_mut) {
            q.open = false;
            out.extend(q.batches.drain(..));
        }
        out
    }

    /// Earliest creation time of a queued batch (for delivery timeouts).
    pub(crate) fn oldest(&self) -> Option<Instant> {
        let queues = self.queues.lock().unwrap();
        queues
            .values()
            .flat_map(HashMap::values)
            .filter_map(|q| q.batches.front().map(|b| b.created))
            .min()
    }

    /// True when nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.queues
            .lock()
            .unwrap()
            .values()
            .flat_map(HashMap::values)
            .all(|q| q.batches.is_empty())
    }

    /// Marks a batch complete: frees its memory and removes it from the
    /// flush registry.
    pub(crate) fn completed(&self, id: u64, reserved: usize, buffer: Option<Vec<u8>>) {
        self.incomplete.lock().unwrap().remove(&id);
        if let Some(mut b) = buffer {
            if b.capacity() >= self.batch_size && b.capacity() <= 2 * self.batch_size {
                b.clear();
                let mut free = self.free_buffers.lock().unwrap();
                if free.len() < 64 {
                    free.push(b);
                }
            }
        }
        self.memory.release(reserved);
    }

    /// Results of every batch not yet complete (what a flush waits for).
    pub(crate) fn incomplete(&self) -> Vec<Arc<BatchResult>> {
        self.incomplete.lock().unwrap().values().cloned().collect()
    }
}

/// A batch the broker refused as too large, cut into smaller ones by
/// [`split_batch`].
pub(crate) struct SplitBatch {
    /// The producer fields the big batch carried (its base sequence is the
    /// first part's).
    pub(crate) producer: ProducerState,
    /// The parts, in record order.
    pub(crate) parts: Vec<SplitPart>,
    /// The big batch's size as the parts are measured (uncompressed, the
    /// records' size upper bounds).
    pub(crate) size: usize,
}

/// One part of a [`SplitBatch`]: records `first..first + builder.len()` of
/// the big batch, to be finished (producer fields, compression) by the sender.
pub(crate) struct SplitPart {
    pub(crate) first: i32,
    pub(crate) builder: RecordBatchBuilder,
}

/// Splits a finished batch of more than one record (one v2 batch, compressed
/// or not, as the sender sent it) that a broker refused as too large
/// (MESSAGE_TOO_LARGE) into batches that keep the records' order, bytes and
/// timestamps.
///
/// Java's `ProducerBatch.split` cuts at `batch.size`; here the big batch is
/// already at most `batch.size` unless it holds one record (the accumulator
/// closes a batch before it would grow past it), so cutting at `batch.size`
/// alone would give the same batch back. Each part holds at most half of the
/// big batch (and at most `max_part`: `batch.size`, or less when a smaller
/// batch of the topic was refused already), measured by the records' encoded
/// size upper bounds: there are always two parts or more, and a part larger
/// than that holds one record. Parts still too large for the broker are
/// split again, down to single records; a single record too large fails.
pub(crate) fn split_batch(bytes: Bytes, max_part: usize) -> Result<SplitBatch> {
    let mut batches = decode_batches(
        bytes,
        DecodeOptions {
            check_crcs: false,
            // Our own batch: at most 2 GiB, as any v2 batch.
            max_decompressed_size: i32::MAX as usize,
        },
    );
    let batch = match batches.next() {
        Some(Ok(b)) => b,
        Some(Err(e)) => {
            return Err(Error::InvalidArgument(format!(
                "cannot split a record batch: {e}"
            )));
        }
        None => {
            return Err(Error::InvalidArgument(
                "cannot split a record batch: no batch in it".into(),
            ));
        }
    };
    if batch.records.len() < 2 {
        return Err(Error::InvalidArgument(
            "cannot split a record batch of one record".into(),
        ));
    }
    let sizes: Vec<usize> = batch
        .records
        .iter()
        .map(|r| {
            let headers: Vec<(&str, Option<&[u8]>)> = r
                .headers
                .iter()
                .map(|h| (h.key.as_str(), h.value.as_deref()))
                .collect();
            record_size_upper_bound(r.key.as_deref(), r.value.as_deref(), &headers)
        })
        .collect();
    let total = RECORD_BATCH_OVERHEAD + sizes.iter().sum::<usize>();
    let target = max_part.min(total / 2);
    let mut parts: Vec<SplitPart> = Vec::new();
    let mut size = 0;
    for (i, (r, rec_size)) in batch.records.iter().zip(sizes).enumerate() {
        let fits = parts
            .last()
            .is_some_and(|p| !p.builder.is_empty() && size + rec_size <= target);
        if !fits {
            parts.push(SplitPart {
                first: i as i32,
                builder: RecordBatchBuilder::with_capacity(target),
            });
            size = RECORD_BATCH_OVERHEAD;
        }
        size += rec_size;
        let part = parts.last_mut().expect("part");
        part.builder
            .append_with_headers(
                r.timestamp,
                r.key.as_deref(),
                r.value.as_deref(),
                r.headers
                    .iter()
                    .map(|h| (h.key.as_str(), h.value.as_deref())),
            )
            .map_err(|e| Error::InvalidArgument(format!("cannot split a record batch: {e}")))?;
    }
    Ok(SplitBatch {
        producer: ProducerState {
            producer_id: batch.producer_id,
            producer_epoch: batch.producer_epoch,
            base_sequence: batch.base_sequence,
            transactional: batch.is_transactional(),
        },
        parts,
        size: total,
    })
}

fn append_to(
    batch: &mut ProducerBatch,
    rec: &PendingRecord<'_>,
    callback: &mut Option<DeliveryCallback>,
) -> Result<i32> {
    let index = batch
        .builder
        .append_with_headers(
            rec.timestamp,
            rec.key,
            rec.value,
            rec.headers.iter().copied(),
        )
        .map_err(|e| Error::InvalidArgument(format!("cannot encode record: {e}")))?;
    batch.record_count += 1;
    // The real encoded size; `rec.size` (an upper bound) only decided the fit.
    batch.size = batch.builder.estimated_size();
    if let Some(cb) = callback.take() {
        batch.callbacks.push((index, rec.timestamp, cb));
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::compression::Compression;
    use crate::protocol::records::{Header, Record};

    fn records(n: usize, value_len: usize) -> Vec<Record> {
        (0..n)
            .map(|i| Record {
                offset: i as i64,
                timestamp: 1_700_000_000_000 + (i as i64 % 7) * 3,
                key: (i % 3 != 0).then(|| format!("key-{i}").into()),
                value: (i % 5 != 4).then(|| vec![i as u8; value_len + i % 11].into()),
                headers: if i % 2 == 0 {
                    vec![
                        Header::new("h", Some(format!("hv-{i}").into())),
                        Header::new("null", None),
                    ]
                } else {
                    Vec::new()
                },
            })
            .collect()
    }

    fn finish(records: &[Record], state: ProducerState, c: Compression) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new();
        for r in records {
            b.append(
                r.timestamp,
                r.key.as_deref(),
                r.value.as_deref(),
                &r.headers,
            )
            .unwrap();
        }
        b.finish(state, c).unwrap()
    }

    /// The parts hold the records in order, each once, unchanged; two parts
    /// or more, each at most half the batch (and `max_part`) unless it holds
    /// one record. Returns the number of parts.
    fn check_split(records: &[Record], c: Compression, max_part: usize) -> usize {
        let state = ProducerState {
            producer_id: 42,
            producer_epoch: 3,
            base_sequence: 100,
            transactional: false,
        };
        let bytes = finish(records, state, c);
        let split = split_batch(bytes.into(), max_part).unwrap();
        assert_eq!(split.producer, state);
        let parts = split.parts.len();
        assert!(parts >= 2, "{parts} part(s)");
        let whole = RecordBatchBuilder::new();
        let mut uncompressed = whole.estimated_size();
        for r in records {
            uncompressed += record_size_upper_bound(
                r.key.as_deref(),
                r.value.as_deref(),
                &r.headers
                    .iter()
                    .map(|h| (h.key.as_str(), h.value.as_deref()))
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(split.size, uncompressed);
        let mut next = 0;
        for p in split.parts {
            assert_eq!(p.first, next, "parts in record order, no gap");
            let n = p.builder.len();
            assert!(
                n == 1 || p.builder.estimated_size() <= (uncompressed / 2).min(max_part),
                "a part of {n} records is {} bytes",
                p.builder.estimated_size()
            );
            let out = p.builder.finish(ProducerState::NONE, c).unwrap();
            let got = decode_batches(out, DecodeOptions::default())
                .next()
                .unwrap()
                .unwrap();
            for (j, r) in got.records.iter().enumerate() {
                let want = &records[next as usize + j];
                assert_eq!(
                    (r.timestamp, &r.key, &r.value, &r.headers),
                    (want.timestamp, &want.key, &want.value, &want.headers)
                );
            }
            next += n as i32;
        }
        assert_eq!(next as usize, records.len(), "every record once");
        parts
    }

    #[test]
    fn split_batch_halves_and_keeps_order() {
        for c in Compression::ALL.into_iter().filter(|c| c.is_available()) {
            check_split(&records(2, 10), c, 16384);
            check_split(&records(3, 10), c, 16384);
            check_split(&records(300, 300), c, 262_144);
            // A batch larger than batch.size (or the topic's known limit)
            // is cut there.
            check_split(&records(300, 300), c, 16384);
            assert_eq!(check_split(&records(2, 10), c, 16384), 2);
            assert!(check_split(&records(300, 300), c, 1000) >= 100);
        }
    }

    #[test]
    fn split_batch_puts_a_large_record_alone() {
        let mut rs = records(9, 20);
        rs[4].value = Some(vec![7u8; 5000].into());
        let bytes = finish(&rs, ProducerState::NONE, Compression::None);
        let split = split_batch(bytes.clone().into(), 16384).unwrap();
        let big = split
            .parts
            .iter()
            .find(|p| p.first <= 4 && 4 < p.first + p.builder.len() as i32)
            .unwrap();
        assert_eq!((big.first, big.builder.len()), (4, 1));
        // Split again and again, everything ends in parts of one record.
        let mut queue = vec![bytes];
        let mut singles = 0;
        while let Some(b) = queue.pop() {
            match split_batch(b.into(), 16384) {
                Ok(s) => {
                    for p in s.parts {
                        queue.push(
                            p.builder
                                .finish(ProducerState::NONE, Compression::None)
                                .unwrap(),
                        );
                    }
                }
                Err(_) => singles += 1,
            }
        }
        assert_eq!(singles, rs.len());
    }
}
