//! Record batches: message format v2 (encode and decode) and the legacy
//! message sets v0/v1 (decode only), as found in Produce requests and Fetch
//! responses.
//!
//! - Writing: [`RecordBatchBuilder`] appends records straight into one buffer
//!   (varints encoded in place, no allocation per record) and
//!   [`RecordBatchBuilder::finish`] fills the header, compresses and
//!   checksums. [`rewrite_producer_state`] re-stamps a finished batch for an
//!   idempotent retry after a producer epoch bump.
//! - Reading: [`decode_batches`] walks the `Records` bytes of a fetch
//!   response and yields one [`RecordBatch`] per v2 batch or legacy message
//!   (a compressed legacy wrapper yields one batch with its inner messages).
//!   Keys, values and header values of uncompressed data are zero-copy
//!   [`Bytes`] views of the input; those of a compressed batch share one
//!   buffer per batch.
//!
//! Layout of a v2 batch (all big-endian; CRC-32C covers `attributes` to the end):
//!
//! ```text
//! baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 (2) | crc u32 |
//! attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64 |
//! producerId i64 | producerEpoch i16 | baseSequence i32 | recordsCount i32 | records...
//! ```

use std::fmt;

use super::bytes::Bytes;
use super::compression::{self, Compression};
use super::crc32c::crc32c;
use super::primitives::{BufMut, DecodeError, EncodeError, Reader, varint_size, varlong_size};

/// Magic byte of message format v0 (Kafka < 0.10).
pub const MAGIC_V0: i8 = 0;
/// Magic byte of message format v1 (Kafka 0.10, adds timestamps).
pub const MAGIC_V1: i8 = 1;
/// Magic byte of message format v2 (record batches, Kafka >= 0.11).
pub const MAGIC_V2: i8 = 2;

/// Bytes before a batch's (or legacy message's) length field ends: offset
/// `i64` and length `i32`. The length counts the bytes after it.
pub const LOG_OVERHEAD: usize = 12;
/// Size of a v2 batch header, up to and including `recordsCount`.
pub const RECORD_BATCH_OVERHEAD: usize = 61;

/// Timestamp meaning "none" (legacy v0 messages).
pub const NO_TIMESTAMP: i64 = -1;
/// Producer id of batches written without idempotence.
pub const NO_PRODUCER_ID: i64 = -1;
/// Producer epoch of batches written without idempotence.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// Base sequence of batches written without idempotence.
pub const NO_SEQUENCE: i32 = -1;
/// Partition leader epoch of batches not yet written by a leader.
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;

/// Default bound on a batch's decompressed size ([`DecodeOptions`]).
pub const DEFAULT_MAX_DECOMPRESSED_SIZE: usize = 128 << 20;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_MASK: i16 = 0x08;
const TRANSACTIONAL_MASK: i16 = 0x10;
const CONTROL_MASK: i16 = 0x20;
const DELETE_HORIZON_MASK: i16 = 0x40;

// Field offsets in a v2 batch.
const LENGTH_OFFSET: usize = 8;
const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
const BASE_TIMESTAMP_OFFSET: usize = 27;
const MAX_TIMESTAMP_OFFSET: usize = 35;
const PRODUCER_ID_OFFSET: usize = 43;
const PRODUCER_EPOCH_OFFSET: usize = 51;
const BASE_SEQUENCE_OFFSET: usize = 53;
const RECORDS_COUNT_OFFSET: usize = 57;

/// Smallest possible v2 record: length, attributes, timestamp delta, offset
/// delta, key length, value length and header count, one byte each.
const MIN_RECORD_SIZE: usize = 7;
/// Smallest legacy message after the length field: crc, magic, attributes,
/// key length, value length (v0; v1 adds an 8-byte timestamp).
const LEGACY_MIN_SIZE_V0: usize = 14;
const LEGACY_MIN_SIZE_V1: usize = 22;

/// A record header: a string key and optional bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Header {
    /// The header's key.
    pub key: String,
    /// The header's value (`None` is a null value).
    pub value: Option<Bytes>,
}

impl Header {
    /// A header with `key` and `value`.
    pub fn new(key: impl Into<String>, value: Option<Bytes>) -> Header {
        Header {
            key: key.into(),
            value,
        }
    }
}

/// A record as read from a batch: absolute offset and timestamp resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// The record's offset in its partition.
    pub offset: i64,
    /// Milliseconds since the epoch: the producer's (CreateTime) or the
    /// broker's (LogAppendTime, see [`RecordBatch::timestamp_type`]); -1 for
    /// legacy v0 messages, which have none.
    pub timestamp: i64,
    /// The key; `None` is a null key.
    pub key: Option<Bytes>,
    /// The value; `None` is a null value (a tombstone on compacted topics).
    pub value: Option<Bytes>,
    /// The headers, in order (always empty for legacy messages).
    pub headers: Vec<Header>,
}

/// What a batch's timestamps mean (attribute bit 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer.
    #[default]
    CreateTime,
    /// Set by the broker when it appended the batch.
    LogAppendTime,
}

/// The type of a transaction marker (control record key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// The transaction was aborted (type 0).
    Abort,
    /// The transaction was committed (type 1).
    Commit,
    /// A type this client does not know (for example 2, leader change in
    /// KRaft's internal topics); consumers skip it.
    Unknown(i16),
}

/// The key of a control record: `version i16, type i16`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ControlRecord {
    /// The key's version (0 today).
    pub version: i16,
    /// What the marker says.
    pub kind: ControlRecordType,
}

