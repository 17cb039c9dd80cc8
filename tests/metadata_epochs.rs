//! Metadata never goes backwards (issue 12, point 10).
//!
//! A Metadata answer from a broker whose metadata lags carries an older
//! leader epoch for a partition than the client already knows; as in Java's
//! `Metadata.updateLatestMetadata`, that partition keeps its cached leader
//! (equal or newer epochs replace it). A real broker cannot be made to answer
//! with stale metadata deterministically, so a scripted fake broker (one
//! listener, listed as broker 1) answers Metadata from a script: a known
//! epoch, then an older one naming a leader it does not list, then a newer
//! one. The sticky partitioner's skipping of leaderless partitions is checked
//! against the same fake (partition 1 never has a leader).

#[path = "support/mod.rs"]
mod support;

use support::fake::{api_key_and_version, decode_request, read_frame, write_response};

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use kafka_blocking::admin::AdminClient;
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::unstable::protocol::messages::api_versions_response::ApiVersion;
use kafka_blocking::unstable::protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_blocking::unstable::protocol::messages::produce_response::{
    PartitionProduceResponse, TopicProduceResponse,
};
use kafka_blocking::unstable::protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse, ProduceRequest,
    ProduceResponse,
};
use kafka_blocking::{AdminConfig, ProducerConfig};

const TOPIC: &str = "t";
/// The only broker the fake lists.
const BROKER: i32 = 1;
/// A leader id the fake never lists (the stale answer names it).
const GHOST: i32 = 8;

/// (leader, leader epoch) of partition 0 in the n-th Metadata answer; the
/// last entry repeats. Partition 1 never has a leader.
type Script = &'static [(i32, i32)];

#[derive(Default)]
struct Counts {
    metadata: AtomicUsize,
    produce_p0: AtomicUsize,
    produce_p1: AtomicUsize,
}

struct Fake {
    port: u16,
    counts: Arc<Counts>,
}

