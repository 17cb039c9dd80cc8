//! Turning application values into record bytes.
//!
//! A [`Serializer`] can fail: [`Producer::send_serialized`](super::Producer::send_serialized)
//! then returns its error and sends nothing. A failure never becomes a null
//! value (which would be a tombstone on a compacted topic); a serializer that
//! means "null" returns `Ok(None)`.

use crate::error::Result;

/// Converts a value into the bytes of a record key or value.
///
/// Ready-made for byte slices and vectors, strings and integers (big-endian,
/// as the Java `IntegerSerializer`/`LongSerializer` write them).
///
/// A serializer of your own reports a value it cannot encode with an error,
/// e.g. `Err(Error::InvalidArgument(format!("cannot encode {value:?}: {e}")))`:
///
/// ```
/// use kafka_blocking::producer::Serializer;
/// use kafka_blocking::{Error, Result};
///
/// /// Non-negative numbers as decimal text.
/// struct Decimal;
///
/// impl Serializer<i64> for Decimal {
///     fn serialize(&self, topic: &str, value: &i64) -> Result<Option<Vec<u8>>> {
///         if *value < 0 {
///             return Err(Error::InvalidArgument(format!(
///                 "{value} is negative: cannot serialize it for topic {topic}"
///             )));
///         }
///         Ok(Some(value.to_string().into_bytes()))
///     }
/// }
/// assert_eq!(Decimal.serialize("t", &42).unwrap(), Some(b"42".to_vec()));
/// assert!(Decimal.serialize("t", &-1).is_err());
/// ```
pub trait Serializer<T: ?Sized> {
    /// Serializes `value` for `topic`: `Ok(Some(bytes))`, or `Ok(None)` for a
    /// null (for values: a tombstone). An error means the value cannot be
    /// serialized; the record is then not sent.
    fn serialize(&self, topic: &str, value: &T) -> Result<Option<Vec<u8>>>;
}

/// Bytes as they are.
#[derive(Clone, Copy, Debug, Default)]
pub struct BytesSerializer;

impl Serializer<[u8]> for BytesSerializer {
    fn serialize(&self, _topic: &str, value: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(Some(value.to_vec()))
    }
}

impl Serializer<Vec<u8>> for BytesSerializer {
    fn serialize(&self, _topic: &str, value: &Vec<u8>) -> Result<Option<Vec<u8>>> {
        Ok(Some(value.clone()))
    }
}

/// UTF-8 strings.
#[derive(Clone, Copy, Debug, Default)]
pub struct StringSerializer;

impl Serializer<str> for StringSerializer {
    fn serialize(&self, _topic: &str, value: &str) -> Result<Option<Vec<u8>>> {
        Ok(Some(value.as_bytes().to_vec()))
    }
}

impl Serializer<String> for StringSerializer {
    fn serialize(&self, _topic: &str, value: &String) -> Result<Option<Vec<u8>>> {
        Ok(Some(value.as_bytes().to_vec()))
    }
}

/// Big-endian integers (Java's `ShortSerializer`, `IntegerSerializer`, `LongSerializer`).
#[derive(Clone, Copy, Debug, Default)]
pub struct IntegerSerializer;

macro_rules! int_ser {
    ($($t:ty),*) => {$(
        impl Serializer<$t> for IntegerSerializer {
            fn serialize(&self, _topic: &str, value: &$t) -> Result<Option<Vec<u8>>> {
                Ok(Some(value.to_be_bytes().to_vec()))
            }
        }
    )*};
}
int_ser!(i16, i32, i64, u16, u32, u64);

impl<T: ?Sized, S: Serializer<T>> Serializer<Option<&T>> for OptionSerializer<S> {
    fn serialize(&self, topic: &str, value: &Option<&T>) -> Result<Option<Vec<u8>>> {
        match value {
            Some(v) => self.0.serialize(topic, v),
            None => Ok(None),
        }
    }
}

/// Wraps a serializer so that `None` becomes a null (the inner serializer's
/// errors pass through unchanged).
#[derive(Clone, Copy, Debug, Default)]
pub struct OptionSerializer<S>(pub S);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    struct Failing;

    impl Serializer<str> for Failing {
        fn serialize(&self, _topic: &str, value: &str) -> Result<Option<Vec<u8>>> {
            Err(Error::InvalidArgument(format!("cannot serialize {value}")))
        }
    }

    #[test]
    fn builtins() {
        assert_eq!(
            StringSerializer.serialize("t", "hé").unwrap().unwrap(),
            "hé".as_bytes()
        );
        assert_eq!(
            IntegerSerializer.serialize("t", &258i32).unwrap().unwrap(),
            [0, 0, 1, 2]
        );
        assert_eq!(
            IntegerSerializer.serialize("t", &-1i64).unwrap().unwrap(),
            [0xff; 8]
        );
        assert_eq!(
            BytesSerializer.serialize("t", &b"ab"[..]).unwrap().unwrap(),
            b"ab"
        );
        assert_eq!(
            OptionSerializer(StringSerializer)
                .serialize("t", &None::<&str>)
                .unwrap(),
            None
        );
    }

    #[test]
    fn errors_are_not_nulls() {
        let e = OptionSerializer(Failing)
            .serialize("t", &Some("x"))
            .unwrap_err();
        assert!(e.to_string().contains("cannot serialize x"), "{e}");
    }
}