impl ControlRecord {
    /// Parses a control record's key. Fails when it is shorter than 4 bytes.
    pub fn parse(key: &[u8]) -> Result<ControlRecord, DecodeError> {
        if key.len() < 4 {
            return Err(DecodeError::new(format!(
                "control record key has {} bytes, needs at least 4",
                key.len()
            )));
        }
        let version = i16::from_be_bytes([key[0], key[1]]);
        let kind = match i16::from_be_bytes([key[2], key[3]]) {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            n => ControlRecordType::Unknown(n),
        };
        Ok(ControlRecord { version, kind })
    }

    /// The key's encoding (4 bytes).
    pub fn to_key(&self) -> [u8; 4] {
        let kind: i16 = match self.kind {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::Unknown(n) => n,
        };
        let v = self.version.to_be_bytes();
        let k = kind.to_be_bytes();
        [v[0], v[1], k[0], k[1]]
    }
}

/// A decoded record batch: a v2 batch, or one legacy (v0/v1) message (a
/// compressed legacy wrapper holds several records).
///
/// The fields are the v2 header's. For legacy messages: `batch_length` is the
/// message size, `crc` its CRC-32, `attributes` its attribute byte (whose bits
/// 0-3 mean the same as in v2), the producer fields are -1 and
/// `partition_leader_epoch` is -1.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordBatch {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the length field.
    pub batch_length: i32,
    /// Leader epoch of the broker that appended the batch.
    pub partition_leader_epoch: i32,
    /// Message format: 0, 1 or 2.
    pub magic: i8,
    /// The stored checksum: CRC-32C for v2, CRC-32 for legacy messages.
    pub crc: u32,
    /// Attribute bits (compression, timestamp type, transactional, control).
    pub attributes: i16,
    /// Offset of the last record minus `base_offset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record (v2: the base of the records' deltas).
    pub base_timestamp: i64,
    /// Largest record timestamp (the append time for LogAppendTime).
    pub max_timestamp: i64,
    /// Idempotent/transactional producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records, as the header says (equal to `records.len()` once decoded).
    pub records_count: i32,
    /// The records. A control batch holds its control record(s) here too.
    pub records: Vec<Record>,
}

impl RecordBatch {
    /// The compression codec (bits 0-2 of the attributes). Decoded batches
    /// always carry a known codec; unknown bits read as [`Compression::None`].
    pub fn compression(&self) -> Compression {
        Compression::from_attributes(self.attributes).unwrap_or(Compression::None)
    }

    /// Whether timestamps are the producer's or the broker's.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.magic > MAGIC_V0 && self.attributes & TIMESTAMP_TYPE_MASK != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// True for batches written inside a transaction.
    pub fn is_transactional(&self) -> bool {
        self.magic >= MAGIC_V2 && self.attributes & TRANSACTIONAL_MASK != 0
    }

    /// True for control batches (transaction markers), which applications
    /// never see.
    pub fn is_control(&self) -> bool {
        self.magic >= MAGIC_V2 && self.attributes & CONTROL_MASK != 0
    }

    /// True when the batch's base timestamp is a compaction delete horizon
    /// (attribute bit 6, KIP-534).
    pub fn has_delete_horizon(&self) -> bool {
        self.magic >= MAGIC_V2 && self.attributes & DELETE_HORIZON_MASK != 0
    }

    /// Offset of the last record (also of removed ones, on compacted topics).
    pub fn last_offset(&self) -> i64 {
        self.base_offset.wrapping_add(self.last_offset_delta as i64)
    }

    /// Offset after the batch: where the next fetch continues.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// Sequence number of the last record, or -1 without a producer id.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence == NO_SEQUENCE {
            NO_SEQUENCE
        } else {
            // Sequences wrap around from i32::MAX to 0.
            ((self.base_sequence as i64 + self.last_offset_delta as i64) % (i32::MAX as i64 + 1))
                as i32
        }
    }

    /// The transaction marker of a control batch; `None` for data batches.
    pub fn control_record(&self) -> Option<ControlRecord> {
        if !self.is_control() {
            return None;
        }
        let key = self.records.first()?.key.as_ref()?;
        ControlRecord::parse(key).ok()
    }
}

/// Options for [`decode_batches`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Verify each batch's checksum (the consumer's `check.crcs`, default true).
    pub check_crcs: bool,
    /// Largest decompressed size of one batch (or legacy wrapper); larger is
    /// an error. Default [`DEFAULT_MAX_DECOMPRESSED_SIZE`].
    pub max_decompressed_size: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            check_crcs: true,
            max_decompressed_size: DEFAULT_MAX_DECOMPRESSED_SIZE,
        }
    }
}

/// Iterates over the batches of a `Records` field. Built by [`decode_batches`].
///
/// A batch cut short at the end of the data (brokers fill a fetch up to its
/// size limit, so the last batch is often partial) ends the iteration
/// quietly; [`RecordBatchReader::partial_trailing_bytes`] then says how many
/// bytes were left. Any malformed batch yields one `Err` and ends the
/// iteration.
#[derive(Clone, Debug)]
pub struct RecordBatchReader {
    data: Bytes,
    pos: usize,
    opts: DecodeOptions,
    done: bool,
    partial: usize,
}

/// Decodes the batches in `data` (the `Records` bytes of one partition of a
/// fetch response, or of a produce request).
pub fn decode_batches(data: impl Into<Bytes>, opts: DecodeOptions) -> RecordBatchReader {
    RecordBatchReader {
        data: data.into(),
        pos: 0,
        opts,
        done: false,
        partial: 0,
    }
}

impl RecordBatchReader {
    /// Bytes consumed so far (whole batches only).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Size of the incomplete batch that ended the data, or 0. Known once
    /// the iteration has returned `None`. A fetch whose only batch is partial
    /// means the batch is larger than the fetch size allowed.
    pub fn partial_trailing_bytes(&self) -> usize {
        self.partial
    }

