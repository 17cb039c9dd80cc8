//! Partition assignors: which member of a consumer group reads which partitions.
//!
//! In the classic group protocol every member sends, in JoinGroup, one
//! subscription per assignor it is willing to use (name + bytes); the broker
//! picks an assignor all members share and makes one member the leader. The
//! leader decodes everyone's subscription ([`decode_subscription`]), runs the
//! assignor ([`PartitionAssignor::assign`]) and sends each member its
//! [`Assignment`] in SyncGroup ([`encode_assignment`]).
//!
//! # The built-in assignors
//! They produce the same assignment as the Java client's assignor of the same
//! name, for the same members and partition counts:
//!
//! | name | type | in short |
//! |------|------|----------|
//! | `range` | [`RangeAssignor`] | per topic, contiguous ranges in member order; the first `partitions % members` get one more |
//! | `roundrobin` | [`RoundRobinAssignor`] | all partitions in (topic, partition) order dealt round the members, skipping members not subscribed to the topic |
//! | `sticky` | [`StickyAssignor`] | balanced, and moves as few partitions as possible from their previous owner (KIP-54, KIP-341) |
//! | `cooperative-sticky` | [`CooperativeStickyAssignor`] | the sticky result, but a partition moving between members is left unassigned this round (KIP-429) |
//!
//! Members are ordered as Java orders them: static members (with a
//! `group.instance.id`, KIP-345) first, by instance id, then dynamic members
//! by member id, comparing strings by UTF-16 code units as Java does.
//!
//! Each member's partitions in a result are sorted by (topic, partition);
//! Java's list order inside one member's assignment depends on hash-map
//! iteration and carries no meaning.
//!
//! ## Where Java's answer depends on hash-map order
//! Java hands its assignors a `java.util.HashMap` of member id to subscription,
//! filled in JoinGroup-response order, and the sticky algorithms iterate it (for
//! example: when more members own enough partitions for the larger quota than
//! may keep it, the first ones met keep it). This module reproduces that
//! iteration order from the member ids, so **give `members` in the order of the
//! JoinGroup response** and the result is Java's. (Only a bucket holding nine or
//! more colliding member ids in a table of 64 or more, where Java switches the
//! bucket to a tree, is not reproduced.)
//!
//! ## Deliberate differences from Java
//! Only for inputs on which Java produces an invalid assignment or throws:
//! - A member whose subscription is empty does not make the sticky assignors
//!   treat all subscriptions as equal (Java can then give that member
//!   partitions of topics it did not subscribe to, depending on map order).
//! - Owned partitions that do not exist (partition number out of range) are
//!   ignored (Java's bookkeeping breaks and can assign partitions twice).
//! - The sticky general-case balancing never moves a partition back to a
//!   previous owner that no longer subscribes to its topic, and gives up after
//!   a bounded number of moves (Java has no bound).
//! - Java's sticky assignors keep the highest generation they have ever seen
//!   across calls; here each call looks only at its own members.
//! - Rack-aware assignment (KIP-881) needs the replicas' racks, which
//!   [`PartitionAssignor::assign`] is not given: results equal Java's on a
//!   cluster whose brokers have no `broker.rack` (where Java does not use racks
//!   either).
//!
//! # Wire formats
//! [`encode_subscription`] / [`decode_subscription`] and [`encode_assignment`]
//! / [`decode_assignment`] write and read Kafka's `ConsumerProtocol` bytes
//! (an `int16` version, then the body), byte for byte as Java does, so that our
//! members, Java members and kafka-python members can share one group whoever
//! leads it. A version newer than ours is read as our highest one, as Java does.
//! The sticky assignor's user data (`StickyAssignorUserData`, previous
//! assignment and generation) has [`encode_sticky_user_data`] /
//! [`decode_sticky_user_data`].
//!
//! ```
//! use std::collections::BTreeMap;
//! use kafka_blocking::consumer::assignor::{MemberSubscription, PartitionAssignor, RangeAssignor};
//!
//! let partitions = BTreeMap::from([("t0".to_string(), 3), ("t1".to_string(), 3)]);
//! let members = vec![
//!     MemberSubscription::new("C0", ["t0", "t1"]),
//!     MemberSubscription::new("C1", ["t0", "t1"]),
//! ];
//! let assignment = RangeAssignor.assign(&partitions, &members);
//! let c0: Vec<(&str, i32)> = assignment["C0"].partitions.iter().map(|(t, p)| (t.as_str(), *p)).collect();
//! assert_eq!(c0, [("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)]);
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;

