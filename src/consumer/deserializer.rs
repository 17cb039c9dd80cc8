//! Turning record bytes into application values (the Java `Deserializer`s).
//!
//! ```
//! use kafka_blocking::consumer::{Deserializer, IntegerDeserializer, StringDeserializer};
//! use kafka_blocking::Bytes;
//!
//! let v = Bytes::from("hello");
//! let s: String = StringDeserializer.deserialize("t", &[], Some(&v)).unwrap();
//! assert_eq!(s, "hello");
//! let n: Option<i32> = IntegerDeserializer.deserialize("t", &[], Some(&Bytes::from(vec![0, 0, 1, 2]))).unwrap();
//! assert_eq!(n, Some(258));
//! let none: Option<String> = StringDeserializer.deserialize("t", &[], None).unwrap();
//! assert_eq!(none, None);
//! ```

use std::fmt;

use crate::error::Error;
use crate::protocol::Bytes;
use crate::protocol::records::Header;

/// Why a key or value could not be converted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeserializeError {
    /// The record's topic.
    pub topic: String,
    /// What was wrong.
    pub message: String,
}

impl DeserializeError {
    /// An error for a record of `topic`.
    pub fn new(topic: &str, message: impl Into<String>) -> DeserializeError {
        DeserializeError {
            topic: topic.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for DeserializeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot deserialize a record of topic {}: {} (use a deserializer matching the producer's serializer)",
            self.topic, self.message
        )
    }
}

impl std::error::Error for DeserializeError {}

impl From<DeserializeError> for Error {
    fn from(e: DeserializeError) -> Error {
        Error::InvalidArgument(e.to_string())
    }
}

/// Converts the bytes of a record key or value into a `T`.
///
/// `data` is `None` for a null key or value. Ready-made implementations:
/// [`BytesDeserializer`], [`StringDeserializer`], [`IntegerDeserializer`]; each
/// gives `Option<T>` (null is `None`) and `T` (null is an error).
pub trait Deserializer<T> {
    /// Converts `data`, read from `topic` with `headers`.
    fn deserialize(
        &self,
        topic: &str,
        headers: &[Header],
        data: Option<&Bytes>,
    ) -> Result<T, DeserializeError>;
}

impl<T, F> Deserializer<T> for F
where
    F: Fn(&str, Option<&Bytes>) -> Result<T, DeserializeError>,
{
    fn deserialize(
        &self,
        topic: &str,
        _headers: &[Header],
        data: Option<&Bytes>,
    ) -> Result<T, DeserializeError> {
        self(topic, data)
    }
}

fn non_null<'a>(topic: &str, data: Option<&'a Bytes>) -> Result<&'a Bytes, DeserializeError> {
    data.ok_or_else(|| {
        DeserializeError::new(
            topic,
            "the data is null; deserialize into an Option to accept nulls",
        )
    })
}

/// The bytes as they are: [`Bytes`] (no copy) or `Vec<u8>`.
#[derive(Clone, Copy, Debug, Default)]
pub struct BytesDeserializer;

impl Deserializer<Option<Bytes>> for BytesDeserializer {
    fn deserialize(
        &self,
        _topic: &str,
        _h: &[Header],
        data: Option<&Bytes>,
    ) -> Result<Option<Bytes>, DeserializeError> {
        Ok(data.cloned())
    }
}

impl Deserializer<Bytes> for BytesDeserializer {
    fn deserialize(
        &self,
        topic: &str,
        _h: &[Header],
        data: Option<&Bytes>,
    ) -> Result<Bytes, DeserializeError> {
        non_null(topic, data).cloned()
    }
}

impl Deserializer<Option<Vec<u8>>> for BytesDeserializer {
    fn deserialize(
        &self,
        _topic: &str,
        _h: &[Header],
        data: Option<&Bytes>,
    ) -> Result<Option<Vec<u8>>, DeserializeError> {
        Ok(data.map(|d| d.to_vec()))
    }
}

