//! Writing: [`RecordBatchBuilder`] appends records into one buffer and
//! [`RecordBatchBuilder::finish`] fills the header, compresses and
//! checksums; [`rewrite_producer_state`] re-stamps a finished batch.

use super::*;
use crate::protocol::compression;
use crate::protocol::crc32c::crc32c;
use crate::protocol::primitives::{BufMut, EncodeError, varint_size, varlong_size};

/// The producer fields of a batch: idempotence and transactions (KIP-98).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProducerState {
    /// Producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the batch's first record, or -1.
    pub base_sequence: i32,
    /// Whether the batch belongs to a transaction.
    pub transactional: bool,
}

impl ProducerState {
    /// A batch without idempotence or transactions.
    pub const NONE: ProducerState = ProducerState {
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        base_sequence: NO_SEQUENCE,
        transactional: false,
    };
}

impl Default for ProducerState {
    fn default() -> Self {
        ProducerState::NONE
    }
}

/// Writes a v2 record batch, one record at a time, into a single buffer.
///
/// ```
/// use kafka_blocking::unstable::protocol::compression::Compression;
/// use kafka_blocking::unstable::protocol::records::{
///     DecodeOptions, ProducerState, RecordBatchBuilder, decode_batches,
/// };
///
/// let mut b = RecordBatchBuilder::new();
/// b.append(1_700_000_000_000, Some(b"k"), Some(b"v"), &[]).unwrap();
/// b.append(1_700_000_000_005, None, Some(b"w"), &[]).unwrap();
/// let bytes = b.finish(ProducerState::NONE, Compression::None).unwrap();
/// let batch = decode_batches(bytes, DecodeOptions::default()).next().unwrap().unwrap();
/// assert_eq!(batch.records.len(), 2);
/// assert_eq!(batch.records[1].timestamp, 1_700_000_000_005);
/// ```
#[derive(Clone, Debug)]
pub struct RecordBatchBuilder {
    /// Header space (filled by `finish`) followed by the encoded records.
    buf: Vec<u8>,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    base_offset: i64,
    partition_leader_epoch: i32,
    control: bool,
    log_append_time: Option<i64>,
}

impl Default for RecordBatchBuilder {
    fn default() -> Self {
        RecordBatchBuilder::new()
    }
}

impl RecordBatchBuilder {
    /// An empty batch.
    pub fn new() -> RecordBatchBuilder {
        RecordBatchBuilder::with_buffer(Vec::new())
    }

    /// An empty batch whose buffer can take `bytes` without growing.
    pub fn with_capacity(bytes: usize) -> RecordBatchBuilder {
        RecordBatchBuilder::with_buffer(Vec::with_capacity(bytes.max(RECORD_BATCH_OVERHEAD)))
    }

    /// An empty batch writing into `buf` (cleared), to reuse a pooled buffer.
    pub fn with_buffer(mut buf: Vec<u8>) -> RecordBatchBuilder {
        buf.clear();
        buf.resize(RECORD_BATCH_OVERHEAD, 0);
        RecordBatchBuilder {
            buf,
            count: 0,
            base_timestamp: 0,
            max_timestamp: NO_TIMESTAMP,
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            control: false,
            log_append_time: None,
        }
    }

    /// Number of records appended.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when no record was appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the batch if finished now without compression: header plus
    /// records. With compression the result is usually smaller.
    pub fn estimated_size(&self) -> usize {
        self.buf.len()
    }

    /// The base offset to write (0, the default, for produce requests: the
    /// broker assigns offsets).
    pub fn set_base_offset(&mut self, base_offset: i64) {
        self.base_offset = base_offset;
    }

    /// The partition leader epoch to write (-1 by default; brokers set it).
    pub fn set_partition_leader_epoch(&mut self, epoch: i32) {
        self.partition_leader_epoch = epoch;
    }

    /// Marks the batch as a control batch (transaction markers are written by
    /// brokers; this exists for tests and tools).
    pub fn set_control(&mut self, control: bool) {
        self.control = control;
    }

    /// Writes LogAppendTime batches (as brokers do for topics with
    /// `message.timestamp.type=LogAppendTime`): `Some(t)` sets the timestamp
    /// type and the max timestamp to `t`.
    pub fn set_log_append_time(&mut self, time: Option<i64>) {
        self.log_append_time = time;
    }

