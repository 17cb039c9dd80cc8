//! Record batch compression codecs: gzip, snappy, lz4 and zstd.
//!
//! Each codec sits behind a cargo feature of the same name (all on by default)
//! and is pure Rust:
//!
//! | codec  | feature  | crate                          | wire format written                      |
//! |--------|----------|--------------------------------|------------------------------------------|
//! | gzip   | `gzip`   | `flate2` (miniz_oxide backend) | one gzip member                          |
//! | snappy | `snappy` | `snap`                         | xerial framing, 32 KiB chunks (as Java)  |
//! | lz4    | `lz4`    | `lz4_flex`                     | LZ4 frame, independent 64 KiB blocks     |
//! | zstd   | `zstd`   | `ruzstd`                       | one zstd frame                           |
//!
//! Decoding is bounded: [`decompress`] takes the largest output the caller
//! accepts and fails once the data would exceed it, so a small hostile input
//! (a "decompression bomb") costs an error, not memory. Snappy input is read
//! both xerial-framed (Java, kafka-python) and raw (librdkafka, older
//! clients). LZ4 frames from Kafka 0.8/0.9 clients with their known-wrong
//! header checksum are accepted too.

use std::fmt;
use std::str::FromStr;

use super::primitives::{DecodeError, EncodeError};

/// A record batch compression codec (attribute bits 0-2; the
/// `compression.type` producer setting).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression (0).
    #[default]
    None,
    /// gzip (1).
    Gzip,
    /// snappy (2).
    Snappy,
    /// LZ4 frame format (3).
    Lz4,
    /// zstd (4).
    Zstd,
}

impl Compression {
    /// Every codec, in attribute order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec in a batch's (or legacy message's) attributes: bits 0-2.
    /// Fails for the unassigned values 5-7.
    pub fn from_attributes(attributes: i16) -> Result<Compression, DecodeError> {
        match attributes & 0x07 {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            n => Err(DecodeError::new(format!(
                "unknown compression codec id {n}"
            ))),
        }
    }

    /// The codec's attribute bits (0-4).
    pub fn attribute_bits(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The `compression.type` name: "none", "gzip", "snappy", "lz4" or "zstd".
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// True when this build can compress and decompress the codec (its cargo
    /// feature is enabled). Always true for [`Compression::None`].
    pub fn is_available(self) -> bool {
        match self {
            Compression::None => true,
            Compression::Gzip => cfg!(feature = "gzip"),
            Compression::Snappy => cfg!(feature = "snappy"),
            Compression::Lz4 => cfg!(feature = "lz4"),
            Compression::Zstd => cfg!(feature = "zstd"),
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown `compression.type` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownCompression(pub String);

impl fmt::Display for UnknownCompression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown compression.type {:?}: expected none, gzip, snappy, lz4 or zstd",
            self.0
        )
    }
}

impl std::error::Error for UnknownCompression {}

impl FromStr for Compression {
    type Err = UnknownCompression;

    /// Parses a `compression.type` value (case-insensitive, surrounding
    /// spaces ignored). "uncompressed" is accepted as "none".
    fn from_str(s: &str) -> Result<Compression, UnknownCompression> {
        let t = s.trim();
        Compression::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(t))
            .or_else(|| {
                t.eq_ignore_ascii_case("uncompressed")
                    .then_some(Compression::None)
            })
            .ok_or_else(|| UnknownCompression(s.to_owned()))
    }
}

/// The message for a codec whose cargo feature is off.
#[allow(dead_code)] // unused when every codec feature is on
fn disabled(c: Compression) -> String {
    format!(
        "{} compression is not available: enable the `{}` cargo feature of kafka-blocking",
        c.name(),
        c.name()
    )
}

/// Appends `input` compressed with `c` to `out` (for [`Compression::None`],
/// appends `input` as is).
pub fn compress(c: Compression, input: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match c {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Compression::Gzip => gzip::compress(input, out),
        Compression::Snappy => snappy::compress(input, out),
        Compression::Lz4 => lz4::compress(input, out),
        Compression::Zstd => zstd::compress(input, out),
    }
}

