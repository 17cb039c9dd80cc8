//! Reading: [`decode_batches`] walks the `Records` bytes of a fetch response
//! (v2 batches here, legacy messages in `legacy.rs`).

use super::legacy::decode_legacy;
use super::*;
use crate::protocol::compression;
use crate::protocol::crc32c::crc32c;
use crate::protocol::primitives::Reader;

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
