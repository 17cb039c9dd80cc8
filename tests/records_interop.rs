//! Record batch interop with other Kafka clients.
//!
//! - Batches written by kafka-python (v2, and legacy v0/v1 message sets) and
//!   by librdkafka (v2, including transactions and their control batches),
//!   checked in under `tests/data/records/` with the records they must decode
//!   to, decode to exactly those records with their CRCs checked.
//! - Batches written by our [`RecordBatchBuilder`], with every codec, are
//!   decoded by kafka-python and consumed by librdkafka (confluent-kafka,
//!   through its mock cluster), live, via `tests/data/records/peer.py`.
//!
//! The live tests need Python 3 with `tests/support/requirements.txt`
//! installed (scripts/test.sh does it); the interpreter is
//! `$KAFKA_BLOCKING_PYTHON` or `python3`.

use std::path::{Path, PathBuf};
use std::process::Command;

use kafka_blocking::unstable::protocol::compression::Compression;
use kafka_blocking::unstable::protocol::records::{
    ControlRecordType, DecodeOptions, Header, ProducerState, RecordBatch, RecordBatchBuilder,
    decode_batches,
};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/records")
}

// ---------------------------------------------------------------------------
// The line format of peer.py (see its docstring).

#[derive(Debug, PartialEq, Eq)]
enum Line {
    Batch(String),
    Record(String),
    Control(i64, String),
    Partial(usize),
}

fn parse_lines(text: &str) -> Vec<Line> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (kind, rest) = l.split_once(' ').unwrap_or((l, ""));
            match kind {
                "batch" => Line::Batch(rest.to_owned()),
                "record" => Line::Record(rest.to_owned()),
                "control" => {
                    let (offset, kind) = rest.split_once(' ').expect("control OFFSET KIND");
                    Line::Control(offset.parse().expect("offset"), kind.to_owned())
                }
                "partial" => Line::Partial(rest.parse().expect("partial BYTES")),
                other => panic!("unknown line kind {other:?} in {l:?}"),
            }
        })
        .collect()
}

fn tok(b: Option<&[u8]>) -> String {
    match b {
        None => "~".to_owned(),
        Some(b) => {
            let mut s = String::with_capacity(1 + 2 * b.len());
            s.push('x');
            for byte in b {
                s.push_str(&format!("{byte:02x}"));
            }
            s
        }
    }
}

fn batch_fields(b: &RecordBatch) -> String {
    format!(
        "{} {} {} {} {} {} {} {} {} {} {}",
        b.base_offset,
        b.last_offset(),
        b.magic,
        b.compression().name(),
        b.timestamp_type(),
        b.producer_id,
        b.producer_epoch,
        b.base_sequence,
        b.is_transactional() as u8,
        b.is_control() as u8,
        b.records.len()
    )
}

fn record_fields(r: &kafka_blocking::unstable::protocol::records::Record) -> String {
    let mut s = format!(
        "{} {} {} {} {}",
        r.offset,
        r.timestamp,
        tok(r.key.as_deref()),
        tok(r.value.as_deref()),
        r.headers.len()
    );
    for h in &r.headers {
        s.push_str(&format!(
            " {} {}",
            tok(Some(h.key.as_bytes())),
            tok(h.value.as_deref())
        ));
    }
    s
}

/// Decodes `data` into the line format, as peer.py writes expectations.
fn describe(data: Vec<u8>) -> Result<Vec<Line>, String> {
    let mut out = Vec::new();
    let mut reader = decode_batches(data, DecodeOptions::default());
    for batch in reader.by_ref() {
        let batch = batch.map_err(|e| e.to_string())?;
        out.push(Line::Batch(batch_fields(&batch)));
        if batch.is_control() {
            let kind = match batch.control_record().expect("control record").kind {
                ControlRecordType::Abort => "abort".to_owned(),
                ControlRecordType::Commit => "commit".to_owned(),
                ControlRecordType::Unknown(n) => format!("unknown-{n}"),
            };
            for r in &batch.records {
                out.push(Line::Control(r.offset, kind.clone()));
            }
        } else {
            out.extend(batch.records.iter().map(|r| Line::Record(record_fields(r))));
        }
    }
    if reader.partial_trailing_bytes() > 0 {
        out.push(Line::Partial(reader.partial_trailing_bytes()));
    }
    Ok(out)
}

