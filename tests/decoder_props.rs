//! Hostile input to every decoder: random byte strings and mutations of valid
//! encodings must decode to `Ok` or `Err`, never panic, and never allocate more
//! than a bound proportional to the input.
//!
//! Covered: every generated message (requests, responses, ConsumerProtocol
//! data) at every version, the request/response headers, the record batch
//! decoder (v2 batches of every codec, legacy v0/v1 messages and compressed
//! wrappers, real peers' vectors from `tests/data/records`) and
//! `compression::decompress` for every codec. A message that decodes must also
//! re-encode and decode back to the same value; a decompression must respect
//! its output limit.
//!
//! Inputs: random byte strings; the valid encodings (`sample_n` of every type
//! and version, `RecordBatchBuilder` batches, compressed payloads) truncated at
//! every length, with huge or negative lengths (`i32`, `i16`, varint) planted
//! at every offset, with lengths sized to the bytes that remain planted at
//! every offset (also with padding behind, so that such a count is large), and
//! with 1-4 random mutations (bit flips, interesting bytes, insertions,
//! deletions, duplicated chunks, truncation). Mutated record batches are also
//! decoded with their CRCs fixed up, so that `check_crcs` does not stop them
//! at the door, and records are mutated before compression to reach the record
//! parser behind every codec.
//!
//! Deterministic: a xorshift PRNG with fixed seeds, one stream per target, so a
//! failure reproduces exactly. Environment:
//!
//! - `KAFKA_BLOCKING_PROP_CASES`: total number of randomized cases, spread
//!   evenly over the targets (default 300000). The deterministic sweeps
//!   (truncation at every length, length fields planted at every offset) run in
//!   addition, so the total printed at the end is larger.
//! - `KAFKA_BLOCKING_PROP_SEED`: base seed (default fixed).
//!
//! # Bounded allocation
//!
//! This binary's `#[global_allocator]` counts, per thread and only while a
//! decode runs, the largest single allocation and the peak of live bytes. The
//! bounds (for an input of `n` bytes):
//!
//! - largest single allocation `<= ALLOC_FACTOR * n + ALLOC_SLACK`: a decoder
//!   may reserve a `Vec<T>` for a count it checked against the bytes that
//!   remain, i.e. `count * min_encoded_size(T) <= n`, which costs
//!   `count * size_of::<T>()` bytes. The worst ratio `size_of::<T>() /
//!   min_encoded_size(T)` in this crate is 40: `ListGroupsResponse` v3+ holds
//!   `ListedGroup`s of 120 bytes whose smallest (compact) encoding is 3 bytes;
//!   compact string arrays come next (24 bytes per 1-byte empty string). The
//!   ignored test `allocation_ratio_survey` measures it for every message and
//!   version. `ALLOC_FACTOR` is 48: that worst case plus a little headroom, low
//!   enough that a reservation trusting a length prefix (or a wrong minimum
//!   element size) trips it at once, as `allocation_guard_catches_trusted_lengths`
//!   checks.
//! - peak live bytes `<= PEAK_FACTOR * n + PEAK_SLACK`: nested arrays can each
//!   reserve against the same remaining bytes before failing, so the peak is
//!   bounded by the nesting depth (at most 4 in the generated messages) times
//!   the single-allocation bound.
//! - decompression: the output is at most `max_output` bytes (checked on every
//!   `Ok`), and allocations are at most about twice that (a growing `Vec`) plus
//!   a codec constant (`CODEC_LARGEST`, `CODEC_PEAK`: an LZ4 frame header may
//!   declare 4 MiB blocks, for which `lz4_flex` allocates two 4 MiB buffers
//!   whatever the input and `max_output`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use kafka_blocking::unstable::protocol::compression::{self, Compression};
use kafka_blocking::unstable::protocol::crc32c::crc32c;
use kafka_blocking::unstable::protocol::header::{RequestHeader, ResponseHeader};
use kafka_blocking::unstable::protocol::records::{
    DecodeOptions, Header, ProducerState, RecordBatchBuilder, decode_batches,
};
use kafka_blocking::unstable::protocol::{Bytes, Decodable, Encodable, Reader};

// ---------------------------------------------------------------------------
// The counting allocator.