    fn next_batch(&mut self) -> Option<Result<RecordBatch, DecodeError>> {
        let rest = &self.data[self.pos..];
        if rest.is_empty() {
            return None;
        }
        if rest.len() < LOG_OVERHEAD {
            self.partial = rest.len();
            return None;
        }
        let base_offset = be_i64(rest, 0);
        let length = be_i32(rest, LENGTH_OFFSET);
        if length < LEGACY_MIN_SIZE_V0 as i32 {
            return Some(Err(DecodeError::new(format!(
                "record batch at offset {base_offset} has length {length}, less than any batch"
            ))));
        }
        let total = LOG_OVERHEAD + length as usize;
        if total > rest.len() {
            self.partial = rest.len();
            return None;
        }
        let entry = self.data.slice(self.pos..self.pos + total);
        self.pos += total;
        let result = match entry[MAGIC_OFFSET] as i8 {
            MAGIC_V2 => decode_v2(&entry, &self.opts),
            MAGIC_V0 | MAGIC_V1 => decode_legacy(&entry, &self.opts),
            m => Err(DecodeError::new(format!("unknown magic byte {m}"))),
        };
        Some(result.map_err(|e| e.context(&format!("record batch at offset {base_offset}"))))
    }
}

impl Iterator for RecordBatchReader {
    type Item = Result<RecordBatch, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_batch();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

impl std::iter::FusedIterator for RecordBatchReader {}

#[inline]
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

#[inline]
fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

#[inline]
fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Decodes one complete v2 batch (`entry` holds exactly its bytes).
fn decode_v2(entry: &Bytes, opts: &DecodeOptions) -> Result<RecordBatch, DecodeError> {
    if entry.len() < RECORD_BATCH_OVERHEAD {
        return Err(DecodeError::new(format!(
            "batch length {} is less than the {} bytes of a v2 header",
            entry.len() - LOG_OVERHEAD,
            RECORD_BATCH_OVERHEAD - LOG_OVERHEAD
        )));
    }
    let e = &entry[..];
    let mut batch = RecordBatch {
        base_offset: be_i64(e, 0),
        batch_length: be_i32(e, LENGTH_OFFSET),
        partition_leader_epoch: be_i32(e, PARTITION_LEADER_EPOCH_OFFSET),
        magic: MAGIC_V2,
        crc: be_u32(e, CRC_OFFSET),
        attributes: be_i16(e, ATTRIBUTES_OFFSET),
        last_offset_delta: be_i32(e, LAST_OFFSET_DELTA_OFFSET),
        base_timestamp: be_i64(e, BASE_TIMESTAMP_OFFSET),
        max_timestamp: be_i64(e, MAX_TIMESTAMP_OFFSET),
        producer_id: be_i64(e, PRODUCER_ID_OFFSET),
        producer_epoch: be_i16(e, PRODUCER_EPOCH_OFFSET),
        base_sequence: be_i32(e, BASE_SEQUENCE_OFFSET),
        records_count: be_i32(e, RECORDS_COUNT_OFFSET),
        records: Vec::new(),
    };
    if opts.check_crcs {
        let computed = crc32c(&e[ATTRIBUTES_OFFSET..]);
        if computed != batch.crc {
            return Err(DecodeError::new(format!(
                "CRC-32C mismatch: the batch says {:#010x}, its bytes give {computed:#010x} (corrupt data)",
                batch.crc
            )));
        }
    }
    if batch.records_count < 0 {
        return Err(DecodeError::new(format!(
            "negative record count {}",
            batch.records_count
        )));
    }
    let codec = Compression::from_attributes(batch.attributes)?;
    let section = entry.slice(RECORD_BATCH_OVERHEAD..entry.len());
    let body = match codec {
        Compression::None => section,
        c => Bytes::from(compression::decompress(
            c,
            &section,
            opts.max_decompressed_size,
        )?),
    };
    let log_append_time =
        (batch.timestamp_type() == TimestampType::LogAppendTime).then_some(batch.max_timestamp);
    batch.records = decode_records(body, &batch, log_append_time)?;
    if batch.is_control() {
        for r in &batch.records {
            let key = r.key.as_ref().ok_or_else(|| {
                DecodeError::new(format!("control record at offset {} has no key", r.offset))
            })?;
            ControlRecord::parse(key)?;
        }
    }
    Ok(batch)
}

/// Reads a varint length that may be -1 (null).
#[inline]
fn nullable_slice(r: &mut Reader, what: &str) -> Result<Option<Bytes>, DecodeError> {
    match r.read_varint()? {
        -1 => Ok(None),
        n if n < 0 => Err(DecodeError::new(format!("{what} has negative length {n}"))),
        n => r.read_slice(n as usize).map(Some),
    }
}

fn decode_records(
    body: Bytes,
    batch: &RecordBatch,
    log_append_time: Option<i64>,
) -> Result<Vec<Record>, DecodeError> {
    let count = batch.records_count as usize;
    // The count may lie: never reserve more than the bytes can hold.
    let mut records = Vec::with_capacity(count.min(body.len() / MIN_RECORD_SIZE));
    let mut r = Reader::new(body);
    for i in 0..count {
        decode_record(&mut r, batch, log_append_time, &mut records)
            .map_err(|e| e.context(&format!("record {i} of {count}")))?;
    }
    if !r.is_empty() {
        return Err(DecodeError::new(format!(
            "{} bytes follow the last of the {count} records the header announces",
            r.remaining()
        )));
    }
    Ok(records)
}

#[inline]
fn decode_record(
    r: &mut Reader,
    batch: &RecordBatch,
    log_append_time: Option<i64>,
    out: &mut Vec<Record>,
) -> Result<(), DecodeError> {
    let length = r.read_varint()?;
    if length < 0 || length as usize > r.remaining() {
        return Err(DecodeError::new(format!(
            "record length {length} but {} bytes remain",
            r.remaining()
        )));
    }
    let start = r.position();
    let _attributes = r.read_i8()?;
    let timestamp_delta = r.read_varlong()?;
    let offset_delta = r.read_varint()?;
    let key = nullable_slice(r, "key")?;
    let value = nullable_slice(r, "value")?;
    let header_count = r.read_varint()?;
    if header_count < 0 || header_count as usize > r.remaining() / 2 {
        return Err(DecodeError::new(format!(
            "header count {header_count} but {} bytes remain",
            r.remaining()
        )));
    }
    let mut headers = Vec::with_capacity(header_count as usize);
    for _ in 0..header_count {
        let key_len = r.read_varint()?;
        if key_len < 0 {
            return Err(DecodeError::new(format!(
                "header key has negative length {key_len}"
            )));
        }
        let key = r.read_slice(key_len as usize)?;
        // Lenient like Java: invalid UTF-8 becomes U+FFFD rather than a
        // record nobody can consume.
        let key = String::from_utf8_lossy(&key).into_owned();
        let value = nullable_slice(r, "header value")?;
        headers.push(Header { key, value });
    }
    let used = r.position() - start;
    if used != length as usize {
        return Err(DecodeError::new(format!(
            "record length says {length} bytes but its fields take {used}"
        )));
    }
    out.push(Record {
        offset: batch.base_offset.wrapping_add(offset_delta as i64),
        timestamp: log_append_time.unwrap_or(batch.base_timestamp.wrapping_add(timestamp_delta)),
        key,
        value,
        headers,
    });
    Ok(())
}

/// One legacy message, parsed.
struct LegacyMessage {
    offset: i64,
    size: i32,
    crc: u32,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
}

/// Parses one complete legacy log entry (offset, size, message).
fn parse_legacy(entry: &Bytes, check_crcs: bool) -> Result<LegacyMessage, DecodeError> {
    let e = &entry[..];
    let magic = e[MAGIC_OFFSET] as i8;
    let min = if magic == MAGIC_V0 {
        LEGACY_MIN_SIZE_V0
    } else {
        LEGACY_MIN_SIZE_V1
    };
    let size = be_i32(e, LENGTH_OFFSET);
    if (size as usize) < min {
        return Err(DecodeError::new(format!(
            "v{magic} message size {size} is less than the minimum {min}"
        )));
    }
    let crc = be_u32(e, LOG_OVERHEAD);
    if check_crcs {
        let computed = crc32fast::hash(&e[MAGIC_OFFSET..]);
        if computed != crc {
            return Err(DecodeError::new(format!(
                "CRC-32 mismatch: the message says {crc:#010x}, its bytes give {computed:#010x} (corrupt data)"
            )));
        }
    }
    let mut r = Reader::new(entry.slice(MAGIC_OFFSET + 2..entry.len()));
    let timestamp = if magic == MAGIC_V0 {
        NO_TIMESTAMP
    } else {
        r.read_i64()?
    };
    let key = r.read_nullable_bytes(false)?;
    let value = r.read_nullable_bytes(false)?;
    if !r.is_empty() {
        return Err(DecodeError::new(format!(
            "{} bytes follow the message's value",
            r.remaining()
        )));
    }
    Ok(LegacyMessage {
        offset: be_i64(e, 0),
        size,
        crc,
        magic,
        attributes: e[MAGIC_OFFSET + 1] as i8,
        timestamp,
        key,
        value,
    })
}

/// Decodes one legacy message; a compressed wrapper yields its inner messages.
fn decode_legacy(entry: &Bytes, opts: &DecodeOptions) -> Result<RecordBatch, DecodeError> {
    let m = parse_legacy(entry, opts.check_crcs)?;
    let attributes = m.attributes as i16 & (COMPRESSION_MASK | TIMESTAMP_TYPE_MASK);
    let codec = Compression::from_attributes(attributes)?;
    let log_append = m.magic > MAGIC_V0 && attributes & TIMESTAMP_TYPE_MASK != 0;
    let mut batch = RecordBatch {
        base_offset: m.offset,
        batch_length: m.size,
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        magic: m.magic,
        crc: m.crc,
        attributes,
        last_offset_delta: 0,
        base_timestamp: m.timestamp,
        max_timestamp: m.timestamp,
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        base_sequence: NO_SEQUENCE,
        records_count: 1,
        records: Vec::new(),
    };
    if codec == Compression::None {
        batch.records.push(Record {
            offset: m.offset,
            timestamp: m.timestamp,
            key: m.key,
            value: m.value,
            headers: Vec::new(),
        });
        return Ok(batch);
    }
    let value = m
        .value
        .ok_or_else(|| DecodeError::new("compressed message has a null value"))?;
    let inner = Bytes::from(compression::decompress(
        codec,
        &value,
        opts.max_decompressed_size,
    )?);
    let mut messages = Vec::new();
    let mut pos = 0;
    while pos < inner.len() {
        let rest = &inner[pos..];
        if rest.len() < LOG_OVERHEAD {
            return Err(DecodeError::new(
                "truncated message inside a compressed message",
            ));
        }
        let size = be_i32(rest, LENGTH_OFFSET);
        if size < LEGACY_MIN_SIZE_V0 as i32 || size as usize > rest.len() - LOG_OVERHEAD {
            return Err(DecodeError::new(format!(
                "inner message size {size} with {} bytes left",
                rest.len() - LOG_OVERHEAD
            )));
        }
        let total = LOG_OVERHEAD + size as usize;
        let inner_entry = inner.slice(pos..pos + total);
        pos += total;
        let im = parse_legacy(&inner_entry, opts.check_crcs)?;
        if !matches!(im.magic, MAGIC_V0 | MAGIC_V1) {
            return Err(DecodeError::new(format!(
                "inner message has magic {}",
                im.magic
            )));
        }
        if im.attributes as i16 & COMPRESSION_MASK != 0 {
            return Err(DecodeError::new(
                "compressed message inside a compressed message",
            ));
        }
        messages.push(im);
    }
    let Some(last) = messages.last() else {
        return Err(DecodeError::new("compressed message holds no messages"));
    };
    // From v1 on, inner offsets are relative and the wrapper carries the
    // absolute offset of the last one.
    let offset_base = if m.magic > MAGIC_V0 {
        m.offset.wrapping_sub(last.offset)
    } else {
        0
    };
    batch.records = messages
        .into_iter()
        .map(|im| Record {
            offset: offset_base.wrapping_add(im.offset),
            timestamp: if log_append {
                m.timestamp
            } else {
                im.timestamp
            },
            key: im.key,
            value: im.value,
            headers: Vec::new(),
        })
        .collect();
    let first = &batch.records[0];
    let last = &batch.records[batch.records.len() - 1];
    batch.base_offset = first.offset;
    batch.last_offset_delta = last.offset.wrapping_sub(first.offset) as i32;
    batch.base_timestamp = first.timestamp;
    batch.max_timestamp = batch
        .records
        .iter()
        .map(|r| r.timestamp)
        .max()
        .unwrap_or(NO_TIMESTAMP);
    batch.records_count = batch.records.len() as i32;
    Ok(batch)
}

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
/// use kafka_blocking::protocol::compression::Compression;
/// use kafka_blocking::protocol::records::{decode_batches, DecodeOptions, ProducerState, RecordBatchBuilder};
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
fn write_producer_state(batch: &mut [u8], p: ProducerState) {
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

impl fmt::Display for TimestampType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> DecodeOptions {
        DecodeOptions::default()
    }

    fn decode_all(data: &[u8]) -> Result<Vec<RecordBatch>, DecodeError> {
        decode_batches(data.to_vec(), opts()).collect()
    }

    fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s >> 12;
                s ^= s << 25;
                s ^= s >> 27;
                (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }

    fn codecs() -> impl Iterator<Item = Compression> {
        Compression::ALL.into_iter().filter(|c| c.is_available())
    }

    /// A varied batch: keys, null keys, null values, headers (with null
    /// values), out-of-order timestamps, empty key and value.
    /// Timestamp, key, value, headers.
    type Sample = (i64, Option<Vec<u8>>, Option<Vec<u8>>, Vec<Header>);

    fn sample_records() -> Vec<Sample> {
        vec![
            (
                1_700_000_000_000,
                Some(b"key-0".to_vec()),
                Some(b"value-0".to_vec()),
                vec![],
            ),
            (1_700_000_000_010, None, Some(b"no key".to_vec()), vec![]),
            (1_700_000_000_005, Some(b"tombstone".to_vec()), None, vec![]),
            (
                1_700_000_000_020,
                Some(b"h".to_vec()),
                Some(vec![7; 300]),
                vec![
                    Header::new("trace-id", Some(Bytes::from("abc"))),
                    Header::new("null", None),
                    Header::new("", Some(Bytes::new())),
                ],
            ),
            (
                1_600_000_000_000,
                Some(Vec::new()),
                Some(Vec::new()),
                vec![],
            ),
            (
                i64::MAX,
                None,
                None,
                vec![Header::new("é", Some(Bytes::from(vec![0, 1, 2])))],
            ),
        ]
    }

    fn build(records: &[Sample], producer: ProducerState, c: Compression) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new();
        for (i, (ts, k, v, h)) in records.iter().enumerate() {
            assert_eq!(
                b.append(*ts, k.as_deref(), v.as_deref(), h).unwrap(),
                i as i32
            );
        }
        assert_eq!(b.len(), records.len());
        let est = b.estimated_size();
        let out = b.finish(producer, c).unwrap();
        if c == Compression::None {
            assert_eq!(out.len(), est);
        }
        out
    }

