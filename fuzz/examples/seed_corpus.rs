//! Writes the seed corpus of every fuzz target under `fuzz/corpus/<target>/`
//! (or under the directory given as the first argument):
//!
//! - `requests`, `responses`: the selector byte of each type and version
//!   followed by the encoding of its `sample_n(version, 0)` and
//!   `sample_n(version, 1)`, and the bodies of the real peers' frames in
//!   `tests/data/golden/*.bin` (headers stripped);
//! - `record_batches`: v2 batches of every codec built with
//!   `RecordBatchBuilder`, and the real peers' batches in `tests/data/records`;
//! - `decompress`: a few payloads compressed with every codec.
//!
//! Run from `fuzz/`: `cargo run --example seed_corpus`.

use std::fs;
use std::path::{Path, PathBuf};

use kafka_blocking::unstable::protocol::Reader;
use kafka_blocking::unstable::protocol::compression::{self, Compression};
use kafka_blocking::unstable::protocol::header::{RequestHeader, ResponseHeader};
use kafka_blocking::unstable::protocol::records::{Header, ProducerState, RecordBatchBuilder};
use kafka_blocking_fuzz::{CODECS, Entry, Kind, MAX_OUTPUTS, requests, responses, selector};

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::write(dir.join(name), bytes).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
}

fn find(table: &[&Entry], name: &str, version: i16) -> Option<usize> {
    table
        .iter()
        .position(|e| e.name == name && e.version == version)
}

/// The body of a golden frame, named `<Api>-v<N>-<request|response|data>-<peer>.bin`.
/// Frames of live peers carry their header; `-offline-body` files do not;
/// ConsumerProtocol blobs start with their `int16` version.
fn golden_body(file: &str, bytes: &[u8], kind: Kind, flexible: bool) -> Option<Vec<u8>> {
    if file.contains("-offline-body") {
        return Some(bytes.to_vec());
    }
    let mut r = Reader::new(bytes.to_vec());
    match kind {
        Kind::Request => {
            RequestHeader::decode(&mut r, if flexible { 2 } else { 1 }).ok()?;
        }
        Kind::Response => {
            // ApiVersions responses always use header v0.
            let v = if flexible && !file.starts_with("ApiVersions-") {
                1
            } else {
                0
            };
            ResponseHeader::decode(&mut r, v).ok()?;
        }
        Kind::Data => {
            r.read_i16().ok()?;
        }
    }
    Some(r.peek_rest().to_vec())
}

fn messages(root: &Path, golden: &Path) -> (usize, usize) {
    let mut n_golden = 0;
    let mut n = 0;
    for (target, table) in [("requests", requests()), ("responses", responses())] {
        assert!(
            table.len() <= 256,
            "{target}: more types than selector values"
        );
        let dir = root.join(target);
        fs::create_dir_all(&dir).unwrap();
        for (i, e) in table.iter().enumerate() {
            for k in 0..2 {
                let mut seed = vec![selector(i)];
                seed.extend((e.sample)(e.version, k));
                write(
                    &dir,
                    &format!("sample-{}-v{}-{k}", e.name, e.version),
                    &seed,
                );
                n += 1;
            }
        }
        let Ok(files) = fs::read_dir(golden) else {
            continue;
        };
        let mut files: Vec<PathBuf> = files.filter_map(|f| f.ok().map(|f| f.path())).collect();
        files.sort();
        for path in files {
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let Some(stem) = file.strip_suffix(".bin") else {
                continue;
            };
            // Api-vN-kind-peer
            let mut parts = stem.splitn(4, '-');
            let (Some(api), Some(v), Some(kind)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Some(version) = v.strip_prefix('v').and_then(|v| v.parse::<i16>().ok()) else {
                continue;
            };
            let (type_name, kind) = match kind {
                "request" => (format!("{api}Request"), Kind::Request),
                "response" => (format!("{api}Response"), Kind::Response),
                "data" => (api.to_string(), Kind::Data),
                _ => continue,
            };
            let Some(i) = find(table, &type_name, version) else {
                continue;
            };
            let bytes = fs::read(&path).unwrap();
            let flexible = version >= table[i].flexible_min;
            let Some(body) = golden_body(&file, &bytes, kind, flexible) else {
                eprintln!("skipped {file}: its header does not decode");
                continue;
            };
            if !(table[i].decodes)(&body, version) {
                eprintln!("note: {file}: the body does not decode as {type_name} v{version}");
            }
            let mut seed = vec![selector(i)];
            seed.extend(body);
            write(&dir, &format!("golden-{stem}"), &seed);
            n_golden += 1;
        }
    }
    (n, n_golden)
}

fn batch(codec: Compression, producer: ProducerState, control: bool) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new();
    if control {
        b.set_control(true);
        b.append(5, Some(&[0, 0, 0, 1]), Some(&[0, 0, 0, 0, 0, 3]), &[])
            .unwrap();
    } else {
        let headers = [
            Header::new("h1", Some(b"v1".to_vec().into())),
            Header::new("h2", None),
        ];
        b.append(1_700_000_000_000, Some(b"key-0"), Some(b"value-0"), &[])
            .unwrap();
        b.append(1_700_000_000_010, None, Some(b"no key"), &headers)
            .unwrap();
        b.append(1_700_000_000_005, Some(b"tombstone"), None, &[])
            .unwrap();
    }
    b.finish(producer, codec).unwrap()
}