/// `System`, counting per thread while [`measured`] runs.
struct CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note_resize(old: usize, new: usize) {
    let _ = TRACKING.try_with(|t| {
        if t.get() {
            LARGEST.with(|l| l.set(l.get().max(new)));
            LIVE.with(|l| {
                let v = l.get() + new as isize - old as isize;
                l.set(v);
                PEAK.with(|p| p.set(p.get().max(v)));
            });
        }
    });
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_resize(0, layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_resize(0, layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = TRACKING.try_with(|t| {
            if t.get() {
                LIVE.with(|l| l.set(l.get() - layout.size() as isize));
            }
        });
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_resize(layout.size(), new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// What one decode allocated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Usage {
    /// Largest single allocation (or reallocation target), bytes.
    largest: usize,
    /// Peak of bytes allocated and not yet freed since the decode started.
    peak: usize,
}

/// Allocation bounds for one case.
#[derive(Clone, Copy, Debug)]
struct Limit {
    largest: usize,
    peak: usize,
    /// The bound is per input byte (messages): track the worst ratio.
    per_byte: bool,
}

/// Bytes of `Vec<T>` per encoded byte a decoder may reserve (see the module docs).
const ALLOC_FACTOR: usize = 48;
/// Error messages and other small fixed buffers.
const ALLOC_SLACK: usize = 8 << 10;
/// Nesting depth times `ALLOC_FACTOR`.
const PEAK_FACTOR: usize = 4 * ALLOC_FACTOR;
const PEAK_SLACK: usize = 64 << 10;
/// Decoder state of the codecs, independent of the input and output sizes:
/// an LZ4 frame declaring 4 MiB blocks makes `lz4_flex` allocate two 4 MiB
/// block buffers whatever `max_output` is; the gzip inflater takes ~43 KiB;
/// `ruzstd` grows its window buffer with the output.
const CODEC_LARGEST: usize = (4 << 20) + (64 << 10);
const CODEC_PEAK: usize = (8 << 20) + (256 << 10);

fn message_limit(input_len: usize) -> Limit {
    Limit {
        largest: ALLOC_FACTOR * input_len + ALLOC_SLACK,
        peak: PEAK_FACTOR * input_len + PEAK_SLACK,
        per_byte: true,
    }
}

/// Decompressing at most `max_output` bytes out of `input_len` bytes.
fn decompress_limit(input_len: usize, max_output: usize) -> Limit {
    Limit {
        largest: 2 * max_output + ALLOC_FACTOR * input_len + CODEC_LARGEST,
        peak: 3 * max_output + PEAK_FACTOR * input_len + CODEC_PEAK,
        per_byte: false,
    }
}

/// Record batches: the records of a compressed batch are parsed from up to
/// `max_decompressed_size` bytes of decompressed data, on top of the input.
fn records_limit(input_len: usize, opts: &DecodeOptions) -> Limit {
    let d = decompress_limit(input_len, opts.max_decompressed_size);
    let m = message_limit(input_len + opts.max_decompressed_size);
    Limit {
        largest: d.largest.max(m.largest),
        peak: d.peak + m.peak,
        per_byte: false,
    }
}

// ---------------------------------------------------------------------------
// Panics: caught per case, reported with where they happened.

thread_local! {
    /// Set while a case runs: the panic hook records instead of printing.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Backtraces are slow to symbolize in debug builds: only the first few.
static BACKTRACES: AtomicUsize = AtomicUsize::new(0);

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                return previous(info);
            }
            let mut text = info.to_string();
            if BACKTRACES.fetch_add(1, Ordering::Relaxed) < 8 {
                let bt = std::backtrace::Backtrace::force_capture().to_string();
                text.push_str("\n    backtrace (crate frames):");
                let lines: Vec<&str> = bt.lines().collect();
                let mut shown = 0;
                for (i, l) in lines.iter().enumerate() {
                    if l.contains("kafka_blocking::") && shown < 8 {
                        shown += 1;
                        text.push_str("\n    ");
                        text.push_str(l.trim());
                        if let Some(at) = lines.get(i + 1).filter(|n| n.trim().starts_with("at ")) {
                            text.push_str("  ");
                            text.push_str(at.trim());
                        }
                    }
                }
            }
            LAST_PANIC.with(|p| *p.borrow_mut() = text);
        }));
    });
}

/// Runs `f` with the allocator counting and panics caught.
fn measured<R>(f: impl FnOnce() -> R) -> (Result<R, String>, Usage) {
    LIVE.with(|c| c.set(0));
    PEAK.with(|c| c.set(0));
    LARGEST.with(|c| c.set(0));
    QUIET.with(|c| c.set(true));
    TRACKING.with(|c| c.set(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    TRACKING.with(|c| c.set(false));
    QUIET.with(|c| c.set(false));
    let usage = Usage {
        largest: LARGEST.with(Cell::get),
        peak: PEAK.with(Cell::get).max(0) as usize,
    };
    let r = r.map_err(|_| LAST_PANIC.with(|p| std::mem::take(&mut *p.borrow_mut())));
    (r, usage)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Failures of all workers; the first few are kept in full.
#[derive(Default)]
struct Failures {
    count: AtomicUsize,
    kept: Mutex<Vec<String>>,
}

impl Failures {
    fn add(&self, msg: String) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut kept = self.kept.lock().unwrap();
        if kept.len() < 25 {
            kept.push(msg);
        }
    }
}

/// Runs cases for one worker thread.
struct Runner<'a> {
    failures: &'a Failures,
    cases: u64,
    /// Largest `usage.largest / input_len` seen for messages (informational).
    worst_ratio: f64,
    worst_case: String,
}

impl Runner<'_> {
    /// Runs one case: `decode` must not panic, must stay within `limit`, and
    /// returns `Err(problem)` for a property it found violated.
    fn case(
        &mut self,
        target: &str,
        how: &str,
        input: &[u8],
        limit: Limit,
        decode: impl FnOnce() -> Result<(), String>,
    ) {
        self.cases += 1;
        let (result, usage) = measured(decode);
        let problem = match result {
            Err(panic) => Some(format!("PANIC: {panic}")),
            Ok(Err(problem)) => Some(problem),
            Ok(Ok(())) if usage.largest > limit.largest => Some(format!(
                "allocated {} bytes at once, over the bound {} for {} input bytes",
                usage.largest,
                limit.largest,
                input.len()
            )),
            Ok(Ok(())) if usage.peak > limit.peak => Some(format!(
                "peak of {} live bytes, over the bound {} for {} input bytes",
                usage.peak,
                limit.peak,
                input.len()
            )),
            Ok(Ok(())) => None,
        };
        if let Some(problem) = problem {
            self.failures.add(format!(
                "{target} [{how}]: {problem}\n    input ({} bytes): {}",
                input.len(),
                hex(input)
            ));
        } else if limit.per_byte && input.len() >= 16 {
            let ratio = usage.largest as f64 / input.len() as f64;
            if ratio > self.worst_ratio {
                self.worst_ratio = ratio;
                self.worst_case = format!("{target} [{how}], {} bytes: {usage:?}", input.len());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Input generation.

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// A length biased toward small values.
    fn small_len(&mut self, max: usize) -> usize {
        match self.below(4) {
            0 => self.below(8),
            1 => self.below(32),
            _ => self.below(max + 1),
        }
    }
}

fn seed_of(name: &str, n: u64) -> u64 {
    // FNV-1a of the target name, mixed with the base seed.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    h ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ base_seed()
}

fn base_seed() -> u64 {
    std::env::var("KAFKA_BLOCKING_PROP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6b61_666b_615f_626c)
}

fn total_random_cases() -> usize {
    std::env::var("KAFKA_BLOCKING_PROP_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300_000)
}

const INTERESTING_BYTES: [u8; 8] = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe, 0x40, 0x81];
/// Huge and negative 4-byte lengths (big-endian `i32`).
const HUGE_I32: [i32; 6] = [0x7fff_ffff, 0x7fff_fff0, -2, -1, i32::MIN, 0x0100_0000];
/// Huge and negative 2-byte lengths (big-endian `i16`).
const HUGE_I16: [i16; 4] = [0x7fff, -2, i16::MIN, 0x7ff0];
/// Unsigned varints: `u32::MAX`, `0x7fffffff`, overlong, unterminated.
const HUGE_VARINTS: [&[u8]; 5] = [
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0xff, 0xff, 0xff, 0xff, 0x07],
    &[0xf0, 0xff, 0xff, 0xff, 0x07],
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    &[0x80, 0x80, 0x80, 0x80],
];

fn put_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn overwrite(data: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    let end = (at + bytes.len()).min(data.len());
    data.splice(at..end, bytes.iter().copied());
}

/// A count that passes a decoder's "count * min size <= remaining" check for
/// elements of at least `k` bytes: the most a decoder may reserve for.
fn plausible_count(data: &[u8], at: usize, width: usize, k: usize) -> u32 {
    (data.len().saturating_sub(at + width) / k.max(1)) as u32
}

/// Writes a plausible length at `at` in one of four encodings: `i32`, `i16`,
/// unsigned varint of length + 1 (compact), zigzag varint (records).
fn plant_plausible_length(data: &mut Vec<u8>, at: usize, k: usize, form: usize) {
    match form % 4 {
        0 => {
            let n = plausible_count(data, at, 4, k);
            overwrite(data, at, &(n as i32).to_be_bytes());
        }
        1 => {
            let n = plausible_count(data, at, 2, k).min(0x7fff);
            overwrite(data, at, &(n as i16).to_be_bytes());
        }
        2 => {
            let mut v = Vec::new();
            let n = plausible_count(data, at, 2, k);
            put_varint(&mut v, n.saturating_add(1));
            overwrite(data, at, &v);
        }
        _ => {
            let mut v = Vec::new();
            let n = plausible_count(data, at, 2, k).min(i32::MAX as u32);
            put_varint(&mut v, n << 1);
            overwrite(data, at, &v);
        }
    }
}

/// Applies one random mutation to `data`.
fn mutate_once(rng: &mut Rng, data: &mut Vec<u8>) {
    let len = data.len();
    let pos = if len == 0 { 0 } else { rng.below(len) };
    match rng.below(12) {
        0 | 1 if len > 0 => data[pos] ^= 1 << rng.below(8),
        2 if len > 0 => data[pos] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())],
        3 => data.truncate(rng.below(len + 1)),
        4 => {
            let n = 1 + rng.below(8);
            let ins: Vec<u8> = if rng.below(2) == 0 {
                rng.bytes(n)
            } else {
                vec![INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())]; n]
            };
            data.splice(pos..pos, ins);
        }
        5 if len > 0 => {
            let n = (1 + rng.below(8)).min(len - pos);
            data.drain(pos..pos + n);
        }
        6 => {
            let v = HUGE_I32[rng.below(HUGE_I32.len())];
            overwrite(data, pos, &v.to_be_bytes());
        }
        7 => {
            let v = HUGE_I16[rng.below(HUGE_I16.len())];
            overwrite(data, pos, &v.to_be_bytes());
        }
        8 => {
            let v = HUGE_VARINTS[rng.below(HUGE_VARINTS.len())];
            if rng.below(2) == 0 {
                overwrite(data, pos, v);
            } else {
                data.splice(pos..pos, v.iter().copied());
            }
        }
        9 => {
            let k = 1 + rng.below(40);
            let form = rng.below(4);
            plant_plausible_length(data, pos, k, form);
        }
        10 if len > 1 => {
            // Duplicate a chunk elsewhere.
            let from = rng.below(len);
            let n = (1 + rng.below(16)).min(len - from);
            let chunk = data[from..from + n].to_vec();
            let to = rng.below(data.len() + 1);
            data.splice(to..to, chunk);
        }
        _ if len > 0 => data[pos] = rng.next() as u8,
        _ => data.push(rng.next() as u8),
    }
}

