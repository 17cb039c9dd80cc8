//! The Kafka protocol's primitive types: fixed-width integers, varints, strings,
//! bytes, arrays, UUIDs and tagged-field sections, in both the classic and the
//! compact ("flexible", KIP-482) forms.
//!
//! Decoding reads from a [`Reader`] over untrusted bytes: every length and count
//! is checked against the bytes that remain *before* anything is allocated, so a
//! hostile 2 GiB length prefix costs an error, not memory.

use byteorder::{BigEndian, ByteOrder};
use std::fmt;

use super::bytes::Bytes;

/// A malformed or truncated protocol message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    message: String,
}

impl DecodeError {
    /// A decode error with a message saying what was wrong.
    pub fn new(message: impl Into<String>) -> DecodeError {
        DecodeError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prefixes the message with where the error happened (a field or message name).
    pub fn context(self, what: &str) -> DecodeError {
        DecodeError {
            message: format!("{what}: {}", self.message),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

/// A value that cannot be encoded at the requested version (for example a field
/// the version lacks was set, or a string longer than its length prefix allows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeError {
    message: String,
}

impl EncodeError {
    /// An encode error with a message saying what was wrong.
    pub fn new(message: impl Into<String>) -> EncodeError {
        EncodeError {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EncodeError {}

/// Result of a decode step.
pub type DecodeResult<T> = Result<T, DecodeError>;

/// A 128-bit UUID as Kafka sends it (topic ids, incarnation ids).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID Kafka uses for "no id".
    pub const ZERO: Uuid = Uuid([0; 16]);

    /// True for the all-zero UUID.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Uuid {
    /// Kafka prints topic ids as URL-safe base64 without padding; so do we.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::with_capacity(22);
        for chunk in self.0.chunks(3) {
            let n =
                chunk.iter().fold(0u32, |acc, &b| (acc << 8) | b as u32) << (8 * (3 - chunk.len()));
            let chars = chunk.len() + 1;
            for i in 0..chars {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        f.write_str(&out)
    }
}

/// A cursor over bytes received from the network.
///
/// Reads never panic: running out of bytes is a [`DecodeError`].
#[derive(Clone, Debug)]
pub struct Reader {
    buf: Bytes,
    pos: usize,
}

macro_rules! read_fixed {
    ($name:ident, $ty:ty, $n:expr, $conv:expr) => {
        #[doc = concat!("Reads a big-endian `", stringify!($ty), "`.")]
        #[inline]
        pub fn $name(&mut self) -> DecodeResult<$ty> {
            let s = self.take($n)?;
            #[allow(clippy::redundant_closure_call)]
            Ok($conv(s))
        }
    };
}

impl Reader {
    /// A reader over the whole of `buf`.
    pub fn new(buf: impl Into<Bytes>) -> Reader {
        Reader {
            buf: buf.into(),
            pos: 0,
        }
    }

    /// Bytes not yet read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes read so far.
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, without consuming them.
    pub fn peek_rest(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    #[inline]
    fn take(&mut self, n: usize) -> DecodeResult<&[u8]> {
        if n > self.remaining() {
            return Err(DecodeError::new(format!(
                "need {n} bytes but only {} remain",
                self.remaining()
            )));
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.buf[start..start + n])
    }

    /// Consumes `n` bytes as a shared view (no copy).
    pub fn read_slice(&mut self, n: usize) -> DecodeResult<Bytes> {
        if n > self.remaining() {
            return Err(DecodeError::new(format!(
                "length {n} exceeds the {} bytes that remain",
                self.remaining()
            )));
        }
        let b = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(b)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> DecodeResult<()> {
        self.take(n).map(|_| ())
    }

    /// A reader over the next `n` bytes, consuming them from this one.
    pub fn sub_reader(&mut self, n: usize) -> DecodeResult<Reader> {
        Ok(Reader::new(self.read_slice(n)?))
    }

    read_fixed!(read_i8, i8, 1, |s: &[u8]| s[0] as i8);
    read_fixed!(read_u8, u8, 1, |s: &[u8]| s[0]);
    read_fixed!(read_i16, i16, 2, BigEndian::read_i16);
    read_fixed!(read_u16, u16, 2, BigEndian::read_u16);
    read_fixed!(read_i32, i32, 4, BigEndian::read_i32);
    read_fixed!(read_u32, u32, 4, BigEndian::read_u32);
    read_fixed!(read_i64, i64, 8, BigEndian::read_i64);
    read_fixed!(read_f64, f64, 8, BigEndian::read_f64);

    /// Reads a boolean (any non-zero byte is true, as in Java).
    pub fn read_bool(&mut self) -> DecodeResult<bool> {
        Ok(self.read_u8()? != 0)
    }

    /// Reads a 16-byte UUID.
    pub fn read_uuid(&mut self) -> DecodeResult<Uuid> {
        let s = self.take(16)?;
        let mut u = [0u8; 16];
        u.copy_from_slice(s);
        Ok(Uuid(u))
    }

    /// Reads an unsigned LEB128 varint of at most 5 bytes (32 bits).
    #[inline]
    pub fn read_unsigned_varint(&mut self) -> DecodeResult<u32> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.read_u8()?;
            if i == 4 && b > 0x0f {
                return Err(DecodeError::new("unsigned varint is longer than 32 bits"));
            }
            value |= ((b & 0x7f) as u32) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::new("unsigned varint is longer than 5 bytes"))
    }

    /// Reads an unsigned LEB128 varlong of at most 10 bytes (64 bits).
    #[inline]
    pub fn read_unsigned_varlong(&mut self) -> DecodeResult<u64> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let b = self.read_u8()?;
            if i == 9 && b > 0x01 {
                return Err(DecodeError::new("unsigned varlong is longer than 64 bits"));
            }
            value |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::new("unsigned varlong is longer than 10 bytes"))
    }

    /// Reads a zigzag-encoded signed varint (32 bits).
    #[inline]
    pub fn read_varint(&mut self) -> DecodeResult<i32> {
        let u = self.read_unsigned_varint()?;
        Ok(((u >> 1) as i32) ^ -((u & 1) as i32))
    }

    /// Reads a zigzag-encoded signed varlong (64 bits).
    #[inline]
    pub fn read_varlong(&mut self) -> DecodeResult<i64> {
        let u = self.read_unsigned_varlong()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// Reads a length: `i16` (classic strings), `i32` (classic bytes/arrays) or
    /// unsigned varint minus one (compact forms). `None` means null (-1).
    /// The length is checked against the remaining bytes, scaled by
    /// `min_item_size` (1 for byte lengths), so it is safe to allocate.
    fn checked_len(
        &mut self,
        raw: i64,
        min_item_size: usize,
        what: &str,
    ) -> DecodeResult<Option<usize>> {
        if raw == -1 {
            return Ok(None);
        }
        if raw < -1 {
            return Err(DecodeError::new(format!(
                "{what} has negative length {raw}"
            )));
        }
        let n = raw as usize;
        if n.saturating_mul(min_item_size.max(1)) > self.remaining() {
            return Err(DecodeError::new(format!(
                "{what} claims {n} entries/bytes but only {} bytes remain",
                self.remaining()
            )));
        }
        Ok(Some(n))
    }

    fn raw_len(&mut self, compact: bool, wide: bool) -> DecodeResult<i64> {
        if compact {
            Ok(self.read_unsigned_varint()? as i64 - 1)
        } else if wide {
            Ok(self.read_i32()? as i64)
        } else {
            Ok(self.read_i16()? as i64)
        }
    }

    /// Reads a nullable string (`i16` length, or compact when `compact`).
    pub fn read_nullable_string(&mut self, compact: bool) -> DecodeResult<Option<String>> {
        let raw = self.raw_len(compact, false)?;
        match self.checked_len(raw, 1, "string")? {
            None => Ok(None),
            Some(n) => {
                let s = self.take(n)?;
                match std::str::from_utf8(s) {
                    Ok(s) => Ok(Some(s.to_owned())),
                    Err(_) => Err(DecodeError::new("string is not valid UTF-8")),
                }
            }
        }
    }

    /// Reads a non-null string; a null is an error.
    pub fn read_string(&mut self, compact: bool) -> DecodeResult<String> {
        self.read_nullable_string(compact)?
            .ok_or_else(|| DecodeError::new("non-nullable string is null"))
    }

    /// Reads nullable bytes (`i32` length, or compact when `compact`) without copying.
    pub fn read_nullable_bytes(&mut self, compact: bool) -> DecodeResult<Option<Bytes>> {
        let raw = self.raw_len(compact, true)?;
        match self.checked_len(raw, 1, "bytes")? {
            None => Ok(None),
            Some(n) => self.read_slice(n).map(Some),
        }
    }

    /// Reads non-null bytes; a null is an error.
    pub fn read_bytes(&mut self, compact: bool) -> DecodeResult<Bytes> {
        self.read_nullable_bytes(compact)?
            .ok_or_else(|| DecodeError::new("non-nullable bytes are null"))
    }

    /// Reads an array length (`i32`, or compact when `compact`); `None` is a null
    /// array. Each entry takes at least `min_item_size` bytes, which bounds the
    /// count by the bytes that remain.
    pub fn read_array_len(
        &mut self,
        compact: bool,
        min_item_size: usize,
    ) -> DecodeResult<Option<usize>> {
        let raw = self.raw_len(compact, true)?;
        self.checked_len(raw, min_item_size, "array")
    }

    /// Reads a length-prefixed array of `n` items with `f`, bounded as in
    /// [`Reader::read_array_len`]. Null arrays are returned as `None`.
    pub fn read_array<T>(
        &mut self,
        compact: bool,
        min_item_size: usize,
        mut f: impl FnMut(&mut Reader) -> DecodeResult<T>,
    ) -> DecodeResult<Option<Vec<T>>> {
        match self.read_array_len(compact, min_item_size)? {
            None => Ok(None),
            Some(n) => {
                // The count is bounded by the bytes that remain, but a decoded
                // element can be much larger than its encoding: reserve a
                // little and let real elements grow the vector.
                let mut v = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    v.push(f(self)?);
                }
                Ok(Some(v))
            }
        }
    }

    /// Reads a tagged-field section, calling `known(tag, reader)` for each field
    /// with a reader over exactly that field's bytes. `known` returns `false` for
    /// tags it does not know; those are kept raw in the returned list so that
    /// re-encoding preserves them.
    pub fn read_tagged_fields(
        &mut self,
        mut known: impl FnMut(u32, &mut Reader) -> DecodeResult<bool>,
    ) -> DecodeResult<Vec<RawTaggedField>> {
        let count = self.read_unsigned_varint()? as usize;
        // Each tagged field takes at least two bytes (tag and size).
        if count.saturating_mul(2) > self.remaining() {
            return Err(DecodeError::new(format!(
                "tagged field count {count} exceeds the bytes that remain"
            )));
        }
        let mut unknown = Vec::new();
        let mut last: Option<u32> = None;
        for _ in 0..count {
            let tag = self.read_unsigned_varint()?;
            if let Some(prev) = last {
                if tag <= prev {
                    return Err(DecodeError::new(format!(
                        "tagged fields out of order: tag {tag} after {prev}"
                    )));
                }
            }
            last = Some(tag);
            let size = self.read_unsigned_varint()? as usize;
            let mut sub = self.sub_reader(size)?;
            let data = sub.buf.clone();
            if !known(tag, &mut sub)? {
                unknown.push(RawTaggedField { tag, data });
            }
        }
        Ok(unknown)
    }
}

/// A tagged field this client does not interpret, kept so it survives a round trip.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct RawTaggedField {
    /// The field's tag.
    pub tag: u32,
    /// The field's raw bytes.
    pub data: Bytes,
}

/// Writing primitives into a growable buffer. Implemented for `Vec<u8>`.
pub trait BufMut {
    /// Appends a byte.
    fn put_u8(&mut self, v: u8);
    /// Appends raw bytes.
    fn put_slice(&mut self, s: &[u8]);

    /// Appends an `i8`.
    fn put_i8(&mut self, v: i8) {
        self.put_u8(v as u8)
    }
    /// Appends a boolean as one byte.
    fn put_bool(&mut self, v: bool) {
        self.put_u8(v as u8)
    }
    /// Appends a big-endian `i16`.
    fn put_i16(&mut self, v: i16) {
        self.put_slice(&v.to_be_bytes())
    }
    /// Appends a big-endian `u16`.
    fn put_u16(&mut self, v: u16) {
        self.put_slice(&v.to_be_bytes())
    }
    /// Appends a big-endian `i32`.
    fn put_i32(&mut self, v: i32) {
        self.put_slice(&v.to_be_bytes())
    }
    /// Appends a big-endian `u32`.
    fn put_u32(&mut self, v: u32) {
        self.put_slice(&v.to_be_bytes())
    }
    /// Appends a big-endian `i64`.
    fn put_i64(&mut self, v: i64) {
        self.put_slice(&v.to_be_bytes())
    }
    /// Appends a big-endian IEEE-754 `f64`.
    fn put_f64(&mut self, v: f64) {
        self.put_slice(&v.to_be_bytes())
    }
    /// Appends a UUID.
    fn put_uuid(&mut self, v: &Uuid) {
        self.put_slice(&v.0)
    }
    /// Appends an unsigned LEB128 varint.
    #[inline]
    fn put_unsigned_varint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.put_u8(v as u8)
    }
    /// Appends an unsigned LEB128 varlong.
    #[inline]
    fn put_unsigned_varlong(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.put_u8(v as u8)
    }
    /// Appends a zigzag varint.
    #[inline]
    fn put_varint(&mut self, v: i32) {
        self.put_unsigned_varint(((v << 1) ^ (v >> 31)) as u32)
    }
    /// Appends a zigzag varlong.
    #[inline]
    fn put_varlong(&mut self, v: i64) {
        self.put_unsigned_varlong(((v << 1) ^ (v >> 63)) as u64)
    }
    /// Appends a nullable string (`i16` length, or compact).
    fn put_nullable_string(&mut self, v: Option<&str>, compact: bool) -> Result<(), EncodeError> {
        match v {
            None if compact => self.put_unsigned_varint(0),
            None => self.put_i16(-1),
            Some(s) => {
                if compact {
                    self.put_unsigned_varint(len_u32(s.len(), "string")? + 1);
                } else {
                    let n = i16::try_from(s.len()).map_err(|_| {
                        EncodeError::new(format!(
                            "string of {} bytes is longer than 32767",
                            s.len()
                        ))
                    })?;
                    self.put_i16(n);
                }
                self.put_slice(s.as_bytes());
            }
        }
        Ok(())
    }
    /// Appends a non-null string.
    fn put_string(&mut self, s: &str, compact: bool) -> Result<(), EncodeError> {
        self.put_nullable_string(Some(s), compact)
    }
    /// Appends nullable bytes (`i32` length, or compact).
    fn put_nullable_bytes(&mut self, v: Option<&[u8]>, compact: bool) -> Result<(), EncodeError> {
        match v {
            None if compact => self.put_unsigned_varint(0),
            None => self.put_i32(-1),
            Some(b) => {
                self.put_len(b.len(), compact)?;
                self.put_slice(b);
            }
        }
        Ok(())
    }
    /// Appends non-null bytes.
    fn put_bytes(&mut self, b: &[u8], compact: bool) -> Result<(), EncodeError> {
        self.put_nullable_bytes(Some(b), compact)
    }
    /// Appends an array/bytes length (`i32`, or compact length + 1).
    fn put_len(&mut self, n: usize, compact: bool) -> Result<(), EncodeError> {
        let n = len_u32(n, "length")?;
        if compact {
            self.put_unsigned_varint(n + 1);
        } else {
            self.put_i32(n as i32);
        }
        Ok(())
    }
    /// Appends a null array/bytes length.
    fn put_null_len(&mut self, compact: bool) {
        if compact {
            self.put_unsigned_varint(0)
        } else {
            self.put_i32(-1)
        }
    }
}

fn len_u32(n: usize, what: &str) -> Result<u32, EncodeError> {
    if n >= i32::MAX as usize {
        return Err(EncodeError::new(format!(
            "{what} {n} does not fit the protocol"
        )));
    }
    Ok(n as u32)
}

impl BufMut for Vec<u8> {
    #[inline]
    fn put_u8(&mut self, v: u8) {
        self.push(v)
    }
    #[inline]
    fn put_slice(&mut self, s: &[u8]) {
        self.extend_from_slice(s)
    }
}

/// Size in bytes of `v` as an unsigned varint.
#[inline]
pub fn unsigned_varint_size(v: u32) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

/// Size in bytes of `v` as a zigzag varint.
#[inline]
pub fn varint_size(v: i32) -> usize {
    unsigned_varint_size(((v << 1) ^ (v >> 31)) as u32)
}

/// Size in bytes of `v` as a zigzag varlong.
#[inline]
pub fn varlong_size(v: i64) -> usize {
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while u >= 0x80 {
        u >>= 7;
        n += 1;
    }
    n
}

/// Writes a tagged-field section from already-encoded `(tag, bytes)` pairs,
/// which must be sorted by tag.
pub fn put_tagged_fields(buf: &mut Vec<u8>, fields: &[(u32, &[u8])]) {
    buf.put_unsigned_varint(fields.len() as u32);
    for (tag, data) in fields {
        buf.put_unsigned_varint(*tag);
        buf.put_unsigned_varint(data.len() as u32);
        buf.put_slice(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip_varint(v: i32) {
        let mut b = Vec::new();
        b.put_varint(v);
        assert_eq!(b.len(), varint_size(v));
        assert_eq!(Reader::new(b).read_varint().unwrap(), v);
    }

    #[test]
    fn varints() {
        for v in [0, 1, -1, 63, -64, 64, 300, i32::MAX, i32::MIN] {
            roundtrip_varint(v);
        }
        // Known encodings from the protocol guide.
        let mut b = Vec::new();
        b.put_varint(-1);
        b.put_varint(1);
        b.put_varint(150);
        assert_eq!(b, [0x01, 0x02, 0xac, 0x02]);
        for v in [0i64, -1, 1, i64::MAX, i64::MIN, 1 << 40] {
            let mut b = Vec::new();
            b.put_varlong(v);
            assert_eq!(b.len(), varlong_size(v));
            assert_eq!(Reader::new(b).read_varlong().unwrap(), v);
        }
        for v in [0u32, 127, 128, 16383, 16384, u32::MAX] {
            let mut b = Vec::new();
            b.put_unsigned_varint(v);
            assert_eq!(b.len(), unsigned_varint_size(v));
            assert_eq!(Reader::new(b).read_unsigned_varint().unwrap(), v);
        }
    }

    #[test]
    fn overlong_varints_are_errors() {
        assert!(Reader::new(vec![0xff; 6]).read_unsigned_varint().is_err());
        assert!(
            Reader::new(vec![0xff, 0xff, 0xff, 0xff, 0x1f])
                .read_unsigned_varint()
                .is_err()
        );
        assert!(Reader::new(vec![0xff; 11]).read_unsigned_varlong().is_err());
        assert!(Reader::new(vec![0x80]).read_varint().is_err());
    }

    #[test]
    fn strings_and_bytes() {
        let mut b = Vec::new();
        b.put_string("héllo", false).unwrap();
        b.put_nullable_string(None, false).unwrap();
        b.put_string("x", true).unwrap();
        b.put_nullable_string(None, true).unwrap();
        b.put_bytes(b"ab", false).unwrap();
        b.put_nullable_bytes(None, true).unwrap();
        b.put_bytes(b"", true).unwrap();
        let mut r = Reader::new(b);
        assert_eq!(r.read_string(false).unwrap(), "héllo");
        assert_eq!(r.read_nullable_string(false).unwrap(), None);
        assert_eq!(r.read_string(true).unwrap(), "x");
        assert_eq!(r.read_nullable_string(true).unwrap(), None);
        assert_eq!(&*r.read_bytes(false).unwrap(), b"ab");
        assert_eq!(r.read_nullable_bytes(true).unwrap(), None);
        assert_eq!(&*r.read_bytes(true).unwrap(), b"");
        assert!(r.is_empty());
    }

    #[test]
    fn hostile_lengths_do_not_allocate() {
        // 2 GiB byte length with 4 bytes behind it.
        let mut r = Reader::new(vec![0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4]);
        assert!(r.read_bytes(false).is_err());
        let mut r = Reader::new(vec![0x7f, 0xff, 0xff, 0xff]);
        assert!(r.read_array(false, 1, |r| r.read_i8()).is_err());
        let mut r = Reader::new(vec![0xff, 0xfe]);
        assert!(r.read_nullable_string(false).is_err());
        // Non-UTF-8 string.
        let mut r = Reader::new(vec![0, 1, 0xff]);
        assert!(r.read_string(false).is_err());
    }

    #[test]
    fn tagged_fields() {
        let mut b = Vec::new();
        put_tagged_fields(&mut b, &[(0, &[1, 2]), (5, &[9])]);
        let mut seen = Vec::new();
        let unknown = Reader::new(b.clone())
            .read_tagged_fields(|tag, r| {
                if tag == 0 {
                    seen.push(r.read_i16()?);
                    Ok(true)
                } else {
                    Ok(false)
                }
            })
            .unwrap();
        assert_eq!(seen, [0x0102]);
        assert_eq!(unknown.len(), 1);
        assert_eq!(unknown[0].tag, 5);
        assert_eq!(&*unknown[0].data, &[9]);
        // Out-of-order tags are rejected.
        let mut bad = Vec::new();
        put_tagged_fields(&mut bad, &[(5, &[]), (1, &[])]);
        assert!(
            Reader::new(bad)
                .read_tagged_fields(|_, _| Ok(false))
                .is_err()
        );
    }

    #[test]
    fn uuid_display_is_kafka_base64() {
        // Kafka prints Uuid(0x0123456789abcdef, 0x0123456789abcdef) as "ASNFZ4mrze8BI0VniavN7w".
        let u = Uuid([
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
            0xcd, 0xef,
        ]);
        assert_eq!(u.to_string(), "ASNFZ4mrze8BI0VniavN7w");
    }
}