    #[test]
    fn round_trip_every_codec() {
        let recs = sample_records();
        for c in codecs() {
            let bytes = build(&recs, ProducerState::NONE, c);
            let batches = decode_all(&bytes).unwrap_or_else(|e| panic!("{c}: {e}"));
            assert_eq!(batches.len(), 1);
            let b = &batches[0];
            assert_eq!(b.magic, 2);
            assert_eq!(b.compression(), c);
            assert_eq!(b.batch_length as usize, bytes.len() - LOG_OVERHEAD);
            assert_eq!(b.records_count, recs.len() as i32);
            assert_eq!(b.last_offset_delta, recs.len() as i32 - 1);
            assert_eq!(b.base_offset, 0);
            assert_eq!(b.next_offset(), recs.len() as i64);
            assert_eq!(b.base_timestamp, 1_700_000_000_000);
            assert_eq!(b.max_timestamp, i64::MAX);
            assert_eq!(b.producer_id, -1);
            assert_eq!(b.partition_leader_epoch, -1);
            assert_eq!(b.timestamp_type(), TimestampType::CreateTime);
            assert!(!b.is_transactional() && !b.is_control());
            assert_eq!(b.control_record(), None);
            for (i, (r, (ts, k, v, h))) in b.records.iter().zip(&recs).enumerate() {
                assert_eq!(r.offset, i as i64);
                assert_eq!(r.timestamp, *ts);
                assert_eq!(r.key.as_deref(), k.as_deref());
                assert_eq!(r.value.as_deref(), v.as_deref());
                assert_eq!(&r.headers, h);
            }
        }
    }