/// A random case derived from `seeds`: mostly 1-4 mutations of a seed, and
/// sometimes random bytes (alone or after a seed's first bytes).
fn random_case(rng: &mut Rng, seeds: &[Vec<u8>], max_random_len: usize) -> (Vec<u8>, &'static str) {
    let roll = rng.below(16);
    if seeds.is_empty() || roll == 0 {
        let n = rng.small_len(max_random_len);
        return (rng.bytes(n), "random bytes");
    }
    let seed = &seeds[rng.below(seeds.len())];
    if roll == 1 {
        let keep = rng.below(seed.len() + 1);
        let mut d = seed[..keep].to_vec();
        let n = rng.small_len(max_random_len);
        d.extend(rng.bytes(n));
        return (d, "seed prefix + random bytes");
    }
    let mut d = seed.clone();
    for _ in 0..1 + rng.below(4) {
        mutate_once(rng, &mut d);
    }
    (d, "random mutations")
}

/// The deterministic sweeps over one valid encoding: every truncation, a huge
/// length written at every offset (in turn as `i32`, `i16` and varint), and a
/// plausible (bytes-remaining-sized) length at every offset.
fn sweeps(seed: &[u8], mut each: impl FnMut(&[u8], &'static str)) {
    for cut in 0..seed.len() {
        each(&seed[..cut], "truncated");
    }
    let mut buf = Vec::with_capacity(seed.len() + 8);
    for at in 0..seed.len() {
        buf.clear();
        buf.extend_from_slice(seed);
        match at % 3 {
            0 => overwrite(
                &mut buf,
                at,
                &HUGE_I32[at / 3 % HUGE_I32.len()].to_be_bytes(),
            ),
            1 => overwrite(
                &mut buf,
                at,
                &HUGE_I16[at / 3 % HUGE_I16.len()].to_be_bytes(),
            ),
            _ => overwrite(&mut buf, at, HUGE_VARINTS[at / 3 % HUGE_VARINTS.len()]),
        }
        each(&buf, "huge length");
        buf.clear();
        buf.extend_from_slice(seed);
        plant_plausible_length(&mut buf, at, 1 + at % 24, at / 24);
        each(&buf, "plausible length");
    }
}

/// Plausible counts at every offset of `seed` followed by `PADDING` zero
/// bytes, so that a count sized to the remaining bytes is large and a decoder
/// reserving more per element than the bound allows shows at once.
fn padded_sweep(seed: &[u8], mut each: impl FnMut(&[u8], &'static str)) {
    let mut buf = Vec::with_capacity(seed.len() + PADDING + 8);
    for at in 0..seed.len() {
        for k in 1..=6 {
            buf.clear();
            buf.extend_from_slice(seed);
            buf.resize(seed.len() + PADDING, 0);
            plant_plausible_length(&mut buf, at, k, at + k);
            each(&buf, "plausible length, padded");
        }
    }
}

const PADDING: usize = 512;

// ---------------------------------------------------------------------------
// Targets.

/// A generated message type, type-erased.
struct MessageType {
    name: &'static str,
    min: i16,
    max: i16,
    /// Encoding of `sample_n(version, n)`.
    sample: fn(i16, usize) -> Vec<u8>,
    /// Decodes; `Ok(true)` when the input decoded (and re-encoded to the
    /// same value), `Ok(false)` for a decode error, `Err` for a broken property.
    decode: fn(&mut Reader, i16) -> Result<bool, String>,
}

macro_rules! message_types {
    ($($kind:ident $ty:ty),* $(,)?) => {
        vec![$(MessageType {
            name: {
                let s: &'static str = stringify!($ty);
                s.rsplit("::").next().unwrap().trim()
            },
            min: <$ty>::MIN_VERSION,
            max: <$ty>::HIGHEST_SUPPORTED_VERSION,
            sample: |v, n| {
                let mut b = Vec::new();
                <$ty>::sample_n(v, n)
                    .encode(&mut b, v)
                    .unwrap_or_else(|e| panic!("{} v{v}: sample does not encode: {e}", stringify!($ty)));
                b
            },
            decode: |r, v| match <$ty as Decodable>::decode(r, v) {
                Err(_) => Ok(false),
                Ok(msg) => {
                    // What decodes re-encodes, and decodes back to the same value.
                    let mut b = Vec::new();
                    msg.encode(&mut b, v)
                        .map_err(|e| format!("the decoded value does not re-encode: {e}"))?;
                    let back = <$ty as Decodable>::decode(&mut Reader::new(b), v)
                        .map_err(|e| format!("its re-encoding does not decode: {e}"))?;
                    if back != msg {
                        return Err(format!(
                            "its re-encoding decodes to another value:\n    first:  {msg:?}\n    second: {back:?}"
                        ));
                    }
                    Ok(true)
                }
            },
        }),*]
    };
}

fn message_types() -> Vec<MessageType> {
    kafka_blocking::for_each_kafka_message!(message_types)
}

/// Decodes `input` as `t` at `version`.
fn message_case(run: &mut Runner, t: &MessageType, version: i16, how: &str, input: &[u8]) {
    let mut r = Reader::new(input.to_vec());
    let decode = t.decode;
    let target = format!("{} v{version}", t.name);
    run.case(&target, how, input, message_limit(input.len()), || {
        decode(&mut r, version).map(|_| ())
    });
}

fn run_message(run: &mut Runner, t: &MessageType, version: i16, random_cases: usize) {
    let seeds: Vec<Vec<u8>> = (0..2).map(|n| (t.sample)(version, n)).collect();
    // The valid encodings decode.
    for s in &seeds {
        let mut r = Reader::new(s.clone());
        assert!(
            (t.decode)(&mut r, version) == Ok(true),
            "{} v{version}: its own sample does not decode",
            t.name
        );
    }
    sweeps(&seeds[0], |input, how| {
        message_case(run, t, version, how, input)
    });
    padded_sweep(&seeds[1], |input, how| {
        message_case(run, t, version, how, input)
    });
    let mut rng = Rng::new(seed_of(t.name, version as u64));
    for _ in 0..random_cases {
        let (input, how) = random_case(&mut rng, &seeds, 256);
        message_case(run, t, version, how, &input);
    }
}

fn run_headers(run: &mut Runner, random_cases: usize) {
    for hv in 0..=2i16 {
        let h = RequestHeader {
            api_key: 3,
            api_version: 12,
            correlation_id: 0x0102_0304,
            client_id: Some("client-1".into()),
        };
        let mut seed = Vec::new();
        h.encode(&mut seed, hv).unwrap();
        // A flexible header with an unknown tagged field.
        let mut tagged = seed.clone();
        if hv == 2 {
            tagged.pop();
            tagged.extend([1, 7, 2, 0xab, 0xcd]);
        }
        let seeds = vec![seed, tagged];
        let target = format!("RequestHeader v{hv}");
        let one = |run: &mut Runner, input: &[u8], how: &str| {
            let mut r = Reader::new(input.to_vec());
            run.case(&target, how, input, message_limit(input.len()), || {
                let _ = RequestHeader::decode(&mut r, hv);
                Ok(())
            });
        };
        sweeps(&seeds[1], |input, how| one(run, input, how));
        let mut rng = Rng::new(seed_of("RequestHeader", hv as u64));
        for _ in 0..random_cases {
            let (input, how) = random_case(&mut rng, &seeds, 64);
            one(run, &input, how);
        }
    }
    for hv in 0..=1i16 {
        let mut seed = Vec::new();
        ResponseHeader { correlation_id: 77 }.encode(&mut seed, hv);
        let mut tagged = seed.clone();
        if hv == 1 {
            tagged.pop();
            tagged.extend([2, 0, 1, 9, 5, 3, 1, 2, 3]);
        }
        let seeds = vec![seed, tagged];
        let target = format!("ResponseHeader v{hv}");
        let one = |run: &mut Runner, input: &[u8], how: &str| {
            let mut r = Reader::new(input.to_vec());
            run.case(&target, how, input, message_limit(input.len()), || {
                let _ = ResponseHeader::decode(&mut r, hv);
                Ok(())
            });
        };
        sweeps(&seeds[1], |input, how| one(run, input, how));
        let mut rng = Rng::new(seed_of("ResponseHeader", hv as u64));
        for _ in 0..random_cases {
            let (input, how) = random_case(&mut rng, &seeds, 64);
            one(run, &input, how);
        }
    }
}

// --- Record batches ---------------------------------------------------------

fn available_codecs() -> impl Iterator<Item = Compression> {
    Compression::ALL.into_iter().filter(|c| c.is_available())
}

/// Bitwise CRC-32 (IEEE), for legacy messages (the crate has no public one).
fn crc32_ieee(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A v2 batch of a few varied records.
fn v2_batch(
    codec: Compression,
    base_offset: i64,
    control: bool,
    producer: ProducerState,
) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new();
    b.set_base_offset(base_offset);
    if control {
        b.set_control(true);
        b.append(5, Some(&[0, 0, 0, 1]), Some(&[0, 0, 0, 0, 0, 3]), &[])
            .unwrap();
    } else {
        let headers = [
            Header::new("h1", Some(Bytes::from(b"v1".to_vec()))),
            Header::new("h2", None),
        ];
        b.append(1_700_000_000_000, Some(b"key-0"), Some(b"value-0"), &[])
            .unwrap();
        b.append(1_700_000_000_010, None, Some(b"no key"), &headers)
            .unwrap();
        b.append(1_700_000_000_005, Some(b"tombstone"), None, &[])
            .unwrap();
        b.append(1_700_000_000_020, Some(b""), Some(b""), &headers[..1])
            .unwrap();
    }
    b.finish(producer, codec).unwrap()
}

/// A legacy (v0/v1) log entry.
fn legacy(
    offset: i64,
    magic: u8,
    attributes: u8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Vec<u8> {
    let mut m = vec![magic, attributes];
    if magic == 1 {
        m.extend(timestamp.to_be_bytes());
    }
    for b in [key, value] {
        match b {
            None => m.extend((-1i32).to_be_bytes()),
            Some(b) => {
                m.extend((b.len() as i32).to_be_bytes());
                m.extend(b);
            }
        }
    }
    let mut out = Vec::new();
    out.extend(offset.to_be_bytes());
    out.extend((m.len() as i32 + 4).to_be_bytes());
    out.extend(crc32_ieee(&m).to_be_bytes());
    out.extend(m);
    out
}

/// Legacy messages: plain ones, and a compressed wrapper for `codec`.
fn legacy_set(magic: u8, codec: Compression) -> Vec<u8> {
    let mut inner = Vec::new();
    for i in 0..3i64 {
        let off = if magic == 1 { i } else { 100 + i };
        inner.extend(legacy(
            off,
            magic,
            0,
            1000 + i,
            Some(b"k"),
            Some(format!("value {i}").as_bytes()),
        ));
    }
    if codec == Compression::None {
        return inner;
    }
    let mut compressed = Vec::new();
    compression::compress(codec, &inner, &mut compressed).unwrap();
    legacy(
        102,
        magic,
        codec.attribute_bits() as u8,
        2000,
        None,
        Some(&compressed),
    )
}

/// Recomputes the checksums of the batches in `data` where the layout still
/// allows it, so that mutated input also gets past `check_crcs`.
fn fix_crcs(data: &mut [u8]) {
    let mut pos = 0;
    while data.len() - pos >= 17 {
        let len = i32::from_be_bytes(data[pos + 8..pos + 12].try_into().unwrap());
        if len < 0 {
            return;
        }
        let end = pos + 12 + len as usize;
        if end > data.len() {
            return;
        }
        match data[pos + 16] {
            2 if end >= pos + 21 => {
                let crc = crc32c(&data[pos + 21..end]);
                data[pos + 17..pos + 21].copy_from_slice(&crc.to_be_bytes());
            }
            0 | 1 if end >= pos + 16 => {
                let crc = crc32_ieee(&data[pos + 16..end]);
                data[pos + 12..pos + 16].copy_from_slice(&crc.to_be_bytes());
            }
            _ => return,
        }
        pos = end;
    }
}

/// xxHash32 (seed 0), for LZ4 frame header checksums.
fn xxh32(data: &[u8]) -> u32 {
    const P1: u32 = 0x9E37_79B1;
    const P2: u32 = 0x85EB_CA77;
    const P3: u32 = 0xC2B2_AE3D;
    const P4: u32 = 0x27D4_EB2F;
    const P5: u32 = 0x1656_67B1;
    let word = |s: &[u8]| u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
    let round = |acc: u32, w: u32| {
        acc.wrapping_add(w.wrapping_mul(P2))
            .rotate_left(13)
            .wrapping_mul(P1)
    };
    let mut rest = data;
    let mut h = if data.len() >= 16 {
        let mut v = [P1.wrapping_add(P2), P2, 0, 0u32.wrapping_sub(P1)];
        while rest.len() >= 16 {
            for (i, acc) in v.iter_mut().enumerate() {
                *acc = round(*acc, word(&rest[4 * i..]));
            }
            rest = &rest[16..];
        }
        v[0].rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18))
    } else {
        P5
    };
    h = h.wrapping_add(data.len() as u32);
    while rest.len() >= 4 {
        h = h
            .wrapping_add(word(rest).wrapping_mul(P3))
            .rotate_left(17)
            .wrapping_mul(P4);
        rest = &rest[4..];
    }
    for &b in rest {
        h = h
            .wrapping_add((b as u32).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P2);
    h ^= h >> 13;
    h = h.wrapping_mul(P3);
    h ^ (h >> 16)
}

/// Recomputes the header checksum of an LZ4 frame at the start of `data`, so
/// that a mutated frame descriptor reaches the decoder.
fn fix_lz4_header(data: &mut [u8]) {
    if data.len() < 7 || data[..4] != [0x04, 0x22, 0x4d, 0x18] {
        return;
    }
    let flg = data[4];
    let hc_at = 6 + if flg & 0x08 != 0 { 8 } else { 0 } + if flg & 0x01 != 0 { 4 } else { 0 };
    if hc_at < data.len() {
        data[hc_at] = (xxh32(&data[4..hc_at]) >> 8) as u8;
    }
}

/// Builds a v2 batch header around `records` (already compressed with
/// `codec`), with a correct CRC.
fn wrap_v2(records: &[u8], codec: Compression, count: i32) -> Vec<u8> {
    let mut out = vec![0u8; 61];
    out[8..12].copy_from_slice(&((49 + records.len()) as i32).to_be_bytes());
    out[12..16].copy_from_slice(&(-1i32).to_be_bytes());
    out[16] = 2;
    out[21..23].copy_from_slice(&codec.attribute_bits().to_be_bytes());
    out[23..27].copy_from_slice(&(count - 1).to_be_bytes());
    out[43..51].copy_from_slice(&(-1i64).to_be_bytes());
    out[51..53].copy_from_slice(&(-1i16).to_be_bytes());
    out[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    out[57..61].copy_from_slice(&count.to_be_bytes());
    out.extend_from_slice(records);
    let crc = crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

fn records_case(run: &mut Runner, target: &str, how: &str, input: &[u8], opts: DecodeOptions) {
    let bytes = Bytes::from(input.to_vec());
    run.case(
        target,
        how,
        input,
        records_limit(input.len(), &opts),
        || {
            let mut n = 0usize;
            for batch in decode_batches(bytes, opts) {
                n += 1;
                if n > input.len() + 1 {
                    return Err(format!("yielded {n} batches from {} bytes", input.len()));
                }
                if let Ok(b) = batch {
                    if b.records.len() as i64 != b.records_count as i64 {
                        return Err(format!(
                            "batch says {} records but holds {}",
                            b.records_count,
                            b.records.len()
                        ));
                    }
                }
            }
            Ok(())
        },
    );
}

/// Options for record cases: CRC checks on and off, generous and tiny
/// decompression limits.
fn record_opts(i: usize) -> DecodeOptions {
    DecodeOptions {
        check_crcs: i % 2 == 0,
        max_decompressed_size: if i % 5 == 4 { 100 } else { 64 << 10 },
    }
}

/// One record target: sweeps and random mutations of `seeds`; every input is
/// decoded as is (CRC checks on and off) and with its CRCs fixed up.
fn run_records(run: &mut Runner, target: &str, seeds: &[Vec<u8>], random_cases: usize) {
    for s in seeds {
        let ok = decode_batches(s.clone(), DecodeOptions::default()).all(|b| b.is_ok());
        assert!(ok, "{target}: a seed does not decode");
    }
    let mut i = 0usize;
    let mut fixed = Vec::new();
    let mut each = |run: &mut Runner, input: &[u8], how: &str| {
        records_case(run, target, how, input, record_opts(i));
        i += 1;
        fixed.clear();
        fixed.extend_from_slice(input);
        fix_crcs(&mut fixed);
        if fixed != input {
            records_case(run, target, how, &fixed, record_opts(2 * i));
        }
    };
    // Sweeping the whole of a long seed costs too much; its header and first
    // records are where the lengths are.
    let head = &seeds[0][..seeds[0].len().min(160)];
    sweeps(head, |input, how| each(run, input, how));
    let mut rng = Rng::new(seed_of(target, 0));
    for _ in 0..random_cases {
        let (input, how) = random_case(&mut rng, seeds, 256);
        each(run, &input, how);
    }
}

/// Allocation bound of record cases that cannot decompress anything
/// (`max_decompressed_size` 0): the message bound, plus the state a gzip
/// decoder allocates before it sees that its input is garbage.
fn uncompressed_records_limit(input_len: usize) -> Limit {
    let m = message_limit(input_len);
    Limit {
        largest: m.largest + (64 << 10),
        peak: m.peak + (128 << 10),
        per_byte: false,
    }
}

/// An uncompressed batch followed by padding inside its records section, with
/// counts and lengths sized to the bytes that remain planted at every offset
/// (CRC fixed): a decoder reserving more per record or header than the
/// bound allows shows at once.
fn run_records_padded(run: &mut Runner) {
    let mut seed = v2_batch(Compression::None, 0, false, ProducerState::NONE);
    let n = seed.len();
    // Large enough that 88-byte `Record`s reserved one per byte would
    // exceed the bound despite its constant part.
    seed.resize(n + 4096, 0);
    let length = (seed.len() - 12) as i32;
    seed[8..12].copy_from_slice(&length.to_be_bytes());
    let opts = DecodeOptions {
        check_crcs: true,
        max_decompressed_size: 0,
    };
    let mut buf = Vec::with_capacity(seed.len() + 8);
    for at in 0..n {
        for k in 1..=8 {
            buf.clear();
            buf.extend_from_slice(&seed);
            plant_plausible_length(&mut buf, at, k, if at < 61 { 0 } else { 3 });
            fix_crcs(&mut buf);
            let bytes = Bytes::from(buf.clone());
            let target = "record batch v2 none, padded";
            let limit = uncompressed_records_limit(buf.len());
            run.case(target, "plausible length", &buf, limit, || {
                for _ in decode_batches(bytes, opts) {}
                Ok(())
            });
        }
    }
}

/// Mutates the uncompressed records of a batch, then compresses them and
/// wraps them in a valid header: reaches the record parser behind every codec.
fn run_records_behind_codec(run: &mut Runner, codec: Compression, random_cases: usize) {
    let plain = v2_batch(Compression::None, 0, false, ProducerState::NONE);
    let records = plain[61..].to_vec();
    let count = i32::from_be_bytes(plain[57..61].try_into().unwrap());
    let target = format!("record batch, mutated records inside {codec}");
    let mut rng = Rng::new(seed_of(&target, 1));
    for i in 0..random_cases {
        let (mut m, how) = random_case(&mut rng, std::slice::from_ref(&records), 128);
        let mut count = count;
        if i % 4 == 3 {
            count = HUGE_I32[rng.below(HUGE_I32.len())].max(0) / (1 + rng.below(4) as i32);
        }
        let mut c = Vec::new();
        compression::compress(codec, &m, &mut c).unwrap();
        m = wrap_v2(&c, codec, count);
        records_case(run, &target, how, &m, record_opts(2 * i));
    }
}

fn record_targets() -> Vec<(String, Vec<Vec<u8>>)> {
    let mut targets = Vec::new();
    let txn = ProducerState {
        producer_id: 4242,
        producer_epoch: 3,
        base_sequence: 100,
        transactional: true,
    };
    for codec in available_codecs() {
        let mut two = v2_batch(codec, 10, false, ProducerState::NONE);
        two.extend(v2_batch(codec, 14, true, txn));
        targets.push((
            format!("record batch v2 {codec}"),
            vec![
                v2_batch(codec, 0, false, ProducerState::NONE),
                two,
                v2_batch(codec, 7, false, txn),
            ],
        ));
        if codec != Compression::Zstd {
            for magic in [0u8, 1] {
                let mut plain = legacy_set(magic, Compression::None);
                plain.extend(legacy_set(magic, codec));
                targets.push((
                    format!("legacy v{magic} messages {codec}"),
                    vec![legacy_set(magic, codec), plain],
                ));
            }
        }
    }
    // Real peers' batches, when the vectors are there.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/records");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "bin"))
            .collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).unwrap();
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            targets.push((format!("record vector {name}"), vec![data]));
        }
    }
    targets
}

// --- Decompression ------------------------------------------------------------

fn decompress_seeds(codec: Compression) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed_of("decompress payloads", 0));
    let payloads: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"hello, kafka".to_vec(),
        b"a value repeated so that compression pays off; ".repeat(40),
        rng.bytes(700),
        vec![0u8; 200_000], // compresses to a small bomb
    ];
    // (The lz4 seeds are frames of 64 KiB blocks; mutations of the block size
    // byte, with the header checksum fixed, declare up to 4 MiB.)
    payloads
        .iter()
        .map(|p| {
            let mut out = Vec::new();
            compression::compress(codec, p, &mut out).unwrap();
            out
        })
        .collect()
}

