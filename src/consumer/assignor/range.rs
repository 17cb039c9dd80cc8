//! The `range` assignor.

use std::collections::BTreeMap;

use super::{Group, GroupAssignment, MemberSubscription, PartitionAssignor, member_order};

/// The `range` assignor (Java's `RangeAssignor`, the Java client's default).
///
/// Topic by topic: the members subscribed to the topic, in member order
/// (static members by `group.instance.id` first, then by member id), get
/// contiguous ranges of its partitions; the first `partitions % members` of
/// them get one partition more. Two members subscribed to the same topics
/// thus get the same partition numbers of each (co-partitioning), and with
/// static members the assignment survives member id changes.
#[derive(Clone, Copy, Debug, Default)]
pub struct RangeAssignor;

impl PartitionAssignor for RangeAssignor {
    fn name(&self) -> &str {
        "range"
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> GroupAssignment {
        let group = Group::new(partitions_per_topic, members);
        let mut out: Vec<Vec<(&str, i32)>> = vec![Vec::new(); group.len()];
        let mut per_topic: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for &i in &group.java_order {
            for &t in &group.topics[i] {
                if group.partitions.contains_key(t) {
                    per_topic.entry(t).or_default().push(i);
                }
            }
        }
        for (topic, mut consumers) in per_topic {
            consumers.sort_by(|&a, &b| member_order(group.members[a], group.members[b]));
            let n = group.partitions[topic];
            let m = consumers.len() as i32;
            let (each, extra) = (n / m, n % m);
            let mut next = 0;
            for (k, &c) in consumers.iter().enumerate() {
                let len = each + i32::from((k as i32) < extra);
                out[c].extend((next..next + len).map(|p| (topic, p)));
                next += len;
            }
        }
        group.finish(out)
    }
}
