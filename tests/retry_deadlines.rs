//! One retry policy (issue 11): no retry loop waits past its deadline.
//!
//! With the group coordinator answering COORDINATOR_NOT_AVAILABLE to every
//! OffsetCommit and OffsetFetch (librdkafka mock cluster, injected errors), a
//! `commit_sync_offsets` and a `committed` with `default.api.timeout.ms=1000`
//! each fail after 1 s, give or take the margin of one request, with the
//! broker's error; before the shared retry helper, the commit loops slept
//! `retry.backoff.ms` past the deadline and some retried unbounded.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_blocking::ConsumerConfig;
use kafka_blocking::consumer::{Consumer, OffsetAndMetadata, TopicPartition};
use kafka_blocking::unstable::protocol::KafkaCode;
use support::mock::MockCluster;

#[test]
fn commits_and_committed_end_at_their_deadline_while_the_coordinator_is_unavailable() {
    let mut mock = MockCluster::start(1).expect("mock cluster");
    mock.create_topic("retry-deadline", 1, 1).unwrap();
    let mut consumer = Consumer::new(
        ConsumerConfig::new()
            .bootstrap_servers(mock.bootstrap())
            .set("group.id", "retry-deadline-group")
            .set("default.api.timeout.ms", "1000")
            // A backoff longer than the remaining time must be cut short.
            .set("retry.backoff.ms", "900")
            .set("retry.backoff.max.ms", "900"),
    )
    .unwrap();
    let tp = TopicPartition::new("retry-deadline", 0);
    consumer.assign(vec![tp.clone()]).unwrap();
    // A first commit succeeds: the coordinator is known and connected.
    let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> =
        [(tp.clone(), OffsetAndMetadata::new(1))]
            .into_iter()
            .collect();
    consumer
        .commit_sync_offsets(&offsets)
        .expect("first commit");

    mock.push_errors("OffsetCommit", 1000, &["COORDINATOR_NOT_AVAILABLE"])
        .unwrap();
    mock.push_errors("OffsetFetch", 1000, &["COORDINATOR_NOT_AVAILABLE"])
        .unwrap();
    let started = Instant::now();
    let err = consumer
        .commit_sync_offsets(&offsets)
        .expect_err("every OffsetCommit fails");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(1500),
        "commit_sync_offsets ended after {took:?}, not at its 1 s deadline: {err}"
    );
    assert_eq!(
        err.kafka_code(),
        Some(KafkaCode::CoordinatorNotAvailable),
        "the broker's error, not a made-up one: {err}"
    );

    let started = Instant::now();
    let err = consumer
        .committed(std::slice::from_ref(&tp))
        .expect_err("every OffsetFetch fails");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(1500),
        "committed ended after {took:?}, not at its 1 s deadline: {err}"
    );
}
