//! A broker that misbehaves: accepts and never answers, answers garbage, lies
//! about lengths, splits responses byte by byte, answers with the wrong
//! correlation id, or refuses connections. Every case must end in a clear
//! error within request.timeout.ms (or succeed, for split responses), never a
//! hang, a panic or a huge allocation.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use kafka_blocking::admin::AdminClient;
use kafka_blocking::unstable::net::{BrokerAddress, Connection, ConnectionSettings};
use kafka_blocking::unstable::protocol::header::ResponseHeader;
use kafka_blocking::unstable::protocol::messages::ApiVersionsResponse;
use kafka_blocking::unstable::protocol::messages::api_versions_response::ApiVersion;
use kafka_blocking::unstable::protocol::{Encodable, Reader};
use kafka_blocking::{AdminConfig, Error};

/// Reads one request frame; returns (correlation id, api version).
fn read_request(s: &mut TcpStream) -> Option<(i32, i16)> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).ok()?;
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut body).ok()?;
    let mut r = Reader::new(body);
    let _key = r.read_i16().ok()?;
    let version = r.read_i16().ok()?;
    Some((r.read_i32().ok()?, version))
}

fn api_versions_frame(correlation_id: i32, version: i16) -> Vec<u8> {
    let resp = ApiVersionsResponse {
        api_keys: vec![
            ApiVersion {
                api_key: 18,
                min_version: 0,
                max_version: 3,
                ..Default::default()
            },
            ApiVersion {
                api_key: 3,
                min_version: 0,
                max_version: 12,
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let mut body = Vec::new();
    ResponseHeader { correlation_id }.encode(&mut body, 0);
    resp.encode(&mut body, version).unwrap();
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

/// Starts a fake broker that runs `behave` on every accepted connection.
fn fake_broker(
    behave: impl Fn(TcpStream) + Send + Sync + 'static,
) -> (BrokerAddress, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let behave = Arc::new(behave);
    thread::spawn(move || {
        for s in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            let b = behave.clone();
            thread::spawn(move || b(s));
        }
    });
    (
        BrokerAddress {
            node_id: -1,
            host: "127.0.0.1".into(),
            port,
        },
        accepted,
    )
}

fn settings(timeout_ms: u64) -> ConnectionSettings {
    ConnectionSettings {
        request_timeout: Duration::from_millis(timeout_ms),
        max_response_size: 1 << 20,
        ..Default::default()
    }
}

#[test]
fn silent_broker_times_out_within_request_timeout() {
    let (addr, _) = fake_broker(|mut s| {
        let _ = read_request(&mut s);
        thread::sleep(Duration::from_secs(10));
    });
    let start = Instant::now();
    let err = Connection::connect(&addr, &settings(800)).unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("ApiVersions"), "{err}");
    assert!(
        took >= Duration::from_millis(790) && took < Duration::from_millis(1500),
        "{took:?}"
    );
}

#[test]
fn garbage_is_a_protocol_error() {
    let (addr, _) = fake_broker(|mut s| {
        let _ = read_request(&mut s);
        // A plausible size followed by random junk for the header and body.
        let mut junk = vec![0, 0, 0, 12];
        junk.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8]);
        let _ = s.write_all(&junk);
        thread::sleep(Duration::from_secs(2));
    });
    let start = Instant::now();
    let err = Connection::connect(&addr, &settings(2000)).unwrap_err();
    assert!(matches!(err, Error::Protocol { .. }), "{err}");
    assert!(err.to_string().contains("correlation"), "{err}");
    assert!(start.elapsed() < Duration::from_millis(1500));
}

#[test]
fn lying_length_prefix_is_rejected_without_allocating() {
    let (addr, _) = fake_broker(|mut s| {
        let _ = read_request(&mut s);
        let _ = s.write_all(&0x7fff_fff0i32.to_be_bytes());
        let _ = s.write_all(&[0; 64]);
        thread::sleep(Duration::from_secs(2));
    });
    let err = Connection::connect(&addr, &settings(2000)).unwrap_err();
    assert!(matches!(err, Error::Protocol { .. }), "{err}");
    assert!(
        err.to_string().contains("receive.message.max.bytes"),
        "{err}"
    );
    // Negative sizes too.
    let (addr, _) = fake_broker(|mut s| {
        let _ = read_request(&mut s);
        let _ = s.write_all(&(-5i32).to_be_bytes());
        thread::sleep(Duration::from_secs(2));
    });
    let err = Connection::connect(&addr, &settings(2000)).unwrap_err();
    assert!(matches!(err, Error::Protocol { .. }), "{err}");
}

