//! Framing for the scripted fake brokers of the tests (a TCP listener that
//! answers requests with messages built from the generated protocol types):
//! one place that reads request frames and writes response frames.

use std::io::{Read, Write};
use std::net::TcpStream;

use kafka_blocking::unstable::protocol::header::{RequestHeader, ResponseHeader};
use kafka_blocking::unstable::protocol::{Reader, Request, Response};

/// The next request frame (without its size prefix), or `None` once the client
/// closed the connection. Panics on a size outside 0..16 MiB: the client under
/// test never sends one.
pub fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).ok()?;
    let n = i32::from_be_bytes(size);
    assert!((0..1 << 24).contains(&n), "bad request size {n}");
    let mut body = vec![0u8; n as usize];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

/// The API key and version of a request frame.
pub fn api_key_and_version(frame: &[u8]) -> (i16, i16) {
    let mut r = Reader::new(frame.to_vec());
    (r.read_i16().unwrap(), r.read_i16().unwrap())
}

/// Decodes a request frame's header and body: (correlation id, request).
pub fn decode_request<R: Request>(frame: Vec<u8>, version: i16) -> (i32, R) {
    let mut r = Reader::new(frame);
    let h = RequestHeader::decode(&mut r, R::header_version(version)).unwrap();
    (h.correlation_id, R::decode(&mut r, version).unwrap())
}

/// Writes `resp` as the answer to request `correlation_id`; false when the
/// client has gone.
pub fn write_response<R: Response>(
    s: &mut TcpStream,
    correlation_id: i32,
    version: i16,
    resp: &R,
) -> bool {
    let mut body = Vec::new();
    ResponseHeader { correlation_id }.encode(&mut body, R::header_version(version));
    resp.encode(&mut body, version).expect("encode response");
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    s.write_all(&frame).is_ok()
}
