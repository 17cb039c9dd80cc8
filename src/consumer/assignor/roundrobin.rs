//! The `roundrobin` assignor.

use std::collections::BTreeMap;

use super::{Group, GroupAssignment, MemberSubscription, PartitionAssignor, java_cmp};

/// The `roundrobin` assignor (Java's `RoundRobinAssignor`).
///
/// All partitions of all subscribed topics, in (topic, partition) order, are
/// dealt to the members in member order (static members first), round and
/// round; a member not subscribed to a partition's topic is skipped. With
/// equal subscriptions the counts differ by at most one.
#[derive(Clone, Copy, Debug, Default)]
pub struct RoundRobinAssignor;

impl PartitionAssignor for RoundRobinAssignor {
    fn name(&self) -> &str {
        "roundrobin"
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> GroupAssignment {
        let group = Group::new(partitions_per_topic, members);
        let mut out: Vec<Vec<(&str, i32)>> = vec![Vec::new(); group.len()];
        let order = group.sorted_members();
        let mut topics: Vec<(&str, i32)> = group.partitions.iter().map(|(&t, &n)| (t, n)).collect();
        topics.sort_by(|a, b| java_cmp(a.0, b.0));
        let mut next = 0;
        for (topic, n) in topics {
            for p in 0..n {
                // Some member subscribes to every topic in `group.partitions`.
                while !group.topic_sets[order[next]].contains(topic) {
                    next = (next + 1) % order.len();
                }
                out[order[next]].push((topic, p));
                next = (next + 1) % order.len();
            }
        }
        group.finish(out)
    }
}