    #[test]
    fn uncompressed_values_are_views_of_the_input() {
        let bytes = Bytes::from(build(
            &sample_records(),
            ProducerState::NONE,
            Compression::None,
        ));
        let batch = decode_batches(bytes.clone(), opts())
            .next()
            .unwrap()
            .unwrap();
        let v = batch.records[0].value.as_ref().unwrap();
        let range = bytes.as_slice().as_ptr_range();
        assert!(range.contains(&v.as_slice().as_ptr()), "value was copied");
    }

    #[test]
    fn many_records_and_large_values() {
        for c in codecs() {
            let mut b = RecordBatchBuilder::with_capacity(1 << 16);
            let big = random_bytes(3, 200_000);
            for i in 0..5000i64 {
                let v = format!("value {i}");
                b.append(1000 + i, Some(&i.to_be_bytes()), Some(v.as_bytes()), &[])
                    .unwrap();
            }
            b.append(1, None, Some(&big), &[]).unwrap();
            let bytes = b.finish(ProducerState::NONE, c).unwrap();
            let batch = decode_batches(bytes, opts()).next().unwrap().unwrap();
            assert_eq!(batch.records.len(), 5001);
            assert_eq!(
                batch.records[4999].value.as_deref(),
                Some(&b"value 4999"[..])
            );
            assert_eq!(batch.records[4999].offset, 4999);
            assert_eq!(batch.records[4999].timestamp, 5999);
            assert_eq!(batch.records[5000].timestamp, 1);
            assert_eq!(batch.records[5000].value.as_deref(), Some(&big[..]));
            assert_eq!(batch.max_timestamp, 5999);
        }
    }