/// Decompresses `input` compressed with `c`. Fails when the data is corrupt or
/// truncated, or would decompress to more than `max_output` bytes.
pub fn decompress(c: Compression, input: &[u8], max_output: usize) -> Result<Vec<u8>, DecodeError> {
    let result = match c {
        Compression::None => {
            if input.len() > max_output {
                Err(too_large(max_output))
            } else {
                Ok(input.to_vec())
            }
        }
        Compression::Gzip => gzip::decompress(input, max_output),
        Compression::Snappy => snappy::decompress(input, max_output),
        Compression::Lz4 => lz4::decompress(input, max_output),
        Compression::Zstd => zstd::decompress(input, max_output),
    };
    result.map_err(|e| e.context(c.name()))
}

fn too_large(max_output: usize) -> DecodeError {
    DecodeError::new(format!(
        "decompressed data exceeds the limit of {max_output} bytes"
    ))
}

/// Reads all of `r` into a vector, failing once it yields more than `max_output` bytes.
#[allow(dead_code)] // unused when no streaming codec is enabled
fn read_bounded(
    mut r: impl std::io::Read,
    max_output: usize,
    size_hint: usize,
) -> Result<Vec<u8>, DecodeError> {
    use std::io::Read;
    let mut out = Vec::with_capacity(size_hint.min(max_output).min(1 << 20));
    let limit = (max_output as u64).saturating_add(1);
    (&mut r)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::new(format!("corrupt data: {e}")))?;
    if out.len() > max_output {
        return Err(too_large(max_output));
    }
    Ok(out)
}

#[cfg(feature = "gzip")]
mod gzip {
    use super::*;
    use std::io::Write;

    pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        // Level 6 is zlib's default and Java's GZIPOutputStream's.
        let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::new(6));
        enc.write_all(input)
            .and_then(|_| enc.try_finish())
            .map_err(|e| EncodeError::new(format!("gzip: {e}")))
    }

    pub(super) fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, DecodeError> {
        // Several concatenated members are one valid gzip stream.
        read_bounded(
            flate2::read::MultiGzDecoder::new(input),
            max_output,
            input.len() * 4,
        )
    }
}

#[cfg(not(feature = "gzip"))]
mod gzip {
    use super::*;
    pub(super) fn compress(_: &[u8], _: &mut Vec<u8>) -> Result<(), EncodeError> {
        Err(EncodeError::new(disabled(Compression::Gzip)))
    }
    pub(super) fn decompress(_: &[u8], _: usize) -> Result<Vec<u8>, DecodeError> {
        Err(DecodeError::new(disabled(Compression::Gzip)))
    }
}

/// The xerial (snappy-java) stream header: magic, then version 1 and
/// minimum compatible version 1 as big-endian `i32`s.
#[allow(dead_code)]
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
#[allow(dead_code)]
const XERIAL_HEADER_LEN: usize = 16;
/// Uncompressed bytes per xerial chunk (snappy-java's default, which Kafka's
/// Java client uses).
#[allow(dead_code)]
const XERIAL_CHUNK: usize = 32 * 1024;

#[cfg(feature = "snappy")]
mod snappy {
    use super::*;

    fn raw_compress(
        enc: &mut snap::raw::Encoder,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<usize, EncodeError> {
        let start = out.len();
        out.resize(start + snap::raw::max_compress_len(input.len()), 0);
        match enc.compress(input, &mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                Ok(n)
            }
            Err(e) => {
                out.truncate(start);
                Err(EncodeError::new(format!("snappy: {e}")))
            }
        }
    }

