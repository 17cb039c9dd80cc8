//! The Kafka wire protocol: bytes to typed messages and back, no I/O.
//!
//! - [`primitives`]: integers, varints, strings, arrays, tagged fields.
//! - [`header`]: request and response headers.
//! - [`messages`]: one module per API, generated from Kafka's JSON message
//!   definitions by `codegen/generate.py` (see `codegen/README.md`).
//! - [`records`]: record batches (message format v2) and legacy message sets.
//! - [`error_code`]: every Kafka error code.

pub mod bytes;
pub mod compression;
pub mod crc32c;
pub mod error_code;
pub mod header;
pub mod messages;
pub mod primitives;
pub mod records;

pub use bytes::Bytes;
pub use error_code::KafkaCode;
pub use primitives::{
    BufMut, DecodeError, DecodeResult, EncodeError, RawTaggedField, Reader, Uuid,
};

/// A message that can be written at a protocol version.
pub trait Encodable {
    /// Appends the message's encoding at `version` to `buf`.
    ///
    /// Fails when the value cannot be expressed at that version (a field the
    /// version lacks holds a non-default value, or a length overflows).
    fn encode(&self, buf: &mut Vec<u8>, version: i16) -> Result<(), EncodeError>;
}

/// A message that can be read at a protocol version.
pub trait Decodable: Sized {
    /// Reads the message at `version` from `r`.
    fn decode(r: &mut Reader, version: i16) -> DecodeResult<Self>;
}

/// A request message of one Kafka API.
pub trait Request: Encodable + Decodable + Default + Clone + std::fmt::Debug {
    /// The API key (e.g. 3 for Metadata).
    const API_KEY: i16;
    /// The API's name as Kafka spells it (e.g. "Metadata").
    const NAME: &'static str;
    /// Lowest version this crate can encode.
    const MIN_VERSION: i16;
    /// Highest version this crate can encode.
    const MAX_VERSION: i16;
    /// First flexible version (compact encodings, tagged fields), or
    /// `i16::MAX` when the API has none.
    const FLEXIBLE_MIN: i16;
    /// The matching response type.
    type Response: Response;

    /// Request header version for `version`: 2 when flexible, else 1.
    fn header_version(version: i16) -> i16 {
        if version >= Self::FLEXIBLE_MIN { 2 } else { 1 }
    }
}

/// A response message of one Kafka API.
pub trait Response: Encodable + Decodable + Default + Clone + std::fmt::Debug {
    /// The API key (e.g. 3 for Metadata).
    const API_KEY: i16;
    /// First flexible version, or `i16::MAX` when none.
    const FLEXIBLE_MIN: i16;

    /// Response header version for `version`: 1 when flexible, else 0.
    /// ApiVersions always answers with header v0, so that a client that sent
    /// a version the broker does not know can still read the error.
    fn header_version(version: i16) -> i16 {
        if Self::API_KEY != 18 && version >= Self::FLEXIBLE_MIN {
            1
        } else {
            0
        }
    }

    /// How long, in milliseconds, the client must send nothing more on the
    /// connection this response came from (KIP-219): the response's
    /// `throttle_time_ms` from the version at which the broker answers a
    /// quota violation at once and expects the client to back off (Java's
    /// `shouldClientThrottle`), else 0 (also for versions where the broker
    /// delayed the response itself, and for APIs without a throttle time).
    /// Generated per response by `codegen/generate.py`.
    fn client_throttle_time_ms(&self, version: i16) -> i32 {
        let _ = version;
        0
    }
}
