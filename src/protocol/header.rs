//! Request header v0-v2 and response header v0-v1 (`RequestHeader.json`,
//! `ResponseHeader.json`), written by hand because of their two special cases:
//! the request's ClientId keeps its `int16` length even in header v2, and
//! ApiVersions responses always use header v0.

use super::primitives::{BufMut, DecodeResult, EncodeError, Reader};

/// The header in front of every request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestHeader {
    /// API key of the request.
    pub api_key: i16,
    /// Version of the request body.
    pub api_version: i16,
    /// Id echoed by the broker in the response.
    pub correlation_id: i32,
    /// The client.id setting; absent in header v0.
    pub client_id: Option<String>,
}

impl RequestHeader {
    /// Appends the header at `header_version` (0, 1 or 2).
    pub fn encode(&self, buf: &mut Vec<u8>, header_version: i16) -> Result<(), EncodeError> {
        buf.put_i16(self.api_key);
        buf.put_i16(self.api_version);
        buf.put_i32(self.correlation_id);
        if header_version >= 1 {
            // ClientId is "flexibleVersions: none": always an int16 length.
            buf.put_nullable_string(self.client_id.as_deref(), false)?;
        }
        if header_version >= 2 {
            // Empty tagged-field section.
            buf.put_unsigned_varint(0);
        }
        Ok(())
    }

    /// Reads a header at `header_version` (used by tests and fuzzing).
    pub fn decode(r: &mut Reader, header_version: i16) -> DecodeResult<RequestHeader> {
        let api_key = r.read_i16()?;
        let api_version = r.read_i16()?;
        let correlation_id = r.read_i32()?;
        let client_id = if header_version >= 1 {
            r.read_nullable_string(false)?
        } else {
            None
        };
        if header_version >= 2 {
            r.read_tagged_fields(|_, _| Ok(false))?;
        }
        Ok(RequestHeader {
            api_key,
            api_version,
            correlation_id,
            client_id,
        })
    }
}

/// The header in front of every response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseHeader {
    /// The request's correlation id.
    pub correlation_id: i32,
}

impl ResponseHeader {
    /// Reads a header at `header_version` (0 or 1); tagged fields are skipped.
    pub fn decode(r: &mut Reader, header_version: i16) -> DecodeResult<ResponseHeader> {
        let correlation_id = r.read_i32()?;
        if header_version >= 1 {
            r.read_tagged_fields(|_, _| Ok(false))?;
        }
        Ok(ResponseHeader { correlation_id })
    }

    /// Appends the header at `header_version` (used by tests and fake brokers).
    pub fn encode(&self, buf: &mut Vec<u8>, header_version: i16) {
        buf.put_i32(self.correlation_id);
        if header_version >= 1 {
            buf.put_unsigned_varint(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_header_v2_keeps_int16_client_id() {
        let h = RequestHeader {
            api_key: 18,
            api_version: 3,
            correlation_id: 7,
            client_id: Some("ab".into()),
        };
        let mut b = Vec::new();
        h.encode(&mut b, 2).unwrap();
        assert_eq!(b, [0, 18, 0, 3, 0, 0, 0, 7, 0, 2, b'a', b'b', 0]);
        assert_eq!(RequestHeader::decode(&mut Reader::new(b), 2).unwrap(), h);
        let mut b0 = Vec::new();
        h.encode(&mut b0, 0).unwrap();
        assert_eq!(b0.len(), 8);
    }

    #[test]
    fn response_header_versions() {
        let mut b = Vec::new();
        ResponseHeader { correlation_id: 9 }.encode(&mut b, 1);
        assert_eq!(b, [0, 0, 0, 9, 0]);
        let mut r = Reader::new(b);
        assert_eq!(ResponseHeader::decode(&mut r, 1).unwrap().correlation_id, 9);
        assert!(r.is_empty());
    }
}