#[test]
fn wrong_correlation_id_is_rejected() {
    let (addr, _) = fake_broker(|mut s| {
        if let Some((corr, v)) = read_request(&mut s) {
            let _ = s.write_all(&api_versions_frame(corr + 1000, v));
        }
        thread::sleep(Duration::from_secs(2));
    });
    let err = Connection::connect(&addr, &settings(2000)).unwrap_err();
    assert!(err.to_string().contains("correlation id"), "{err}");
}

#[test]
fn response_split_byte_by_byte_is_reassembled() {
    let (addr, _) = fake_broker(|mut s| {
        if let Some((corr, v)) = read_request(&mut s) {
            for b in api_versions_frame(corr, v) {
                if s.write_all(&[b]).is_err() {
                    return;
                }
                let _ = s.flush();
                thread::sleep(Duration::from_millis(2));
            }
        }
        thread::sleep(Duration::from_secs(5));
    });
    let conn = Connection::connect(&addr, &settings(5000)).unwrap();
    assert_eq!(conn.api_versions().get(3), Some((0, 12)));
    conn.close();
}

#[test]
fn closed_connection_mid_request_is_an_io_error() {
    let (addr, _) = fake_broker(|mut s| {
        let _ = read_request(&mut s);
        // Half a size prefix, then hang up.
        let _ = s.write_all(&[0, 0]);
    });
    let err = Connection::connect(&addr, &settings(2000)).unwrap_err();
    assert!(err.to_string().contains("closed the connection"), "{err}");
}

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (fields 14 and 15).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

#[test]
fn unreachable_broker_is_retried_with_backoff_not_a_busy_loop() {
    // A listener that accepts and immediately hangs up: every attempt counts.
    let (addr, accepted) = fake_broker(drop);
    let admin = AdminClient::new(
        AdminConfig::new()
            .bootstrap_servers(&format!("127.0.0.1:{}", addr.port))
            .set("reconnect.backoff.ms", 50)
            .set("reconnect.backoff.max.ms", 500)
            .set("retry.backoff.ms", 50)
            .set("default.api.timeout.ms", 2500),
    )
    .unwrap();
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let err = admin.list_topics().unwrap_err();
    let took = start.elapsed();
    let cpu = cpu_seconds() - cpu0;
    let attempts = accepted.load(Ordering::SeqCst);
    assert!(
        took >= Duration::from_millis(2400),
        "gave up too early: {took:?} ({err})"
    );
    assert!(took < Duration::from_secs(6), "{took:?}");
    // 50, 100, 200, 400, 500, 500... ms apart: about 7 attempts in 2.5 s.
    assert!(
        (3..=15).contains(&attempts),
        "{attempts} connection attempts in {took:?}"
    );
    assert!(cpu < 0.5, "backing off should be idle, used {cpu} s of CPU");
    // A refused port (nothing listening) also ends in a clear error.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let admin = AdminClient::new(
        AdminConfig::new()
            .bootstrap_servers(&format!("127.0.0.1:{dead}"))
            .set("default.api.timeout.ms", 500),
    )
    .unwrap();
    let err = admin.list_topics().unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains(&dead.to_string()), "{err}");
}

#[test]
fn bad_configuration_names_the_key() {
    let e = AdminClient::new(
        AdminConfig::new()
            .bootstrap_servers("h:1")
            .set("request.timeout.ms", "-1"),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("request.timeout.ms"), "{e}");
    // An unknown key is ignored with a warning naming it (issue 11, as Java),
    // not refused: the client is built.
    assert!(
        AdminClient::new(
            AdminConfig::new()
                .bootstrap_servers("h:1")
                .set("no.such.key", "1"),
        )
        .is_ok()
    );
    let e = AdminClient::new(AdminConfig::new().bootstrap_servers("nonsense"))
        .err()
        .unwrap();
    assert!(e.to_string().contains("bootstrap.servers"), "{e}");
}