    #[test]
    fn producer_state_and_rewrite() {
        let p = ProducerState {
            producer_id: 4242,
            producer_epoch: 3,
            base_sequence: 100,
            transactional: true,
        };
        for c in codecs() {
            let mut bytes = build(&sample_records(), p, c);
            let b = decode_all(&bytes).unwrap().remove(0);
            assert_eq!(
                (b.producer_id, b.producer_epoch, b.base_sequence),
                (4242, 3, 100)
            );
            assert!(b.is_transactional());
            assert_eq!(b.last_sequence(), 105);
            let crc_before = b.crc;

            let p2 = ProducerState {
                producer_epoch: 4,
                base_sequence: 0,
                ..p
            };
            rewrite_producer_state(&mut bytes, p2).unwrap();
            let b2 = decode_all(&bytes).unwrap().remove(0);
            assert_eq!(
                (b2.producer_id, b2.producer_epoch, b2.base_sequence),
                (4242, 4, 0)
            );
            assert!(b2.is_transactional());
            assert_ne!(b2.crc, crc_before);
            assert_eq!(b2.records, b.records);
            rewrite_producer_state(&mut bytes, ProducerState::NONE).unwrap();
            assert!(!decode_all(&bytes).unwrap()[0].is_transactional());
            // Not a batch.
            assert!(rewrite_producer_state(&mut bytes[..40], p).is_err());
            let n = bytes.len();
            assert!(rewrite_producer_state(&mut bytes[..n - 1], p).is_err());
        }
        assert_eq!(
            RecordBatch {
                base_sequence: i32::MAX - 1,
                last_offset_delta: 3,
                ..Default::default()
            }
            .last_sequence(),
            1
        );
    }

    #[test]
    fn control_batches() {
        for kind in [
            ControlRecordType::Abort,
            ControlRecordType::Commit,
            ControlRecordType::Unknown(7),
        ] {
            let key = ControlRecord { version: 0, kind }.to_key();
            let mut b = RecordBatchBuilder::new();
            b.set_control(true);
            b.set_base_offset(55);
            b.append(10, Some(&key), Some(&[0, 0, 0, 0, 0, 5]), &[])
                .unwrap();
            let p = ProducerState {
                producer_id: 9,
                producer_epoch: 1,
                base_sequence: -1,
                transactional: true,
            };
            let batch = decode_all(&b.finish(p, Compression::None).unwrap())
                .unwrap()
                .remove(0);
            assert!(batch.is_control() && batch.is_transactional());
            assert_eq!(
                batch.control_record(),
                Some(ControlRecord { version: 0, kind })
            );
            assert_eq!(batch.records[0].offset, 55);
        }
        // A control batch whose record key is too short is corrupt.
        let mut b = RecordBatchBuilder::new();
        b.set_control(true);
        b.append(10, Some(&[0, 0, 1]), None, &[]).unwrap();
        let e = decode_all(&b.finish(ProducerState::NONE, Compression::None).unwrap()).unwrap_err();
        assert!(e.message().contains("control record key"), "{e}");
        assert!(ControlRecord::parse(&[0, 0]).is_err());
    }

    #[test]
    fn log_append_time_overrides_record_timestamps() {
        let mut b = RecordBatchBuilder::new();
        b.set_log_append_time(Some(999));
        b.set_partition_leader_epoch(7);
        b.append(5, None, Some(b"a"), &[]).unwrap();
        b.append(6, None, Some(b"b"), &[]).unwrap();
        let batch = decode_all(&b.finish(ProducerState::NONE, Compression::None).unwrap())
            .unwrap()
            .remove(0);
        assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(batch.partition_leader_epoch, 7);
        assert!(batch.records.iter().all(|r| r.timestamp == 999));
    }

