//! TLS misconfigurations that end quickly with an error saying what is
//! probably wrong (issue 10), against scripted listeners: a TLS client at a
//! listener that drops the handshake, and a plaintext client at a listener
//! that answers in TLS. `tests/kafka_security.rs` covers certificates and
//! real brokers.
#![cfg(feature = "tls")]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use kafka_blocking::admin::AdminClient;
use kafka_blocking::{AdminConfig, Error};

/// A listener that runs `serve` on every connection, for the test's life.
fn listener(serve: fn(std::net::TcpStream)) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for s in l.incoming().flatten() {
            thread::spawn(move || serve(s));
        }
    });
    port
}

fn admin(port: u16, protocol: &str) -> AdminClient {
    let mut c = AdminConfig::new()
        .bootstrap_servers(&format!("127.0.0.1:{port}"))
        .set("security.protocol", protocol)
        .set("default.api.timeout.ms", "2000");
    if protocol == "SSL" {
        // Any readable PEM CA will do: the handshake never gets that far.
        c = c.set(
            "ssl.truststore.location",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tls/any-ca.pem"),
        );
    }
    AdminClient::new(c).unwrap()
}

#[test]
fn a_dropped_handshake_is_retried_and_named() {
    // A plaintext Kafka listener reads our ClientHello as a huge request
    // size and closes; so does a broker at max.connections. Neither may be
    // fatal: retried until the deadline, with the likely cause in the error.
    let port = listener(|mut s| {
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf);
    });
    let started = Instant::now();
    let err = admin(port, "SSL").describe_cluster().unwrap_err();
    assert!(
        !err.is_authentication(),
        "a dropped connection is not fatal: {err}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "retried until default.api.timeout.ms: {:?}",
        started.elapsed()
    );
    let text = err.to_string();
    assert!(text.contains("does not use TLS"), "{text}");
}

#[test]
fn a_plaintext_client_at_a_tls_listener_is_told_at_once() {
    // A TLS listener answers bytes that are no ClientHello with an alert
    // record (content type 21, version 3.3): where a response size belongs.
    let port = listener(|mut s| {
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf);
        let _ = s.write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x0a]);
        thread::sleep(Duration::from_millis(200));
    });
    let started = Instant::now();
    let err = admin(port, "PLAINTEXT").describe_cluster().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "not retried: {:?}",
        started.elapsed()
    );
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("security.protocol=SSL"), "{err}");
}
