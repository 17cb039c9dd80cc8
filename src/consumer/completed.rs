//! The records of one partition from one fetch response, decoded lazily.
//!
//! When a response arrives only the batch headers are scanned (no
//! decompression, no CRC): that gives the offset the next fetch continues at,
//! so it can be sent at once (pipelining). Batches are then decoded one at a
//! time as [`poll`](super::Consumer::poll) asks for records, so a corrupt batch
//! is reported exactly when the application reaches it, with every record
//! before it delivered and the position left at the corrupt batch.
//!
//! With `isolation.level=read_committed` the batches of aborted transactions
//! are dropped using the response's aborted-transaction list, as the Java
//! consumer does: an aborted transaction of producer P starts at its
//! `first_offset` and ends at P's ABORT control batch; control batches are
//! never returned; nothing at or after the last stable offset is read.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use crate::protocol::Bytes;
use crate::protocol::records::{
    ControlRecordType, DecodeOptions, LOG_OVERHEAD, MAGIC_V2, Record, RecordBatch,
    RecordBatchReader, TimestampType, decode_batches,
};

use super::record::{ConsumerRecord, ConsumerRecords};

/// What a header scan of a partition's `Records` bytes found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Bytes that hold whole batches to decode (a trailing partial batch and,
    /// under read_committed, batches at or after the LSO are left out).
    pub end: usize,
    /// Offset after the last whole batch, where the next fetch continues
    /// (`None` when there is no whole batch).
    pub next_offset: Option<i64>,
    /// The partition leader epoch of the last whole batch (`None` when
    /// there is none, or it has no epoch: message format v0/v1): the next
    /// fetch's `last_fetched_epoch`.
    pub last_epoch: Option<i32>,
    /// Full size (with the 12-byte log overhead) of a batch that is the first
    /// in the data and cut short: the broker needs a larger fetch size.
    pub first_batch_truncated: Option<(i64, usize)>,
}

fn be_i64(b: &[u8]) -> i64 {
    i64::from_be_bytes(b[..8].try_into().expect("8 bytes"))
}

fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes(b[..4].try_into().expect("4 bytes"))
}

/// Scans batch headers (offset, length, magic, last offset delta) without
/// decoding. A malformed header stops the scan but is kept inside `end`, so
/// that decoding reports it when the position reaches it.
pub(crate) fn scan(data: &[u8], stable_end: Option<i64>) -> Scan {
    let mut pos = 0;
    let mut next_offset = None;
    let mut last_epoch = None;
    let mut first_batch_truncated = None;
    while pos < data.len() {
        let rest = &data[pos..];
        if rest.len() < LOG_OVERHEAD {
            break;
        }
        let base = be_i64(rest);
        let length = be_i32(&rest[8..]);
        if stable_end.is_some_and(|lso| base >= lso) {
            break;
        }
        if length < 14 {
            // Corrupt: let the decoder report it when it gets there.
            return Scan {
                end: data.len(),
                next_offset,
                last_epoch,
                first_batch_truncated: None,
            };
        }
        let total = LOG_OVERHEAD + length as usize;
        if total > rest.len() {
            if pos == 0 {
                first_batch_truncated = Some((base, total));
            }
            break;
        }
        let magic = rest[16] as i8;
        let (last, epoch) = if magic == MAGIC_V2 {
            if total < 27 {
                return Scan {
                    end: data.len(),
                    next_offset,
                    last_epoch,
                    first_batch_truncated: None,
                };
            }
            let epoch = be_i32(&rest[12..]);
            (
                base.wrapping_add(be_i32(&rest[23..]) as i64),
                (epoch >= 0).then_some(epoch),
            )
        } else {
            // Legacy: the (wrapper) message's offset is its last record's.
            (base, None)
        };
        next_offset = Some(last.wrapping_add(1));
        last_epoch = epoch;
        pos += total;
    }
    Scan {
        end: pos,
        next_offset,
        last_epoch,
        first_batch_truncated,
    }
}

