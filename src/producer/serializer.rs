//! Turning application values into record bytes.

/// Converts a value into the bytes of a record key or value.
///
/// Ready-made for byte slices and vectors, strings and integers (big-endian,
/// as the Java `IntegerSerializer`/`LongSerializer` write them).
pub trait Serializer<T: ?Sized> {
    /// Serializes `value` for `topic`; `None` is a null (for values: a tombstone).
    fn serialize(&self, topic: &str, value: &T) -> Option<Vec<u8>>;
}

/// Bytes as they are.
#[derive(Clone, Copy, Debug, Default)]
pub struct BytesSerializer;

impl Serializer<[u8]> for BytesSerializer {
    fn serialize(&self, _topic: &str, value: &[u8]) -> Option<Vec<u8>> {
        Some(value.to_vec())
    }
}

impl Serializer<Vec<u8>> for BytesSerializer {
    fn serialize(&self, _topic: &str, value: &Vec<u8>) -> Option<Vec<u8>> {
        Some(value.clone())
    }
}

/// UTF-8 strings.
#[derive(Clone, Copy, Debug, Default)]
pub struct StringSerializer;

impl Serializer<str> for StringSerializer {
    fn serialize(&self, _topic: &str, value: &str) -> Option<Vec<u8>> {
        Some(value.as_bytes().to_vec())
    }
}

impl Serializer<String> for StringSerializer {
    fn serialize(&self, _topic: &str, value: &String) -> Option<Vec<u8>> {
        Some(value.as_bytes().to_vec())
    }
}

/// Big-endian integers (Java's `ShortSerializer`, `IntegerSerializer`, `LongSerializer`).
#[derive(Clone, Copy, Debug, Default)]
pub struct IntegerSerializer;

macro_rules! int_ser {
    ($($t:ty),*) => {$(
        impl Serializer<$t> for IntegerSerializer {
            fn serialize(&self, _topic: &str, value: &$t) -> Option<Vec<u8>> {
                Some(value.to_be_bytes().to_vec())
            }
        }
    )*};
}
int_ser!(i16, i32, i64, u16, u32, u64);

impl<T: ?Sized, S: Serializer<T>> Serializer<Option<&T>> for OptionSerializer<S> {
    fn serialize(&self, topic: &str, value: &Option<&T>) -> Option<Vec<u8>> {
        value.and_then(|v| self.0.serialize(topic, v))
    }
}

/// Wraps a serializer so that `None` becomes a null.
#[derive(Clone, Copy, Debug, Default)]
pub struct OptionSerializer<S>(pub S);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins() {
        assert_eq!(
            StringSerializer.serialize("t", "hé").unwrap(),
            "hé".as_bytes()
        );
        assert_eq!(
            IntegerSerializer.serialize("t", &258i32).unwrap(),
            [0, 0, 1, 2]
        );
        assert_eq!(IntegerSerializer.serialize("t", &-1i64).unwrap(), [0xff; 8]);
        assert_eq!(BytesSerializer.serialize("t", &b"ab"[..]).unwrap(), b"ab");
        assert_eq!(
            OptionSerializer(StringSerializer).serialize("t", &None::<&str>),
            None
        );
    }
}