mod java_order;
mod protocol;
mod range;
mod roundrobin;
mod sticky;
#[cfg(test)]
mod tests;

use java_order::{java_cmp, java_string_hash, member_order};

#[doc(hidden)]
pub use java_order::java_hash_map_order;
pub use protocol::{
    StickyUserData, decode_assignment, decode_sticky_user_data, decode_subscription,
    encode_assignment, encode_sticky_user_data, encode_subscription,
};
pub use range::RangeAssignor;
pub use roundrobin::RoundRobinAssignor;
pub use sticky::{CooperativeStickyAssignor, StickyAssignor, partitions_transferring_ownership};

/// The JoinGroup protocol type of consumer groups.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// The `ConsumerProtocol` version this crate writes by default and the highest
/// it reads (newer versions are read as this one): 3, with owned partitions
/// (v1), generation (v2) and rack (v3), as the Java client writes.
pub const CONSUMER_PROTOCOL_VERSION: i16 = 3;
const _: () =
    assert!(CONSUMER_PROTOCOL_VERSION == ConsumerProtocolSubscription::HIGHEST_SUPPORTED_VERSION);

/// The generation of a member that is in none (Java's `DEFAULT_GENERATION`).
pub const NO_GENERATION: i32 = -1;

// ---------------------------------------------------------------------------
// Types

/// What one member sends in JoinGroup for one assignor: the `ConsumerProtocol`
/// subscription, without the member's ids (those come from the JoinGroup
/// response; see [`Subscription::into_member`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// The topics the member subscribes to.
    pub topics: Vec<String>,
    /// The assignor's own data, if any (see [`PartitionAssignor::subscription_user_data`]).
    pub user_data: Option<Vec<u8>>,
    /// The partitions the member owns now (v1+; empty in the eager protocol,
    /// where members give everything up before joining).
    pub owned_partitions: Vec<(String, i32)>,
    /// The generation in which the member got `owned_partitions` (v2+), or
    /// [`NO_GENERATION`].
    pub generation: i32,
    /// The member's `client.rack` (v3+).
    pub rack: Option<String>,
}

impl Default for Subscription {
    fn default() -> Self {
        Subscription {
            topics: Vec::new(),
            user_data: None,
            owned_partitions: Vec::new(),
            generation: NO_GENERATION,
            rack: None,
        }
    }
}

impl Subscription {
    /// A subscription to `topics` with no user data, nothing owned, no
    /// generation and no rack.
    pub fn new<S: Into<String>>(topics: impl IntoIterator<Item = S>) -> Subscription {
        Subscription {
            topics: topics.into_iter().map(Into::into).collect(),
            ..Subscription::default()
        }
    }

    /// Attaches the member's ids (from the JoinGroup response) for an assignor.
    pub fn into_member(
        self,
        member_id: impl Into<String>,
        group_instance_id: Option<String>,
    ) -> MemberSubscription {
        MemberSubscription {
            member_id: member_id.into(),
            group_instance_id,
            topics: self.topics,
            owned_partitions: self.owned_partitions,
            generation: self.generation,
            rack: self.rack,
            user_data: self.user_data,
        }
    }
}

/// One group member as the leader's assignor sees it: its ids and its
/// decoded [`Subscription`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSubscription {
    /// The member id the coordinator gave the member.
    pub member_id: String,
    /// The member's `group.instance.id` when it is a static member (KIP-345).
    pub group_instance_id: Option<String>,
    /// The topics the member subscribes to.
    pub topics: Vec<String>,
    /// The partitions the member owns now (see [`Subscription::owned_partitions`]).
    pub owned_partitions: Vec<(String, i32)>,
    /// The generation of `owned_partitions`, or [`NO_GENERATION`] (−1) if unknown.
    pub generation: i32,
    /// The member's rack, if it sent one.
    pub rack: Option<String>,
    /// The assignor-specific user data of the subscription.
    pub user_data: Option<Vec<u8>>,
}