/// Checks every vector whose name starts with `prefix`; returns how many.
fn check_vectors(prefix: &str) -> usize {
    let mut names: Vec<String> = std::fs::read_dir(data_dir())
        .expect("tests/data/records")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".bin"))
        .map(|n| n.trim_end_matches(".bin").to_owned())
        .collect();
    names.sort();
    for name in &names {
        let data = std::fs::read(data_dir().join(format!("{name}.bin"))).unwrap();
        let expected =
            std::fs::read_to_string(data_dir().join(format!("{name}.expected"))).unwrap();
        let codec = name.rsplit('-').next().unwrap();
        let needs = codec.parse::<Compression>().unwrap_or(Compression::Lz4);
        match describe(data) {
            Ok(got) => assert_eq!(got, parse_lines(&expected), "{name}"),
            Err(e) if !needs.is_available() => {
                assert!(e.contains("cargo feature"), "{name}: {e}");
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }
    assert!(!names.is_empty(), "no vectors named {prefix}*");
    names.len()
}

#[test]
fn kafka_python_v2_batches_decode() {
    assert_eq!(check_vectors("kafka-python-v2-"), 5);
}

#[test]
fn kafka_python_legacy_message_sets_decode() {
    assert_eq!(check_vectors("kafka-python-v0-"), 4);
    assert_eq!(check_vectors("kafka-python-v1-"), 4);
}

#[test]
fn librdkafka_batches_decode() {
    // Five codecs plus a transactional run with commit and abort markers.
    assert_eq!(check_vectors("librdkafka-v2-"), 6);
}

#[test]
fn corrupting_a_vector_fails_its_crc() {
    let data = std::fs::read(data_dir().join("librdkafka-v2-none.bin")).unwrap();
    // Base timestamp and records of the first batch, last byte of the last.
    for pos in [30, 70, data.len() - 1] {
        let mut bad = data.clone();
        bad[pos] ^= 0x10;
        let e = decode_batches(bad, DecodeOptions::default())
            .find_map(Result::err)
            .expect("an error");
        assert!(e.message().contains("CRC"), "{e}");
    }
}

#[test]
fn mutated_vectors_never_panic() {
    let opts = DecodeOptions {
        check_crcs: false, // let the mutations reach the record parser
        max_decompressed_size: 1 << 20,
    };
    for entry in std::fs::read_dir(data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "bin") {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        for pos in 0..data.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut m = data.clone();
                m[pos] ^= flip;
                for _ in decode_batches(m, opts) {}
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Live: peers read what we write.

fn python() -> String {
    std::env::var("KAFKA_BLOCKING_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn run_peer(args: &[&Path], mode: &str) -> String {
    let out = Command::new(python())
        .arg(data_dir().join("peer.py"))
        .arg(mode)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e} (set KAFKA_BLOCKING_PYTHON)", python()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "peer.py {mode} failed ({}):\n{stderr}\n(the Python peers come from \
         `pip install -r tests/support/requirements.txt`)",
        out.status
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, data: &[u8]) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("kafka-blocking-{}-{name}", std::process::id()));
        std::fs::write(&path, data).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A batch with the tricky cases, built by us, and its records as lines
/// (offsets starting at `base_offset`).
fn our_batch(c: Compression, producer: ProducerState, base_offset: i64) -> (Vec<u8>, Vec<String>) {
    let fill = b"our value, repeated so that compression pays off; ".repeat(4);
    let headers = vec![
        Header::new("trace", Some(b"\x00\x01\xff".to_vec().into())),
        Header::new("null", None),
        Header::new("", Some(Vec::new().into())),
        Header::new("été", Some("utf-8".into())),
    ];
    let big = fill.repeat(50);
    let mut b = RecordBatchBuilder::new();
    b.set_base_offset(base_offset);
    let t = 1_710_000_000_000i64;
    type Sample<'a> = (i64, Option<&'a [u8]>, Option<&'a [u8]>, &'a [Header]);
    let recs: Vec<Sample> = vec![
        (t, Some(b"key-0"), Some(&fill), &[]),
        (t + 7, None, Some(b"no key"), &headers[..1]),
        (t + 2, Some(b"tombstone"), None, &headers),
        (t + 9, Some(b""), Some(b""), &[]),
        (t + 30, Some(b"big"), Some(&big), &headers[3..]),
    ];
    let mut lines = Vec::new();
    for (i, (ts, k, v, h)) in recs.iter().enumerate() {
        b.append(*ts, *k, *v, h).unwrap();
        let rec = kafka_blocking::unstable::protocol::records::Record {
            offset: base_offset + i as i64,
            timestamp: *ts,
            key: k.map(|k| k.to_vec().into()),
            value: v.map(|v| v.to_vec().into()),
            headers: h.to_vec(),
        };
        lines.push(record_fields(&rec));
    }
    (b.finish(producer, c).unwrap(), lines)
}

fn available_codecs() -> Vec<Compression> {
    Compression::ALL
        .into_iter()
        .filter(|c| c.is_available())
        .collect()
}

#[test]
fn kafka_python_decodes_our_batches() {
    let producer = ProducerState {
        producer_id: 77,
        producer_epoch: 3,
        base_sequence: 1000,
        transactional: true,
    };
    for c in available_codecs() {
        let (bytes, records) = our_batch(c, producer, 40);
        let file = TempFile::new(&format!("kafka-python-{c}.bin"), &bytes);
        let got = parse_lines(&run_peer(&[&file.0], "kafka-python-decode"));
        let mut want = vec![Line::Batch(format!(
            "40 44 2 {} CreateTime 77 3 1000 1 0 5",
            c.name()
        ))];
        want.extend(records.into_iter().map(Line::Record));
        assert_eq!(got, want, "{c}");
    }
}

#[test]
fn librdkafka_consumes_our_batches() {
    let codecs = available_codecs();
    let mut files = Vec::new();
    let mut want = Vec::new();
    for (i, c) in codecs.iter().enumerate() {
        // The broker assigns offsets: each batch lands after the previous one.
        let (bytes, _) = our_batch(*c, ProducerState::NONE, 0);
        let (_, records) = our_batch(*c, ProducerState::NONE, 5 * i as i64);
        files.push(TempFile::new(&format!("librdkafka-{c}.bin"), &bytes));
        want.extend(records.into_iter().map(Line::Record));
    }
    let paths: Vec<&Path> = files.iter().map(|f| f.0.as_path()).collect();
    let got = parse_lines(&run_peer(&paths, "librdkafka-consume"));
    assert_eq!(got, want);
}
