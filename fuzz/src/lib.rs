//! What the fuzz targets share: the tables that map an input's first byte to a
//! message type and version, the decode-and-check step of each target, and
//! the seeds of the corpus (`examples/seed_corpus.rs`).
//!
//! Every check panics on a broken property, which is what libFuzzer reports.

use std::sync::OnceLock;

use kafka_blocking::unstable::protocol::compression::{self, Compression};
use kafka_blocking::unstable::protocol::header::{RequestHeader, ResponseHeader};
use kafka_blocking::unstable::protocol::records::{DecodeOptions, decode_batches};
use kafka_blocking::unstable::protocol::{Decodable, Encodable, Reader};

/// Whether a message travels client-to-broker or broker-to-client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A request body.
    Request,
    /// A response body.
    Response,
    /// A ConsumerProtocol blob (inside JoinGroup/SyncGroup; read by the client
    /// from what the broker relays, so fuzzed with the responses).
    Data,
}

/// One generated message type at one version.
pub struct Entry {
    /// Type name, e.g. `FetchResponse`.
    pub name: &'static str,
    pub kind: Kind,
    pub version: i16,
    /// First flexible version of the type (`i16::MAX` when none).
    pub flexible_min: i16,
    /// Decodes a body; when it decodes, checks that it re-encodes and decodes
    /// back to the same value. Panics on a broken property.
    pub check: fn(&[u8], i16),
    /// Whether a body decodes, consuming every byte.
    pub decodes: fn(&[u8], i16) -> bool,
    /// Encoding of the type's `sample_n(version, n)`.
    pub sample: fn(i16, usize) -> Vec<u8>,
}

macro_rules! entries {
    ($($kind:ident $ty:ty),* $(,)?) => {{
        let mut all = Vec::new();
        $(
            for version in <$ty>::MIN_VERSION..=<$ty>::HIGHEST_SUPPORTED_VERSION {
                all.push(Entry {
                    name: {
                        let s: &'static str = stringify!($ty);
                        s.rsplit("::").next().unwrap().trim()
                    },
                    kind: entries!(@kind $kind),
                    version,
                    flexible_min: <$ty>::FLEXIBLE_MIN,
                    check: |body, v| {
                        let Ok(msg) = <$ty as Decodable>::decode(&mut Reader::new(body.to_vec()), v)
                        else {
                            return;
                        };
                        let mut again = Vec::new();
                        if let Err(e) = msg.encode(&mut again, v) {
                            panic!("decoded {msg:?} at v{v} but it does not re-encode: {e}");
                        }
                        match <$ty as Decodable>::decode(&mut Reader::new(again), v) {
                            Ok(back) => assert_eq!(back, msg, "re-encoding at v{v} decodes to another value"),
                            Err(e) => panic!("re-encoding of {msg:?} at v{v} does not decode: {e}"),
                        }
                    },
                    decodes: |body, v| {
                        let mut r = Reader::new(body.to_vec());
                        <$ty as Decodable>::decode(&mut r, v).is_ok() && r.is_empty()
                    },
                    sample: |v, n| {
                        let mut b = Vec::new();
                        <$ty>::sample_n(v, n).encode(&mut b, v).expect("samples encode");
                        b
                    },
                });
            }
        )*
        all
    }};
    (@kind request) => { Kind::Request };
    (@kind response) => { Kind::Response };
    (@kind data) => { Kind::Data };
}

fn all_entries() -> &'static [Entry] {
    static ALL: OnceLock<Vec<Entry>> = OnceLock::new();
    ALL.get_or_init(|| kafka_blocking::for_each_kafka_message!(entries))
}

/// Every request at every version.
pub fn requests() -> &'static [&'static Entry] {
    static T: OnceLock<Vec<&'static Entry>> = OnceLock::new();
    T.get_or_init(|| {
        all_entries()
            .iter()
            .filter(|e| e.kind == Kind::Request)
            .collect()
    })
}