/// A batch being handed out record by record.
struct OpenBatch {
    records: std::vec::IntoIter<Record>,
    next_offset: i64,
    timestamp_type: TimestampType,
    leader_epoch: Option<i32>,
    size: usize,
}

/// Why draining stopped.
#[derive(Debug)]
pub(crate) enum Drained {
    /// `max` records were taken; more may remain.
    Full,
    /// Everything was consumed; the fetch can be dropped.
    Done,
    /// A batch could not be decoded: `(offset of the batch, what was wrong)`.
    Corrupt(i64, String),
}

/// One partition's share of a fetch response, not yet handed out.
pub(crate) struct CompletedFetch {
    /// The broker that sent the data (for error messages).
    pub node: i32,
    data: Bytes,
    reader: RecordBatchReader,
    end: usize,
    open: Option<OpenBatch>,
    read_committed: bool,
    /// Aborted transactions `(producer id, first offset)`, sorted by first offset.
    aborted: VecDeque<(i64, i64)>,
    aborted_producers: HashSet<i64>,
}

impl CompletedFetch {
    /// `data` are the partition's `Records` bytes and `end` the part to decode
    /// (from [`scan`]). `aborted` is the response's aborted-transaction list
    /// (read_committed only).
    pub(crate) fn new(
        data: Bytes,
        end: usize,
        check_crcs: bool,
        read_committed: bool,
        aborted: Option<Vec<(i64, i64)>>,
    ) -> CompletedFetch {
        let mut aborted: Vec<(i64, i64)> = aborted.unwrap_or_default();
        aborted.sort_by_key(|a| a.1);
        let opts = DecodeOptions {
            check_crcs,
            ..DecodeOptions::default()
        };
        CompletedFetch {
            node: -1,
            reader: decode_batches(data.slice(0..end), opts),
            data,
            end,
            open: None,
            read_committed,
            aborted: aborted.into(),
            aborted_producers: HashSet::new(),
        }
    }

    /// Bytes not yet handed out (approximately: undecoded bytes plus the
    /// size of the batch being handed out).
    pub(crate) fn remaining_bytes(&self) -> usize {
        self.end.saturating_sub(self.reader.position()) + self.open.as_ref().map_or(0, |b| b.size)
    }

    /// True when this fetch holds nothing more.
    #[cfg(test)]
    pub(crate) fn is_exhausted(&self) -> bool {
        self.open.is_none() && self.reader.position() >= self.end
    }

    /// Whether the batch should be skipped whole (control batch, or part of
    /// an aborted transaction), updating the aborted-transaction state.
    fn skip_batch(&mut self, batch: &RecordBatch) -> bool {
        if self.read_committed && batch.producer_id >= 0 {
            let last = batch.last_offset();
            while let Some(&(pid, first)) = self.aborted.front() {
                if first > last {
                    break;
                }
                self.aborted_producers.insert(pid);
                self.aborted.pop_front();
            }
            if batch.is_control() {
                if batch
                    .control_record()
                    .is_some_and(|c| c.kind == ControlRecordType::Abort)
                {
                    self.aborted_producers.remove(&batch.producer_id);
                }
                return true;
            }
            if batch.is_transactional() && self.aborted_producers.contains(&batch.producer_id) {
                return true;
            }
        }
        batch.is_control()
    }

