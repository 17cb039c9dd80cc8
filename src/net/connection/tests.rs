//! Tests of the connection: a fake broker on loopback.

use super::*;
use std::net::TcpListener;

#[test]
fn every_address_is_tried_in_turn() {
    let good = TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let addrs = [refused, good.local_addr().unwrap()];
    let s = connect_any(&addrs, &ConnectionSettings::default()).unwrap();
    assert_eq!(s.peer_addr().unwrap(), good.local_addr().unwrap());
    assert!(connect_any(&[refused], &ConnectionSettings::default()).is_err());
}

/// A fake broker that answers every request with an ApiVersions v3
/// response carrying the next throttle time of `throttles` (then 0),
/// and reports when each request arrived.
fn throttling_broker(
    throttles: Vec<i32>,
) -> (BrokerAddress, mpsc::Receiver<Instant>, JoinHandle<()>) {
    use crate::protocol::Encodable;
    use crate::protocol::messages::api_versions_response::ApiVersion;
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut throttles = throttles.into_iter();
        loop {
            let mut size = [0u8; 4];
            if s.read_exact(&mut size).is_err() {
                return;
            }
            let mut frame = vec![0u8; u32::from_be_bytes(size) as usize];
            s.read_exact(&mut frame).unwrap();
            let _ = tx.send(Instant::now());
            let resp = ApiVersionsResponse {
                api_keys: vec![ApiVersion {
                    api_key: ApiVersionsRequest::API_KEY,
                    min_version: 0,
                    max_version: 3,
                    ..Default::default()
                }],
                throttle_time_ms: throttles.next().unwrap_or(0),
                ..Default::default()
            };
            let mut body = frame[4..8].to_vec(); // correlation id (header v0)
            resp.encode(&mut body, 3).unwrap();
            let mut out = (body.len() as u32).to_be_bytes().to_vec();
            out.extend_from_slice(&body);
            if s.write_all(&out).is_err() {
                return;
            }
        }
    });
    let address = BrokerAddress {
        node_id: 1,
        host: "127.0.0.1".into(),
        port,
    };
    (address, rx, handle)
}

#[test]
fn throttle_time_holds_back_the_next_requests() {
    // Connect (no throttle), then a response throttling for 400 ms.
    let (address, arrivals, broker) = throttling_broker(vec![0, 400]);
    let conn = Connection::connect(&address, &ConnectionSettings::default()).unwrap();
    arrivals.recv().unwrap();
    assert!(conn.throttled_until().is_none());
    conn.request_at(&ApiVersionsRequest::default(), 3).unwrap();
    let throttled_at = Instant::now();
    arrivals.recv().unwrap();
    let until = conn.throttled_until().expect("throttled");
    assert!(
        until > throttled_at + Duration::from_millis(300),
        "{until:?}"
    );
    // `send` does not block; the request reaches the broker only when
    // the throttle is over, and in order with the one after it.
    let (tx, rx) = mpsc::channel();
    for i in 0..2 {
        let tx = tx.clone();
        conn.send(&ApiVersionsRequest::default(), 3, move |r| {
            let _ = tx.send((i, r.map(|r| r.error_code).ok()));
        })
        .unwrap();
    }
    assert!(throttled_at.elapsed() < Duration::from_millis(300));
    assert_eq!(conn.in_flight(), 2);
    let first = arrivals.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        first >= throttled_at + Duration::from_millis(390),
        "sent {:?} after the throttle began",
        first - throttled_at
    );
    arrivals.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        (0, Some(0))
    );
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        (1, Some(0))
    );
    let stats = conn.throttle_stats();
    assert_eq!(stats.throttled_responses, 1);
    assert_eq!(stats.throttle_time, Duration::from_millis(400));
    assert_eq!(stats.held_requests, 2);
    assert!(stats.held_time >= Duration::from_millis(600), "{stats:?}");
    assert!(throttle_totals().held_requests >= 2);
    conn.close();
    broker.join().unwrap();
}

#[test]
fn a_request_held_past_its_timeout_fails_without_closing_the_connection() {
    let (address, arrivals, broker) = throttling_broker(vec![0, 1500]);
    let conn = Connection::connect(&address, &ConnectionSettings::default()).unwrap();
    conn.request_at(&ApiVersionsRequest::default(), 3).unwrap();
    arrivals.recv().unwrap();
    arrivals.recv().unwrap();
    let started = Instant::now();
    let err = conn
        .request_with_timeout(
            &ApiVersionsRequest::default(),
            3,
            Duration::from_millis(300),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_millis(1200));
    // Never written: the broker did not see it, and once the throttle
    // is over the connection works on.
    assert!(arrivals.recv_timeout(Duration::from_millis(1300)).is_err());
    assert!(!conn.is_closed());
    conn.request_at(&ApiVersionsRequest::default(), 3).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(1400));
    conn.close();
    broker.join().unwrap();
}

#[test]
fn socket_options_are_applied() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let settings = ConnectionSettings {
        send_buffer_bytes: 32768,
        receive_buffer_bytes: 40960,
        ..Default::default()
    };
    let s = connect_any(&[l.local_addr().unwrap()], &settings).unwrap();
    let sock = socket2::SockRef::from(&s);
    assert!(sock.nodelay().unwrap());
    // Linux doubles the requested size for bookkeeping.
    assert!(sock.send_buffer_size().unwrap() >= 32768);
    assert!(sock.recv_buffer_size().unwrap() >= 40960);
    assert!(sock.recv_buffer_size().unwrap() < 1 << 20);
}