impl Fake {
    fn start(script: Script) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let c = c.clone();
                thread::spawn(move || serve(s, port, script, &c));
            }
        });
        Fake { port, counts }
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn serve(mut s: TcpStream, port: u16, script: Script, counts: &Counts) {
    while let Some(frame) = read_frame(&mut s) {
        let (api_key, version) = api_key_and_version(&frame);
        match api_key {
            18 => {
                let (id, _) = decode_request::<ApiVersionsRequest>(frame, version);
                let api = |api_key, min_version, max_version| ApiVersion {
                    api_key,
                    min_version,
                    max_version,
                    ..Default::default()
                };
                let resp = ApiVersionsResponse {
                    api_keys: vec![api(0, 3, 9), api(3, 7, 12), api(18, 0, 3)],
                    ..Default::default()
                };
                write_response(&mut s, id, version.min(3), &resp);
            }
            3 => {
                let (id, _) = decode_request::<MetadataRequest>(frame, version);
                let n = counts.metadata.fetch_add(1, Ordering::SeqCst);
                let (leader, epoch) = script[n.min(script.len() - 1)];
                let partition = |index, leader, leader_epoch| MetadataResponsePartition {
                    partition_index: index,
                    leader_id: leader,
                    leader_epoch,
                    replica_nodes: vec![BROKER],
                    isr_nodes: vec![BROKER],
                    ..Default::default()
                };
                let resp = MetadataResponse {
                    brokers: vec![MetadataResponseBroker {
                        node_id: BROKER,
                        host: "127.0.0.1".into(),
                        port: port as i32,
                        ..Default::default()
                    }],
                    cluster_id: Some("fake".into()),
                    controller_id: BROKER,
                    topics: vec![MetadataResponseTopic {
                        name: Some(TOPIC.into()),
                        partitions: vec![partition(0, leader, epoch), partition(1, -1, 3)],
                        ..Default::default()
                    }],
                    ..Default::default()
                };
                write_response(&mut s, id, version, &resp);
            }
            0 => {
                let (id, req) = decode_request::<ProduceRequest>(frame, version);
                let resp = ProduceResponse {
                    responses: req
                        .topic_data
                        .iter()
                        .map(|t| TopicProduceResponse {
                            name: t.name.clone(),
                            partition_responses: t
                                .partition_data
                                .iter()
                                .map(|p| {
                                    let c = if p.index == 0 {
                                        &counts.produce_p0
                                    } else {
                                        &counts.produce_p1
                                    };
                                    PartitionProduceResponse {
                                        index: p.index,
                                        base_offset: c.fetch_add(1, Ordering::SeqCst) as i64,
                                        log_append_time_ms: -1,
                                        ..Default::default()
                                    }
                                })
                                .collect(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                };
                write_response(&mut s, id, version, &resp);
            }
            k => panic!("fake broker: unexpected api key {k}"),
        }
    }
}

/// (leader, leader epoch) of a partition in the client's cache.
fn cached(admin: &AdminClient, partition: i32) -> (i32, i32) {
    let md = admin.cluster().metadata();
    let p = md.topics[TOPIC]
        .partitions
        .iter()
        .find(|p| p.partition == partition)
        .unwrap()
        .clone();
    (p.leader, p.leader_epoch)
}

#[test]
fn an_older_leader_epoch_does_not_move_the_leader_back() {
    let fake = Fake::start(&[
        (BROKER, 5),
        (GHOST, 4),
        (GHOST, -1),
        (BROKER, 5),
        (BROKER, 6),
    ]);
    let admin = AdminClient::new(
        AdminConfig::new()
            .bootstrap_servers(&fake.bootstrap())
            .set("default.api.timeout.ms", "5000"),
    )
    .unwrap();
    let topics = [TOPIC.to_string()];
    let refresh = |topics: Option<&[String]>| {
        admin.cluster().refresh_topics(topics).unwrap();
    };
    refresh(Some(&topics));
    assert_eq!(cached(&admin, 0), (BROKER, 5));
    // Epoch 4 < 5: a lagging broker's answer; the leader stays (also on a
    // full refresh, which otherwise replaces the whole cache).
    refresh(Some(&topics));
    assert_eq!(cached(&admin, 0), (BROKER, 5), "older epoch ignored");
    assert_eq!(
        admin
            .cluster()
            .metadata()
            .leader(TOPIC, 0)
            .map(|b| b.node_id),
        Some(BROKER)
    );
    // Epoch -1 (a broker that does not send epochs): taken as before.
    refresh(None);
    assert_eq!(cached(&admin, 0), (GHOST, -1), "unknown epoch taken");
    // Equal and newer epochs replace.
    refresh(None);
    assert_eq!(cached(&admin, 0), (BROKER, 5));
    refresh(Some(&topics));
    assert_eq!(cached(&admin, 0), (BROKER, 6));
    // The partition without leader is kept as answered.
    assert_eq!(cached(&admin, 1), (-1, 3));
}

#[test]
fn unkeyed_records_skip_a_partition_without_leader_keyed_ones_do_not() {
    let fake = Fake::start(&[(BROKER, 1)]);
    let producer = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(&fake.bootstrap())
            .set("enable.idempotence", "false")
            .set("acks", "1")
            .set("linger.ms", "0")
            .set("batch.size", "16")
            .set("retry.backoff.ms", "20")
            .set("request.timeout.ms", "1000")
            .set("delivery.timeout.ms", "2000"),
    )
    .unwrap();
    let futures: Vec<_> = (0..30)
        .map(|i| {
            producer
                .send(ProducerRecord::new(TOPIC, format!("v{i}").as_bytes()))
                .unwrap()
        })
        .collect();
    for f in futures {
        let md = f.wait().expect("unkeyed record delivered");
        assert_eq!(md.partition, 0);
    }
    assert_eq!(fake.counts.produce_p1.load(Ordering::SeqCst), 0);
    assert!(fake.counts.produce_p0.load(Ordering::SeqCst) >= 1);
    // A key hashing to partition 1 still goes there (murmur2, as in Java):
    // it waits for a leader and times out.
    let key = (0..100)
        .map(|i| format!("k{i}"))
        .find(|k| kafka_blocking::producer::partition_for_key(k.as_bytes(), 2) == 1)
        .unwrap();
    let err = producer
        .send(ProducerRecord::new(TOPIC, b"v").key(key.as_bytes()))
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(
        err.is_retriable() || matches!(err, kafka_blocking::Error::Timeout { .. }),
        "{err:?}"
    );
    assert_eq!(fake.counts.produce_p1.load(Ordering::SeqCst), 0);
    let _ = producer.close(None);
}
