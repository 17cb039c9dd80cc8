//! SASL flows a real Apache Kafka 4.x cannot show (issue 10), against
//! scripted fake brokers:
//!
//! * the unframed legacy flow of brokers before Kafka 1.0 (SaslHandshake v0
//!   and no SaslAuthenticate): the PLAIN token goes as a bare size-prefixed
//!   frame and the broker's empty answer is read as one;
//! * a SCRAM server that does not know the password (it cannot compute the
//!   server signature): the client must refuse it, not carry on;
//! * re-authentication (KIP-368) on one connection while requests keep
//!   flowing: a second SaslHandshake + SaslAuthenticate on the same socket,
//!   every request answered.
//!
//! `tests/kafka_security.rs` runs the same mechanisms against real Kafka.

mod support;

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kafka_blocking::admin::AdminClient;
use kafka_blocking::unstable::protocol::KafkaCode;
use kafka_blocking::unstable::protocol::Request;
use kafka_blocking::unstable::protocol::messages::api_versions_response::ApiVersion;
use kafka_blocking::unstable::protocol::messages::metadata_response::MetadataResponseBroker;
use kafka_blocking::unstable::protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_blocking::{AdminConfig, Error};
use support::fake::{api_key_and_version, decode_request, read_frame, write_response};

/// How the fake broker authenticates.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// SaslHandshake v0 only; tokens unframed.
    Legacy,
    /// SaslHandshake v1 + SaslAuthenticate; PLAIN accepted with this session
    /// lifetime (ms).
    Framed { lifetime_ms: i64 },
    /// SCRAM-SHA-256 by a server that does not know the password.
    #[cfg(feature = "scram")]
    ImpostorScram,
}

#[derive(Default)]
struct Seen {
    /// Client tokens, in order.
    tokens: Vec<Vec<u8>>,
    /// SaslHandshake requests per connection.
    handshakes: Vec<usize>,
    metadata: usize,
}

fn api(api_key: i16, min_version: i16, max_version: i16) -> ApiVersion {
    ApiVersion {
        api_key,
        min_version,
        max_version,
        ..Default::default()
    }
}

fn write_raw(s: &mut TcpStream, bytes: &[u8]) -> bool {
    use std::io::Write;
    let mut frame = (bytes.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(bytes);
    s.write_all(&frame).is_ok()
}

/// Serves connections until the test ends; returns the port.
fn fake_broker(mode: Mode, seen: Arc<Mutex<Seen>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let seen = seen.clone();
            thread::spawn(move || serve(stream, port, mode, seen));
        }
    });
    port
}

fn serve(mut s: TcpStream, port: u16, mode: Mode, seen: Arc<Mutex<Seen>>) {
    let conn = {
        let mut g = seen.lock().unwrap();
        g.handshakes.push(0);
        g.handshakes.len() - 1
    };
    // Legacy flow: the frame after a successful SaslHandshake v0 is a bare token.
    let mut expect_raw_token = false;
    #[cfg(feature = "scram")]
    let mut scram_client_first: Option<String> = None;
    while let Some(frame) = read_frame(&mut s) {
        if expect_raw_token {
            expect_raw_token = false;
            seen.lock().unwrap().tokens.push(frame);
            if !write_raw(&mut s, b"") {
                return;
            }
            continue;
        }
        let (key, version) = api_key_and_version(&frame);
        let ok = match key {
            ApiVersionsRequest::API_KEY => {
                let (id, _) = decode_request::<ApiVersionsRequest>(frame, version);
                let mut keys = vec![api(3, 0, 12), api(18, 0, 3)];
                match mode {
                    Mode::Legacy => keys.push(api(17, 0, 0)),
                    _ => {
                        keys.push(api(17, 0, 1));
                        keys.push(api(36, 0, 2));
                    }
                }
                let resp = ApiVersionsResponse {
                    api_keys: keys,
                    ..Default::default()
                };
                write_response(&mut s, id, version.min(3), &resp)
            }
            SaslHandshakeRequest::API_KEY => {
                let (id, req) = decode_request::<SaslHandshakeRequest>(frame, version);
                seen.lock().unwrap().handshakes[conn] += 1;
                let offered: Vec<String> = match mode {
                    #[cfg(feature = "scram")]
                    Mode::ImpostorScram => vec!["SCRAM-SHA-256".into()],
                    _ => vec!["PLAIN".into()],
                };
                let error_code = if offered.contains(&req.mechanism) {
                    0
                } else {
                    KafkaCode::UnsupportedSaslMechanism.code()
                };
                expect_raw_token = mode == Mode::Legacy && error_code == 0;
                write_response(
                    &mut s,
                    id,
                    version,
                    &SaslHandshakeResponse {
                        error_code,
                        mechanisms: offered,
                    },
                )
            }
            SaslAuthenticateRequest::API_KEY => {
                let (id, req) = decode_request::<SaslAuthenticateRequest>(frame, version);
                let token = req.auth_bytes.to_vec();
                seen.lock().unwrap().tokens.push(token.clone());
                let resp = match mode {
                    Mode::Framed { lifetime_ms } => SaslAuthenticateResponse {
                        session_lifetime_ms: lifetime_ms,
                        ..Default::default()
                    },
                    #[cfg(feature = "scram")]
                    Mode::ImpostorScram => {
                        use base64::Engine;
                        let b64 = base64::engine::general_purpose::STANDARD;
                        let text = String::from_utf8(token).unwrap();
                        match scram_client_first.take() {
                            None => {
                                // client-first: "n,,n=alice,r=<nonce>"
                                let nonce = text.rsplit_once("r=").unwrap().1.to_string();
                                scram_client_first = Some(text.clone());
                                SaslAuthenticateResponse {
                                    auth_bytes: format!(
                                        "r={nonce}impostor,s={},i=4096",
                                        b64.encode(b"some salt")
                                    )
                                    .into_bytes()
                                    .into(),
                                    ..Default::default()
                                }
                            }
                            // client-final: accept whatever proof, sign with nonsense.
                            Some(_) => SaslAuthenticateResponse {
                                auth_bytes: format!("v={}", b64.encode([7u8; 32]))
                                    .into_bytes()
                                    .into(),
                                ..Default::default()
                            },
                        }
                    }
                    Mode::Legacy => unreachable!("no SaslAuthenticate in the legacy flow"),
                };
                write_response(&mut s, id, version, &resp)
            }
            MetadataRequest::API_KEY => {
                let (id, _) = decode_request::<MetadataRequest>(frame, version);
                seen.lock().unwrap().metadata += 1;
                let resp = MetadataResponse {
                    brokers: vec![MetadataResponseBroker {
                        node_id: 1,
                        host: "127.0.0.1".into(),
                        port: port as i32,
                        ..Default::default()
                    }],
                    cluster_id: Some("fake".into()),
                    controller_id: 1,
                    ..Default::default()
                };
                write_response(&mut s, id, version, &resp)
            }
            other => panic!("fake broker: unexpected api key {other}"),
        };
        if !ok {
            return;
        }
    }
}