    #[test]
    fn several_batches_and_truncated_trailing_batch() {
        let mut data = Vec::new();
        let mut b1 = RecordBatchBuilder::new();
        b1.append(1, Some(b"a"), Some(b"1"), &[]).unwrap();
        data.extend(b1.finish(ProducerState::NONE, Compression::None).unwrap());
        let mut b2 = RecordBatchBuilder::new();
        b2.set_base_offset(1);
        b2.append(2, Some(b"b"), Some(b"2"), &[]).unwrap();
        let second = b2.finish(ProducerState::NONE, Compression::None).unwrap();
        let whole = data.len() + second.len();
        data.extend(&second);
        assert_eq!(decode_all(&data).unwrap().len(), 2);
        // Every cut inside the second batch yields the first batch alone, no error.
        for cut in data.len() - second.len() + 1..data.len() {
            let mut r = decode_batches(data[..cut].to_vec(), opts());
            let got: Vec<_> = r.by_ref().collect::<Result<_, _>>().unwrap();
            assert_eq!(got.len(), 1, "cut {cut}");
            assert_eq!(r.partial_trailing_bytes(), cut - (whole - second.len()));
            assert_eq!(r.position(), whole - second.len());
        }
        // Only a partial batch: nothing, no error, and the caller can tell.
        let mut r = decode_batches(second[..30].to_vec(), opts());
        assert!(r.next().is_none());
        assert_eq!(r.partial_trailing_bytes(), 30);
        assert!(decode_all(&[]).unwrap().is_empty());
    }

    #[test]
    fn lying_lengths_and_counts_are_errors() {
        let good = build(&sample_records(), ProducerState::NONE, Compression::None);
        // Batch length below the header size, with the bytes present.
        let mut bad = good.clone();
        bad[8..12].copy_from_slice(&20i32.to_be_bytes());
        assert!(decode_all(&bad).is_err());
        bad[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert!(decode_all(&bad).is_err());
        // Record counts that lie, with CRCs fixed up so only the count is wrong.
        for count in [0, 5, 7, 1000, i32::MAX, -1] {
            let mut bad = good.clone();
            bad[RECORDS_COUNT_OFFSET..RECORDS_COUNT_OFFSET + 4]
                .copy_from_slice(&count.to_be_bytes());
            write_producer_state(&mut bad, ProducerState::NONE);
            let e = decode_all(&bad).unwrap_err();
            assert!(e.message().contains("offset 0"), "{e}");
        }
        // A corrupted byte fails the CRC check, naming the offset; without
        // the check, the batch decodes.
        let mut bad = good.clone();
        bad[70] ^= 0x01;
        let e = decode_all(&bad).unwrap_err();
        assert!(
            e.message().contains("record batch at offset 0") && e.message().contains("CRC"),
            "{e}"
        );
        let no_check = DecodeOptions {
            check_crcs: false,
            ..opts()
        };
        assert!(decode_batches(bad, no_check).next().unwrap().is_ok());
        // An unknown magic byte.
        let mut bad = good.clone();
        bad[MAGIC_OFFSET] = 3;
        assert!(decode_all(&bad).unwrap_err().message().contains("magic"));
        // An unknown codec.
        let mut bad = good;
        bad[ATTRIBUTES_OFFSET + 1] |= 7;
        write_producer_state(&mut bad, ProducerState::NONE);
        assert!(decode_all(&bad).is_err());
    }

    #[test]
    fn empty_batches_left_by_compaction() {
        // Compaction keeps batches whose records are all gone (to preserve
        // producer state): count 0, but the offset range still counts.
        let mut b = RecordBatchBuilder::with_buffer(vec![1, 2, 3]);
        b.set_base_offset(10);
        b.append(1, None, Some(b"gone"), &[]).unwrap();
        b.append(2, None, Some(b"gone"), &[]).unwrap();
        let mut bytes = b.finish(ProducerState::NONE, Compression::None).unwrap();
        bytes.truncate(RECORD_BATCH_OVERHEAD);
        bytes[LENGTH_OFFSET..LENGTH_OFFSET + 4]
            .copy_from_slice(&((RECORD_BATCH_OVERHEAD - LOG_OVERHEAD) as i32).to_be_bytes());
        bytes[RECORDS_COUNT_OFFSET..RECORDS_COUNT_OFFSET + 4].copy_from_slice(&0i32.to_be_bytes());
        write_producer_state(&mut bytes, ProducerState::NONE);
        let batch = decode_all(&bytes).unwrap().remove(0);
        assert!(batch.records.is_empty());
        assert_eq!(batch.next_offset(), 12);
        assert!(
            RecordBatchBuilder::new()
                .finish(ProducerState::NONE, Compression::None)
                .is_err()
        );
    }

    #[test]
    fn errors_end_the_iteration() {
        let good = build(&sample_records(), ProducerState::NONE, Compression::None);
        let mut data = good.clone();
        data[70] ^= 1;
        data.extend(&good);
        let mut r = decode_batches(data, opts());
        assert!(r.next().unwrap().is_err());
        assert!(r.next().is_none());
    }

    #[test]
    fn decompression_bomb_is_bounded() {
        for c in codecs().filter(|c| *c != Compression::None) {
            let mut b = RecordBatchBuilder::new();
            b.append(0, None, Some(&vec![0u8; 4 << 20]), &[]).unwrap();
            let bytes = b.finish(ProducerState::NONE, c).unwrap();
            let small = DecodeOptions {
                max_decompressed_size: 1 << 20,
                ..opts()
            };
            let e = decode_batches(bytes.clone(), small)
                .next()
                .unwrap()
                .unwrap_err();
            assert!(e.message().contains("exceeds the limit"), "{c}: {e}");
            assert!(decode_batches(bytes, opts()).next().unwrap().is_ok());
        }
    }

    #[test]
    fn hostile_inputs_never_panic() {
        // Random bytes, with plausible headers grafted on.
        for seed in 0..2000u64 {
            let mut data = random_bytes(seed, (seed as usize * 13) % 400);
            if data.len() > 17 && seed % 2 == 0 {
                let len = (data.len() - 12) as i32;
                data[8..12].copy_from_slice(&len.to_be_bytes());
                data[16] = (seed % 3) as u8;
            }
            for check_crcs in [true, false] {
                let o = DecodeOptions {
                    check_crcs,
                    max_decompressed_size: 1 << 20,
                };
                for _ in decode_batches(data.clone(), o) {}
            }
        }
        // Mutations of valid encodings, CRC checks off so parsing is reached.
        let o = DecodeOptions {
            check_crcs: false,
            max_decompressed_size: 1 << 20,
        };
        for c in codecs() {
            let good = build(&sample_records(), ProducerState::NONE, c);
            for i in 0..3000usize {
                let mut m = good.clone();
                let r = random_bytes(i as u64, 4);
                let pos = (u16::from_le_bytes([r[0], r[1]]) as usize) % m.len();
                m[pos] = r[2];
                if i % 7 == 0 {
                    m.truncate((r[3] as usize * m.len()) / 255);
                }
                for _ in decode_batches(m, o) {}
            }
        }
    }

    /// Builds a legacy log entry (test helper; this crate never writes v0/v1).
    fn legacy(
        offset: i64,
        magic: i8,
        attributes: i8,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut m = vec![magic as u8, attributes as u8];
        if magic == 1 {
            m.put_i64(timestamp);
        }
        for b in [key, value] {
            match b {
                None => m.put_i32(-1),
                Some(b) => {
                    m.put_i32(b.len() as i32);
                    m.put_slice(b);
                }
            }
        }
        let mut out = Vec::new();
        out.put_i64(offset);
        out.put_i32(m.len() as i32 + 4);
        out.put_u32(crc32fast::hash(&m));
        out.extend(m);
        out
    }

    #[test]
    fn legacy_uncompressed() {
        let mut data = legacy(10, 0, 0, 0, Some(b"k0"), Some(b"v0"));
        data.extend(legacy(11, 1, 0, 1234, None, Some(b"v1")));
        data.extend(legacy(12, 1, 0x08, 5678, Some(b"k2"), None));
        let b = decode_all(&data).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].magic, 0);
        assert_eq!(b[0].records[0].timestamp, NO_TIMESTAMP);
        assert_eq!(b[0].records[0].key.as_deref(), Some(&b"k0"[..]));
        assert_eq!(b[1].records[0].offset, 11);
        assert_eq!(b[1].records[0].timestamp, 1234);
        assert_eq!(b[1].records[0].key, None);
        assert_eq!(b[2].timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(b[2].records[0].value, None);
        assert_eq!(b[2].next_offset(), 13);
        assert_eq!(b[2].producer_id, -1);
        // CRC-32 is checked.
        let mut bad = data.clone();
        bad[25] ^= 1;
        assert!(decode_all(&bad).unwrap_err().message().contains("CRC-32"));
        // Truncated trailing message is ignored.
        assert_eq!(decode_all(&data[..data.len() - 3]).unwrap().len(), 2);
    }