    /// Writes the xerial framing that snappy-java (Kafka's Java client)
    /// writes and every client reads (Java, librdkafka, kafka-python, Go).
    pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut enc = snap::raw::Encoder::new();
        out.reserve(XERIAL_HEADER_LEN + input.len() / 2 + 16);
        out.extend_from_slice(&XERIAL_MAGIC);
        out.extend_from_slice(&1i32.to_be_bytes());
        out.extend_from_slice(&1i32.to_be_bytes());
        for chunk in input.chunks(XERIAL_CHUNK) {
            let len_at = out.len();
            out.extend_from_slice(&[0; 4]);
            let n = raw_compress(&mut enc, chunk, out)?;
            out[len_at..len_at + 4].copy_from_slice(&(n as i32).to_be_bytes());
        }
        Ok(())
    }

    /// Decompresses one raw snappy block, appending to `out`.
    fn raw_decompress(
        dec: &mut snap::raw::Decoder,
        block: &[u8],
        out: &mut Vec<u8>,
        max_output: usize,
    ) -> Result<(), DecodeError> {
        let n = snap::raw::decompress_len(block)
            .map_err(|e| DecodeError::new(format!("corrupt data: {e}")))?;
        if n > max_output - out.len() {
            return Err(too_large(max_output));
        }
        let start = out.len();
        out.resize(start + n, 0);
        match dec.decompress(block, &mut out[start..]) {
            Ok(m) if m == n => Ok(()),
            Ok(m) => Err(DecodeError::new(format!(
                "corrupt data: block header says {n} bytes, block holds {m}"
            ))),
            Err(e) => Err(DecodeError::new(format!("corrupt data: {e}"))),
        }
    }

    pub(super) fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, DecodeError> {
        let mut dec = snap::raw::Decoder::new();
        let mut out = Vec::new();
        if input.len() >= XERIAL_HEADER_LEN && input[..8] == XERIAL_MAGIC {
            // The version fields are not checked: some writers get their byte
            // order wrong, and there has only ever been one version.
            let mut rest = &input[XERIAL_HEADER_LEN..];
            while !rest.is_empty() {
                if rest.len() < 4 {
                    return Err(DecodeError::new("truncated xerial chunk length"));
                }
                let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
                rest = &rest[4..];
                if len < 0 || len as usize > rest.len() {
                    return Err(DecodeError::new(format!(
                        "xerial chunk length {len} exceeds the {} bytes that remain",
                        rest.len()
                    )));
                }
                let (block, tail) = rest.split_at(len as usize);
                raw_decompress(&mut dec, block, &mut out, max_output)?;
                rest = tail;
            }
        } else {
            raw_decompress(&mut dec, input, &mut out, max_output)?;
        }
        Ok(out)
    }
}

#[cfg(not(feature = "snappy"))]
mod snappy {
    use super::*;
    pub(super) fn compress(_: &[u8], _: &mut Vec<u8>) -> Result<(), EncodeError> {
        Err(EncodeError::new(disabled(Compression::Snappy)))
    }
    pub(super) fn decompress(_: &[u8], _: usize) -> Result<Vec<u8>, DecodeError> {
        Err(DecodeError::new(disabled(Compression::Snappy)))
    }
}

/// xxHash32 (seed 0) of a short input, for LZ4 frame header checksums.
#[allow(dead_code)]
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

#[cfg(feature = "lz4")]
mod lz4 {
    use super::*;
    use lz4_flex::frame::{BlockMode, BlockSize, FrameDecoder, FrameEncoder, FrameInfo};
    use std::io::{Read, Write};

    const MAGIC: [u8; 4] = [0x04, 0x22, 0x4D, 0x18];