fn record_batches(root: &Path, records: &Path) -> usize {
    let dir = root.join("record_batches");
    fs::create_dir_all(&dir).unwrap();
    let txn = ProducerState {
        producer_id: 7,
        producer_epoch: 1,
        base_sequence: 0,
        transactional: true,
    };
    let mut n = 0;
    for codec in Compression::ALL.into_iter().filter(|c| c.is_available()) {
        // Limit selector 4: 64 KiB.
        let mut seed = vec![4u8];
        seed.extend(batch(codec, ProducerState::NONE, false));
        write(&dir, &format!("builder-{codec}"), &seed);
        seed.extend(batch(codec, txn, false));
        seed.extend(batch(Compression::None, txn, true));
        write(&dir, &format!("builder-{codec}-txn"), &seed);
        n += 2;
    }
    if let Ok(files) = fs::read_dir(records) {
        for f in files.filter_map(|f| f.ok().map(|f| f.path())) {
            if f.extension().is_some_and(|x| x == "bin") {
                let mut seed = vec![6u8]; // 1 MiB
                seed.extend(fs::read(&f).unwrap());
                let name = f.file_stem().unwrap().to_string_lossy().into_owned();
                write(&dir, &format!("peer-{name}"), &seed);
                n += 1;
            }
        }
    }
    n
}

fn decompress(root: &Path) -> usize {
    let dir = root.join("decompress");
    fs::create_dir_all(&dir).unwrap();
    let payloads: [(&str, Vec<u8>); 4] = [
        ("empty", Vec::new()),
        ("short", b"hello, kafka".to_vec()),
        (
            "text",
            b"a value repeated so that compression pays off; ".repeat(40),
        ),
        ("zeros", vec![0u8; 100_000]),
    ];
    let mut n = 0;
    for (c, codec) in CODECS.iter().enumerate() {
        if !codec.is_available() {
            continue;
        }
        for (name, p) in &payloads {
            // Limit selector 6: 1 MiB.
            let mut seed = vec![c as u8, 6];
            compression::compress(*codec, p, &mut seed).unwrap();
            write(&dir, &format!("{codec}-{name}"), &seed);
            n += 1;
        }
    }
    assert_eq!(MAX_OUTPUTS[6], 1 << 20);
    n
}

fn main() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| here.join("corpus"));
    let data = here.join("../tests/data");
    let (samples, golden) = messages(&root, &data.join("golden"));
    let batches = record_batches(&root, &data.join("records"));
    let compressed = decompress(&root);
    println!(
        "wrote {samples} sample and {golden} golden message seeds, {batches} record batch seeds and {compressed} compressed seeds under {}",
        root.display()
    );
}
