//! A group coordinator that never lets the rebalance finish: `poll` still
//! returns by its timeout (one JoinGroup/SyncGroup round may run over it, as a
//! JoinGroup is held by the broker), and the next `poll` carries on joining.
//!
//! On tansu, `tests/group.rs::three_members_share_six_partitions...` once hung
//! for 17 minutes with a member inside `poll` -> join_group, cycling through
//! JoinGroup and SyncGroup: the join loop retried "join again" answers
//! (REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, coordinator
//! moves) without ever looking at the poll deadline, so a group that could not
//! settle kept `poll(200 ms)` from returning at all. The Java client's
//! joinGroupIfNeeded returns when the poll timer expires.

#[path = "support/mod.rs"]
mod support;
use support::fake::{api_key_and_version, read_frame, write_response};

#[path = "support/deadline.rs"]
mod deadline;

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use kafka_blocking::ConsumerConfig;
use kafka_blocking::consumer::Consumer;
use kafka_blocking::unstable::protocol::header::RequestHeader;
use kafka_blocking::unstable::protocol::messages::api_versions_response::ApiVersion;
use kafka_blocking::unstable::protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_blocking::unstable::protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_blocking::unstable::protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, FindCoordinatorRequest, FindCoordinatorResponse,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, MetadataRequest, MetadataResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafka_blocking::unstable::protocol::{Bytes, Decodable, KafkaCode, Reader, Request, Uuid};

const TOPIC: &str = "t";

/// How the fake coordinator keeps the group from settling.
#[derive(Clone, Copy, Debug)]
enum Never {
    /// JoinGroup succeeds (this member leads), SyncGroup says REBALANCE_IN_PROGRESS.
    Sync,
    /// JoinGroup says REBALANCE_IN_PROGRESS.
    Join,
    /// JoinGroup succeeds, SyncGroup says FENCED_INSTANCE_ID (another
    /// process joined with this static member's group.instance.id).
    Fenced,
}

struct Fake {
    port: u16,
    joins: Arc<AtomicUsize>,
}

fn start(never: Never) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let joins = Arc::new(AtomicUsize::new(0));
    let j = joins.clone();
    thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let j = j.clone();
            thread::spawn(move || serve(s, port, never, &j));
        }
    });
    Fake { port, joins }
}

/// Each answer comes after a short pause, as a broker that holds group
/// requests would give (and so that the loop does not spin).
const PAUSE: Duration = Duration::from_millis(50);