    /// Writes what Kafka's Java client writes and requires: frame version 1,
    /// independent 64 KiB blocks, no block or content checksum, no content size.
    pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let info = FrameInfo::new()
            .block_size(BlockSize::Max64KB)
            .block_mode(BlockMode::Independent)
            .block_checksums(false)
            .content_checksum(false);
        let mut enc = FrameEncoder::with_frame_info(info, out);
        enc.write_all(input)
            .map_err(|e| EncodeError::new(format!("lz4: {e}")))?;
        enc.finish()
            .map_err(|e| EncodeError::new(format!("lz4: {e}")))?;
        Ok(())
    }

    /// Length of the frame descriptor (FLG through HC) at `input[4..]`, when
    /// the input starts with a plausible LZ4 frame header.
    fn descriptor_len(input: &[u8]) -> Option<usize> {
        if input.len() < 7 || input[..4] != MAGIC {
            return None;
        }
        let flg = input[4];
        let len = 3 + if flg & 0x08 != 0 { 8 } else { 0 } + if flg & 0x01 != 0 { 4 } else { 0 };
        (input.len() >= 4 + len).then_some(len)
    }

    /// Walks the first frame's block headers to check that it is complete
    /// (the decoder takes a frame cut at a block boundary for a whole one).
    fn check_complete(input: &[u8], descriptor: usize) -> Result<(), DecodeError> {
        let flg = input[4];
        let block_checksum = if flg & 0x10 != 0 { 4 } else { 0 };
        let content_checksum = if flg & 0x04 != 0 { 4 } else { 0 };
        let mut at = 4 + descriptor;
        loop {
            let Some(b) = at.checked_add(4).and_then(|end| input.get(at..end)) else {
                return Err(DecodeError::new("truncated frame"));
            };
            let size = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff;
            at += 4;
            if size == 0 {
                at += content_checksum;
                break;
            }
            at = at.saturating_add(size as usize + block_checksum);
        }
        if at > input.len() {
            return Err(DecodeError::new("truncated frame"));
        }
        Ok(())
    }

    pub(super) fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, DecodeError> {
        if let Some(d) = descriptor_len(input) {
            check_complete(input, d)?;
        }
        // Kafka 0.8/0.9 clients (magic v0 messages) computed the header
        // checksum over the magic number too. Java accepts that for v0; so do
        // we, for any frame whose checksum matches that old form exactly, by
        // decoding with the checksum byte corrected.
        if let Some(d) = descriptor_len(input) {
            let hc_at = 4 + d - 1;
            let hc = |bytes: &[u8]| (xxh32(bytes) >> 8) as u8;
            if input[hc_at] != hc(&input[4..hc_at]) && input[hc_at] == hc(&input[..hc_at]) {
                let mut header = input[..=hc_at].to_vec();
                header[hc_at] = hc(&input[4..hc_at]);
                let chained = header.as_slice().chain(&input[hc_at + 1..]);
                return read_bounded(FrameDecoder::new(chained), max_output, input.len() * 4);
            }
        }
        read_bounded(FrameDecoder::new(input), max_output, input.len() * 4)
    }
}

#[cfg(not(feature = "lz4"))]
mod lz4 {
    use super::*;
    pub(super) fn compress(_: &[u8], _: &mut Vec<u8>) -> Result<(), EncodeError> {
        Err(EncodeError::new(disabled(Compression::Lz4)))
    }
    pub(super) fn decompress(_: &[u8], _: usize) -> Result<Vec<u8>, DecodeError> {
        Err(DecodeError::new(disabled(Compression::Lz4)))
    }
}

#[cfg(feature = "zstd")]
mod zstd {
    use super::*;
    use ruzstd::decoding::StreamingDecoder;
    use ruzstd::encoding::{CompressionLevel, compress_to_vec};
    use std::io::Read;

    const FRAME_MAGIC: u32 = 0xFD2F_B528;
    /// Window sizes up to this are always accepted (zstd level 19 uses 8 MiB;
    /// the decoder reserves the window upfront).
    const WINDOW_ALWAYS_OK: u64 = 16 << 20;

    pub(super) fn compress(input: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        // ruzstd implements its fastest level (about zstd level 1) only.
        let frame = compress_to_vec(input, CompressionLevel::Fastest);
        out.extend_from_slice(&frame);
        Ok(())
    }