impl MemberSubscription {
    /// A dynamic member subscribing to `topics`, owning nothing, with no
    /// generation, rack or user data.
    pub fn new<S: Into<String>>(
        member_id: impl Into<String>,
        topics: impl IntoIterator<Item = S>,
    ) -> MemberSubscription {
        Subscription::new(topics).into_member(member_id, None)
    }

    /// The wire part of this member's subscription (without its ids).
    pub fn subscription(&self) -> Subscription {
        Subscription {
            topics: self.topics.clone(),
            user_data: self.user_data.clone(),
            owned_partitions: self.owned_partitions.clone(),
            generation: self.generation,
            rack: self.rack.clone(),
        }
    }
}

/// What the leader gives one member: its partitions and optional
/// assignor-specific user data (the `ConsumerProtocol` assignment).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignment {
    /// The member's partitions, as (topic, partition).
    pub partitions: Vec<(String, i32)>,
    /// Assignor-specific data for the member (none for the built-in assignors).
    pub user_data: Option<Vec<u8>>,
}

impl Assignment {
    /// An assignment of `partitions` without user data.
    pub fn new(partitions: Vec<(String, i32)>) -> Assignment {
        Assignment {
            partitions,
            user_data: None,
        }
    }
}

/// The leader's result: member id → that member's [`Assignment`]. Every
/// member given to [`PartitionAssignor::assign`] has an entry, possibly empty.
pub type GroupAssignment = BTreeMap<String, Assignment>;

/// A partition assignment strategy (Java's `ConsumerPartitionAssignor`).
///
/// Implement it to plug in a custom assignor. One instance lives in each
/// member: every member calls [`subscription_user_data`](Self::subscription_user_data)
/// when it joins and [`on_assignment`](Self::on_assignment) when it receives
/// its partitions; only the leader calls [`assign`](Self::assign).
///
/// ```
/// use std::collections::BTreeMap;
/// use kafka_blocking::consumer::assignor::{
///     Assignment, GroupAssignment, MemberSubscription, PartitionAssignor,
/// };
///
/// /// Everything to the member whose id sorts first.
/// struct AllToFirst;
///
/// impl PartitionAssignor for AllToFirst {
///     fn name(&self) -> &str {
///         "all-to-first"
///     }
///     fn assign(
///         &self,
///         partitions_per_topic: &BTreeMap<String, i32>,
///         members: &[MemberSubscription],
///     ) -> GroupAssignment {
///         let mut out: GroupAssignment =
///             members.iter().map(|m| (m.member_id.clone(), Assignment::default())).collect();
///         if let Some(first) = members.iter().map(|m| &m.member_id).min() {
///             let mine = &mut out.get_mut(first).unwrap().partitions;
///             for m in members {
///                 for t in &m.topics {
///                     for p in 0..partitions_per_topic.get(t).copied().unwrap_or(0) {
///                         if !mine.contains(&(t.clone(), p)) {
///                             mine.push((t.clone(), p));
///                         }
///                     }
///                 }
///             }
///         }
///         out
///     }
/// }
/// ```
pub trait PartitionAssignor: Send {
    /// The assignor's protocol name in JoinGroup (e.g. `"range"`); members
    /// share an assignor when they give the same name.
    fn name(&self) -> &str;

    /// Whether the assignor supports the cooperative rebalance protocol
    /// (KIP-429): members keep their partitions while rejoining, and the
    /// assignor never gives a member a partition another member still owns.
    /// Every assignor supports the eager protocol.
    fn protocol_supports_cooperative(&self) -> bool {
        false
    }

    /// The user data to put in this member's subscription, given the topics it
    /// subscribes to and the partitions it owns (Java's
    /// `subscriptionUserData`). `None` by default.
    fn subscription_user_data(
        &self,
        topics: &[String],
        owned_partitions: &[(String, i32)],
    ) -> Option<Vec<u8>> {
        let _ = (topics, owned_partitions);
        None
    }

    /// Computes the group's assignment (on the leader only).
    ///
    /// `partitions_per_topic` gives the partition count of the topics the
    /// leader knows (topics missing from it, or with no partitions, are not
    /// assigned); `members` are the group's members, in JoinGroup-response
    /// order. The result must have an entry for every member.
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> GroupAssignment;

    /// Called on every member with the assignment it received and the
    /// generation it belongs to, before the partitions are used (Java's
    /// `onAssignment`). Does nothing by default.
    fn on_assignment(&mut self, assignment: &Assignment, generation: i32) {
        let _ = (assignment, generation);
    }
}