fn serve(mut s: TcpStream, port: u16, never: Never, joins: &AtomicUsize) {
    while let Some(frame) = read_frame(&mut s) {
        let (api_key, version) = api_key_and_version(&frame);
        let header_version = match api_key {
            18 => ApiVersionsRequest::header_version(version),
            3 => MetadataRequest::header_version(version),
            10 => FindCoordinatorRequest::header_version(version),
            11 => JoinGroupRequest::header_version(version),
            14 => SyncGroupRequest::header_version(version),
            12 => HeartbeatRequest::header_version(version),
            13 => LeaveGroupRequest::header_version(version),
            k => panic!("fake coordinator: unexpected api key {k}"),
        };
        let mut r = Reader::new(frame);
        let h = RequestHeader::decode(&mut r, header_version).unwrap();
        let id = h.correlation_id;
        match api_key {
            18 => {
                let api = |api_key, max_version| ApiVersion {
                    api_key,
                    min_version: 0,
                    max_version,
                    ..Default::default()
                };
                let resp = ApiVersionsResponse {
                    api_keys: vec![
                        api(18, 3),
                        api(3, 9),
                        api(10, 3),
                        api(11, 5),
                        api(14, 3),
                        api(12, 3),
                        api(13, 3),
                    ],
                    ..Default::default()
                };
                write_response(&mut s, id, version.min(3), &resp);
            }
            3 => {
                let resp = MetadataResponse {
                    brokers: vec![MetadataResponseBroker {
                        node_id: 0,
                        host: "127.0.0.1".into(),
                        port: port as i32,
                        ..Default::default()
                    }],
                    cluster_id: Some("fake".into()),
                    controller_id: 0,
                    topics: vec![MetadataResponseTopic {
                        name: Some(TOPIC.into()),
                        topic_id: Uuid::ZERO,
                        partitions: vec![MetadataResponsePartition {
                            partition_index: 0,
                            leader_id: 0,
                            leader_epoch: 0,
                            replica_nodes: vec![0],
                            isr_nodes: vec![0],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                };
                write_response(&mut s, id, version, &resp);
            }
            10 => {
                let resp = FindCoordinatorResponse {
                    node_id: 0,
                    host: "127.0.0.1".into(),
                    port: port as i32,
                    ..Default::default()
                };
                write_response(&mut s, id, version, &resp);
            }
            11 => {
                let req = JoinGroupRequest::decode(&mut r, version).unwrap();
                joins.fetch_add(1, Ordering::SeqCst);
                thread::sleep(PAUSE);
                let resp = match never {
                    Never::Sync | Never::Fenced => JoinGroupResponse {
                        generation_id: joins.load(Ordering::SeqCst) as i32,
                        protocol_name: Some(req.protocols[0].name.clone()),
                        leader: "m-1".into(),
                        member_id: "m-1".into(),
                        members: vec![JoinGroupResponseMember {
                            member_id: "m-1".into(),
                            metadata: req.protocols[0].metadata.clone(),
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                    Never::Join => JoinGroupResponse {
                        error_code: KafkaCode::RebalanceInProgress.code(),
                        generation_id: -1,
                        member_id: "m-1".into(),
                        ..Default::default()
                    },
                };
                write_response(&mut s, id, version, &resp);
            }
            14 => {
                thread::sleep(PAUSE);
                let code = match never {
                    Never::Fenced => KafkaCode::FencedInstanceId,
                    _ => KafkaCode::RebalanceInProgress,
                };
                let resp = SyncGroupResponse {
                    error_code: code.code(),
                    assignment: Bytes::from(Vec::new()),
                    ..Default::default()
                };
                write_response(&mut s, id, version, &resp);
            }
            12 => {
                let resp = HeartbeatResponse {
                    error_code: KafkaCode::RebalanceInProgress.code(),
                    ..Default::default()
                };
                write_response(&mut s, id, version, &resp);
            }
            _ => {
                write_response(&mut s, id, version, &LeaveGroupResponse::default());
            }
        }
    }
}

fn consumer(fake: &Fake) -> Consumer {
    let mut c = Consumer::new(
        ConsumerConfig::new()
            .bootstrap_servers(&format!("127.0.0.1:{}", fake.port))
            .set("group.id", "never-settles")
            .set("retry.backoff.ms", 20)
            .set("session.timeout.ms", 6000)
            .set("max.poll.interval.ms", 10000),
    )
    .unwrap();
    c.subscribe(&[TOPIC]).unwrap();
    c
}

/// `poll(200 ms)` returns although the group never settles; the next poll
/// joins again.
fn poll_returns_while_the_group_never_settles(never: Never) {
    let fake = start(never);
    let joins = fake.joins.clone();
    // Without the fix the first poll never returns: the overall limit turns
    // that into a failure instead of a hang.
    deadline::within(Duration::from_secs(60), "poll", move || {
        let mut c = consumer(&fake);
        for round in 1..=3 {
            let before = joins.load(Ordering::SeqCst);
            let started = Instant::now();
            let records = c.poll(Duration::from_millis(200)).unwrap();
            assert!(records.is_empty());
            assert!(c.assignment().is_empty(), "{never:?}: never assigned");
            assert!(
                joins.load(Ordering::SeqCst) > before,
                "{never:?}, poll {round}: it tried to join (took {:?})",
                started.elapsed()
            );
        }
        c.close();
    });
}

#[test]
fn poll_returns_when_sync_group_keeps_asking_to_rejoin() {
    poll_returns_while_the_group_never_settles(Never::Sync);
}

#[test]
fn poll_returns_when_join_group_keeps_saying_rebalance_in_progress() {
    poll_returns_while_the_group_never_settles(Never::Join);
}

/// Issue 12, point 3: FENCED_INSTANCE_ID answered to SyncGroup is fatal for a
/// static member, with an error naming the instance id and what to do; the
/// member is not left holding partitions. (The librdkafka mock answers an
/// injected SyncGroup error with null assignment bytes, which no client can
/// decode, and real Kafka gives this answer only when a second process with
/// the same id joins between this member's JoinGroup and SyncGroup: hence
/// the scripted coordinator.)
#[test]
fn fenced_instance_id_from_sync_group_is_fatal_with_a_clear_error() {
    let fake = start(Never::Fenced);
    deadline::within(Duration::from_secs(60), "poll", move || {
        let mut c = Consumer::new(
            ConsumerConfig::new()
                .bootstrap_servers(&format!("127.0.0.1:{}", fake.port))
                .set("group.id", "fenced-static")
                .set("group.instance.id", "worker-1")
                .set("retry.backoff.ms", 20)
                .set("session.timeout.ms", 6000)
                .set("max.poll.interval.ms", 10000),
        )
        .unwrap();
        c.subscribe(&[TOPIC]).unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        let err = loop {
            assert!(Instant::now() < until, "FENCED_INSTANCE_ID never raised");
            if let Err(e) = c.poll(Duration::from_millis(200)) {
                break e;
            }
        };
        assert_eq!(err.kafka_code(), Some(KafkaCode::FencedInstanceId), "{err}");
        assert!(err.is_fatal(), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("group.instance.id worker-1") && text.contains("SyncGroup"),
            "the error names the instance id and the request: {text}"
        );
        assert!(c.assignment().is_empty(), "{:?}", c.assignment());
    });
}
