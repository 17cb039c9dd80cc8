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
    /// Partitions answered with an older leader epoch than the cached one
    /// keep their cached state (see `ClusterMetadata::keep_newer_epochs`).
    pub fn merge(&mut self, mut newer: ClusterMetadata) {
        newer.keep_newer_epochs(self);
        self.cluster_id = newer.cluster_id.or(self.cluster_id.take());
        self.controller_id = newer.controller_id;
        if !newer.brokers.is_empty() {
            self.brokers = newer.brokers;
        }
        self.topics.extend(newer.topics);
        self.updated_at = newer.updated_at;
    }

    /// Metadata never goes backwards (as Java's
    /// `Metadata.updateLatestMetadata`): a partition of this (fresher)
    /// snapshot whose leader epoch is older than the one `cached` knows for
    /// the same topic takes the cached partition instead, so a broker with
    /// lagging metadata cannot move a leader back. Equal or newer epochs,
    /// an unknown epoch (-1, on either side) and a recreated topic (another
    /// topic id) take the fresh answer; topics and partitions this snapshot
    /// does not list are left alone.
    pub(crate) fn keep_newer_epochs(&mut self, cached: &ClusterMetadata) {
        for (name, topic) in &mut self.topics {
            let Some(old) = cached.topics.get(name) else {
                continue;
            };
            let zero = Uuid::default();
            if topic.topic_id != zero && old.topic_id != zero && topic.topic_id != old.topic_id {
                continue;
            }
            for p in &mut topic.partitions {
                let Some(o) = old.partitions.iter().find(|o| o.partition == p.partition) else {
                    continue;
                };
                if p.leader_epoch >= 0 && o.leader_epoch >= 0 && p.leader_epoch < o.leader_epoch {
                    log::debug!(
                        "ignoring stale metadata for {name}-{}: leader epoch {} (leader {}) is older than the known {} (leader {})",
                        p.partition,
                        p.leader_epoch,
                        p.leader,
                        o.leader_epoch,
                        o.leader
                    );
                    *p = o.clone();
                }
            }
        }
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

    /// The partitions of a topic whose leader is known and listed among the
    /// brokers (Java's `availablePartitionsForTopic`), ascending.
    pub(crate) fn available_partitions(&self, topic: &str) -> Vec<i32> {
        self.topics.get(topic).map_or_else(Vec::new, |t| {
            t.partitions
                .iter()
                .filter(|p| p.leader >= 0 && self.brokers.contains_key(&p.leader))
                .map(|p| p.partition)
                .collect()
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(partitions: &[(i32, i32, i32)], topic_id: u8) -> ClusterMetadata {
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
                topic_id: Uuid([topic_id; 16]),
                is_internal: false,
                partitions: partitions
                    .iter()
                    .map(|&(partition, leader, leader_epoch)| PartitionMetadata {
                        partition,
                        leader,
                        leader_epoch,
                        replicas: vec![leader],
                        isr: vec![leader],
                        offline_replicas: Vec::new(),
                        error: None,
                    })
                    .collect(),
                error: None,
            },
        );
        md
    }

    fn leaders(md: &ClusterMetadata) -> Vec<(i32, i32, i32)> {
        md.topics["t"]
            .partitions
            .iter()
            .map(|p| (p.partition, p.leader, p.leader_epoch))
            .collect()
    }

    #[test]
    fn older_leader_epochs_are_ignored_per_partition() {
        let mut md = snapshot(&[(0, 1, 5), (1, 1, 5), (2, 1, 5), (3, 1, 5)], 1);
        // Partition 0 older (kept), 1 equal and 2 newer (replaced), 3 with
        // an unknown epoch (replaced, as before epochs existed).
        md.merge(snapshot(&[(0, 2, 4), (1, 2, 5), (2, 2, 6), (3, 2, -1)], 1));
        assert_eq!(leaders(&md), [(0, 1, 5), (1, 2, 5), (2, 2, 6), (3, 2, -1)]);
        // A cached unknown epoch never blocks an answer.
        md.merge(snapshot(&[(3, 1, 0)], 1));
        assert_eq!(leaders(&md), [(3, 1, 0)]);
    }

    #[test]
    fn a_full_refresh_keeps_newer_partitions_too() {
        let cached = snapshot(&[(0, 1, 5), (1, 1, 5)], 1);
        let mut fresh = snapshot(&[(0, 2, 4), (1, 2, 7)], 1);
        fresh.topics.insert(
            "other".into(),
            TopicMetadata {
                name: "other".into(),
                topic_id: Uuid::default(),
                is_internal: false,
                partitions: Vec::new(),
                error: None,
            },
        );
        fresh.keep_newer_epochs(&cached);
        assert_eq!(leaders(&fresh), [(0, 1, 5), (1, 2, 7)]);
        assert!(fresh.topics.contains_key("other"));
        // Topics the cache does not know, or partitions it lacks, are taken.
        let mut fresh = snapshot(&[(0, 2, 1), (5, 2, 1)], 1);
        fresh.keep_newer_epochs(&snapshot(&[(1, 1, 9)], 1));
        assert_eq!(leaders(&fresh), [(0, 2, 1), (5, 2, 1)]);
    }

    #[test]
    fn a_recreated_topic_takes_the_new_epochs() {
        let mut md = snapshot(&[(0, 1, 5)], 1);
        md.merge(snapshot(&[(0, 2, 0)], 2));
        assert_eq!(leaders(&md), [(0, 2, 0)]);
    }

    #[test]
    fn available_partitions_have_a_listed_leader() {
        let md = snapshot(&[(0, 1, 0), (1, -1, 0), (2, 8, 0), (3, 1, 0)], 1);
        assert_eq!(md.available_partitions("t"), [0, 3]);
        assert!(md.available_partitions("nope").is_empty());
        assert_eq!(md.leader("t", 2), None);
    }
}
