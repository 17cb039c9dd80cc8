//! Tests of the sender's routing.

use super::*;
use crate::cluster::{Broker, PartitionMetadata, TopicMetadata};

fn metadata(leader: i32) -> ClusterMetadata {
    let mut md = ClusterMetadata::default();
    md.brokers.insert(
        1,
        Broker {
            node_id: 1,
            host: "localhost".into(),
            port: 9092,
            rack: None,
        },
    );
    md.topics.insert(
        "t".into(),
        TopicMetadata {
            name: "t".into(),
            topic_id: Default::default(),
            is_internal: false,
            partitions: vec![PartitionMetadata {
                partition: 0,
                leader,
                leader_epoch: 3,
                replicas: vec![1],
                isr: vec![1],
                offline_replicas: Vec::new(),
                error: None,
            }],
            error: None,
        },
    );
    md
}

#[test]
fn an_unlisted_leader_is_waited_for_not_failed() {
    let tp = TopicPartition::new("t", 0);
    assert_eq!(leader_node(&metadata(1), &tp), Some(1));
    // No leader, or a leader the brokers list lacks (restarting): the
    // batch waits for fresh metadata.
    assert_eq!(leader_node(&metadata(-1), &tp), None);
    assert_eq!(leader_node(&metadata(8), &tp), None);
    // Unknown partition or topic: waits too.
    assert_eq!(
        leader_node(&metadata(1), &TopicPartition::new("t", 1)),
        None
    );
    assert_eq!(
        leader_node(&metadata(1), &TopicPartition::new("u", 0)),
        None
    );
    // Connecting to such a broker anyway is a retriable error, and the
    // timeout that ends the wait names it.
    let err = Error::UnknownBroker {
        node_id: 8,
        known: vec![1],
    };
    assert!(err.is_retriable());
    let timeout = delivery_timeout_error(
        &tp,
        2,
        Duration::from_millis(1500),
        Duration::from_millis(1500),
        Some(&err),
    );
    assert!(matches!(timeout, Error::Timeout { .. }));
    assert!(timeout.to_string().contains("broker 8"), "{timeout}");
}
