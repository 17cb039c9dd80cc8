//! Broker ids that metadata names but does not list (issue 19).
//!
//! The librdkafka mock cluster names controller id 0, which is none of its
//! brokers (1..N); a KRaft broker's answer can name a controller or leader
//! that just left, or one a lagging broker does not list yet. None of that
//! may fail a request: an unlisted controller means "no controller known"
//! (the request goes to any broker, KRaft brokers forward it), an unlisted
//! leader is retriable (refresh, back off, retry within the deadline), and
//! only metadata that never becomes consistent fails, with a timeout naming
//! the broker id.
//!
//! Here: the mock cluster (admin calls and both perf tools), and a scripted
//! fake broker whose Metadata answers name controller 7 and leader 8 while
//! listing only broker 1, for a given number of answers or forever.
//!
//! Review note (acceptance 3): the `Error::InvalidArgument` values left in
//! `src/` are all the caller's mistakes, none is built from a broker's
//! answer: a request version outside the client's range passed to
//! `Connection::send` (net/connection.rs); no `group.id` for a group
//! operation, an empty topic name to subscribe, `with_assignors` without
//! assignors, a partition not assigned, an invalid partition to assign, a
//! negative seek offset or timestamp (consumer/mod.rs, consumer/group.rs);
//! no position with `auto.offset.reset=none` (consumer/fetcher.rs); a
//! deserializer that does not fit the records read (consumer/deserializer.rs,
//! the caller's choice of deserializer); a record or batch that cannot be
//! encoded, larger than `buffer.memory`, or sent to a partition the topic
//! does not have (producer/).

// Both examples bring the test support module along (as `support`).
#![allow(clippy::duplicate_mod)]

/// `cargo run --example producer_perf`, called in-process.
#[allow(dead_code)]
#[path = "../examples/producer_perf.rs"]
mod producer_perf;

/// `cargo run --example consumer_perf`, called in-process.
#[allow(dead_code)]
#[path = "../examples/consumer_perf.rs"]
mod consumer_perf;

use producer_perf::support;
use support::fake::{api_key_and_version, decode_request, read_frame, write_response};

use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::unstable::protocol::KafkaCode;
use kafka_blocking::unstable::protocol::messages::api_versions_response::ApiVersion;
use kafka_blocking::unstable::protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_blocking::unstable::protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_blocking::unstable::protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_blocking::unstable::protocol::messages::produce_response::{
    PartitionProduceResponse, TopicProduceResponse,
};
use kafka_blocking::unstable::protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, MetadataRequest, MetadataResponse, ProduceRequest,
    ProduceResponse,
};
use kafka_blocking::{AdminConfig, Error, ProducerConfig};
use support::mock::MockCluster;

const TOPIC: &str = "t";
/// The only broker the fake lists.
const BROKER: i32 = 1;
/// The controller id the fake names while inconsistent.
const GHOST_CONTROLLER: i32 = 7;
/// The leader id the fake names while inconsistent.
const GHOST_LEADER: i32 = 8;

// ---------------------------------------------------------------------------
// The librdkafka mock cluster (acceptance 1)
// ---------------------------------------------------------------------------

#[test]
fn admin_calls_and_perf_tools_work_on_the_mock_cluster() {
    let mock = MockCluster::start(3).expect("start the librdkafka mock cluster");
    let bootstrap = mock.bootstrap().to_string();
    let admin = AdminClient::new(
        AdminConfig::new()
            .bootstrap_servers(&bootstrap)
            .set("default.api.timeout.ms", "20000"),
    )
    .unwrap();
    // The mock names controller 0, none of its brokers 1..3: that must not
    // fail a controller request (it failed with InvalidArgument("broker 0 is
    // not in the cluster metadata")). The mock has no CreateTopics or
    // DeleteTopics API (its ApiVersions lists neither), so those calls now
    // reach a broker and fail with the error that says so.
    let topic = support::unique_topic("unlisted-controller");
    for (api, result) in [
        (
            "CreateTopics",
            admin.create_topic(NewTopic::new(&topic, 3, 1)),
        ),
        ("DeleteTopics", admin.delete_topic(&topic)),
    ] {
        match result {
            Ok(()) => {}
            Err(Error::UnsupportedVersion {
                api: got,
                broker_range: None,
                ..
            }) if got == api => {}
            Err(e) => panic!("{api} on the mock cluster: {e:?}"),
        }
    }
    // No DescribeCluster on the mock either: Metadata answers it.
    let cluster = admin.describe_cluster().expect("describe_cluster");
    let ids: Vec<i32> = cluster.brokers.iter().map(|b| b.node_id).collect();
    assert_eq!(ids, vec![1, 2, 3], "{cluster:?}");
    assert_eq!(admin.cluster().known_controller(), None);
    drop(admin);

    let perf_topic = support::unique_topic("unlisted-controller-perf");
    let args = [
        "--topic",
        &perf_topic,
        "--num-records",
        "1000",
        "--record-size",
        "100",
        "--throughput",
        "-1",
        "--producer-props",
        &format!("bootstrap.servers={bootstrap}"),
        "acks=all",
    ];
    producer_perf::run_cli(args.iter().map(|s| s.to_string()))
        .unwrap_or_else(|e| panic!("producer_perf on the mock cluster: {e}"));
    let args = [
        "--bootstrap-server",
        &bootstrap,
        "--topic",
        &perf_topic,
        "--messages",
        "1000",
        "--timeout",
        "20000",
    ];
    let code = consumer_perf::run_cli(args.iter().map(|s| s.to_string()));
    assert_eq!(code, ExitCode::SUCCESS, "consumer_perf on the mock cluster");
}

