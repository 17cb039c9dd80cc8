//! Tests of record batches: round trips through every codec, producer
//! state, control batches, legacy messages and hostile input.

use super::encode::write_producer_state;
use super::*;
use crate::protocol::compression;
use crate::protocol::primitives::BufMut;

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
        bad[RECORDS_COUNT_OFFSET..RECORDS_COUNT_OFFSET + 4].copy_from_slice(&count.to_be_bytes());
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