    #[test]
    fn legacy_compressed_wrappers() {
        for c in codecs().filter(|c| *c != Compression::None) {
            for magic in [0i8, 1] {
                // Inner messages: v1 relative offsets 0..3, v0 absolute 100..103.
                let mut inner = Vec::new();
                for i in 0..3i64 {
                    let off = if magic == 1 { i } else { 100 + i };
                    let v = format!("value {i}");
                    inner.extend(legacy(
                        off,
                        magic,
                        0,
                        1000 + i,
                        Some(b"k"),
                        Some(v.as_bytes()),
                    ));
                }
                let mut compressed = Vec::new();
                compression::compress(c, &inner, &mut compressed).unwrap();
                let attrs = c.attribute_bits() as i8;
                let wrapper = legacy(102, magic, attrs, 2000, None, Some(&compressed));
                let b = decode_all(&wrapper)
                    .unwrap_or_else(|e| panic!("{c} v{magic}: {e}"))
                    .remove(0);
                assert_eq!(b.records.len(), 3);
                assert_eq!(b.compression(), c);
                assert_eq!(b.base_offset, 100);
                assert_eq!(b.last_offset(), 102);
                let offsets: Vec<i64> = b.records.iter().map(|r| r.offset).collect();
                assert_eq!(offsets, [100, 101, 102]);
                if magic == 1 {
                    assert_eq!(b.records[2].timestamp, 1002);
                    assert_eq!(b.max_timestamp, 1002);
                }
                assert_eq!(b.records[1].value.as_deref(), Some(&b"value 1"[..]));

                // LogAppendTime wrapper: inner timestamps are the wrapper's.
                if magic == 1 {
                    let w = legacy(102, 1, attrs | 0x08, 2000, None, Some(&compressed));
                    let b = decode_all(&w).unwrap().remove(0);
                    assert!(b.records.iter().all(|r| r.timestamp == 2000));
                }
                // Null value and nested compression are errors.
                assert!(decode_all(&legacy(0, magic, attrs, 0, None, None)).is_err());
                let nested = legacy(102, magic, attrs, 0, None, Some(&wrapper));
                let mut nested_c = Vec::new();
                compression::compress(c, &nested[..], &mut nested_c).unwrap();
                assert!(decode_all(&legacy(0, magic, attrs, 0, None, Some(&nested_c))).is_err());
                // Truncated inner message set is an error, not a quiet end.
                let mut cut = Vec::new();
                compression::compress(c, &inner[..inner.len() - 2], &mut cut).unwrap();
                assert!(decode_all(&legacy(0, magic, attrs, 0, None, Some(&cut))).is_err());
            }
        }
    }
}
