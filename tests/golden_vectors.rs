//! Golden byte vectors from real peers (see `tests/data/golden/README.md`).
//!
//! Every `tests/data/golden/*.bin` file is decoded with the generated message
//! type of its name and re-encoded, and the bytes must come back identical:
//!
//! - `<Api>-v<N>-<request|response>-<peer>.bin`: a whole frame recorded on the
//!   wire (size prefix removed): the header is decoded at the version the
//!   generated `Request::header_version` / `Response::header_version` give,
//!   re-encoded and compared too.
//! - `<Api>-v<N>-<request|response>-<peer>-body.bin`: a message body only
//!   (kafka-python's encoder run offline).
//! - `<DataType>-v<N>-data-<peer>.bin`: an embedded protocol blob (int16
//!   version, then the body), e.g. `ConsumerProtocolSubscription`.
//!
//! The record batches inside Produce requests and Fetch responses are decoded
//! too (CRCs checked, compressed batches inflated), and a Produce vector named
//! `...-<codec>.bin` must hold a batch compressed with that codec.
//!
//! Coverage: every API below must have at least one vector, and one from a live
//! peer (client or broker on the wire), except the documented gaps in
//! [`NO_LIVE_VECTOR`]. Regenerate with `python3 tests/golden/capture.py --clean`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::fs;
use std::path::{Path, PathBuf};

use kafka_blocking::unstable::protocol::header::{RequestHeader, ResponseHeader};
use kafka_blocking::unstable::protocol::messages::{FetchResponse, ProduceRequest};
use kafka_blocking::unstable::protocol::records::{self, DecodeOptions};
use kafka_blocking::unstable::protocol::{Decodable, Encodable, Reader, Request, Response};

/// The APIs (and embedded data types) the crate implements; each needs vectors.
const APIS: &[&str] = &[
    "ApiVersions",
    "Metadata",
    "Produce",
    "Fetch",
    "ListOffsets",
    "FindCoordinator",
    "CreateTopics",
    "DeleteTopics",
    "InitProducerId",
    "OffsetCommit",
    "OffsetFetch",
    "JoinGroup",
    "Heartbeat",
    "LeaveGroup",
    "SyncGroup",
    "DescribeGroups",
    "ListGroups",
    "DeleteGroups",
    "SaslHandshake",
    "SaslAuthenticate",
    "AddPartitionsToTxn",
    "AddOffsetsToTxn",
    "EndTxn",
    "TxnOffsetCommit",
    "DescribeConfigs",
    "DescribeCluster",
    "CreatePartitions",
    "DeleteRecords",
    "IncrementalAlterConfigs",
    "OffsetForLeaderEpoch",
    "ConsumerGroupHeartbeat",
];
const DATA_TYPES: &[&str] = &["ConsumerProtocolSubscription", "ConsumerProtocolAssignment"];

/// (api, kind, why) with no vector from a live peer; they are covered by
/// kafka-python's offline encoder only.
const NO_LIVE_VECTOR: &[(&str, Kind, &str)] = &[
    (
        "CreatePartitions",
        Kind::Request,
        "no broker here implements it (tansu does not advertise it, the librdkafka mock \
         lacks it) and kafka-python and librdkafka refuse to send an API the broker does \
         not advertise",
    ),
    (
        "CreatePartitions",
        Kind::Response,
        "no broker here implements it",
    ),
    (
        "DeleteRecords",
        Kind::Response,
        "tansu drops the connection on DeleteRecords (the requests of both clients are \
         recorded) and the librdkafka mock does not implement it",
    ),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Request,
    Response,
    Data,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        match s {
            "request" => Some(Kind::Request),
            "response" => Some(Kind::Response),
            "data" => Some(Kind::Data),
            _ => None,
        }
    }
}

/// One golden file.
#[derive(Debug)]
struct Vector {
    file: String,
    api: String,
    version: i16,
    kind: Kind,
    /// Who encoded it, e.g. `kafkapython`, `librdkafka-gzip`, `tansu`,
    /// `kafkapython-offline-body`.
    peer: String,
    /// No header: a body (requests/responses) or a data blob.
    body_only: bool,
    bytes: Vec<u8>,
}

