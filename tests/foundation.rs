//! The foundation against real brokers: version negotiation and metadata on
//! tansu and on the 3-broker librdkafka mock cluster, raw Produce + Fetch
//! round trips, interop with kafka-python (reads what we wrote) and
//! librdkafka (we read and CRC-check what it wrote).

#[path = "support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use kafka_blocking::AdminConfig;
use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::unstable::cluster::{Cluster, ClusterSettings, parse_bootstrap};
use kafka_blocking::unstable::net::pool::Backoff;
use kafka_blocking::unstable::net::{Connection, ConnectionSettings};
use kafka_blocking::unstable::protocol::compression::Compression;
use kafka_blocking::unstable::protocol::messages::produce_request::{
    PartitionProduceData, TopicProduceData,
};
use kafka_blocking::unstable::protocol::messages::*;
use kafka_blocking::unstable::protocol::records::{
    Header, ProducerState, Record, RecordBatchBuilder,
};
use kafka_blocking::unstable::protocol::{Bytes, KafkaCode, Request};

fn cluster(bootstrap: &str) -> Cluster {
    let servers: Vec<String> = bootstrap.split(',').map(str::to_string).collect();
    Cluster::new(ClusterSettings {
        bootstrap: parse_bootstrap(&servers).unwrap(),
        connection: ConnectionSettings {
            client_id: Some("foundation-test".into()),
            ..Default::default()
        },
        reconnect_backoff: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(1000),
        },
        retry_backoff: Duration::from_millis(100),
        retry_backoff_max: Duration::from_millis(1000),
        metadata_max_age: Duration::from_secs(300),
        allow_auto_create_topics: false,
    })
}

fn admin(bootstrap: &str) -> AdminClient {
    AdminClient::new(
        AdminConfig::new()
            .bootstrap_servers(bootstrap)
            .set("default.api.timeout.ms", 20000),
    )
    .unwrap()
}

/// The records the tests write: keys, null key, null value, headers, explicit timestamps.
fn sample_records(n: usize) -> Vec<Record> {
    let base_ts = 1_700_000_000_000i64;
    (0..n)
        .map(|i| Record {
            offset: i as i64,
            timestamp: base_ts + (i as i64) * 7,
            key: if i % 5 == 3 {
                None
            } else {
                Some(Bytes::from(format!("key-{i}")))
            },
            value: if i % 7 == 6 {
                None
            } else {
                Some(Bytes::from(format!("value-{i}-{}", "x".repeat(i % 13))))
            },
            headers: if i % 2 == 0 {
                vec![
                    Header::new("h1", Some(Bytes::from(format!("hv-{i}")))),
                    Header::new("null-header", None),
                ]
            } else {
                vec![]
            },
        })
        .collect()
}

fn encode_batch(records: &[Record], compression: Compression) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new();
    for r in records {
        b.append(
            r.timestamp,
            r.key.as_deref(),
            r.value.as_deref(),
            &r.headers,
        )
        .unwrap();
    }
    b.finish(ProducerState::NONE, compression).unwrap()
}

/// Produces one batch to the partition's leader; returns the base offset.
/// A topic created a moment ago may not be led yet on a real broker
/// (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE): asked again for up to 15 s.
fn raw_produce(cluster: &Cluster, topic: &str, partition: i32, batch: Vec<u8>) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let md = cluster.wait_for_topic(topic, deadline).unwrap();
        let leader = md.partitions[partition as usize].leader;
        let conn = cluster.connection(leader).unwrap();
        let req = ProduceRequest {
            acks: -1,
            timeout_ms: 10_000,
            topic_data: vec![TopicProduceData {
                name: topic.to_string(),
                partition_data: vec![PartitionProduceData {
                    index: partition,
                    records: Some(Bytes::from(batch.clone())),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let resp = conn.request(&req).unwrap();
        let p = &resp.responses[0].partition_responses[0];
        match KafkaCode::from_code(p.error_code) {
            Some(KafkaCode::NotLeaderOrFollower | KafkaCode::LeaderNotAvailable)
                if Instant::now() < deadline =>
            {
                cluster.request_refresh();
                std::thread::sleep(Duration::from_millis(100));
            }
            code => {
                assert_eq!(code, None, "produce error");
                return p.base_offset;
            }
        }
    }
}

fn assert_same_records(got: &[Record], want: &[Record], base_offset: i64) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.offset, base_offset + w.offset);
        assert_eq!(g.timestamp, w.timestamp);
        assert_eq!(g.key, w.key);
        assert_eq!(g.value, w.value);
        assert_eq!(g.headers, w.headers);
    }
}