    /// Moves up to `max - out.len()` records at or after `*position` into
    /// `out`, advancing `*position` past every record returned and every batch
    /// fully consumed or skipped, and setting `*epoch` to the leader epoch of
    /// the last batch the position moved into or past. On a corrupt batch
    /// `*position` is left at the last good record.
    pub(crate) fn drain(
        &mut self,
        topic: &Arc<str>,
        partition: i32,
        position: &mut i64,
        epoch: &mut Option<i32>,
        out: &mut ConsumerRecords,
        max: usize,
    ) -> Drained {
        if out.len() >= max {
            return Drained::Full;
        }
        loop {
            if let Some(open) = &mut self.open {
                for r in open.records.by_ref() {
                    if r.offset < *position {
                        continue;
                    }
                    *position = r.offset.saturating_add(1);
                    out.push(ConsumerRecord {
                        topic: topic.clone(),
                        partition,
                        offset: r.offset,
                        timestamp: r.timestamp,
                        timestamp_type: open.timestamp_type,
                        key: r.key,
                        value: r.value,
                        headers: r.headers,
                        leader_epoch: open.leader_epoch,
                    });
                    if out.len() >= max {
                        if open.records.len() == 0 {
                            *position = (*position).max(open.next_offset);
                            self.open = None;
                        }
                        return Drained::Full;
                    }
                }
                *position = (*position).max(open.next_offset);
                self.open = None;
            }
            if out.len() >= max {
                return Drained::Full;
            }
            let at = self.reader.position();
            let batch_offset = if at + 8 <= self.end {
                be_i64(&self.data[at..])
            } else {
                *position
            };
            match self.reader.next() {
                None => return Drained::Done,
                Some(Err(e)) => {
                    self.end = at;
                    return Drained::Corrupt(batch_offset, e.message().to_string());
                }
                Some(Ok(batch)) => {
                    let size = self.reader.position() - at;
                    let next_offset = batch.next_offset();
                    let leader_epoch =
                        (batch.partition_leader_epoch >= 0).then_some(batch.partition_leader_epoch);
                    // (skip_batch first: it follows the aborted transactions.)
                    if self.skip_batch(&batch) || next_offset <= *position {
                        if next_offset > *position {
                            *position = next_offset;
                            *epoch = leader_epoch;
                        }
                        continue;
                    }
                    // Opened only when it ends past the position: the
                    // position moves into it.
                    *epoch = leader_epoch;
                    let timestamp_type = batch.timestamp_type();
                    self.open = Some(OpenBatch {
                        records: batch.records.into_iter(),
                        next_offset,
                        timestamp_type,
                        leader_epoch,
                        size,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::compression::Compression;
    use crate::protocol::records::{ControlRecord, ProducerState, RecordBatchBuilder};

    fn batch(base: i64, n: usize, producer: ProducerState) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new();
        b.set_base_offset(base);
        for i in 0..n {
            let v = format!("v{}", base + i as i64);
            b.append(1000 + i as i64, None, Some(v.as_bytes()), &[])
                .unwrap();
        }
        b.finish(producer, Compression::None).unwrap().to_vec()
    }

    fn marker(offset: i64, pid: i64, kind: ControlRecordType) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new();
        b.set_base_offset(offset);
        b.set_control(true);
        let key = ControlRecord { version: 0, kind }.to_key();
        b.append(5000, Some(&key), Some(&[0, 0, 0, 0, 0, 0][..]), &[])
            .unwrap();
        b.finish(txn(pid), Compression::None).unwrap().to_vec()
    }

    fn txn(pid: i64) -> ProducerState {
        ProducerState {
            producer_id: pid,
            producer_epoch: 0,
            base_sequence: 0,
            transactional: true,
        }
    }

    fn drain_all(c: &mut CompletedFetch, position: &mut i64) -> Vec<i64> {
        let topic: Arc<str> = Arc::from("t");
        let mut out = ConsumerRecords::new();
        loop {
            match c.drain(&topic, 0, position, &mut None, &mut out, usize::MAX) {
                Drained::Done => break,
                Drained::Full => {}
                Drained::Corrupt(o, m) => panic!("corrupt at {o}: {m}"),
            }
        }
        out.iter().map(|r| r.offset).collect()
    }

    #[test]
    fn scan_finds_next_offset_and_ignores_partial_tail() {
        let mut data = batch(0, 3, ProducerState::NONE);
        let first = data.len();
        data.extend(batch(3, 2, ProducerState::NONE));
        let whole = data.len();
        let tail = batch(5, 4, ProducerState::NONE);
        data.extend(&tail[..tail.len() - 3]);
        let s = scan(&data, None);
        assert_eq!(s.end, whole);
        assert_eq!(s.next_offset, Some(5));
        assert_eq!(s.first_batch_truncated, None);
        let s = scan(&data[..first - 1], None);
        assert_eq!(
            s,
            Scan {
                end: 0,
                next_offset: None,
                last_epoch: None,
                first_batch_truncated: Some((0, first))
            }
        );
        // LSO cut at the second batch.
        let s = scan(&data, Some(3));
        assert_eq!(s.end, first);
        assert_eq!(s.next_offset, Some(3));
    }

    #[test]
    fn max_records_and_position() {
        let mut data = batch(0, 5, ProducerState::NONE);
        data.extend(batch(5, 5, ProducerState::NONE));
        let s = scan(&data, None);
        let bytes = Bytes::from(data);
        let mut c = CompletedFetch::new(bytes, s.end, true, false, None);
        let topic: Arc<str> = Arc::from("t");
        let mut out = ConsumerRecords::new();
        let mut pos = 2; // seeked into the first batch
        assert!(matches!(
            c.drain(&topic, 0, &mut pos, &mut None, &mut out, 3),
            Drained::Full
        ));
        assert_eq!(out.iter().map(|r| r.offset).collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(pos, 5);
        let mut out = ConsumerRecords::new();
        assert!(matches!(
            c.drain(&topic, 0, &mut pos, &mut None, &mut out, 100),
            Drained::Done
        ));
        assert_eq!(out.len(), 5);
        assert_eq!(pos, 10);
        assert!(c.is_exhausted());
        assert_eq!(&**out.as_slice()[0].value.as_ref().unwrap(), b"v5");
    }

    #[test]
    fn read_committed_drops_aborted_and_control() {
        // pid 7: offsets 0-2 aborted (marker at 3); pid 8: 4-5 committed (marker 6);
        // pid 7 again: 7-8 committed (marker 9); non-transactional 10-11.
        let mut data = batch(0, 3, txn(7));
        data.extend(marker(3, 7, ControlRecordType::Abort));
        data.extend(batch(4, 2, txn(8)));
        data.extend(marker(6, 8, ControlRecordType::Commit));
        data.extend(batch(7, 2, txn(7)));
        data.extend(marker(9, 7, ControlRecordType::Commit));
        data.extend(batch(10, 2, ProducerState::NONE));
        let bytes = Bytes::from(data);
        let s = scan(&bytes, Some(12));
        let mut c = CompletedFetch::new(bytes.clone(), s.end, true, true, Some(vec![(7, 0)]));
        let mut pos = 0;
        assert_eq!(drain_all(&mut c, &mut pos), [4, 5, 7, 8, 10, 11]);
        assert_eq!(pos, 12);
        // read_uncommitted sees every data record but no marker.
        let mut c = CompletedFetch::new(bytes, s.end, true, false, Some(vec![(7, 0)]));
        let mut pos = 0;
        assert_eq!(drain_all(&mut c, &mut pos), [0, 1, 2, 4, 5, 7, 8, 10, 11]);
    }

    #[test]
    fn corrupt_batch_keeps_position() {
        let mut data = batch(0, 2, ProducerState::NONE);
        let second = data.len();
        data.extend(batch(2, 2, ProducerState::NONE));
        let n = data.len();
        data[n - 1] ^= 0xff; // flip a byte of the last record
        let s = scan(&data, None);
        assert_eq!(s.end, n);
        assert!(second < n);
        let mut c = CompletedFetch::new(Bytes::from(data), s.end, true, false, None);
        let topic: Arc<str> = Arc::from("t");
        let mut out = ConsumerRecords::new();
        let mut pos = 0;
        match c.drain(&topic, 0, &mut pos, &mut None, &mut out, 100) {
            Drained::Corrupt(offset, msg) => {
                assert_eq!(offset, 2);
                assert!(msg.contains("CRC"), "{msg}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(out.len(), 2);
        assert_eq!(pos, 2);
    }

    fn batch_in_epoch(base: i64, n: usize, epoch: i32, producer: ProducerState) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new();
        b.set_base_offset(base);
        b.set_partition_leader_epoch(epoch);
        for i in 0..n {
            b.append(1000 + i as i64, None, Some(&b"v"[..]), &[])
                .unwrap();
        }
        b.finish(producer, Compression::None).unwrap().to_vec()
    }

    #[test]
    fn leader_epochs_of_the_fetched_and_the_consumed_batches() {
        // 0-2 in epoch 3, 3-4 in epoch 5, an aborted transaction 5-6 in
        // epoch 6 (skipped under read_committed) and its marker at 7.
        let mut data = batch_in_epoch(0, 3, 3, ProducerState::NONE);
        data.extend(batch_in_epoch(3, 2, 5, ProducerState::NONE));
        data.extend(batch_in_epoch(5, 2, 6, txn(9)));
        let mut b = RecordBatchBuilder::new();
        b.set_base_offset(7);
        b.set_partition_leader_epoch(6);
        b.set_control(true);
        let key = ControlRecord {
            version: 0,
            kind: ControlRecordType::Abort,
        }
        .to_key();
        b.append(5000, Some(&key), Some(&[0, 0, 0, 0, 0, 0][..]), &[])
            .unwrap();
        data.extend(b.finish(txn(9), Compression::None).unwrap().to_vec());
        let s = scan(&data, None);
        assert_eq!((s.next_offset, s.last_epoch), (Some(8), Some(6)));
        // Legacy batches and batches without an epoch have none.
        let s = scan(&batch(0, 2, ProducerState::NONE), None);
        assert_eq!((s.next_offset, s.last_epoch), (Some(2), None));

        let topic: Arc<str> = Arc::from("t");
        let bytes = Bytes::from(data);
        let end = scan(&bytes, None).end;
        let mut c = CompletedFetch::new(bytes, end, true, true, Some(vec![(9, 5)]));
        let (mut pos, mut epoch) = (1, None);
        let mut out = ConsumerRecords::new();
        // Two records: the position is inside the first batch (epoch 3).
        assert!(matches!(
            c.drain(&topic, 0, &mut pos, &mut epoch, &mut out, 2),
            Drained::Full
        ));
        assert_eq!((pos, epoch), (3, Some(3)));
        // One more: into the second batch (epoch 5).
        assert!(matches!(
            c.drain(&topic, 0, &mut pos, &mut epoch, &mut out, 3),
            Drained::Full
        ));
        assert_eq!((pos, epoch), (4, Some(5)));
        // The rest: the skipped transaction and marker move it to epoch 6.
        assert!(matches!(
            c.drain(&topic, 0, &mut pos, &mut epoch, &mut out, 100),
            Drained::Done
        ));
        assert_eq!(out.len(), 4);
        assert_eq!((pos, epoch), (8, Some(6)));
        assert_eq!(out.as_slice()[3].leader_epoch, Some(5));
    }

    #[test]
    fn mutated_peer_vectors_never_panic() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/records");
        let topic: Arc<str> = Arc::from("t");
        for name in [
            "kafka-python-v1-gzip.bin",
            "librdkafka-v2-transactions.bin",
            "kafka-python-v2-none.bin",
        ] {
            let data = std::fs::read(dir.join(name)).unwrap();
            for pos in 0..data.len() {
                for flip in [0x01u8, 0x80, 0xff] {
                    let mut m = data.clone();
                    m[pos] ^= flip;
                    for (check_crcs, read_committed, lso) in
                        [(false, true, Some(3)), (true, false, None)]
                    {
                        let s = scan(&m, lso);
                        let bytes = Bytes::from(m.clone());
                        let mut c = CompletedFetch::new(
                            bytes,
                            s.end,
                            check_crcs,
                            read_committed,
                            Some(vec![(1, 0), (-5, 3)]),
                        );
                        let mut pos = 0;
                        let mut out = ConsumerRecords::new();
                        loop {
                            let max = out.len() + 2;
                            if !matches!(
                                c.drain(&topic, 0, &mut pos, &mut None, &mut out, max),
                                Drained::Full
                            ) {
                                break;
                            }
                        }
                    }
                }
            }
        }
    }
}