impl Vector {
    fn live(&self) -> bool {
        !self.peer.contains("offline")
    }

    fn load(path: &Path) -> Result<Vector, String> {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let stem = file
            .strip_suffix(".bin")
            .ok_or_else(|| format!("{file}: not a .bin file"))?;
        let mut parts = stem.splitn(4, '-');
        let (api, ver, kind, peer) = match (parts.next(), parts.next(), parts.next(), parts.next())
        {
            (Some(a), Some(v), Some(k), Some(p)) => (a, v, k, p),
            _ => return Err(format!("{file}: name is not <Api>-v<N>-<kind>-<peer>.bin")),
        };
        let version = ver
            .strip_prefix('v')
            .and_then(|v| v.parse::<i16>().ok())
            .ok_or_else(|| format!("{file}: bad version {ver:?}"))?;
        let kind = Kind::parse(kind).ok_or_else(|| format!("{file}: bad kind {kind:?}"))?;
        let bytes = fs::read(path).map_err(|e| format!("{file}: {e}"))?;
        Ok(Vector {
            body_only: kind == Kind::Data || peer.ends_with("-body"),
            api: api.to_string(),
            version,
            kind,
            peer: peer.to_string(),
            file,
            bytes,
        })
    }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")
}

fn load_all() -> Vec<Vector> {
    let mut paths: Vec<PathBuf> = fs::read_dir(golden_dir())
        .expect("tests/data/golden exists (run tests/golden/capture.py)")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| Vector::load(p).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Where two byte strings first differ, with some context in hex.
fn diff(what: &str, want: &[u8], got: &[u8]) -> String {
    let at = want
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    let lo = at.saturating_sub(8);
    let hex = |b: &[u8]| {
        b[lo.min(b.len())..(at + 24).min(b.len())]
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "{what}: re-encoding differs at byte {at} (golden {} bytes, ours {} bytes)\n  \
         golden[{lo}..]: {}\n  ours  [{lo}..]: {}",
        want.len(),
        got.len(),
        hex(want),
        hex(got)
    )
}

/// Peers whose encodings are legal but not canonical, so that our (canonical)
/// re-encoding may be shorter; their vectors must still decode completely, and
/// our re-encoding must decode to an equal message.
const NON_CANONICAL_PEERS: &[(&str, &str)] = &[(
    "tansu",
    "tansu writes tagged fields that hold their default value (ApiVersionsResponse \
     SupportedFeatures/FinalizedFeaturesEpoch/FinalizedFeatures/ZkMigrationReady, \
     CreateTopicsResponse TopicConfigErrorCode, FetchResponse NodeEndpoints); Kafka's \
     generated Java code, like ours, leaves default-valued tagged fields out",
)];

/// How a body came back from decode + re-encode.
enum Same {
    /// Byte-identical.
    Bytes,
    /// Different bytes, shorter, decoding to an equal message (the diff).
    Value(String),
}

/// Decodes `body` at `version` (every byte must be consumed), re-encodes it and
/// compares the bytes.
fn roundtrip_body<T: Encodable + Decodable + Debug + PartialEq>(
    body: &[u8],
    version: i16,
) -> Result<Same, String> {
    let mut r = Reader::new(body.to_vec());
    let msg = T::decode(&mut r, version).map_err(|e| format!("decode failed: {e}"))?;
    if !r.is_empty() {
        return Err(format!(
            "decode left {} of {} bytes unread: {msg:?}",
            r.remaining(),
            body.len()
        ));
    }
    let mut out = Vec::new();
    msg.encode(&mut out, version)
        .map_err(|e| format!("re-encode failed: {e}; decoded {msg:?}"))?;
    if out == body {
        return Ok(Same::Bytes);
    }
    let d = diff("body", body, &out);
    let again = T::decode(&mut Reader::new(out.clone()), version);
    match again {
        Ok(m) if m == msg && out.len() < body.len() => Ok(Same::Value(d)),
        _ => Err(format!("{d}\n  decoded: {msg:?}")),
    }
}

/// Byte identity, or (for the peers of [`NON_CANONICAL_PEERS`]) value identity.
/// Returns whether only the values matched.
fn accept(v: &Vector, same: Same) -> Result<bool, String> {
    match same {
        Same::Bytes => Ok(false),
        Same::Value(_) if NON_CANONICAL_PEERS.iter().any(|(p, _)| v.peer == *p) => Ok(true),
        Same::Value(d) => Err(format!(
            "{d}\n  (our shorter re-encoding decodes to an equal message: {} wrote a \
             non-canonical encoding)",
            v.peer
        )),
    }
}

fn check_version(v: &Vector, min: i16, highest: i16) -> Result<(), String> {
    if (min..=highest).contains(&v.version) {
        Ok(())
    } else {
        Err(format!(
            "version {} is outside the generated type's range {min}-{highest}",
            v.version
        ))
    }
}

/// Checks the request header (unless body-only), then the body.
fn check_request<T: Request + PartialEq>(v: &Vector, highest: i16) -> Result<bool, String> {
    check_version(v, T::MIN_VERSION, highest)?;
    let body = if v.body_only {
        &v.bytes[..]
    } else {
        let hv = T::header_version(v.version);
        let mut r = Reader::new(v.bytes.clone());
        let h = RequestHeader::decode(&mut r, hv).map_err(|e| format!("header v{hv}: {e}"))?;
        let n = r.position();
        if h.api_key != T::API_KEY || h.api_version != v.version {
            return Err(format!(
                "header says api {} v{}, file name says {} ({}) v{}",
                h.api_key,
                h.api_version,
                v.api,
                T::API_KEY,
                v.version
            ));
        }
        let mut out = Vec::new();
        h.encode(&mut out, hv)
            .map_err(|e| format!("header re-encode: {e}"))?;
        if out != v.bytes[..n] {
            return Err(diff(&format!("request header v{hv}"), &v.bytes[..n], &out));
        }
        &v.bytes[n..]
    };
    let same = accept(v, roundtrip_body::<T>(body, v.version)?)?;
    if v.api == "Produce" {
        check_produce_records(v, body)?;
    }
    Ok(same)
}

fn check_response<T: Response + PartialEq>(
    v: &Vector,
    min: i16,
    highest: i16,
) -> Result<bool, String> {
    check_version(v, min, highest)?;
    let body = if v.body_only {
        &v.bytes[..]
    } else {
        let hv = T::header_version(v.version);
        let mut r = Reader::new(v.bytes.clone());
        let h = ResponseHeader::decode(&mut r, hv).map_err(|e| format!("header v{hv}: {e}"))?;
        let n = r.position();
        let mut out = Vec::new();
        h.encode(&mut out, hv);
        if out != v.bytes[..n] {
            return Err(diff(&format!("response header v{hv}"), &v.bytes[..n], &out));
        }
        &v.bytes[n..]
    };
    let same = accept(v, roundtrip_body::<T>(body, v.version)?)?;
    if v.api == "Fetch" {
        check_fetch_records(v, body)?;
    }
    Ok(same)
}

fn check_data<T: Encodable + Decodable + Debug + PartialEq>(
    v: &Vector,
    min: i16,
    highest: i16,
) -> Result<bool, String> {
    check_version(v, min, highest)?;
    if v.bytes.len() < 2 || i16::from_be_bytes([v.bytes[0], v.bytes[1]]) != v.version {
        return Err("the blob does not start with its int16 version".into());
    }
    accept(v, roundtrip_body::<T>(&v.bytes[2..], v.version)?)
}

/// Decodes every batch of a `records` field; returns (batches, records, codecs
/// seen, as lowercase `Compression` names).
fn decode_records(
    data: &[u8],
    allow_partial: bool,
) -> Result<(usize, usize, BTreeSet<String>), String> {
    let mut it = records::decode_batches(data.to_vec(), DecodeOptions::default());
    let (mut batches, mut recs, mut codecs) = (0, 0, BTreeSet::new());
    for b in it.by_ref() {
        let b = b.map_err(|e| format!("record batch: {e}"))?;
        if b.records.len() != b.records_count.max(0) as usize {
            return Err(format!(
                "batch at offset {} says {} records, decoded {}",
                b.base_offset,
                b.records_count,
                b.records.len()
            ));
        }
        batches += 1;
        recs += b.records.len();
        codecs.insert(format!("{:?}", b.compression()).to_lowercase());
    }
    if !allow_partial && it.partial_trailing_bytes() != 0 {
        return Err(format!(
            "{} trailing bytes after the last batch",
            it.partial_trailing_bytes()
        ));
    }
    Ok((batches, recs, codecs))
}

fn check_produce_records(v: &Vector, body: &[u8]) -> Result<(), String> {
    let req = ProduceRequest::decode(&mut Reader::new(body.to_vec()), v.version)
        .map_err(|e| e.to_string())?;
    let mut codecs = BTreeSet::new();
    for t in &req.topic_data {
        for p in &t.partition_data {
            let Some(data) = &p.records else { continue };
            let (batches, recs, c) = decode_records(data, false)
                .map_err(|e| format!("{} [{}]: {e}", t.name, p.index))?;
            if batches == 0 || recs == 0 {
                return Err(format!(
                    "{} [{}]: no records in a produce request",
                    t.name, p.index
                ));
            }
            codecs.extend(c);
        }
    }
    if let Some(codec) = ["gzip", "snappy", "lz4", "zstd"]
        .iter()
        .find(|c| v.peer.ends_with(*c))
    {
        if !codecs.contains(*codec) {
            return Err(format!("named {codec} but its batches use {codecs:?}"));
        }
    }
    Ok(())
}

fn check_fetch_records(v: &Vector, body: &[u8]) -> Result<(), String> {
    let resp = FetchResponse::decode(&mut Reader::new(body.to_vec()), v.version)
        .map_err(|e| e.to_string())?;
    for t in &resp.responses {
        for p in &t.partitions {
            if let Some(data) = &p.records {
                decode_records(data, true)
                    .map_err(|e| format!("{} [{}]: {e}", t.topic, p.partition_index))?;
            }
        }
    }
    Ok(())
}

/// One generated type: its name as used in file names, its kind and its checker.
struct Entry {
    name: String,
    kind: Kind,
    /// Ok(true): equal values, but not equal bytes (see [`NON_CANONICAL_PEERS`]).
    check: fn(&Vector) -> Result<bool, String>,
}

/// `ApiVersionsResponse` -> `ApiVersions`, `ConsumerProtocolAssignment` -> itself.
fn short_name<T>(suffix: &str) -> String {
    let full = std::any::type_name::<T>();
    let last = full.rsplit("::").next().unwrap();
    last.strip_suffix(suffix).unwrap_or(last).to_string()
}

/// Builds the dispatch table from the generated message list.
macro_rules! dispatch_table {
    ($($kind:ident $ty:path),* $(,)?) => {{
        let mut t: Vec<Entry> = Vec::new();
        $( dispatch_table!(@one t, $kind, $ty); )*
        t
    }};
    (@one $t:ident, request, $ty:path) => {
        $t.push(Entry {
            name: <$ty as Request>::NAME.to_string(),
            kind: Kind::Request,
            check: |v| check_request::<$ty>(v, <$ty>::HIGHEST_SUPPORTED_VERSION),
        });
    };
    (@one $t:ident, response, $ty:path) => {
        $t.push(Entry {
            name: short_name::<$ty>("Response"),
            kind: Kind::Response,
            check: |v| {
                check_response::<$ty>(v, <$ty>::MIN_VERSION, <$ty>::HIGHEST_SUPPORTED_VERSION)
            },
        });
    };
    (@one $t:ident, data, $ty:path) => {
        $t.push(Entry {
            name: short_name::<$ty>(""),
            kind: Kind::Data,
            check: |v| check_data::<$ty>(v, <$ty>::MIN_VERSION, <$ty>::HIGHEST_SUPPORTED_VERSION),
        });
    };
}

fn table() -> Vec<Entry> {
    kafka_blocking::for_each_kafka_message!(dispatch_table)
}

#[test]
fn golden_vectors_roundtrip() {
    let table = table();
    let vectors = load_all();
    assert!(
        !vectors.is_empty(),
        "no golden vectors in {}",
        golden_dir().display()
    );
    let mut failures = Vec::new();
    let mut by_value = Vec::new();
    for v in &vectors {
        let Some(e) = table.iter().find(|e| e.name == v.api && e.kind == v.kind) else {
            failures.push(format!(
                "{}: no generated {:?} type named {}",
                v.file, v.kind, v.api
            ));
            continue;
        };
        match (e.check)(v) {
            Ok(false) => {}
            Ok(true) => by_value.push(v.file.as_str()),
            Err(msg) => failures.push(format!("{}: {msg}", v.file)),
        }
    }
    let live = vectors.iter().filter(|v| v.live()).count();
    eprintln!(
        "golden vectors: {} checked ({live} recorded from live peers, {} offline)",
        vectors.len(),
        vectors.len() - live
    );
    if !by_value.is_empty() {
        eprintln!(
            "equal values but not bytes (non-canonical peer encodings): {}",
            by_value.join(", ")
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden vectors failed:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
}

#[test]
fn golden_vectors_cover_every_api() {
    let vectors = load_all();
    let table = table();
    // (name, kind) -> (live peers, offline count)
    let mut seen: BTreeMap<(String, Kind), (BTreeSet<String>, usize)> = BTreeMap::new();
    for v in &vectors {
        let e = seen.entry((v.api.clone(), v.kind)).or_default();
        if v.live() {
            e.0.insert(format!("v{} {}", v.version, v.peer));
        } else {
            e.1 += 1;
        }
    }
    let mut wanted: Vec<(String, Kind)> = Vec::new();
    for api in APIS {
        wanted.push((api.to_string(), Kind::Request));
        wanted.push((api.to_string(), Kind::Response));
    }
    for d in DATA_TYPES {
        wanted.push((d.to_string(), Kind::Data));
    }
    let mut problems = Vec::new();
    for (name, kind) in &wanted {
        if !table.iter().any(|e| &e.name == name && e.kind == *kind) {
            problems.push(format!("{name} {kind:?}: no generated type"));
        }
        let allowed = NO_LIVE_VECTOR
            .iter()
            .find(|(a, k, _)| a == name && k == kind);
        match seen.get(&(name.clone(), *kind)) {
            None => problems.push(format!("{name} {kind:?}: no golden vector at all")),
            Some((live, _)) if live.is_empty() && allowed.is_none() => problems.push(format!(
                "{name} {kind:?}: no vector from a live peer (only offline ones)"
            )),
            Some((live, _)) if !live.is_empty() && allowed.is_some() => problems.push(format!(
                "{name} {kind:?}: has live vectors ({live:?}); remove it from NO_LIVE_VECTOR"
            )),
            _ => {}
        }
    }
    // Real compressors: a live Produce request per codec (checked by
    // `check_produce_records` to hold batches of that codec).
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        if !vectors.iter().any(|v| {
            v.api == "Produce" && v.kind == Kind::Request && v.live() && v.peer.ends_with(codec)
        }) {
            problems.push(format!(
                "Produce Request: no live vector compressed with {codec}"
            ));
        }
    }
    for ((name, kind), (live, offline)) in &seen {
        eprintln!(
            "{name:>30} {kind:<8?} live: {:<60} offline: {offline}",
            live.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    assert!(
        problems.is_empty(),
        "golden vector coverage:\n{}",
        problems.join("\n")
    );
}
