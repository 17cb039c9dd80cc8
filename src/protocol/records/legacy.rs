//! Legacy message sets (message format v0 and v1, before Kafka 0.11): decode
//! only. A compressed wrapper message yields one batch with its inner
//! messages.

use super::*;
use crate::protocol::compression;
use crate::protocol::primitives::Reader;

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
pub(super) fn decode_legacy(
    entry: &Bytes,
    opts: &DecodeOptions,
) -> Result<RecordBatch, DecodeError> {
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