impl Deserializer<Vec<u8>> for BytesDeserializer {
    fn deserialize(
        &self,
        topic: &str,
        _h: &[Header],
        data: Option<&Bytes>,
    ) -> Result<Vec<u8>, DeserializeError> {
        non_null(topic, data).map(|d| d.to_vec())
    }
}

/// UTF-8 text (Java's `StringDeserializer`); invalid UTF-8 is an error.
#[derive(Clone, Copy, Debug, Default)]
pub struct StringDeserializer;

fn utf8(topic: &str, d: &Bytes) -> Result<String, DeserializeError> {
    std::str::from_utf8(d)
        .map(str::to_string)
        .map_err(|e| DeserializeError::new(topic, format!("not UTF-8 text: {e}")))
}

impl Deserializer<Option<String>> for StringDeserializer {
    fn deserialize(
        &self,
        topic: &str,
        _h: &[Header],
        data: Option<&Bytes>,
    ) -> Result<Option<String>, DeserializeError> {
        data.map(|d| utf8(topic, d)).transpose()
    }
}

impl Deserializer<String> for StringDeserializer {
    fn deserialize(
        &self,
        topic: &str,
        _h: &[Header],
        data: Option<&Bytes>,
    ) -> Result<String, DeserializeError> {
        utf8(topic, non_null(topic, data)?)
    }
}

/// Big-endian integers and floats, as Java's `ShortDeserializer`,
/// `IntegerDeserializer`, `LongDeserializer`, `FloatDeserializer` and
/// `DoubleDeserializer` read them; a wrong length is an error.
#[derive(Clone, Copy, Debug, Default)]
pub struct IntegerDeserializer;

macro_rules! int_de {
    ($($t:ty),*) => {$(
        impl Deserializer<$t> for IntegerDeserializer {
            fn deserialize(&self, topic: &str, _h: &[Header], data: Option<&Bytes>) -> Result<$t, DeserializeError> {
                let d = non_null(topic, data)?;
                let arr: [u8; std::mem::size_of::<$t>()] = d.as_slice().try_into().map_err(|_| {
                    DeserializeError::new(
                        topic,
                        format!("{} needs {} bytes, the data has {}", stringify!($t), std::mem::size_of::<$t>(), d.len()),
                    )
                })?;
                Ok(<$t>::from_be_bytes(arr))
            }
        }

        impl Deserializer<Option<$t>> for IntegerDeserializer {
            fn deserialize(&self, topic: &str, h: &[Header], data: Option<&Bytes>) -> Result<Option<$t>, DeserializeError> {
                match data {
                    None => Ok(None),
                    Some(_) => <Self as Deserializer<$t>>::deserialize(self, topic, h, data).map(Some),
                }
            }
        }
    )*};
}
int_de!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins() {
        let b = Bytes::from(vec![0xff; 8]);
        let v: i64 = IntegerDeserializer.deserialize("t", &[], Some(&b)).unwrap();
        assert_eq!(v, -1);
        let e = <IntegerDeserializer as Deserializer<i32>>::deserialize(
            &IntegerDeserializer,
            "t",
            &[],
            Some(&b),
        )
        .unwrap_err();
        assert!(e.to_string().contains("i32 needs 4 bytes"), "{e}");
        let e = <StringDeserializer as Deserializer<String>>::deserialize(
            &StringDeserializer,
            "top",
            &[],
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("top"), "{e}");
        let bad = Bytes::from(vec![0xff, 0xfe]);
        assert!(
            <StringDeserializer as Deserializer<String>>::deserialize(
                &StringDeserializer,
                "t",
                &[],
                Some(&bad)
            )
            .is_err()
        );
        let raw: Option<Bytes> = BytesDeserializer.deserialize("t", &[], Some(&bad)).unwrap();
        assert_eq!(raw.unwrap(), bad);
        let f = |_t: &str, d: Option<&Bytes>| -> Result<usize, DeserializeError> {
            Ok(d.map_or(0, |d| d.len()))
        };
        assert_eq!(f.deserialize("t", &[], Some(&bad)).unwrap(), 2);
    }
}