/// Asserts that every API this crate uses is negotiated at min(ours, theirs).
fn check_negotiated_versions(conn: &Connection) {
    fn check<R: Request>(conn: &Connection) {
        let (_, ours) = kafka_blocking::unstable::net::connection::client_range::<R>();
        match conn.api_versions().get(R::API_KEY) {
            Some((_, theirs)) => assert_eq!(
                conn.version::<R>().unwrap(),
                ours.min(theirs),
                "{}",
                R::NAME
            ),
            None => assert!(conn.version::<R>().is_err(), "{}", R::NAME),
        }
    }
    check::<ApiVersionsRequest>(conn);
    check::<MetadataRequest>(conn);
    check::<ProduceRequest>(conn);
    check::<FetchRequest>(conn);
    check::<ListOffsetsRequest>(conn);
    check::<FindCoordinatorRequest>(conn);
    check::<CreateTopicsRequest>(conn);
    check::<DeleteTopicsRequest>(conn);
    check::<JoinGroupRequest>(conn);
    check::<OffsetCommitRequest>(conn);
}

#[test]
fn tansu_versions_metadata_and_raw_round_trip() {
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("foundation");
    let admin = admin(&bootstrap);
    admin.create_topic(NewTopic::new(&topic, 3, 1)).unwrap();
    // Creating it again reports TOPIC_ALREADY_EXISTS for that topic.
    let again = admin.create_topic(NewTopic::new(&topic, 3, 1)).unwrap_err();
    assert_eq!(
        again.kafka_code(),
        Some(KafkaCode::TopicAlreadyExists),
        "{again}"
    );

    let cluster = cluster(&bootstrap);
    let conn = cluster.any_connection().unwrap();
    check_negotiated_versions(&conn);
    // tansu advertises Produce 0-11 and Fetch 0-17 (BROKERS.md): we use our highest.
    assert_eq!(
        conn.version::<ProduceRequest>().unwrap(),
        ProduceRequest::MAX_VERSION.min(11)
    );
    assert_eq!(
        conn.version::<FetchRequest>().unwrap(),
        FetchRequest::MAX_VERSION.min(17)
    );

    let md = cluster
        .wait_for_topic(&topic, Instant::now() + Duration::from_secs(15))
        .unwrap();
    assert_eq!(md.partitions.len(), 3);
    let all = cluster.metadata();
    assert_eq!(all.brokers.len(), 1);
    for p in &md.partitions {
        assert!(
            all.brokers.contains_key(&p.leader),
            "leader {} not a known broker",
            p.leader
        );
    }
    assert!(
        admin
            .list_topics()
            .unwrap()
            .iter()
            .any(|t| t.name == topic && t.partitions == 3)
    );
    let desc = admin.describe_cluster().unwrap();
    assert_eq!(desc.brokers.len(), 1);

    let records = sample_records(40);
    let base = raw_produce(
        &cluster,
        &topic,
        1,
        encode_batch(&records, Compression::None),
    );
    assert_eq!(base, 0);
    let got = support::log::read_partition(&cluster, &topic, 1, 0);
    assert_same_records(&got, &records, 0);

    // kafka-python reads the same records back identically.
    let script = r#"
import sys, json, time
from kafka import KafkaConsumer, TopicPartition
c = KafkaConsumer(bootstrap_servers=sys.argv[1], enable_auto_commit=False)
tp = TopicPartition(sys.argv[2], 1)
c.assign([tp]); c.seek_to_beginning(tp)
out = []
# Poll until every record arrived, up to a generous deadline: an empty poll
# is not the end (its first polls connect, look up metadata and reset the
# offset, which took more than 3 s on a busy machine).
deadline = time.monotonic() + 60
while len(out) < int(sys.argv[3]) and time.monotonic() < deadline:
    batch = c.poll(timeout_ms=500)
    for r in batch.get(tp, []):
        out.append([r.offset, r.timestamp, None if r.key is None else r.key.hex(), None if r.value is None else r.value.hex(),
                    [[k, None if v is None else v.hex()] for k, v in r.headers]])
print(json.dumps(out))
"#;
    let out = Command::new(support::python())
        .args(["-c", script, &bootstrap, &topic, &records.len().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let expected: Vec<String> = records
        .iter()
        .map(|r| {
            let hex = |b: &Option<Bytes>| match b {
                None => "null".to_string(),
                Some(b) => format!(
                    "\"{}\"",
                    b.iter().map(|x| format!("{x:02x}")).collect::<String>()
                ),
            };
            let headers: Vec<String> = r
                .headers
                .iter()
                .map(|h| format!("[\"{}\", {}]", h.key, hex(&h.value)))
                .collect();
            format!(
                "[{}, {}, {}, {}, [{}]]",
                r.offset,
                r.timestamp,
                hex(&r.key),
                hex(&r.value),
                headers.join(", ")
            )
        })
        .collect();
    assert_eq!(text.trim(), format!("[{}]", expected.join(", ")));
}

#[test]
fn librdkafka_batches_decode_and_crc_checks() {
    if !support::python_has("confluent_kafka") {
        panic!("confluent-kafka is required (scripts/test.sh installs it)");
    }
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("rdkafka-batch");
    admin(&bootstrap)
        .create_topic(NewTopic::new(&topic, 1, 1))
        .unwrap();
    let script = r#"
import sys
from confluent_kafka import Producer
for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
    p = Producer({"bootstrap.servers": sys.argv[1], "linger.ms": 50, "compression.type": codec, "enable.idempotence": True})
    for i in range(50):
        p.produce(sys.argv[2], key=("k%d" % i).encode(), value=(codec + "-%d-" % i).encode() * 3, partition=0,
                  headers=[("codec", codec.encode())], timestamp=1700000000000 + i)
    assert p.flush(15) == 0
"#;
    let out = Command::new(support::python())
        .args(["-c", script, &bootstrap, &topic])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cluster = cluster(&bootstrap);
    let got = support::log::read_partition(&cluster, &topic, 0, 0);
    assert_eq!(got.len(), 250);
    for (n, codec) in ["none", "gzip", "snappy", "lz4", "zstd"].iter().enumerate() {
        for i in 0..50 {
            let r = &got[n * 50 + i];
            assert_eq!(r.offset, (n * 50 + i) as i64);
            assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()));
            assert_eq!(
                r.value.as_deref(),
                Some(format!("{codec}-{i}-").repeat(3).as_bytes())
            );
            assert_eq!(r.timestamp, 1_700_000_000_000 + i as i64);
            assert_eq!(
                r.headers,
                vec![Header::new("codec", Some(Bytes::from(*codec)))]
            );
        }
    }
}

