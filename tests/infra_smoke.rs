//! Smoke tests of the test infrastructure itself (tests/support): the brokers
//! start, restart, answer, and take commands. Uses only std and `support`.

#[path = "support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::mock::MockCluster;
use support::tansu;

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Sends a hand-encoded ApiVersions v0 request and returns (correlation id, body).
fn api_versions_v0(addr: &str, correlation_id: i32) -> (i32, Vec<u8>) {
    let client_id = b"infra-smoke";
    let mut req = Vec::new();
    req.extend_from_slice(&18i16.to_be_bytes()); // api_key ApiVersions
    req.extend_from_slice(&0i16.to_be_bytes()); // api_version 0
    req.extend_from_slice(&correlation_id.to_be_bytes());
    req.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    req.extend_from_slice(client_id);
    let mut frame = (req.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&req);

    let mut s = connect(addr);
    s.write_all(&frame).unwrap();
    let mut size = [0u8; 4];
    s.read_exact(&mut size).unwrap();
    let size = i32::from_be_bytes(size);
    assert!((4..1 << 20).contains(&size), "bad response size {size}");
    let mut resp = vec![0u8; size as usize];
    s.read_exact(&mut resp).unwrap();
    let corr = i32::from_be_bytes(resp[..4].try_into().unwrap());
    (corr, resp[4..].to_vec())
}

#[test]
fn tansu_starts_and_accepts_connections() {
    let broker = tansu::start_tansu().unwrap_or_else(|e| panic!("start tansu: {e}"));
    eprintln!(
        "tansu started in {:?} on {}",
        broker.startup, broker.bootstrap
    );
    connect(&broker.bootstrap);
}

#[test]
fn tansu_restarts_on_the_same_port() {
    let mut broker = tansu::start_tansu().unwrap_or_else(|e| panic!("start tansu: {e}"));
    let before = broker.bootstrap.clone();
    // An open connection must not keep the port from being reused.
    let _open = connect(&broker.bootstrap);
    let t = Instant::now();
    broker
        .restart()
        .unwrap_or_else(|e| panic!("restart tansu: {e}"));
    eprintln!("tansu restart took {:?}", t.elapsed());
    assert_eq!(broker.bootstrap, before);
    let (corr, _) = api_versions_v0(&broker.bootstrap, 7);
    assert_eq!(corr, 7);

    broker.stop();
    assert!(!broker.is_running());
    assert!(
        TcpStream::connect(&broker.bootstrap).is_err(),
        "stopped broker still accepts"
    );
    broker
        .start()
        .unwrap_or_else(|e| panic!("start tansu again: {e}"));
    connect(&broker.bootstrap);
}

#[test]
fn tansu_answers_api_versions_v0() {
    let addr = tansu::bootstrap();
    let (corr, body) = api_versions_v0(&addr, 0x1234_5678);
    assert_eq!(corr, 0x1234_5678);
    // v0 body: error_code i16, then [api_key i16, min i16, max i16] array.
    let error_code = i16::from_be_bytes([body[0], body[1]]);
    assert_eq!(error_code, 0, "ApiVersions error");
    let n = i32::from_be_bytes(body[2..6].try_into().unwrap());
    assert!(n > 10, "only {n} APIs advertised");
}

#[test]
fn mock_cluster_takes_commands() {
    let mut mock = MockCluster::start(3).unwrap_or_else(|e| panic!("start mock cluster: {e}"));
    assert_eq!(
        mock.bootstrap().split(',').count(),
        3,
        "{}",
        mock.bootstrap()
    );
    let topic = support::unique_topic("smoke");
    let created = mock.cmd(&format!("create {topic} 6")).unwrap();
    assert_eq!(created, "OK leaders 1,2,3,1,2,3");
    mock.create_topic(&support::unique_topic("smoke-rf1"), 2, 1)
        .unwrap();
    mock.leader(&topic, 0, 2).unwrap();
    mock.broker_down(3).unwrap();
    mock.broker_up(3).unwrap();
    mock.push_errors(
        "Produce",
        3,
        &["NOT_LEADER_OR_FOLLOWER", "REQUEST_TIMED_OUT"],
    )
    .unwrap();
    mock.clear_errors("Produce").unwrap();
    mock.rtt(1, 50).unwrap();
    mock.rtt(1, 0).unwrap();
    mock.coordinator("group", "g1", 2).unwrap();
    mock.apiversion("Fetch", 0, 11).unwrap();
    assert!(mock.cmd("track dump").unwrap().ends_with("OK 0 requests"));
    let err = mock.cmd("frobnicate 1").unwrap_err().to_string();
    assert!(err.contains("unknown command"), "{err}");
    assert!(mock.cmd("leader").is_err());

    // A broker of the mock answers a raw ApiVersions v0 request too.
    let first = mock.bootstrap().split(',').next().unwrap().to_string();
    let (corr, _) = api_versions_v0(&first, 42);
    assert_eq!(corr, 42);
}

#[test]
fn unique_names_differ() {
    assert_ne!(support::unique_topic("t"), support::unique_topic("t"));
    assert!(support::python_has("sys"));
    assert!(!support::python_has("no_such_module_kafka_blocking"));
}