const MAX_OUTPUTS: [usize; 6] = [0, 1, 100, 4096, 64 << 10, 1 << 20];

fn decompress_case(
    run: &mut Runner,
    codec: Compression,
    how: &str,
    input: &[u8],
    max_output: usize,
) {
    let target = format!("decompress {codec} (max_output {max_output})");
    run.case(
        &target,
        how,
        input,
        decompress_limit(input.len(), max_output),
        || match compression::decompress(codec, input, max_output) {
            Ok(out) if out.len() > max_output => Err(format!(
                "returned {} bytes, over max_output {max_output}",
                out.len()
            )),
            _ => Ok(()),
        },
    );
}

fn run_decompress(run: &mut Runner, codec: Compression, random_cases: usize) {
    let seeds = decompress_seeds(codec);
    // The valid data decompresses, and the bomb respects the limit.
    for s in &seeds {
        assert!(
            compression::decompress(codec, s, 1 << 20).is_ok(),
            "{codec}: seed"
        );
    }
    let mut i = 0usize;
    let mut fixed = Vec::new();
    let mut each = |run: &mut Runner, input: &[u8], how: &str| {
        decompress_case(run, codec, how, input, MAX_OUTPUTS[i % MAX_OUTPUTS.len()]);
        i += 1;
        if codec == Compression::Lz4 {
            fixed.clear();
            fixed.extend_from_slice(input);
            fix_lz4_header(&mut fixed);
            if fixed != input {
                decompress_case(run, codec, how, &fixed, MAX_OUTPUTS[i % MAX_OUTPUTS.len()]);
                i += 1;
            }
        }
    };
    for s in &seeds {
        each(run, s, "valid");
    }
    sweeps(&seeds[2], |input, how| each(run, input, how));
    // Every value of every frame header byte (magic, flags, block size, window
    // descriptor, xerial header): where codecs size their buffers.
    let mut buf = Vec::new();
    for at in 0..seeds[2].len().min(18) {
        for b in 0..=255u8 {
            buf.clear();
            buf.extend_from_slice(&seeds[2]);
            buf[at] = b;
            each(run, &buf, "header byte");
        }
    }
    let mut rng = Rng::new(seed_of(codec.name(), 2));
    for _ in 0..random_cases {
        let (input, how) = random_case(&mut rng, &seeds, 512);
        each(run, &input, how);
    }
}