/// The built-in assignor with the given name: `range`, `roundrobin`,
/// `sticky` or `cooperative-sticky`, or the Java class name of one
/// (`org.apache.kafka.clients.consumer.RangeAssignor`, ...), as
/// `partition.assignment.strategy` may list them.
pub fn assignor_by_name(name: &str) -> Option<Box<dyn PartitionAssignor>> {
    const PREFIX: &str = "org.apache.kafka.clients.consumer.";
    let name = name.trim();
    let short = name.strip_prefix(PREFIX).unwrap_or(name);
    match short {
        "range" | "RangeAssignor" => Some(Box::new(RangeAssignor)),
        "roundrobin" | "RoundRobinAssignor" => Some(Box::new(RoundRobinAssignor)),
        "sticky" | "StickyAssignor" => Some(Box::new(StickyAssignor::new())),
        "cooperative-sticky" | "CooperativeStickyAssignor" => {
            Some(Box::new(CooperativeStickyAssignor::new()))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// The group as every assignor prepares it

/// The members and topics an assignment is computed over, prepared as Java's
/// `AbstractPartitionAssignor` does.
struct Group<'a> {
    /// The members, one per member id (a repeated id keeps its first place and
    /// its last subscription, as a Java map does).
    members: Vec<&'a MemberSubscription>,
    /// Each member's subscribed topics, without repeats, in subscription order.
    topics: Vec<Vec<&'a str>>,
    /// The same as sets.
    topic_sets: Vec<HashSet<&'a str>>,
    /// The order in which Java's `HashMap<memberId, Subscription>` iterates
    /// the members.
    java_order: Vec<usize>,
    /// The partition count of every topic some member subscribes to and that
    /// has partitions.
    partitions: BTreeMap<&'a str, i32>,
}

impl<'a> Group<'a> {
    fn new(
        partitions_per_topic: &'a BTreeMap<String, i32>,
        members: &'a [MemberSubscription],
    ) -> Group<'a> {
        let mut by_id: HashMap<&str, usize> = HashMap::new();
        let mut list: Vec<&MemberSubscription> = Vec::new();
        for m in members {
            match by_id.get(m.member_id.as_str()) {
                Some(&i) => list[i] = m,
                None => {
                    by_id.insert(&m.member_id, list.len());
                    list.push(m);
                }
            }
        }
        let mut topics = Vec::with_capacity(list.len());
        let mut topic_sets = Vec::with_capacity(list.len());
        let mut partitions = BTreeMap::new();
        for m in &list {
            let mut set = HashSet::new();
            let mut ts = Vec::new();
            for t in &m.topics {
                if set.insert(t.as_str()) {
                    ts.push(t.as_str());
                    match partitions_per_topic.get_key_value(t) {
                        Some((name, &n)) if n > 0 => {
                            partitions.insert(name.as_str(), n);
                        }
                        _ => {}
                    }
                }
            }
            topics.push(ts);
            topic_sets.push(set);
        }
        let hashes: Vec<i32> = list
            .iter()
            .map(|m| java_string_hash(&m.member_id))
            .collect();
        Group {
            java_order: java_hash_map_order(&hashes),
            members: list,
            topics,
            topic_sets,
            partitions,
        }
    }

    fn len(&self) -> usize {
        self.members.len()
    }

    /// The members in Java's `MemberInfo` order (a stable sort of the map's
    /// iteration order, as Java's).
    fn sorted_members(&self) -> Vec<usize> {
        let mut order = self.java_order.clone();
        order.sort_by(|&a, &b| member_order(self.members[a], self.members[b]));
        order
    }

    /// The result, every member's partitions sorted by (topic, partition).
    fn finish<T: AsRef<str>>(&self, per_member: Vec<Vec<(T, i32)>>) -> GroupAssignment {
        self.members
            .iter()
            .zip(per_member)
            .map(|(m, parts)| {
                let mut parts: Vec<(String, i32)> = parts
                    .into_iter()
                    .map(|(t, p)| (t.as_ref().to_owned(), p))
                    .collect();
                parts.sort_by(|a, b| java_cmp(&a.0, &b.0).then(a.1.cmp(&b.1)));
                (m.member_id.clone(), Assignment::new(parts))
            })
            .collect()
    }
}