    /// Checks a frame header's window size and declared content size against
    /// the output limit before the decoder allocates anything.
    fn check_frame_header(input: &[u8], max_output: usize) -> Result<(), DecodeError> {
        if input.len() < 6 {
            return Ok(()); // the decoder reports the truncation
        }
        let magic = u32::from_le_bytes([input[0], input[1], input[2], input[3]]);
        if magic != FRAME_MAGIC {
            return Ok(()); // skippable frame or garbage: the decoder decides
        }
        let fhd = input[4];
        let single_segment = fhd & 0x20 != 0;
        let fcs_len = match fhd >> 6 {
            0 if single_segment => 1,
            0 => 0,
            1 => 2,
            2 => 4,
            _ => 8,
        };
        let dict_len = [0, 1, 2, 4][(fhd & 0x03) as usize];
        let mut at = 5;
        let mut window = None;
        if !single_segment {
            let wd = input[at];
            at += 1;
            let log = 10 + u64::from(wd >> 3);
            let base = 1u64 << log;
            window = Some(base + (base / 8) * u64::from(wd & 7));
        }
        at += dict_len;
        let content_size = match input.get(at..at + fcs_len) {
            Some(b) if fcs_len > 0 => {
                let mut v = [0u8; 8];
                v[..fcs_len].copy_from_slice(b);
                let n = u64::from_le_bytes(v);
                Some(if fcs_len == 2 { n + 256 } else { n })
            }
            _ => None,
        };
        if let Some(n) = content_size {
            if n > max_output as u64 {
                return Err(too_large(max_output));
            }
        }
        let window = window.or(content_size).unwrap_or(0);
        if window > WINDOW_ALWAYS_OK.max(max_output as u64) {
            return Err(DecodeError::new(format!(
                "frame window of {window} bytes is larger than the decompressed size limit {max_output}"
            )));
        }
        Ok(())
    }

    pub(super) fn decompress(input: &[u8], max_output: usize) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::with_capacity((input.len() * 4).min(max_output).min(1 << 20));
        let mut rest = input;
        // A zstd stream may hold several frames; decode them all.
        while !rest.is_empty() {
            check_frame_header(rest, max_output)?;
            let mut src = rest;
            let mut dec = match StreamingDecoder::new(&mut src) {
                Ok(d) => d,
                Err(ruzstd::decoding::errors::FrameDecoderError::ReadFrameHeaderError(
                    ruzstd::decoding::errors::ReadFrameHeaderError::SkipFrame { length, .. },
                )) => {
                    // A skippable frame: its 8-byte header was consumed.
                    let skip = length as usize;
                    if skip > src.len() {
                        return Err(DecodeError::new("truncated skippable frame"));
                    }
                    rest = &src[skip..];
                    continue;
                }
                Err(e) => return Err(DecodeError::new(format!("corrupt data: {e}"))),
            };
            let room = (max_output - out.len()) as u64;
            (&mut dec)
                .take(room + 1)
                .read_to_end(&mut out)
                .map_err(|e| DecodeError::new(format!("corrupt data: {e}")))?;
            if out.len() > max_output {
                return Err(too_large(max_output));
            }
            if !dec.decoder.is_finished() {
                return Err(DecodeError::new("truncated frame"));
            }
            if let (Some(want), Some(got)) = (
                dec.decoder.get_checksum_from_data(),
                dec.decoder.get_calculated_checksum(),
            ) {
                if want != got {
                    return Err(DecodeError::new("content checksum mismatch"));
                }
            }
            drop(dec);
            rest = src;
        }
        Ok(out)
    }
}