// ---------------------------------------------------------------------------
// The test.

/// A unit of work, given its share of the random cases.
type Job = Box<dyn Fn(&mut Runner, usize) + Send + Sync>;

#[test]
fn every_decoder_survives_hostile_input() {
    install_panic_hook();
    let started = std::time::Instant::now();

    // (weight: share of the random cases, job)
    let types = std::sync::Arc::new(message_types());
    let mut units: Vec<(usize, Job)> = Vec::new();
    for (ti, t) in types.iter().enumerate() {
        for v in t.min..=t.max {
            let types = types.clone();
            units.push((
                2,
                Box::new(move |run, n| run_message(run, &types[ti], v, n)),
            ));
        }
    }
    units.push((5, Box::new(|run, n| run_headers(run, n / 5))));
    for (target, seeds) in record_targets() {
        units.push((
            3,
            Box::new(move |run, n| run_records(run, &target, &seeds, n)),
        ));
    }
    units.push((1, Box::new(|run, _| run_records_padded(run))));
    for codec in available_codecs() {
        units.push((
            3,
            Box::new(move |run, n| run_records_behind_codec(run, codec, n)),
        ));
        units.push((8, Box::new(move |run, n| run_decompress(run, codec, n))));
    }
    let weight: usize = units.iter().map(|u| u.0).sum();
    let per_weight = total_random_cases().div_ceil(weight);

    // Heavy jobs first, then spread over the cores.
    units.reverse();
    let failures = Failures::default();
    let next = AtomicUsize::new(0);
    let cases = AtomicU64::new(0);
    let worst = Mutex::new((0f64, String::new()));
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let mut run = Runner {
                    failures: &failures,
                    cases: 0,
                    worst_ratio: 0.0,
                    worst_case: String::new(),
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((w, job)) = units.get(i) else { break };
                    job(&mut run, w * per_weight);
                }
                cases.fetch_add(run.cases, Ordering::Relaxed);
                let mut w = worst.lock().unwrap();
                if run.worst_ratio > w.0 {
                    *w = (run.worst_ratio, run.worst_case);
                }
            });
        }
    });

    let cases = cases.into_inner();
    let n_failures = failures.count.load(Ordering::Relaxed);
    let (ratio, worst_case) = worst.into_inner().unwrap();
    eprintln!(
        "decoder_props: {cases} decode cases ({} message types at every version, headers, {} record targets, {} codecs) in {:.1?} on {workers} threads, {n_failures} failing",
        types.len(),
        record_targets().len(),
        available_codecs().count(),
        started.elapsed(),
    );
    eprintln!(
        "decoder_props: largest message allocation {ratio:.1} bytes per input byte (bound {ALLOC_FACTOR}): {worst_case}"
    );
    if n_failures > 0 {
        let kept = failures.kept.into_inner().unwrap();
        panic!(
            "{n_failures} failing cases; the first {}:\n\n{}",
            kept.len(),
            kept.join("\n\n")
        );
    }
    assert!(cases >= 100_000, "only {cases} cases ran");
}