/// Every response and ConsumerProtocol data type at every version.
pub fn responses() -> &'static [&'static Entry] {
    static T: OnceLock<Vec<&'static Entry>> = OnceLock::new();
    T.get_or_init(|| {
        all_entries()
            .iter()
            .filter(|e| e.kind != Kind::Request)
            .collect()
    })
}

/// The selector byte of `table[i]` (tables hold fewer than 256 entries).
pub fn selector(i: usize) -> u8 {
    u8::try_from(i).expect("fewer than 256 entries")
}

/// The entry an input's first byte selects (modulo the table size), and the
/// rest of the input.
pub fn select<'a>(
    table: &'static [&'static Entry],
    data: &'a [u8],
) -> Option<(&'static Entry, &'a [u8])> {
    let (&first, rest) = data.split_first()?;
    Some((table[first as usize % table.len()], rest))
}

/// The `requests` target: the selected request body, and the request header
/// decoders over the same bytes.
pub fn fuzz_request(data: &[u8]) {
    let Some((entry, body)) = select(requests(), data) else {
        return;
    };
    (entry.check)(body, entry.version);
    for hv in 0..=2 {
        let _ = RequestHeader::decode(&mut Reader::new(body.to_vec()), hv);
    }
}

/// The `responses` target: the selected response (or ConsumerProtocol) body,
/// and the response header decoders over the same bytes.
pub fn fuzz_response(data: &[u8]) {
    let Some((entry, body)) = select(responses(), data) else {
        return;
    };
    (entry.check)(body, entry.version);
    for hv in 0..=1 {
        let _ = ResponseHeader::decode(&mut Reader::new(body.to_vec()), hv);
    }
}

/// Decompression limits the fuzz targets use: small, so that limits are hit,
/// up to 4 MiB.
pub const MAX_OUTPUTS: [usize; 8] = [0, 1, 100, 4096, 64 << 10, 256 << 10, 1 << 20, 4 << 20];

/// The `record_batches` target: the first byte picks the decompression limit
/// (low 3 bits); the rest is decoded with CRC checks on, then off.
pub fn fuzz_record_batches(data: &[u8]) {
    let Some((&first, records)) = data.split_first() else {
        return;
    };
    let max = MAX_OUTPUTS[(first & 7) as usize];
    for check_crcs in [true, false] {
        let opts = DecodeOptions {
            check_crcs,
            max_decompressed_size: max,
        };
        let mut n = 0usize;
        for batch in decode_batches(records.to_vec(), opts) {
            n += 1;
            // Every batch takes at least a 12-byte log overhead plus a body.
            assert!(n <= records.len() / 12 + 1, "more batches than bytes allow");
            if let Ok(b) = batch {
                assert_eq!(b.records.len() as i64, b.records_count as i64);
                assert!(matches!(b.magic, 0..=2));
            }
        }
    }
}

/// Codecs in selector order: `data[0] % 5`.
pub const CODECS: [Compression; 5] = Compression::ALL;

/// The `decompress` target: `data[0]` picks the codec, `data[1]` the output
/// limit; the rest is decompressed (output within the limit) and, for the
/// limits that allow it, compressed and decompressed back unchanged.
pub fn fuzz_decompress(data: &[u8]) {
    let [c, m, input @ ..] = data else {
        return;
    };
    let codec = CODECS[*c as usize % CODECS.len()];
    if !codec.is_available() {
        return;
    }
    let max = MAX_OUTPUTS[*m as usize % MAX_OUTPUTS.len()];
    if let Ok(out) = compression::decompress(codec, input, max) {
        assert!(
            out.len() <= max,
            "{codec}: {} bytes out, limit {max}",
            out.len()
        );
    }
    if input.len() <= max {
        let mut packed = Vec::new();
        compression::compress(codec, input, &mut packed).expect("compress");
        let back = compression::decompress(codec, &packed, max).expect("own output decompresses");
        assert_eq!(back, input, "{codec}: round trip changed the data");
    }
}