#[cfg(not(feature = "zstd"))]
mod zstd {
    use super::*;
    pub(super) fn compress(_: &[u8], _: &mut Vec<u8>) -> Result<(), EncodeError> {
        Err(EncodeError::new(disabled(Compression::Zstd)))
    }
    pub(super) fn decompress(_: &[u8], _: usize) -> Result<Vec<u8>, DecodeError> {
        Err(DecodeError::new(disabled(Compression::Zstd)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn samples() -> Vec<Vec<u8>> {
        let mut text = Vec::new();
        for i in 0..5000 {
            text.extend_from_slice(format!("record {i} value some repeated text\n").as_bytes());
        }
        vec![
            Vec::new(),
            b"x".to_vec(),
            b"hello hello hello hello".to_vec(),
            random_bytes(1, 1000),
            random_bytes(2, 100_000),
            vec![0u8; 300_000],
            text,
        ]
    }

    fn codecs() -> impl Iterator<Item = Compression> {
        Compression::ALL.into_iter().filter(|c| c.is_available())
    }

    #[test]
    fn names_and_bits() {
        for c in Compression::ALL {
            assert_eq!(Compression::from_attributes(c.attribute_bits()).unwrap(), c);
            assert_eq!(c.name().parse::<Compression>().unwrap(), c);
            assert_eq!(c.to_string(), c.name());
        }
        // Only bits 0-2 count.
        assert_eq!(
            Compression::from_attributes(0x7ff3).unwrap(),
            Compression::Lz4
        );
        assert!(Compression::from_attributes(5).is_err());
        assert!(Compression::from_attributes(7).is_err());
        assert_eq!(" ZSTD ".parse::<Compression>().unwrap(), Compression::Zstd);
        assert_eq!(
            "uncompressed".parse::<Compression>().unwrap(),
            Compression::None
        );
        let e = "brotli".parse::<Compression>().unwrap_err();
        assert!(e.to_string().contains("brotli"), "{e}");
    }

    #[test]
    fn round_trips() {
        for c in codecs() {
            for s in samples() {
                let mut out = vec![9, 9]; // compress appends
                compress(c, &s, &mut out).unwrap();
                assert_eq!(&out[..2], &[9, 9]);
                let back = decompress(c, &out[2..], s.len()).unwrap_or_else(|e| panic!("{c}: {e}"));
                assert_eq!(back, s, "{c} len {}", s.len());
                if s.len() > 1000 && c != Compression::None {
                    // One byte less than needed is a size error, not a panic or OOM.
                    let e = decompress(c, &out[2..], s.len() - 1).unwrap_err();
                    assert!(e.message().contains("exceeds the limit"), "{c}: {e}");
                }
            }
        }
    }

    #[test]
    fn compressible_data_shrinks() {
        let s = &samples()[6];
        for c in codecs().filter(|c| *c != Compression::None) {
            let mut out = Vec::new();
            compress(c, s, &mut out).unwrap();
            assert!(out.len() * 4 < s.len(), "{c}: {} -> {}", s.len(), out.len());
        }
    }

    #[test]
    fn decompression_bomb_is_bounded() {
        let zeros = vec![0u8; 20 << 20];
        for c in codecs().filter(|c| *c != Compression::None) {
            let mut bomb = Vec::new();
            compress(c, &zeros, &mut bomb).unwrap();
            assert!(bomb.len() < zeros.len() / 20, "{c}: {}", bomb.len());
            let e = decompress(c, &bomb, 1 << 20).unwrap_err();
            assert!(e.message().contains("exceeds the limit"), "{c}: {e}");
            assert!(e.message().starts_with(c.name()), "{c}: {e}");
        }
    }

    #[test]
    fn garbage_and_truncation_are_errors_not_panics() {
        for c in codecs().filter(|c| *c != Compression::None) {
            for s in samples().into_iter().filter(|s| !s.is_empty()) {
                let mut out = Vec::new();
                compress(c, &s, &mut out).unwrap();
                for cut in [0, 1, out.len() / 2, out.len().saturating_sub(1)] {
                    if cut < out.len() {
                        assert!(
                            decompress(c, &out[..cut], 1 << 24)
                                .map(|v| v != s)
                                .unwrap_or(true),
                            "{c} cut {cut} of {}",
                            out.len()
                        );
                    }
                }
                // Flip bytes here and there: must not panic (result may be Ok or Err).
                for (i, pos) in (0..out.len()).step_by(out.len() / 17 + 1).enumerate() {
                    let mut m = out.clone();
                    m[pos] ^= 1 << (i % 8);
                    let _ = decompress(c, &m, 1 << 24);
                }
            }
            for seed in 0..200 {
                let g = random_bytes(seed, (seed as usize * 7) % 300);
                let _ = decompress(c, &g, 1 << 20);
            }
        }
    }

    #[cfg(feature = "snappy")]
    #[test]
    fn snappy_reads_raw_and_xerial() {
        let s = samples().pop().unwrap();
        let mut xerial = Vec::new();
        compress(Compression::Snappy, &s, &mut xerial).unwrap();
        assert_eq!(&xerial[..8], &XERIAL_MAGIC);
        assert_eq!(&xerial[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
        let raw = snap::raw::Encoder::new().compress_vec(&s).unwrap();
        assert_eq!(decompress(Compression::Snappy, &raw, s.len()).unwrap(), s);
        // A hostile xerial chunk length.
        let mut bad = xerial[..16].to_vec();
        bad.extend_from_slice(&0x7fff_ffffi32.to_be_bytes());
        bad.extend_from_slice(b"abc");
        assert!(decompress(Compression::Snappy, &bad, 1 << 20).is_err());
        // A raw block claiming a huge length.
        let huge = [0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0];
        assert!(decompress(Compression::Snappy, &huge, 1 << 20).is_err());
    }

    #[cfg(feature = "lz4")]
    #[test]
    fn lz4_frame_header_is_what_kafka_expects() {
        let mut out = Vec::new();
        compress(Compression::Lz4, b"some bytes some bytes", &mut out).unwrap();
        assert_eq!(&out[..4], &[0x04, 0x22, 0x4D, 0x18]);
        // FLG: version 01, block independence, no checksums, no content size.
        assert_eq!(out[4], 0b0110_0000);
        // BD: 64 KiB blocks.
        assert_eq!(out[5], 0x40);
        assert_eq!(out[6], (xxh32(&out[4..6]) >> 8) as u8);
    }

    #[cfg(feature = "lz4")]
    #[test]
    fn lz4_accepts_old_kafka_header_checksum() {
        let s = samples().pop().unwrap();
        let mut out = Vec::new();
        compress(Compression::Lz4, &s, &mut out).unwrap();
        out[6] = (xxh32(&out[..6]) >> 8) as u8; // checksum over magic too, as Kafka 0.8 did
        assert_eq!(decompress(Compression::Lz4, &out, s.len()).unwrap(), s);
        out[6] ^= 0x55; // neither form
        assert!(decompress(Compression::Lz4, &out, s.len()).is_err());
    }

    #[test]
    fn xxh32_known_values() {
        assert_eq!(xxh32(b""), 0x02CC_5D05);
        assert_eq!(xxh32(b"a"), 0x550D_7456);
        assert_eq!(xxh32(b"abc"), 0x32D1_53FF);
        assert_eq!(
            xxh32(b"Nobody inspects the spammish repetition"),
            0xE229_3B2F
        );
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn zstd_rejects_oversized_declared_content() {
        // Single-segment frame header declaring 2^32 bytes of content.
        let mut f = 0xFD2F_B528u32.to_le_bytes().to_vec();
        f.push(0b1010_0000); // FCS 4 bytes, single segment
        f.extend_from_slice(&u32::MAX.to_le_bytes());
        f.extend_from_slice(&[1, 0, 0]); // a raw, last, empty block
        let e = decompress(Compression::Zstd, &f, 1 << 20).unwrap_err();
        assert!(e.message().contains("exceeds the limit"), "{e}");
        // Two concatenated frames decode as one stream.
        let mut two = Vec::new();
        compress(Compression::Zstd, b"first ", &mut two).unwrap();
        compress(Compression::Zstd, b"second", &mut two).unwrap();
        assert_eq!(
            decompress(Compression::Zstd, &two, 100).unwrap(),
            b"first second"
        );
        // Skippable frames are skipped.
        let mut skippable = 0x184D_2A50u32.to_le_bytes().to_vec();
        skippable.extend_from_slice(&3u32.to_le_bytes());
        skippable.extend_from_slice(b"abc");
        skippable.extend_from_slice(&two);
        assert_eq!(
            decompress(Compression::Zstd, &skippable, 100).unwrap(),
            b"first second"
        );
        assert!(decompress(Compression::Zstd, &skippable[..10], 100).is_err());
    }

    #[test]
    fn disabled_codecs_say_which_feature() {
        for c in Compression::ALL.into_iter().filter(|c| !c.is_available()) {
            let e = compress(c, b"x", &mut Vec::new()).unwrap_err();
            assert!(
                e.message().contains(&format!(
                    "enable the `{}` cargo feature of kafka-blocking",
                    c.name()
                )),
                "{e}"
            );
            let e = decompress(c, b"x", 10).unwrap_err();
            assert!(e.message().contains("cargo feature"), "{e}");
        }
    }
}