    /// Appends a record and returns its offset delta (its index in the batch).
    /// `timestamp` is in milliseconds since the epoch.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> Result<i32, EncodeError> {
        self.append_with_headers(
            timestamp,
            key,
            value,
            headers.iter().map(|h| (h.key.as_str(), h.value.as_deref())),
        )
    }

    /// Appends a record whose headers come from an iterator of `(key,
    /// value)` pairs, so callers with their own header type need not build
    /// [`Header`]s. The iterator is walked twice (size, then bytes).
    pub fn append_with_headers<'h, I>(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: I,
    ) -> Result<i32, EncodeError>
    where
        I: IntoIterator<Item = (&'h str, Option<&'h [u8]>)>,
        I::IntoIter: Clone,
    {
        let headers = headers.into_iter();
        if self.count == i32::MAX {
            return Err(EncodeError::new(
                "record batch holds i32::MAX records already",
            ));
        }
        if self.count == 0 {
            self.base_timestamp = timestamp;
        }
        let offset_delta = self.count;
        let timestamp_delta = timestamp.wrapping_sub(self.base_timestamp);

        // Size the record first so its length prefix goes in place.
        let key_len = nullable_len(key, "key")?;
        let value_len = nullable_len(value, "value")?;
        let mut header_count = 0usize;
        let mut body: usize = 1 // attributes
            + varlong_size(timestamp_delta)
            + varint_size(offset_delta)
            + varint_size(key_len)
            + key.map_or(0, <[u8]>::len)
            + varint_size(value_len)
            + value.map_or(0, <[u8]>::len);
        for (k, v) in headers.clone() {
            header_count += 1;
            let k_len = nullable_len(Some(k.as_bytes()), "header key")?;
            let v_len = nullable_len(v, "header value")?;
            body += varint_size(k_len) + k.len() + varint_size(v_len) + v.map_or(0, <[u8]>::len);
        }
        let header_count =
            i32::try_from(header_count).map_err(|_| EncodeError::new("too many headers"))?;
        body += varint_size(header_count);
        let body_i32 = i32::try_from(body)
            .ok()
            .filter(|_| body < i32::MAX as usize)
            .ok_or_else(|| EncodeError::new(format!("record of {body} bytes is too large")))?;
        let total = varint_size(body_i32) + body;
        if self.buf.len() - LOG_OVERHEAD + total > i32::MAX as usize {
            return Err(EncodeError::new("record batch would exceed 2 GiB"));
        }

        let buf = &mut self.buf;
        buf.reserve(total);
        let start = buf.len();
        buf.put_varint(body_i32);
        buf.put_i8(0);
        buf.put_varlong(timestamp_delta);
        buf.put_varint(offset_delta);
        buf.put_varint(key_len);
        if let Some(k) = key {
            buf.put_slice(k);
        }
        buf.put_varint(value_len);
        if let Some(v) = value {
            buf.put_slice(v);
        }
        buf.put_varint(header_count);
        for (k, v) in headers {
            buf.put_varint(k.len() as i32);
            buf.put_slice(k.as_bytes());
            match v {
                None => buf.put_varint(-1),
                Some(v) => {
                    buf.put_varint(v.len() as i32);
                    buf.put_slice(v);
                }
            }
        }
        debug_assert_eq!(buf.len() - start, total);

        self.count += 1;
        self.max_timestamp = if offset_delta == 0 {
            timestamp
        } else {
            self.max_timestamp.max(timestamp)
        };
        Ok(offset_delta)
    }

    /// Finishes the batch: compresses the records with `compression`, fills
    /// the header with `producer`'s fields and computes the CRC-32C. Fails
    /// for an empty batch or a codec whose cargo feature is off.
    pub fn finish(
        self,
        producer: ProducerState,
        compression: Compression,
    ) -> Result<Vec<u8>, EncodeError> {
        if self.count == 0 {
            return Err(EncodeError::new("cannot finish an empty record batch"));
        }
        let mut out = match compression {
            Compression::None => self.buf,
            c => {
                let records = &self.buf[RECORD_BATCH_OVERHEAD..];
                let mut out = Vec::with_capacity(RECORD_BATCH_OVERHEAD + records.len() / 2 + 64);
                out.resize(RECORD_BATCH_OVERHEAD, 0);
                compression::compress(c, records, &mut out)?;
                out
            }
        };
        let length = i32::try_from(out.len() - LOG_OVERHEAD)
            .map_err(|_| EncodeError::new("record batch would exceed 2 GiB"))?;
        let mut attributes = compression.attribute_bits();
        if producer.transactional {
            attributes |= TRANSACTIONAL_MASK;
        }
        if self.control {
            attributes |= CONTROL_MASK;
        }
        let max_timestamp = match self.log_append_time {
            Some(t) => {
                attributes |= TIMESTAMP_TYPE_MASK;
                t
            }
            None => self.max_timestamp,
        };
        let h = &mut out[..RECORD_BATCH_OVERHEAD];
        h[0..8].copy_from_slice(&self.base_offset.to_be_bytes());
        h[LENGTH_OFFSET..LENGTH_OFFSET + 4].copy_from_slice(&length.to_be_bytes());
        h[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4]
            .copy_from_slice(&self.partition_leader_epoch.to_be_bytes());
        h[MAGIC_OFFSET] = MAGIC_V2 as u8;
        h[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
        h[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4]
            .copy_from_slice(&(self.count - 1).to_be_bytes());
        h[BASE_TIMESTAMP_OFFSET..BASE_TIMESTAMP_OFFSET + 8]
            .copy_from_slice(&self.base_timestamp.to_be_bytes());
        h[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8]
            .copy_from_slice(&max_timestamp.to_be_bytes());
        h[RECORDS_COUNT_OFFSET..RECORDS_COUNT_OFFSET + 4]
            .copy_from_slice(&self.count.to_be_bytes());
        write_producer_state(&mut out, producer);
        Ok(out)
    }
}