/// The guard is real: a decoder that trusts a length prefix trips the
/// allocation bound, a panicking one is reported with its input, and the
/// crate's own array reader stays within the bound on the same input.
#[test]
fn allocation_guard_catches_trusted_lengths() {
    install_panic_hook();
    // Claims 16M 8-byte entries with 4 bytes behind the count.
    let input = [0x00, 0xff, 0xff, 0xff, 1, 2, 3, 4];
    let trusting = |input: &[u8]| -> Result<(), String> {
        let n = u32::from_be_bytes(input[..4].try_into().unwrap()) as usize;
        let mut v: Vec<u64> = Vec::with_capacity(n);
        v.extend(input[4..].iter().map(|&b| b as u64));
        Ok(())
    };
    let failures = Failures::default();
    let mut run = Runner {
        failures: &failures,
        cases: 0,
        worst_ratio: 0.0,
        worst_case: String::new(),
    };
    run.case(
        "trusting decoder",
        "guard",
        &input,
        message_limit(input.len()),
        || trusting(&input),
    );
    assert_eq!(
        failures.count.load(Ordering::Relaxed),
        1,
        "the guard missed a 128 MiB reservation"
    );
    let kept = failures.kept.lock().unwrap().join("\n");
    assert!(kept.contains("allocated 134217720 bytes at once"), "{kept}");
    assert!(kept.contains("00ffffff01020304"), "{kept}");

    // A count just over what the bytes can hold, read by the crate's reader:
    // an error, within the bound.
    let mut r = Reader::new(input.to_vec());
    run.case(
        "Reader::read_array",
        "guard",
        &input,
        message_limit(input.len()),
        || {
            assert!(r.read_array(false, 1, |r| r.read_i64()).is_err());
            Ok(())
        },
    );
    // A plausible count is reserved, within the bound.
    let plausible = [0, 0, 0, 4, 1, 2, 3, 4];
    let mut r = Reader::new(plausible.to_vec());
    run.case(
        "Reader::read_array",
        "guard",
        &plausible,
        message_limit(plausible.len()),
        || {
            assert!(r.read_array(false, 1, |r| r.read_i8()).is_ok());
            Ok(())
        },
    );
    assert_eq!(failures.count.load(Ordering::Relaxed), 1);

    // A wrong minimum element size (1 byte for a 120-byte value whose
    // encoding takes more) trips the per-byte bound once the input is large.
    let mut wide = 512u32.to_be_bytes().to_vec();
    wide.resize(4 + 512, 0);
    let mut r = Reader::new(wide.clone());
    run.case(
        "wrong minimum size",
        "guard",
        &wide,
        message_limit(wide.len()),
        || {
            let _ = r.read_array(false, 1, |r| r.read_u8().map(|b| [b; 120]));
            Ok(())
        },
    );
    assert_eq!(failures.count.load(Ordering::Relaxed), 2);
    assert!(failures.kept.lock().unwrap()[1].contains("allocated 61440 bytes at once"));

    // The peak bound catches many small allocations that add up.
    let mut hoard = Vec::new();
    run.case(
        "hoarding decoder",
        "guard",
        &input,
        message_limit(input.len()),
        || {
            for _ in 0..64 {
                hoard.push(vec![0u8; 4 << 10]);
            }
            Ok(())
        },
    );
    drop(hoard);
    assert_eq!(failures.count.load(Ordering::Relaxed), 3);
    assert!(failures.kept.lock().unwrap()[2].contains("peak of"));

    // Panics are caught and reported with the input.
    run.case(
        "panicking decoder",
        "guard",
        &[0xde, 0xad],
        message_limit(2),
        || {
            let v: Vec<u8> = Vec::new();
            let _ = v[3];
            Ok(())
        },
    );
    assert_eq!(failures.count.load(Ordering::Relaxed), 4);
    let kept = failures.kept.lock().unwrap()[3].clone();
    assert!(
        kept.contains("PANIC") && kept.contains("index out of bounds") && kept.contains("dead"),
        "{kept}"
    );

    // Allocations outside a case are not counted.
    let (_, usage) = measured(|| ());
    assert_eq!(usage, Usage::default());
}

