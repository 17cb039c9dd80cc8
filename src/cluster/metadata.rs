//! The metadata cache: brokers, controller, topics and partitions as the last
//! Metadata response described them.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::net::BrokerAddress;
use crate::protocol::messages::MetadataResponse;
use crate::protocol::{KafkaCode, Uuid};

/// A broker of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broker {
    /// Node id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: u16,
    /// Rack, when configured.
    pub rack: Option<String>,
}

impl Broker {
    /// The address to connect to.
    pub(crate) fn address(&self) -> BrokerAddress {
        BrokerAddress {
            node_id: self.node_id,
            host: self.host.clone(),
            port: self.port,
        }
    }
}

/// One partition of a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// Partition index.
    pub partition: i32,
    /// Leader's node id, or -1 when there is none.
    pub leader: i32,
    /// Leader epoch (-1 when the broker does not send it).
    pub leader_epoch: i32,
    /// All replicas.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Offline replicas.
    pub offline_replicas: Vec<i32>,
    /// Partition-level error (e.g. LEADER_NOT_AVAILABLE).
    pub error: Option<KafkaCode>,
}

/// One topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicMetadata {
    /// Topic name.
    pub name: String,
    /// Topic id (zero when the broker does not send ids).
    pub topic_id: Uuid,
    /// True for internal topics such as `__consumer_offsets`.
    pub is_internal: bool,
    /// Partitions, sorted by index.
    pub partitions: Vec<PartitionMetadata>,
    /// Topic-level error (e.g. UNKNOWN_TOPIC_OR_PARTITION).
    pub error: Option<KafkaCode>,
}

/// A snapshot of cluster metadata.
#[derive(Clone, Debug)]
pub struct ClusterMetadata {
    /// Cluster id (Metadata v2+).
    pub cluster_id: Option<String>,
    /// Controller's node id, or -1.
    pub controller_id: i32,
    /// Brokers by node id.
    pub brokers: BTreeMap<i32, Broker>,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicMetadata>,
    /// When this snapshot was received.
    pub updated_at: Instant,
}

impl Default for ClusterMetadata {
    fn default() -> Self {
        ClusterMetadata {
            cluster_id: None,
            controller_id: -1,
            brokers: BTreeMap::new(),
            topics: BTreeMap::new(),
            updated_at: Instant::now(),
        }
    }
}

impl ClusterMetadata {
    /// Converts a Metadata response. Topics with a null name (queried by id
    /// and unknown) are left out.
    pub fn from_response(resp: &MetadataResponse) -> ClusterMetadata {
        let brokers = resp
            .brokers
            .iter()
            .filter_map(|b| {
                Some((
                    b.node_id,
                    Broker {
                        node_id: b.node_id,
                        host: b.host.clone(),
                        port: u16::try_from(b.port).ok()?,
                        rack: b.rack.clone(),
                    },
                ))
            })
            .collect();
        let topics = resp
            .topics
            .iter()
            .filter_map(|t| {
                let name = t.name.clone()?;
                let mut partitions: Vec<PartitionMetadata> = t
                    .partitions
                    .iter()
                    .map(|p| PartitionMetadata {
                        partition: p.partition_index,
                        leader: p.leader_id,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes.clone(),
                        isr: p.isr_nodes.clone(),
                        offline_replicas: p.offline_replicas.clone(),
                        error: KafkaCode::from_code(p.error_code),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                Some((
                    name.clone(),
                    TopicMetadata {
                        name,
                        topic_id: t.topic_id,
                        is_internal: t.is_internal,
                        partitions,
                        error: KafkaCode::from_code(t.error_code),
                    },
                ))
            })
            .collect();
        ClusterMetadata {
            cluster_id: resp.cluster_id.clone(),
            controller_id: resp.controller_id,
            brokers,
            topics,
            updated_at: Instant::now(),
        }
    }

    /// Merges a newer response that covered only some topics: brokers and
    /// controller are replaced, the listed topics replaced, others kept.
    pub fn merge(&mut self, newer: ClusterMetadata) {
        self.cluster_id = newer.cluster_id.or(self.cluster_id.take());
        self.controller_id = newer.controller_id;
        if !newer.brokers.is_empty() {
            self.brokers = newer.brokers;
        }
        self.topics.extend(newer.topics);
        self.updated_at = newer.updated_at;
    }

    /// The leader of a partition, when known and available.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<&Broker> {
        let t = self.topics.get(topic)?;
        let p = t.partitions.iter().find(|p| p.partition == partition)?;
        if p.leader < 0 {
            return None;
        }
        self.brokers.get(&p.leader)
    }

    /// Number of partitions of a topic, when known without error.
    pub fn partition_count(&self, topic: &str) -> Option<usize> {
        let t = self.topics.get(topic)?;
        if t.error.is_some() || t.partitions.is_empty() {
            return None;
        }
        Some(t.partitions.len())
    }

    /// A topic's name by id.
    pub fn topic_name(&self, id: &Uuid) -> Option<&str> {
        self.topics
            .values()
            .find(|t| &t.topic_id == id)
            .map(|t| t.name.as_str())
    }
}