fn sasl_admin(port: u16, mechanism: &str) -> AdminConfig {
    AdminConfig::new()
        .bootstrap_servers(&format!("127.0.0.1:{port}"))
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanism", mechanism)
        .set("sasl.username", "alice")
        .set("sasl.password", "alice-secret")
        .set("default.api.timeout.ms", "10000")
}

#[test]
fn legacy_unframed_flow_sends_the_bare_token_and_reads_the_empty_answer() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let port = fake_broker(Mode::Legacy, seen.clone());
    let admin = AdminClient::new(sasl_admin(port, "PLAIN")).unwrap();
    let cluster = admin
        .describe_cluster()
        .expect("describe_cluster after legacy SASL");
    assert_eq!(cluster.brokers.len(), 1);
    let g = seen.lock().unwrap();
    assert_eq!(
        g.tokens.first().map(Vec::as_slice),
        Some(&b"\0alice\0alice-secret"[..])
    );
    assert!(
        g.metadata >= 1,
        "a Kafka request followed the SASL exchange"
    );
}

#[cfg(feature = "scram")]
#[test]
fn scram_server_that_cannot_sign_is_refused() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let port = fake_broker(Mode::ImpostorScram, seen.clone());
    let admin = AdminClient::new(sasl_admin(port, "SCRAM-SHA-256")).unwrap();
    let started = Instant::now();
    let err = admin
        .describe_cluster()
        .expect_err("an impostor must be refused");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "refused at once, not retried: {:?}",
        started.elapsed()
    );
    let text = err.to_string();
    assert_eq!(
        err.kafka_code(),
        Some(KafkaCode::SaslAuthenticationFailed),
        "{text}"
    );
    assert!(
        text.contains("signature"),
        "says the server signature failed: {text}"
    );
    assert!(text.contains("alice"), "names the user: {text}");
    assert!(
        !text.contains("alice-secret"),
        "no password in errors: {text}"
    );
    assert_eq!(
        seen.lock().unwrap().metadata,
        0,
        "no request after a failed exchange"
    );
}

#[test]
fn reauthentication_keeps_requests_flowing_on_the_same_connection() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let port = fake_broker(Mode::Framed { lifetime_ms: 400 }, seen.clone());
    let admin = AdminClient::new(sasl_admin(port, "PLAIN")).unwrap();
    let calls = AtomicUsize::new(0);
    let end = Instant::now() + Duration::from_secs(4);
    while Instant::now() < end {
        let result: Result<_, Error> = admin.describe_cluster();
        result.expect("every request answered through re-authentication");
        calls.fetch_add(1, Ordering::Relaxed);
        thread::sleep(Duration::from_millis(20));
    }
    let g = seen.lock().unwrap();
    // Connections: the bootstrap one, then the one to broker 1 (its real id).
    let most = g.handshakes.iter().copied().max().unwrap_or(0);
    assert!(
        most >= 3,
        "one connection re-authenticated several times in 4 s of 400 ms sessions (at most one a second, as brokers allow): {:?}",
        g.handshakes
    );
    assert!(
        g.handshakes.len() <= 3,
        "re-authentication happened in place, not by reconnecting: {} connections",
        g.handshakes.len()
    );
    assert!(g.metadata >= calls.load(Ordering::Relaxed));
    assert!(
        g.tokens
            .iter()
            .all(|t| t.as_slice() == b"\0alice\0alice-secret")
    );
}

#[cfg(feature = "scram")]
#[test]
fn a_mechanism_the_broker_does_not_enable_lists_the_ones_it_does() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let port = fake_broker(Mode::Legacy, seen.clone());
    let started = Instant::now();
    let err = AdminClient::new(sasl_admin(port, "SCRAM-SHA-512"))
        .unwrap()
        .describe_cluster()
        .expect_err("SCRAM-SHA-512 is not offered");
    assert!(started.elapsed() < Duration::from_secs(8), "not retried");
    assert_eq!(err.kafka_code(), Some(KafkaCode::UnsupportedSaslMechanism));
    let text = err.to_string();
    assert!(
        text.contains("SCRAM-SHA-512") && text.contains("offers: PLAIN"),
        "{text}"
    );
    assert!(
        seen.lock().unwrap().tokens.is_empty(),
        "no credentials sent"
    );
}