/// Survey behind `ALLOC_FACTOR` (run with `--ignored --nocapture`, in
/// release): for every message at every version, plants at every offset of
/// its sample a count sized to the bytes that remain for elements of `k`
/// bytes (`k` = 1..=32, as `i32`, `i16` and varint), with 2 KiB of padding
/// behind so that the count is large, and prints the largest single
/// allocation per input byte, worst messages first.
#[test]
#[ignore]
fn allocation_ratio_survey() {
    let types = message_types();
    let mut worst: Vec<(f64, String)> = Vec::new();
    let failures = Failures::default();
    for t in &types {
        for v in t.min..=t.max {
            let mut seed = (t.sample)(v, 0);
            let n = seed.len();
            seed.resize(n + 2048, 0);
            let mut best = (0f64, String::new());
            for at in 0..n {
                for k in 1..=32 {
                    for form in 0..3 {
                        let mut input = seed.clone();
                        plant_plausible_length(&mut input, at, k, form);
                        let mut r = Reader::new(input.clone());
                        let (res, usage) = measured(|| (t.decode)(&mut r, v));
                        let res = res.and_then(|r| r.map(|_| ()));
                        if let Err(p) = res {
                            failures.add(format!("{} v{v}: {p}", t.name));
                        }
                        let ratio = usage.largest as f64 / input.len() as f64;
                        if ratio > best.0 {
                            best = (
                                ratio,
                                format!(
                                    "{} v{v} (count at {at}, k {k}, form {form}): {usage:?}",
                                    t.name
                                ),
                            );
                        }
                    }
                }
            }
            worst.push(best);
        }
    }
    worst.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (r, what) in worst.iter().take(20) {
        eprintln!("{r:6.1} bytes/byte  {what}");
    }
    assert_eq!(
        failures.count.load(Ordering::Relaxed),
        0,
        "{:?}",
        failures.kept.lock().unwrap()
    );
}