#[test]
fn mock_cluster_three_brokers_leaders_and_round_trip() {
    let mut mock = support::mock::MockCluster::start(3).unwrap();
    let topic = support::unique_topic("mock-foundation");
    mock.create_topic(&topic, 6, 3).unwrap();
    // Bootstrap from the first broker only: the others come from metadata.
    let first = mock.bootstrap().split(',').next().unwrap().to_string();
    let cluster = cluster(&first);
    let conn = cluster.any_connection().unwrap();
    check_negotiated_versions(&conn);
    // The mock answers ApiVersions v3 with UNSUPPORTED_VERSION (it has 0-2): we fell back.
    assert!(conn.api_versions().get(18).is_some());

    let md = cluster
        .wait_for_topic(&topic, Instant::now() + Duration::from_secs(15))
        .unwrap();
    let all = cluster.metadata();
    assert_eq!(all.brokers.len(), 3, "{:?}", all.brokers);
    assert_eq!(md.partitions.len(), 6);
    // The helper puts partition p's leader on broker p % 3 + 1.
    for p in &md.partitions {
        assert_eq!(p.leader, p.partition % 3 + 1, "partition {}", p.partition);
        assert_eq!(p.replicas.len(), 3);
    }
    // Partition 1's leader is broker 2, which is not the bootstrap broker.
    let bootstrap_port: u16 = first.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(all.brokers[&2].port, bootstrap_port);
    let records = sample_records(25);
    let base = raw_produce(
        &cluster,
        &topic,
        1,
        encode_batch(&records, Compression::None),
    );
    let got = support::log::read_partition(&cluster, &topic, 1, base);
    assert_same_records(&got, &records, base);
    // And compressed.
    let base2 = raw_produce(
        &cluster,
        &topic,
        4,
        encode_batch(&records, Compression::Lz4),
    );
    let got = support::log::read_partition(&cluster, &topic, 4, base2);
    assert_same_records(&got, &records, base2);
}