// ---------------------------------------------------------------------------
// A scripted fake broker (acceptance 2)
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Script {
    /// Metadata answers naming the ghost controller and leader before the
    /// answers become consistent (`usize::MAX`: never).
    inconsistent_answers: usize,
    /// Whether CreateTopics/DeleteTopics are answered NOT_CONTROLLER while
    /// the metadata is inconsistent (a broker that does not forward);
    /// otherwise they succeed on any broker (KRaft forwarding).
    not_controller_while_inconsistent: bool,
}

#[derive(Default)]
struct Counts {
    metadata: AtomicUsize,
    create_topics: AtomicUsize,
    delete_topics: AtomicUsize,
    produce: AtomicUsize,
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
    // Whether the Metadata answers so far were all inconsistent ones.
    let inconsistent = || counts.metadata.load(Ordering::SeqCst) <= script.inconsistent_answers;
    let refuse = || script.not_controller_while_inconsistent && inconsistent();
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
                    api_keys: vec![
                        api(0, 3, 9),
                        api(3, 1, 12),
                        api(18, 0, 3),
                        api(19, 2, 7),
                        api(20, 1, 6),
                    ],
                    ..Default::default()
                };
                write_response(&mut s, id, version.min(3), &resp);
            }
            3 => {
                let (id, req) = decode_request::<MetadataRequest>(frame, version);
                let n = counts.metadata.fetch_add(1, Ordering::SeqCst);
                let ghost = n < script.inconsistent_answers;
                let leader = if ghost { GHOST_LEADER } else { BROKER };
                let wanted = req
                    .topics
                    .as_ref()
                    .is_none_or(|ts| ts.iter().any(|t| t.name.as_deref() == Some(TOPIC)));
                let resp = MetadataResponse {
                    brokers: vec![MetadataResponseBroker {
                        node_id: BROKER,
                        host: "127.0.0.1".into(),
                        port: port as i32,
                        ..Default::default()
                    }],
                    cluster_id: Some("fake".into()),
                    controller_id: if ghost { GHOST_CONTROLLER } else { BROKER },
                    topics: if wanted {
                        vec![MetadataResponseTopic {
                            name: Some(TOPIC.into()),
                            partitions: vec![MetadataResponsePartition {
                                partition_index: 0,
                                leader_id: leader,
                                leader_epoch: 0,
                                replica_nodes: vec![leader],
                                isr_nodes: vec![leader],
                                ..Default::default()
                            }],
                            ..Default::default()
                        }]
                    } else {
                        Vec::new()
                    },
                    ..Default::default()
                };
                write_response(&mut s, id, version, &resp);
            }
            19 => {
                let (id, req) = decode_request::<CreateTopicsRequest>(frame, version);
                counts.create_topics.fetch_add(1, Ordering::SeqCst);
                let code = if refuse() {
                    KafkaCode::NotController.code()
                } else {
                    0
                };
                let resp = CreateTopicsResponse {
                    topics: req
                        .topics
                        .iter()
                        .map(|t| CreatableTopicResult {
                            name: t.name.clone(),
                            error_code: code,
                            num_partitions: 1,
                            replication_factor: 1,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                };
                write_response(&mut s, id, version, &resp);
            }
            20 => {
                let (id, req) = decode_request::<DeleteTopicsRequest>(frame, version);
                counts.delete_topics.fetch_add(1, Ordering::SeqCst);
                let code = if refuse() {
                    KafkaCode::NotController.code()
                } else {
                    0
                };
                let names: Vec<String> = if version >= 6 {
                    req.topics.iter().filter_map(|t| t.name.clone()).collect()
                } else {
                    req.topic_names.clone()
                };
                let resp = DeleteTopicsResponse {
                    responses: names
                        .into_iter()
                        .map(|n| DeletableTopicResult {
                            name: Some(n),
                            error_code: code,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                };
                write_response(&mut s, id, version, &resp);
            }
            0 => {
                let (id, req) = decode_request::<ProduceRequest>(frame, version);
                let n = counts.produce.fetch_add(1, Ordering::SeqCst) as i64;
                let resp = ProduceResponse {
                    responses: req
                        .topic_data
                        .iter()
                        .map(|t| TopicProduceResponse {
                            name: t.name.clone(),
                            partition_responses: t
                                .partition_data
                                .iter()
                                .map(|p| PartitionProduceResponse {
                                    index: p.index,
                                    base_offset: n,
                                    log_append_time_ms: -1,
                                    ..Default::default()
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

fn admin(fake: &Fake, api_timeout_ms: u64) -> AdminClient {
    AdminClient::new(
        AdminConfig::new()
            .bootstrap_servers(&fake.bootstrap())
            .set("default.api.timeout.ms", api_timeout_ms)
            .set("retry.backoff.ms", "20"),
    )
    .unwrap()
}

fn producer(fake: &Fake, delivery_timeout_ms: u64) -> Producer {
    Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(&fake.bootstrap())
            .set("enable.idempotence", "false")
            .set("acks", "1")
            .set("linger.ms", "0")
            .set("retry.backoff.ms", "20")
            .set("request.timeout.ms", "1000")
            .set("delivery.timeout.ms", delivery_timeout_ms),
    )
    .unwrap()
}

#[test]
fn an_unlisted_controller_means_any_broker_which_forwards() {
    let fake = Fake::start(Script {
        inconsistent_answers: usize::MAX,
        not_controller_while_inconsistent: false,
    });
    let admin = admin(&fake, 10_000);
    admin.create_topic(NewTopic::new("fresh", 1, 1)).unwrap();
    admin.delete_topic("fresh").unwrap();
    assert!(fake.counts.metadata.load(Ordering::SeqCst) > 0);
    assert_eq!(fake.counts.create_topics.load(Ordering::SeqCst), 1);
    assert_eq!(fake.counts.delete_topics.load(Ordering::SeqCst), 1);
}

#[test]
fn not_controller_answers_are_retried_until_metadata_names_a_listed_controller() {
    let fake = Fake::start(Script {
        inconsistent_answers: 3,
        not_controller_while_inconsistent: true,
    });
    let admin = admin(&fake, 10_000);
    admin.create_topic(NewTopic::new("fresh", 1, 1)).unwrap();
    assert!(
        fake.counts.create_topics.load(Ordering::SeqCst) >= 2,
        "the first CreateTopics was answered NOT_CONTROLLER and sent again"
    );
    admin.delete_topic("fresh").unwrap();
    assert_eq!(admin.cluster().known_controller(), Some(BROKER));
}

#[test]
fn a_controller_never_listed_fails_with_a_timeout_naming_it() {
    let fake = Fake::start(Script {
        inconsistent_answers: usize::MAX,
        not_controller_while_inconsistent: true,
    });
    let admin = admin(&fake, 1_500);
    let started = Instant::now();
    let err = admin
        .create_topic(NewTopic::new("fresh", 1, 1))
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("controller {GHOST_CONTROLLER}")),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "bounded");
    assert!(fake.counts.create_topics.load(Ordering::SeqCst) >= 2);
    let err = admin.delete_topic("fresh").unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
}

#[test]
fn sends_wait_for_metadata_that_lists_the_leader() {
    let fake = Fake::start(Script {
        inconsistent_answers: 3,
        not_controller_while_inconsistent: false,
    });
    let producer = producer(&fake, 10_000);
    let md = producer
        .send(ProducerRecord::new(TOPIC, b"v").partition(0))
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(md.partition, 0);
    assert_eq!(fake.counts.produce.load(Ordering::SeqCst), 1);
    assert!(fake.counts.metadata.load(Ordering::SeqCst) > 3);
    producer.close(None).unwrap();
}

#[test]
fn a_leader_never_listed_fails_the_send_with_a_timeout_naming_it() {
    let fake = Fake::start(Script {
        inconsistent_answers: usize::MAX,
        not_controller_while_inconsistent: false,
    });
    let producer = producer(&fake, 1_500);
    let started = Instant::now();
    let err = producer
        .send(ProducerRecord::new(TOPIC, b"v").partition(0))
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&format!("broker {GHOST_LEADER}")), "{text}");
    assert!(started.elapsed() < Duration::from_secs(10), "bounded");
    assert_eq!(fake.counts.produce.load(Ordering::SeqCst), 0);
    // The failed record is reported by close too (issue 11).
    assert!(producer.close(None).is_err());
}

#[test]
fn connecting_to_an_unlisted_broker_is_retriable_not_invalid_argument() {
    let fake = Fake::start(Script {
        inconsistent_answers: usize::MAX,
        not_controller_while_inconsistent: false,
    });
    let admin = admin(&fake, 5_000);
    admin.metadata().unwrap();
    let err = admin.cluster().connection(GHOST_LEADER).err().unwrap();
    assert!(
        matches!(err, Error::UnknownBroker { node_id: GHOST_LEADER, ref known } if known == &[BROKER]),
        "{err:?}"
    );
    assert!(err.is_retriable());
    assert!(err.to_string().contains("broker 8"), "{err}");
    assert_eq!(admin.cluster().known_controller(), None);
}
