//! Record batches: message format v2 (encode and decode) and the legacy
//! message sets v0/v1 (decode only), as found in Produce requests and Fetch
//! responses.
//!
//! - Writing (`encode.rs`): [`RecordBatchBuilder`] appends records straight
//!   into one buffer (varints encoded in place, no allocation per record)
//!   and [`RecordBatchBuilder::finish`] fills the header, compresses and
//!   checksums. [`rewrite_producer_state`] re-stamps a finished batch for an
//!   idempotent retry after a producer epoch bump.
//! - Reading (`decode.rs`, legacy messages in `legacy.rs`):
//!   [`decode_batches`] walks the `Records` bytes of a fetch response and
//!   yields one [`RecordBatch`] per v2 batch or legacy message (a compressed
//!   legacy wrapper yields one batch with its inner messages). Keys, values
//!   and header values of uncompressed data are zero-copy [`Bytes`] views of
//!   the input; those of a compressed batch share one buffer per batch.
//!
//! This file holds the types both sides share and the batch layout.
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
use super::compression::Compression;
use super::primitives::DecodeError;

mod decode;
mod encode;
mod legacy;
#[cfg(test)]
mod tests;

pub use decode::{DecodeOptions, RecordBatchReader, decode_batches};
pub use encode::{ProducerState, RecordBatchBuilder, rewrite_producer_state};

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
    pub fn to_key(self) -> [u8; 4] {
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

impl fmt::Display for TimestampType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        })
    }
}

// Big-endian reads at fixed offsets of a batch or legacy message.

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