fn nullable_len(b: Option<&[u8]>, what: &str) -> Result<i32, EncodeError> {
    match b {
        None => Ok(-1),
        Some(b) => i32::try_from(b.len())
            .ok()
            .filter(|n| *n < i32::MAX)
            .ok_or_else(|| EncodeError::new(format!("{what} of {} bytes is too large", b.len()))),
    }
}

/// Writes the producer fields and transactional bit, then the CRC.
pub(super) fn write_producer_state(batch: &mut [u8], p: ProducerState) {
    batch[PRODUCER_ID_OFFSET..PRODUCER_ID_OFFSET + 8].copy_from_slice(&p.producer_id.to_be_bytes());
    batch[PRODUCER_EPOCH_OFFSET..PRODUCER_EPOCH_OFFSET + 2]
        .copy_from_slice(&p.producer_epoch.to_be_bytes());
    batch[BASE_SEQUENCE_OFFSET..BASE_SEQUENCE_OFFSET + 4]
        .copy_from_slice(&p.base_sequence.to_be_bytes());
    let mut attributes = be_i16(batch, ATTRIBUTES_OFFSET) & !TRANSACTIONAL_MASK;
    if p.transactional {
        attributes |= TRANSACTIONAL_MASK;
    }
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    let crc = crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Re-stamps a finished v2 batch with new producer fields (id, epoch, base
/// sequence, transactional bit) and recomputes its CRC-32C, without touching
/// the records: what an idempotent producer does to retry a batch after its
/// epoch was bumped or its sequences were reset.
///
/// `batch` must hold exactly one whole v2 batch, as [`RecordBatchBuilder::finish`] returns.
pub fn rewrite_producer_state(
    batch: &mut [u8],
    producer: ProducerState,
) -> Result<(), EncodeError> {
    if batch.len() < RECORD_BATCH_OVERHEAD || batch[MAGIC_OFFSET] as i8 != MAGIC_V2 {
        return Err(EncodeError::new("not a v2 record batch"));
    }
    let length = be_i32(batch, LENGTH_OFFSET);
    if length < 0 || length as usize != batch.len() - LOG_OVERHEAD {
        return Err(EncodeError::new(format!(
            "record batch length {length} does not match its {} bytes",
            batch.len()
        )));
    }
    write_producer_state(batch, producer);
    Ok(())
}
