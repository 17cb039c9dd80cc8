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

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use crate::protocol::messages::consumer_protocol_assignment::{
    ConsumerProtocolAssignment, TopicPartition as AssignedTopic,
};
use crate::protocol::messages::consumer_protocol_subscription::{
    ConsumerProtocolSubscription, TopicPartition as OwnedTopic,
};
use crate::protocol::{BufMut, Bytes, Decodable, DecodeError, Encodable, EncodeError, Reader};

/// The JoinGroup protocol type of consumer groups.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// The `ConsumerProtocol` version this crate writes by default and the highest
/// it reads (newer versions are read as this one): 3, with owned partitions
/// (v1), generation (v2) and rack (v3), as the Java client writes.
pub const CONSUMER_PROTOCOL_VERSION: i16 = ConsumerProtocolSubscription::HIGHEST_SUPPORTED_VERSION;

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
// Java's orderings and hash-map iteration order

/// Java's `String.compareTo`: lexicographic over UTF-16 code units.
fn java_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Java's `String.hashCode`.
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// `java.util.HashMap.hash`: the key's hash with its high half folded in.
fn java_spread(h: i32) -> u32 {
    let h = h as u32;
    h ^ (h >> 16)
}

const JAVA_TREEIFY_BIN: usize = 9;
const JAVA_MIN_TREEIFY_CAPACITY: usize = 64;

/// The iteration order of a `java.util.HashMap` (default capacity 16, load
/// factor 0.75) into which keys with these `hashCode()`s were put, in this
/// order, all distinct: indices into `hashes`, in iteration order.
///
/// Iteration goes bucket by bucket; a bucket keeps its keys in insertion
/// order, and resizing splits buckets without reordering them, so only the
/// final capacity matters. It grows when the size passes 3/4 of it, and when
/// a bucket reaches nine keys while the table is smaller than 64. (Buckets
/// that Java turns into trees, nine or more keys in a table of 64 or more,
/// are kept in insertion order here, which Java does not quite do.)
#[doc(hidden)]
pub fn java_hash_map_order(hashes: &[i32]) -> Vec<usize> {
    let spread: Vec<u32> = hashes.iter().map(|&h| java_spread(h)).collect();
    let mut cap = 16usize;
    let mut bins: HashMap<u32, usize> = HashMap::new();
    for (i, &h) in spread.iter().enumerate() {
        let bin = h & (cap as u32 - 1);
        let in_bin = {
            let n = bins.entry(bin).or_insert(0);
            *n += 1;
            *n
        };
        let mut new_cap = cap;
        if in_bin >= JAVA_TREEIFY_BIN && new_cap < JAVA_MIN_TREEIFY_CAPACITY {
            new_cap *= 2;
        }
        if i + 1 > new_cap / 4 * 3 {
            new_cap *= 2;
        }
        if new_cap != cap {
            cap = new_cap;
            bins.clear();
            for &h in &spread[..=i] {
                *bins.entry(h & (cap as u32 - 1)).or_insert(0) += 1;
            }
        }
    }
    let mask = cap as u32 - 1;
    let mut order: Vec<usize> = (0..hashes.len()).collect();
    order.sort_by_key(|&i| (spread[i] & mask, i));
    order
}

/// Java's ordering of group members (`AbstractPartitionAssignor.MemberInfo`):
/// static members first, by `group.instance.id`, then the others by member id.
fn member_order(a: &MemberSubscription, b: &MemberSubscription) -> Ordering {
    match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => java_cmp(x, y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => java_cmp(&a.member_id, &b.member_id),
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

// ---------------------------------------------------------------------------
// range

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

// ---------------------------------------------------------------------------
// roundrobin

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

// ---------------------------------------------------------------------------
// sticky and cooperative-sticky

/// The `sticky` assignor (Java's `StickyAssignor`, KIP-54), for the eager
/// protocol.
///
/// The assignment is as balanced as possible (member counts differ by at most
/// one, or no partition could move to a member with two fewer), and within
/// that keeps as many partitions with their previous owner as possible. As
/// eager members give up their partitions before rejoining, a member states its
/// previous assignment and generation in its subscription's user data
/// (`StickyAssignorUserData` v1, KIP-341), which this assignor writes in
/// [`subscription_user_data`](PartitionAssignor::subscription_user_data) after
/// [`on_assignment`](PartitionAssignor::on_assignment) and reads from every
/// member when it leads.
#[derive(Clone, Debug)]
pub struct StickyAssignor {
    /// This member's latest assignment, once it has one.
    member_assignment: Option<Vec<(String, i32)>>,
    /// The generation of `member_assignment`.
    generation: i32,
}

impl StickyAssignor {
    /// A sticky assignor with no previous assignment.
    pub fn new() -> StickyAssignor {
        StickyAssignor {
            member_assignment: None,
            generation: NO_GENERATION,
        }
    }
}

impl Default for StickyAssignor {
    fn default() -> StickyAssignor {
        StickyAssignor::new()
    }
}

impl PartitionAssignor for StickyAssignor {
    fn name(&self) -> &str {
        "sticky"
    }

    fn subscription_user_data(&self, _: &[String], _: &[(String, i32)]) -> Option<Vec<u8>> {
        let partitions = self.member_assignment.as_ref()?;
        // Only a topic name longer than 32767 bytes fails, which no broker accepts.
        encode_sticky_user_data(partitions, self.generation).ok()
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> GroupAssignment {
        let group = Group::new(partitions_per_topic, members);
        let outcome = sticky_assign(&group, StickyKind::Eager);
        group.finish(outcome.named_assignment())
    }

    fn on_assignment(&mut self, assignment: &Assignment, generation: i32) {
        self.member_assignment = Some(assignment.partitions.clone());
        self.generation = generation;
    }
}

/// The `cooperative-sticky` assignor (Java's `CooperativeStickyAssignor`,
/// KIP-429), for the cooperative protocol (and the eager one).
///
/// Computes the sticky assignment from the partitions members say they own
/// (`owned_partitions` and `generation` of the subscription), then leaves out
/// of this round every partition that would move from one member to another:
/// its owner, seeing it gone from its assignment, revokes it and rejoins, and
/// the next rebalance gives it to its new owner. No partition is ever owned by
/// two members at once, and members keep consuming the others.
#[derive(Clone, Debug)]
pub struct CooperativeStickyAssignor {
    /// The generation of this member's latest assignment.
    generation: i32,
}

impl CooperativeStickyAssignor {
    /// A cooperative-sticky assignor that has seen no generation yet.
    pub fn new() -> CooperativeStickyAssignor {
        CooperativeStickyAssignor {
            generation: NO_GENERATION,
        }
    }
}

impl Default for CooperativeStickyAssignor {
    fn default() -> CooperativeStickyAssignor {
        CooperativeStickyAssignor::new()
    }
}

impl PartitionAssignor for CooperativeStickyAssignor {
    fn name(&self) -> &str {
        "cooperative-sticky"
    }

    fn protocol_supports_cooperative(&self) -> bool {
        true
    }

    /// The member's generation as a big-endian `int32`, which members whose
    /// subscription predates the generation field (v0, v1) are read by.
    fn subscription_user_data(&self, _: &[String], _: &[(String, i32)]) -> Option<Vec<u8>> {
        Some(self.generation.to_be_bytes().to_vec())
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> GroupAssignment {
        let group = Group::new(partitions_per_topic, members);
        let outcome = sticky_assign(&group, StickyKind::Cooperative);
        group.finish(outcome.cooperative_assignment())
    }

    fn on_assignment(&mut self, _: &Assignment, generation: i32) {
        self.generation = generation;
    }
}

/// The partitions `assignment` gives to one member while another member still
/// owns them (by its subscription's `owned_partitions`), with their new owner.
///
/// Under the cooperative protocol these must not be assigned in the same
/// rebalance in which their owner gives them up; Java's coordinator checks
/// custom cooperative assignors with the same rule.
pub fn partitions_transferring_ownership(
    members: &[MemberSubscription],
    assignment: &GroupAssignment,
) -> BTreeMap<(String, i32), String> {
    let mut added: BTreeMap<(String, i32), String> = BTreeMap::new();
    let mut revoked: HashSet<(&str, i32)> = HashSet::new();
    for m in members {
        let owned: HashSet<(&str, i32)> = m
            .owned_partitions
            .iter()
            .map(|(t, p)| (t.as_str(), *p))
            .collect();
        let assigned: HashSet<(&str, i32)> = assignment
            .get(&m.member_id)
            .map(|a| a.partitions.iter().map(|(t, p)| (t.as_str(), *p)).collect())
            .unwrap_or_default();
        for &(t, p) in &assigned {
            if !owned.contains(&(t, p)) {
                added.insert((t.to_owned(), p), m.member_id.clone());
            }
        }
        revoked.extend(owned.difference(&assigned));
    }
    added.retain(|(t, p), _| revoked.contains(&(t.as_str(), *p)));
    added
}

/// Which of the two sticky assignors: they differ in where a member's
/// previous partitions come from, and in the cooperative adjustment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StickyKind {
    /// `sticky`: previous partitions and generation from the user data.
    Eager,
    /// `cooperative-sticky`: from the subscription's owned partitions and
    /// generation (the generation from the user data for old subscriptions).
    Cooperative,
}

/// A partition inside the sticky algorithms: (topic index, partition). Topic
/// indices follow Java's order of the topic names, so tuples compare as Java's
/// (topic, partition) comparator does.
type Tp = (u32, i32);

/// The topics and members the sticky algorithms work on.
struct StickyCtx<'g, 'a> {
    group: &'g Group<'a>,
    /// Topic index → name, in Java's string order.
    names: Vec<&'a str>,
    /// Topic index → partition count.
    counts: Vec<i32>,
    /// Topic index → Java `hashCode()` of the name.
    name_hash: Vec<i32>,
    index: HashMap<&'a str, u32>,
    /// Per member: the subscribed topics that have partitions.
    member_topics: Vec<Vec<u32>>,
    member_topic_set: Vec<HashSet<u32>>,
    /// Per member: how many partitions its topics have in all.
    member_max: Vec<usize>,
    /// Per member: its position among the member ids in Java's string order.
    rank: Vec<usize>,
    /// Rank → member.
    by_rank: Vec<usize>,
    total: usize,
}

impl<'g, 'a> StickyCtx<'g, 'a> {
    fn new(group: &'g Group<'a>) -> StickyCtx<'g, 'a> {
        let mut names: Vec<&str> = group.partitions.keys().copied().collect();
        names.sort_by(|a, b| java_cmp(a, b));
        let counts: Vec<i32> = names.iter().map(|t| group.partitions[t]).collect();
        let name_hash = names.iter().map(|t| java_string_hash(t)).collect();
        let index: HashMap<&str, u32> = names
            .iter()
            .enumerate()
            .map(|(i, &t)| (t, i as u32))
            .collect();
        let member_topics: Vec<Vec<u32>> = group
            .topics
            .iter()
            .map(|ts| ts.iter().filter_map(|t| index.get(t).copied()).collect())
            .collect();
        let member_topic_set = member_topics
            .iter()
            .map(|ts| ts.iter().copied().collect())
            .collect();
        let member_max = member_topics
            .iter()
            .map(|ts| ts.iter().map(|&t| counts[t as usize] as usize).sum())
            .collect();
        let mut by_rank: Vec<usize> = (0..group.len()).collect();
        by_rank
            .sort_by(|&a, &b| java_cmp(&group.members[a].member_id, &group.members[b].member_id));
        let mut rank = vec![0; group.len()];
        for (r, &m) in by_rank.iter().enumerate() {
            rank[m] = r;
        }
        let total = counts.iter().map(|&n| n as usize).sum();
        StickyCtx {
            group,
            names,
            counts,
            name_hash,
            index,
            member_topics,
            member_topic_set,
            member_max,
            rank,
            by_rank,
            total,
        }
    }

    fn n(&self) -> usize {
        self.group.len()
    }

    /// The partition, if its topic is being assigned and it exists.
    fn resolve(&self, topic: &str, partition: i32) -> Option<Tp> {
        let &t = self.index.get(topic)?;
        (0 <= partition && partition < self.counts[t as usize]).then_some((t, partition))
    }

    /// Java's `TopicPartition.hashCode()`.
    fn tp_hash(&self, tp: Tp) -> i32 {
        31i32
            .wrapping_mul(31i32.wrapping_add(tp.1))
            .wrapping_add(self.name_hash[tp.0 as usize])
    }

    /// All partitions, in (topic, partition) order.
    fn all_partitions(&self) -> impl Iterator<Item = Tp> + '_ {
        self.counts
            .iter()
            .enumerate()
            .flat_map(|(t, &n)| (0..n).map(move |p| (t as u32, p)))
    }

    /// The subscription's generation as Java's `Subscription.generationId()`
    /// has it (absent, here −1, when negative).
    fn subscription_generation(&self, member: usize) -> i32 {
        self.group.members[member].generation.max(NO_GENERATION)
    }

    /// The member's previous partitions and generation (Java's `memberData`),
    /// keeping only existing partitions of the topics being assigned.
    fn member_data(&self, member: usize, kind: StickyKind) -> (Vec<Tp>, Option<i32>) {
        let m = self.group.members[member];
        let resolve_all = |parts: &[(String, i32)]| -> Vec<Tp> {
            parts
                .iter()
                .filter_map(|(t, p)| self.resolve(t, *p))
                .collect()
        };
        match kind {
            StickyKind::Eager => match m.user_data.as_deref() {
                None | Some([]) => (Vec::new(), None),
                Some(bytes) => match decode_sticky_user_data(bytes) {
                    Some(data) => (resolve_all(&data.partitions), data.generation),
                    None => (Vec::new(), Some(NO_GENERATION)),
                },
            },
            StickyKind::Cooperative => {
                let generation = if m.generation >= 0 {
                    Some(m.generation)
                } else {
                    m.user_data.as_deref().map(|b| match b {
                        [a, b, c, d, ..] => i32::from_be_bytes([*a, *b, *c, *d]),
                        _ => NO_GENERATION,
                    })
                };
                (resolve_all(&m.owned_partitions), generation)
            }
        }
    }
}

/// The sticky assignment, before any cooperative adjustment.
struct StickyOutcome<'g, 'a> {
    ctx: StickyCtx<'g, 'a>,
    /// Per member.
    assignment: Vec<Vec<Tp>>,
    /// Partitions assigned to a member while another one owns them (Java's
    /// `partitionsTransferringOwnership`), when the algorithm tracked them (all
    /// subscriptions equal); `None` in the general case.
    transferring: Option<HashMap<Tp, usize>>,
}

impl StickyOutcome<'_, '_> {
    fn named(&self, parts: &[Tp]) -> Vec<(String, i32)> {
        parts
            .iter()
            .map(|&(t, p)| (self.ctx.names[t as usize].to_owned(), p))
            .collect()
    }

    fn named_assignment(&self) -> Vec<Vec<(String, i32)>> {
        self.assignment.iter().map(|a| self.named(a)).collect()
    }

    /// Java's `partitionsTransferringOwnership`, computed from the owned
    /// partitions in the general case.
    fn transfers(&self) -> HashMap<Tp, usize> {
        if let Some(t) = &self.transferring {
            return t.clone();
        }
        let mut added: HashMap<Tp, usize> = HashMap::new();
        let mut revoked: HashSet<Tp> = HashSet::new();
        for (c, assigned) in self.assignment.iter().enumerate() {
            let owned: Vec<Tp> = self.ctx.group.members[c]
                .owned_partitions
                .iter()
                .filter_map(|(t, p)| self.ctx.resolve(t, *p))
                .collect();
            let owned_set: HashSet<Tp> = owned.iter().copied().collect();
            let assigned_set: HashSet<Tp> = assigned.iter().copied().collect();
            for &tp in assigned {
                if !owned_set.contains(&tp) {
                    added.insert(tp, c);
                }
            }
            revoked.extend(owned.into_iter().filter(|tp| !assigned_set.contains(tp)));
        }
        added.retain(|tp, _| revoked.contains(tp));
        added
    }

    /// The assignment without the partitions that change owner.
    fn cooperative_assignment(&self) -> Vec<Vec<(String, i32)>> {
        let transfers = self.transfers();
        self.assignment
            .iter()
            .enumerate()
            .map(|(c, parts)| {
                let kept: Vec<Tp> = parts
                    .iter()
                    .copied()
                    .filter(|tp| transfers.get(tp) != Some(&c))
                    .collect();
                self.named(&kept)
            })
            .collect()
    }
}

/// Java's `AbstractStickyAssignor.assignPartitions`.
fn sticky_assign<'g, 'a>(group: &'g Group<'a>, kind: StickyKind) -> StickyOutcome<'g, 'a> {
    let ctx = StickyCtx::new(group);
    let n = ctx.n();
    if n == 0 {
        return StickyOutcome {
            ctx,
            assignment: Vec::new(),
            transferring: Some(HashMap::new()),
        };
    }
    let data: Vec<(Vec<Tp>, Option<i32>)> = (0..n).map(|c| ctx.member_data(c, kind)).collect();

    // allSubscriptionsEqual: also collects each member's previously owned
    // partitions, settling partitions claimed by several members by generation.
    let mut all_equal = true;
    let mut first_topics: Option<&HashSet<&str>> = None;
    let mut owned: Vec<Vec<Tp>> = vec![Vec::new(); n];
    let mut owner_of: HashMap<Tp, usize> = HashMap::new();
    let mut multiple: HashSet<Tp> = HashSet::new();
    let mut max_generation = NO_GENERATION;
    for &c in &group.java_order {
        let topics = &group.topic_sets[c];
        match first_topics {
            None => first_topics = Some(topics),
            Some(first) => {
                if all_equal && first != topics {
                    all_equal = false;
                }
            }
        }
        let (parts, generation) = &data[c];
        let generation = generation.unwrap_or(NO_GENERATION);
        max_generation = max_generation.max(generation);
        for &tp in parts {
            match owner_of.get(&tp).copied() {
                None => {
                    owned[c].push(tp);
                    owner_of.insert(tp, c);
                }
                Some(other) => {
                    let other_generation = ctx.subscription_generation(other);
                    if generation >= other_generation {
                        if generation == other_generation {
                            // Two owners in one generation: neither keeps it.
                            multiple.insert(tp);
                        } else {
                            owned[c].push(tp);
                        }
                        if let Some(i) = owned[other].iter().position(|&x| x == tp) {
                            owned[other].remove(i);
                        }
                        owner_of.insert(tp, c);
                    }
                }
            }
        }
    }

    if all_equal {
        let (assignment, transferring) = constrained_assign(&ctx, owned, &multiple);
        StickyOutcome {
            ctx,
            assignment,
            transferring: Some(transferring),
        }
    } else {
        let assignment = General::new(&ctx, owned).build(&data, max_generation);
        StickyOutcome {
            ctx,
            assignment,
            transferring: None,
        }
    }
}

/// Java's `ConstrainedAssignmentBuilder` (all members subscribe to the same
/// topics), without racks. Returns the assignment and the partitions that
/// change owner.
fn constrained_assign(
    ctx: &StickyCtx,
    mut owned: Vec<Vec<Tp>>,
    multiple: &HashSet<Tp>,
) -> (Vec<Vec<Tp>>, HashMap<Tp, usize>) {
    let n = ctx.n();
    let min_quota = ctx.total / n;
    let max_quota = ctx.total.div_ceil(n);
    let expected_over_min = ctx.total % n;
    let mut over_min = 0;
    let mut assignment: Vec<Vec<Tp>> = vec![Vec::new(); n];
    let mut assigned: HashSet<Tp> = HashSet::new();
    let mut revoked: HashSet<Tp> = HashSet::new();
    let mut under_min: Vec<usize> = Vec::new();
    let mut at_min: VecDeque<usize> = VecDeque::new();

    // Keep previously owned partitions, up to the quota.
    for &c in &ctx.group.java_order {
        let mut mine = std::mem::take(&mut owned[c]);
        mine.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        mine.retain(|tp| !multiple.contains(tp));
        let keep = if mine.len() < min_quota {
            under_min.push(c);
            mine.len()
        } else if mine.len() >= max_quota && over_min < expected_over_min {
            over_min += 1;
            if over_min == expected_over_min {
                at_min.clear();
            }
            max_quota
        } else {
            if over_min < expected_over_min {
                at_min.push_back(c);
            }
            min_quota
        };
        revoked.extend(mine.drain(keep..));
        assigned.extend(mine.iter().copied());
        assignment[c] = mine;
    }

    let unassigned: Vec<Tp> = ctx
        .all_partitions()
        .filter(|tp| !assigned.contains(tp))
        .collect();
    under_min.sort_by_key(|&c| ctx.rank[c]);
    at_min.make_contiguous().sort_by_key(|&c| ctx.rank[c]);

    // Round robin over the members under the minimum quota, then one more
    // each to members at the minimum, up to the expected count of members
    // above it.
    let mut transferring: HashMap<Tp, usize> = HashMap::new();
    let mut next = 0; // cursor into `under_min`
    let mut last: Option<usize> = None; // what the cursor returned last
    for &tp in &unassigned {
        let c = if next < under_min.len() {
            last = Some(next);
            next += 1;
            under_min[next - 1]
        } else if under_min.is_empty() {
            match at_min.pop_front() {
                Some(c) => c,
                None => {
                    // The quotas add up to the partition count, so this cannot
                    // happen (Java throws here).
                    log::error!(
                        "sticky assignor: no member left for partition {} of topic index {}",
                        tp.1,
                        tp.0
                    );
                    break;
                }
            }
        } else {
            last = Some(0);
            next = 1;
            under_min[0]
        };
        assignment[c].push(tp);
        if revoked.contains(&tp) || multiple.contains(&tp) {
            transferring.insert(tp, c);
        }
        if assignment[c].len() == min_quota {
            if let Some(i) = last.take() {
                under_min.remove(i);
                next = i;
            }
            at_min.push_back(c);
        }
    }
    (assignment, transferring)
}

/// One `HashSet<TopicPartition>` of Java's `PartitionMovements`, tracked just
/// enough to know which element its iterator returns first.
#[derive(Debug)]
struct JavaTpSet {
    /// Element → (spread hash, insertion sequence number).
    items: HashMap<Tp, (u32, u64)>,
    capacity: usize,
}

impl JavaTpSet {
    fn new() -> JavaTpSet {
        JavaTpSet {
            items: HashMap::new(),
            capacity: 16,
        }
    }

    fn insert(&mut self, tp: Tp, hash: i32, seq: u64) {
        if self.items.contains_key(&tp) {
            return;
        }
        let spread = java_spread(hash);
        self.items.insert(tp, (spread, seq));
        let mask = self.capacity as u32 - 1;
        let in_bin = self
            .items
            .values()
            .filter(|(h, _)| h & mask == spread & mask)
            .count();
        if in_bin >= JAVA_TREEIFY_BIN && self.capacity < JAVA_MIN_TREEIFY_CAPACITY {
            self.capacity *= 2;
        }
        if self.items.len() > self.capacity / 4 * 3 {
            self.capacity *= 2;
        }
    }

    fn remove(&mut self, tp: Tp) {
        self.items.remove(&tp);
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// What `iterator().next()` returns.
    fn first(&self) -> Option<Tp> {
        let mask = self.capacity as u32 - 1;
        self.items
            .iter()
            .min_by_key(|(_, (h, seq))| (h & mask, *seq))
            .map(|(tp, _)| *tp)
    }
}

/// Java's `PartitionMovements`: where partitions moved during one general
/// assignment, so that a partition moving back and forth between two members
/// is undone rather than repeated.
#[derive(Debug, Default)]
struct PartitionMovements {
    /// Partition → (first owner, current owner).
    moves: HashMap<Tp, (usize, usize)>,
    /// Topic → (from, to) → partitions.
    by_topic: HashMap<u32, HashMap<(usize, usize), JavaTpSet>>,
    seq: u64,
}

impl PartitionMovements {
    fn remove_record(&mut self, tp: Tp) -> Option<(usize, usize)> {
        let pair = self.moves.remove(&tp)?;
        if let Some(topic) = self.by_topic.get_mut(&tp.0) {
            if let Some(set) = topic.get_mut(&pair) {
                set.remove(tp);
                if set.is_empty() {
                    topic.remove(&pair);
                }
            }
            if topic.is_empty() {
                self.by_topic.remove(&tp.0);
            }
        }
        Some(pair)
    }

    fn add_record(&mut self, tp: Tp, hash: i32, pair: (usize, usize)) {
        self.moves.insert(tp, pair);
        self.seq += 1;
        self.by_topic
            .entry(tp.0)
            .or_default()
            .entry(pair)
            .or_insert_with(JavaTpSet::new)
            .insert(tp, hash, self.seq);
    }

    fn move_partition(&mut self, tp: Tp, hash: i32, old: usize, new: usize) {
        match self.remove_record(tp) {
            Some((src, _)) => {
                if src != new {
                    self.add_record(tp, hash, (src, new));
                }
            }
            None => self.add_record(tp, hash, (old, new)),
        }
    }

    /// The partition to move from `old` to `new` in place of `tp`: one that
    /// earlier moved the other way, if any.
    fn actual_partition_to_move(&self, tp: Tp, mut old: usize, new: usize) -> Tp {
        let Some(topic) = self.by_topic.get(&tp.0) else {
            return tp;
        };
        if let Some(&(src, _)) = self.moves.get(&tp) {
            old = src;
        }
        topic
            .get(&(new, old))
            .and_then(JavaTpSet::first)
            .unwrap_or(tp)
    }
}

/// Java's `GeneralAssignmentBuilder` (members subscribe to different
/// topics), without racks.
struct General<'c, 'g, 'a> {
    ctx: &'c StickyCtx<'g, 'a>,
    /// Per topic: the members subscribed to it (`topic2AllPotentialConsumers`).
    topic_members: Vec<Vec<usize>>,
    /// Per member; `None` while the member sits out the balancing (fixed).
    current: Vec<Option<Vec<Tp>>>,
    /// Partition → member (`currentPartitionConsumer`).
    owner: HashMap<Tp, usize>,
    /// Partitions by (number of potential members, topic, partition).
    sorted_partitions: Vec<Tp>,
    /// (assigned count, rank) of every member taking part.
    sorted_members: BTreeSet<(usize, usize)>,
    revocation_required: bool,
    movements: PartitionMovements,
    /// Moves left before balancing gives up (a guard Java lacks).
    move_budget: usize,
}

impl<'c, 'g, 'a> General<'c, 'g, 'a> {
    fn new(ctx: &'c StickyCtx<'g, 'a>, owned: Vec<Vec<Tp>>) -> Self {
        let mut topic_members = vec![Vec::new(); ctx.names.len()];
        for &c in &ctx.group.java_order {
            for &t in &ctx.member_topics[c] {
                topic_members[t as usize].push(c);
            }
        }
        let mut owner = HashMap::new();
        for (c, parts) in owned.iter().enumerate() {
            for &tp in parts {
                owner.insert(tp, c);
            }
        }
        let mut topics: Vec<u32> = (0..ctx.names.len() as u32).collect();
        topics.sort_by_key(|&t| (topic_members[t as usize].len(), t));
        let sorted_partitions = topics
            .iter()
            .flat_map(|&t| (0..ctx.counts[t as usize]).map(move |p| (t, p)))
            .collect();
        let budget = (ctx.total + 1)
            .saturating_mul(ctx.n() + 1)
            .saturating_mul(4);
        General {
            ctx,
            topic_members,
            current: owned.into_iter().map(Some).collect(),
            owner,
            sorted_partitions,
            sorted_members: BTreeSet::new(),
            revocation_required: false,
            movements: PartitionMovements::default(),
            move_budget: budget,
        }
    }

    fn size(&self, c: usize) -> Option<usize> {
        self.current[c].as_ref().map(Vec::len)
    }

    fn key(&self, c: usize) -> Option<(usize, usize)> {
        Some((self.size(c)?, self.ctx.rank[c]))
    }

    fn build(mut self, data: &[(Vec<Tp>, Option<i32>)], max_generation: i32) -> Vec<Vec<Tp>> {
        let ctx = self.ctx;
        // Previous owners from older generations (prepopulateCurrentAssignments).
        let mut previous: HashMap<Tp, (usize, i32)> = HashMap::new();
        for &c in &ctx.group.java_order {
            let (parts, generation) = &data[c];
            let generation = match *generation {
                Some(g) if g < max_generation => g,
                None if max_generation > NO_GENERATION => NO_GENERATION,
                _ => continue,
            };
            for &tp in parts {
                match previous.get(&tp) {
                    Some(&(_, g)) if generation <= g => {}
                    _ => {
                        previous.insert(tp, (c, generation));
                    }
                }
            }
        }

        // Keep owned partitions of topics the owner still subscribes to.
        let mut assigned: HashSet<Tp> = HashSet::new();
        for c in 0..ctx.n() {
            let parts = self.current[c].as_mut().expect("all members take part");
            let before = parts.len();
            parts.retain(|tp| ctx.member_topic_set[c].contains(&tp.0));
            if parts.len() != before {
                self.revocation_required = true;
            }
            assigned.extend(parts.iter().copied());
        }
        let unassigned: Vec<Tp> = self
            .sorted_partitions
            .iter()
            .copied()
            .filter(|tp| !assigned.contains(tp))
            .collect();

        for c in 0..ctx.n() {
            let key = self.key(c).expect("all members take part");
            self.sorted_members.insert(key);
        }
        self.balance(&previous, unassigned);
        self.current
            .into_iter()
            .map(|parts| parts.unwrap_or_default())
            .collect()
    }

    fn balance(&mut self, previous: &HashMap<Tp, (usize, i32)>, mut unassigned: Vec<Tp>) {
        let ctx = self.ctx;
        let initializing = self.sorted_members.last().is_none_or(|k| k.0 == 0);

        for &tp in &unassigned {
            self.assign_to_least_loaded(tp);
        }

        // Only partitions with two or more potential members can move ...
        let fixed_topic = |t: u32| self.topic_members[t as usize].len() < 2;
        self.sorted_partitions.retain(|tp| !fixed_topic(tp.0));
        unassigned.retain(|tp| !fixed_topic(tp.0));

        // ... and only members that could get more or have movable partitions.
        let mut fixed: Vec<(usize, Vec<Tp>)> = Vec::new();
        for c in 0..ctx.n() {
            if !self.can_member_participate(c) {
                let key = self.key(c).expect("taking part until now");
                self.sorted_members.remove(&key);
                fixed.push((c, self.current[c].take().expect("taking part until now")));
            }
        }

        let before = self.current.clone();
        let before_owner = self.owner.clone();
        if !self.revocation_required {
            self.perform_reassignments(&unassigned, previous);
        }
        let sorted = std::mem::take(&mut self.sorted_partitions);
        let moved = self.perform_reassignments(&sorted, previous);
        if !initializing && moved && balance_score(&self.current) >= balance_score(&before) {
            self.current = before;
            self.owner = before_owner;
        }
        for (c, parts) in fixed {
            self.current[c] = Some(parts);
        }
    }

    /// Gives the partition to the first member, by (count, member id), that
    /// subscribes to its topic (`maybeAssignPartition`).
    fn assign_to_least_loaded(&mut self, tp: Tp) {
        let found = self
            .sorted_members
            .iter()
            .copied()
            .find(|&(_, r)| self.ctx.member_topic_set[self.ctx.by_rank[r]].contains(&tp.0));
        if let Some(key) = found {
            let c = self.ctx.by_rank[key.1];
            self.sorted_members.remove(&key);
            self.current[c].as_mut().expect("taking part").push(tp);
            self.owner.insert(tp, c);
            self.sorted_members.insert((key.0 + 1, key.1));
        }
    }

    fn can_member_participate(&self, c: usize) -> bool {
        let Some(parts) = &self.current[c] else {
            return false;
        };
        parts.len() < self.ctx.member_max[c]
            || parts
                .iter()
                .any(|tp| self.topic_members[tp.0 as usize].len() >= 2)
    }

    /// Java's `isBalanced`: counts differ by at most one, or no member could
    /// take a partition from one with two more.
    fn is_balanced(&self) -> bool {
        let (Some(first), Some(last)) = (self.sorted_members.first(), self.sorted_members.last())
        else {
            return true;
        };
        if first.0 + 1 >= last.0 {
            return true;
        }
        for &(size, r) in &self.sorted_members {
            let c = self.ctx.by_rank[r];
            if size == self.ctx.member_max[c] {
                continue;
            }
            for &t in &self.ctx.member_topics[c] {
                for p in 0..self.ctx.counts[t as usize] {
                    let other = match self.owner.get(&(t, p)) {
                        Some(&o) if o != c => o,
                        _ => continue,
                    };
                    if self.size(other).is_some_and(|s| size + 1 < s) {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Moves partitions towards balance until none helps (Java's
    /// `performReassignments`); true if any moved.
    fn perform_reassignments(
        &mut self,
        partitions: &[Tp],
        previous: &HashMap<Tp, (usize, i32)>,
    ) -> bool {
        let mut moved_any = false;
        loop {
            let mut modified = false;
            for &tp in partitions {
                if self.is_balanced() {
                    break;
                }
                if self.move_budget == 0 {
                    log::warn!("sticky assignor: stopped balancing after too many moves");
                    return moved_any;
                }
                let Some(&c) = self.owner.get(&tp) else {
                    continue;
                };
                let Some(size) = self.size(c) else {
                    continue;
                };
                let back_to_previous = previous.get(&tp).map(|&(prev, _)| prev).filter(|&prev| {
                    self.ctx.member_topic_set[prev].contains(&tp.0)
                        && self.size(prev).is_some_and(|s| size > s + 1)
                });
                if let Some(prev) = back_to_previous {
                    self.reassign_to(tp, prev);
                    moved_any = true;
                    modified = true;
                    continue;
                }
                let better_exists = self.topic_members[tp.0 as usize]
                    .iter()
                    .any(|&o| self.size(o).is_some_and(|s| size > s + 1));
                if better_exists {
                    let target = self
                        .sorted_members
                        .iter()
                        .map(|&(_, r)| self.ctx.by_rank[r])
                        .find(|&o| self.ctx.member_topic_set[o].contains(&tp.0));
                    if let Some(target) = target {
                        self.reassign_to(tp, target);
                        moved_any = true;
                        modified = true;
                    }
                }
            }
            if !modified {
                return moved_any;
            }
        }
    }

    fn reassign_to(&mut self, tp: Tp, new: usize) {
        let Some(&old) = self.owner.get(&tp) else {
            return;
        };
        let actual = self.movements.actual_partition_to_move(tp, old, new);
        self.process_move(actual, new);
    }

    fn process_move(&mut self, tp: Tp, new: usize) {
        let Some(&old) = self.owner.get(&tp) else {
            return;
        };
        let (Some(old_key), Some(new_key)) = (self.key(old), self.key(new)) else {
            return;
        };
        self.move_budget -= 1;
        self.sorted_members.remove(&old_key);
        self.sorted_members.remove(&new_key);
        let hash = self.ctx.tp_hash(tp);
        self.movements.move_partition(tp, hash, old, new);
        let old_parts = self.current[old].as_mut().expect("taking part");
        if let Some(i) = old_parts.iter().position(|&x| x == tp) {
            old_parts.remove(i);
        }
        self.current[new].as_mut().expect("taking part").push(tp);
        self.owner.insert(tp, new);
        for c in [new, old] {
            let key = self.key(c).expect("taking part");
            self.sorted_members.insert(key);
        }
    }
}

/// Java's `getBalanceScore`: the sum over all pairs of members taking part of
/// the difference of their counts.
fn balance_score(assignment: &[Option<Vec<Tp>>]) -> i64 {
    let mut sizes: Vec<i64> = assignment
        .iter()
        .flatten()
        .map(|a| a.len() as i64)
        .collect();
    sizes.sort_unstable();
    let n = sizes.len() as i64;
    sizes
        .iter()
        .enumerate()
        .map(|(i, &s)| s * (2 * i as i64 - (n - 1)))
        .sum()
}

// ---------------------------------------------------------------------------
// ConsumerProtocol bytes

fn check_write_version(version: i16, what: &str) -> Result<i16, EncodeError> {
    if version < 0 {
        return Err(EncodeError::new(format!(
            "unsupported consumer protocol {what} version {version}"
        )));
    }
    Ok(version.min(CONSUMER_PROTOCOL_VERSION))
}

/// Reads the leading version, mapping a newer one to ours (Java's
/// `checkSubscriptionVersion` / `checkAssignmentVersion`).
fn read_version(r: &mut Reader, what: &str) -> Result<i16, DecodeError> {
    let version = r.read_i16().map_err(|_| {
        DecodeError::new(format!(
            "consumer protocol {what}: buffer underflow reading the version"
        ))
    })?;
    if version < 0 {
        return Err(DecodeError::new(format!(
            "unsupported consumer protocol {what} version {version}"
        )));
    }
    Ok(version.min(CONSUMER_PROTOCOL_VERSION))
}

/// The `ConsumerProtocol` subscription bytes (JoinGroup member metadata) at
/// `version` (0 to 3; a higher one writes 3, as Java does), exactly as Java's
/// `ConsumerProtocol.serializeSubscription` writes them: topics sorted, owned
/// partitions sorted by (topic, partition) and grouped by topic, a negative
/// generation written as −1. Fields the version lacks are left out.
///
/// Fails for a negative version, or a string longer than 32767 bytes.
pub fn encode_subscription(
    subscription: &Subscription,
    version: i16,
) -> Result<Vec<u8>, EncodeError> {
    let version = check_write_version(version, "subscription")?;
    let mut topics = subscription.topics.clone();
    topics.sort_by(|a, b| java_cmp(a, b));
    let mut owned: Vec<&(String, i32)> = subscription.owned_partitions.iter().collect();
    owned.sort_by(|a, b| java_cmp(&a.0, &b.0).then(a.1.cmp(&b.1)));
    let mut owned_partitions: Vec<OwnedTopic> = Vec::new();
    for (topic, partition) in owned {
        match owned_partitions.last_mut() {
            Some(last) if last.topic == *topic => last.partitions.push(*partition),
            _ => owned_partitions.push(OwnedTopic {
                topic: topic.clone(),
                partitions: vec![*partition],
            }),
        }
    }
    let message = ConsumerProtocolSubscription {
        topics,
        user_data: subscription.user_data.clone().map(Bytes::from),
        owned_partitions,
        generation_id: subscription.generation.max(NO_GENERATION),
        rack_id: subscription.rack.clone(),
    };
    let mut buf = Vec::new();
    buf.put_i16(version);
    message.encode(&mut buf, version)?;
    Ok(buf)
}

/// Reads `ConsumerProtocol` subscription bytes as Java's
/// `ConsumerProtocol.deserializeSubscription` does: a version newer than 3 is
/// read as 3 (later fields ignored); an empty rack reads as none; a negative
/// generation as −1.
pub fn decode_subscription(bytes: &[u8]) -> Result<Subscription, DecodeError> {
    let mut r = Reader::new(bytes.to_vec());
    let version = read_version(&mut r, "subscription")?;
    let m = ConsumerProtocolSubscription::decode(&mut r, version)
        .map_err(|e| e.context("consumer protocol subscription"))?;
    Ok(Subscription {
        topics: m.topics,
        user_data: m.user_data.map(|b| b.to_vec()),
        owned_partitions: m
            .owned_partitions
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic;
                t.partitions.into_iter().map(move |p| (topic.clone(), p))
            })
            .collect(),
        generation: m.generation_id.max(NO_GENERATION),
        rack: m.rack_id.filter(|r| !r.is_empty()),
    })
}

/// The `ConsumerProtocol` assignment bytes (SyncGroup) at `version` (0 to 3,
/// all the same body; a higher one writes 3), exactly as Java's
/// `ConsumerProtocol.serializeAssignment` writes them: partitions grouped by
/// topic in order of first appearance, each topic's partitions in the given
/// order.
///
/// Fails for a negative version, or a topic name longer than 32767 bytes.
pub fn encode_assignment(assignment: &Assignment, version: i16) -> Result<Vec<u8>, EncodeError> {
    let version = check_write_version(version, "assignment")?;
    let mut topics: Vec<AssignedTopic> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (topic, partition) in &assignment.partitions {
        let i = *index.entry(topic).or_insert_with(|| {
            topics.push(AssignedTopic {
                topic: topic.clone(),
                partitions: Vec::new(),
            });
            topics.len() - 1
        });
        topics[i].partitions.push(*partition);
    }
    let message = ConsumerProtocolAssignment {
        assigned_partitions: topics,
        user_data: assignment.user_data.clone().map(Bytes::from),
    };
    let mut buf = Vec::new();
    buf.put_i16(version);
    message.encode(&mut buf, version)?;
    Ok(buf)
}

/// Reads `ConsumerProtocol` assignment bytes as Java's
/// `ConsumerProtocol.deserializeAssignment` does (a newer version read as 3).
pub fn decode_assignment(bytes: &[u8]) -> Result<Assignment, DecodeError> {
    let mut r = Reader::new(bytes.to_vec());
    let version = read_version(&mut r, "assignment")?;
    let m = ConsumerProtocolAssignment::decode(&mut r, version)
        .map_err(|e| e.context("consumer protocol assignment"))?;
    Ok(Assignment {
        partitions: m
            .assigned_partitions
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic;
                t.partitions.into_iter().map(move |p| (topic.clone(), p))
            })
            .collect(),
        user_data: m.user_data.map(|b| b.to_vec()),
    })
}

// ---------------------------------------------------------------------------
// StickyAssignorUserData

/// What a `sticky` member states in its subscription's user data (Java's
/// `StickyAssignorUserData`): its previous assignment and, from v1 (KIP-341),
/// the generation of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StickyUserData {
    /// The member's partitions in its previous assignment.
    pub partitions: Vec<(String, i32)>,
    /// The generation of that assignment; `None` when the data is v0.
    pub generation: Option<i32>,
}

/// `StickyAssignorUserData` v1 bytes, as Java's `StickyAssignor` writes them
/// (no version prefix): the partitions grouped by topic, the topics in the
/// order Java's `HashMap` iterates them, then the generation.
///
/// Fails for a topic name longer than 32767 bytes.
pub fn encode_sticky_user_data(
    partitions: &[(String, i32)],
    generation: i32,
) -> Result<Vec<u8>, EncodeError> {
    let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (topic, partition) in partitions {
        let i = *index.entry(topic).or_insert_with(|| {
            topics.push((topic, Vec::new()));
            topics.len() - 1
        });
        topics[i].1.push(*partition);
    }
    let hashes: Vec<i32> = topics.iter().map(|(t, _)| java_string_hash(t)).collect();
    let mut buf = Vec::new();
    buf.put_len(topics.len(), false)?;
    for i in java_hash_map_order(&hashes) {
        let (topic, parts) = &topics[i];
        buf.put_string(topic, false)?;
        buf.put_len(parts.len(), false)?;
        for &p in parts {
            buf.put_i32(p);
        }
    }
    buf.put_i32(generation);
    Ok(buf)
}

/// Reads `StickyAssignorUserData` as Java's `StickyAssignor` does: as v1,
/// failing that as v0; `None` when neither parses (Java then ignores the
/// member's previous assignment). Data that parses as neither but does after a
/// two-byte version prefix, as kafka-python 3 writes it, is read that way.
pub fn decode_sticky_user_data(bytes: &[u8]) -> Option<StickyUserData> {
    parse_sticky_user_data(bytes, true)
        .or_else(|| parse_sticky_user_data(bytes, false))
        .or_else(|| match bytes {
            [a, b, rest @ ..] => match i16::from_be_bytes([*a, *b]) {
                0 => parse_sticky_user_data(rest, false),
                v if v > 0 => parse_sticky_user_data(rest, true),
                _ => None,
            },
            _ => None,
        })
}

/// One of Java's schema reads: lengths checked as Java's `Type.STRING` and
/// `ArrayOf` do, trailing bytes ignored, invalid UTF-8 replaced.
fn parse_sticky_user_data(bytes: &[u8], with_generation: bool) -> Option<StickyUserData> {
    struct Cursor<'b>(&'b [u8]);
    impl<'b> Cursor<'b> {
        fn take(&mut self, n: usize) -> Option<&'b [u8]> {
            if n > self.0.len() {
                return None;
            }
            let (head, tail) = self.0.split_at(n);
            self.0 = tail;
            Some(head)
        }
        fn i16(&mut self) -> Option<i16> {
            self.take(2).map(|b| i16::from_be_bytes([b[0], b[1]]))
        }
        fn i32(&mut self) -> Option<i32> {
            self.take(4)
                .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        }
        /// An array length: not negative, and not more than the bytes left.
        fn len(&mut self) -> Option<usize> {
            let n = usize::try_from(self.i32()?).ok()?;
            (n <= self.0.len()).then_some(n)
        }
    }
    let mut r = Cursor(bytes);
    let mut partitions = Vec::new();
    for _ in 0..r.len()? {
        let len = usize::try_from(r.i16()?).ok()?;
        let topic = String::from_utf8_lossy(r.take(len)?).into_owned();
        for _ in 0..r.len()? {
            partitions.push((topic.clone(), r.i32()?));
        }
    }
    let generation = if with_generation {
        Some(r.i32()?)
    } else {
        None
    };
    Some(StickyUserData {
        partitions,
        generation,
    })
}

// ---------------------------------------------------------------------------
// Tests

#[cfg(test)]
mod tests {
    use super::*;

    // -- helpers ------------------------------------------------------------

    fn tp(t: &str, p: i32) -> (String, i32) {
        (t.to_owned(), p)
    }

    fn ppt(topics: &[(&str, i32)]) -> BTreeMap<String, i32> {
        topics.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn member(id: &str, topics: &[&str]) -> MemberSubscription {
        MemberSubscription::new(id, topics.iter().copied())
    }

    fn static_member(id: &str, instance: &str, topics: &[&str]) -> MemberSubscription {
        let mut m = member(id, topics);
        m.group_instance_id = Some(instance.to_owned());
        m
    }

    /// Parses "t1-0, t2-3" into partitions, sorted.
    fn parts(s: &str) -> Vec<(String, i32)> {
        let mut v: Vec<(String, i32)> = s
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(|x| {
                let (t, p) = x.rsplit_once('-').unwrap();
                (t.to_owned(), p.parse().unwrap())
            })
            .collect();
        v.sort();
        v
    }

    fn get(a: &GroupAssignment, id: &str) -> Vec<(String, i32)> {
        let mut v = a[id].partitions.clone();
        v.sort();
        v
    }

    /// A member as Java's sticky tests build it with `buildSubscriptionV2Above`:
    /// owned partitions, generation, and the sticky user data.
    fn owning(
        id: &str,
        topics: &[&str],
        owned: &[(String, i32)],
        generation: i32,
    ) -> MemberSubscription {
        let mut m = member(id, topics);
        m.owned_partitions = owned.to_vec();
        m.generation = generation;
        m.user_data = Some(encode_sticky_user_data(owned, generation).unwrap());
        m
    }

    /// The members as the given kind's members send them: cooperative members
    /// put their generation, not the sticky user data, in the user data.
    fn adapt(kind: StickyKind, members: &[MemberSubscription]) -> Vec<MemberSubscription> {
        members
            .iter()
            .map(|m| {
                let mut m = m.clone();
                if kind == StickyKind::Cooperative {
                    m.user_data = Some(m.generation.to_be_bytes().to_vec());
                }
                m
            })
            .collect()
    }

    /// Both sticky kinds, for tests that hold for each.
    fn sticky_kinds() -> [StickyKind; 2] {
        [StickyKind::Eager, StickyKind::Cooperative]
    }

    /// The sticky assignment before any cooperative adjustment, and the
    /// partitions changing owner (when tracked).
    fn raw_sticky(
        kind: StickyKind,
        partitions: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> (GroupAssignment, Option<Transfers>) {
        let members = adapt(kind, members);
        let group = Group::new(partitions, &members);
        let out = sticky_assign(&group, kind);
        let transfers = out.transferring.as_ref().map(|t| {
            t.iter()
                .map(|(&(topic, p), &c)| {
                    (
                        (out.ctx.names[topic as usize].to_owned(), p),
                        group.members[c].member_id.clone(),
                    )
                })
                .collect()
        });
        (group.finish(out.named_assignment()), transfers)
    }

    fn sticky(
        kind: StickyKind,
        partitions: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> GroupAssignment {
        raw_sticky(kind, partitions, members).0
    }

    /// Partition → the member it moves to.
    type Transfers = BTreeMap<(String, i32), String>;

    fn transfers(
        kind: StickyKind,
        partitions: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> Option<Transfers> {
        raw_sticky(kind, partitions, members).1
    }

    fn tmap(entries: &[((&str, i32), &str)]) -> BTreeMap<(String, i32), String> {
        entries
            .iter()
            .map(|((t, p), c)| ((t.to_string(), *p), c.to_string()))
            .collect()
    }

    /// Members with their owned partitions (and user data) set to `a`, at `generation`.
    fn owning_all(
        members: &[MemberSubscription],
        a: &GroupAssignment,
        generation: i32,
    ) -> Vec<MemberSubscription> {
        members
            .iter()
            .map(|m| {
                let owned = a
                    .get(&m.member_id)
                    .map(|x| x.partitions.clone())
                    .unwrap_or_default();
                let topics: Vec<&str> = m.topics.iter().map(String::as_str).collect();
                let mut n = owning(&m.member_id, &topics, &owned, generation);
                n.group_instance_id = m.group_instance_id.clone();
                n
            })
            .collect()
    }

    /// Java's `verifyValidityAndBalance`, plus: every partition of a
    /// subscribed topic is assigned, and every member has an entry.
    fn check_valid_and_balanced(
        partitions: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
        a: &GroupAssignment,
    ) {
        assert_eq!(a.len(), members.len(), "one entry per member: {a:?}");
        let mut seen: HashMap<(String, i32), &str> = HashMap::new();
        for m in members {
            for (t, p) in &a[&m.member_id].partitions {
                assert!(
                    m.topics.contains(t),
                    "{} got {t}-{p} without subscribing: {a:?}",
                    m.member_id
                );
                assert!(*p >= 0 && *p < partitions[t], "{t}-{p} does not exist");
                if let Some(o) = seen.insert((t.clone(), *p), &m.member_id) {
                    panic!("{t}-{p} assigned to {o} and {}: {a:?}", m.member_id);
                }
            }
        }
        for (t, &n) in partitions {
            if members.iter().any(|m| m.topics.contains(t)) {
                for p in 0..n {
                    assert!(
                        seen.contains_key(&(t.clone(), p)),
                        "{t}-{p} unassigned: {a:?}"
                    );
                }
            }
        }
        let ids: Vec<&String> = a.keys().collect();
        for (i, x) in ids.iter().enumerate() {
            for y in &ids[i + 1..] {
                let (px, py) = (&a[*x].partitions, &a[*y].partitions);
                if px.len().abs_diff(py.len()) <= 1 {
                    continue;
                }
                let (more, less) = if px.len() > py.len() { (x, y) } else { (y, x) };
                let less_topics = &members
                    .iter()
                    .find(|m| &&m.member_id == less)
                    .unwrap()
                    .topics;
                for (t, _) in &a[*more].partitions {
                    assert!(
                        !less_topics.contains(t),
                        "unbalanced: {more} has {} and {less} has {} partitions, and {less} subscribes to {t}: {a:?}",
                        a[*more].partitions.len(),
                        a[*less].partitions.len()
                    );
                }
            }
        }
    }

    /// Java's `isFullyBalanced`.
    fn fully_balanced(a: &GroupAssignment) -> bool {
        let sizes: Vec<usize> = a.values().map(|x| x.partitions.len()).collect();
        sizes.iter().max().unwrap_or(&0) - sizes.iter().min().unwrap_or(&0) <= 1
    }

    /// The assignment the cooperative protocol converges to: rebalances with
    /// owned partitions updated until nothing is revoked (as Java's
    /// CooperativeStickyAssignorTest does), checking that no partition is ever
    /// revoked and assigned in the same round. Returns the final assignment
    /// and the number of extra rounds.
    fn cooperative_rounds(
        partitions: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
        mut generation: i32,
    ) -> (GroupAssignment, usize) {
        let assignor = CooperativeStickyAssignor::new();
        let mut members = adapt(StickyKind::Cooperative, members);
        let mut a = assignor.assign(partitions, &members);
        let mut rounds = 0;
        loop {
            let moving = partitions_transferring_ownership(&members, &a);
            assert!(moving.is_empty(), "assigned while still owned: {moving:?}");
            let revoked = members.iter().any(|m| {
                m.owned_partitions
                    .iter()
                    .any(|p| !a[&m.member_id].partitions.contains(p))
            });
            if !revoked {
                return (a, rounds);
            }
            rounds += 1;
            assert!(rounds <= 4, "no convergence");
            generation += 1;
            members = members
                .iter()
                .map(|m| {
                    let mut n = m.clone();
                    n.owned_partitions = a[&m.member_id].partitions.clone();
                    n.generation = generation;
                    n.user_data = Some(generation.to_be_bytes().to_vec());
                    n
                })
                .collect();
            a = assignor.assign(partitions, &members);
        }
    }

    /// The final assignment of an assignor: the sticky one directly, the
    /// cooperative one after its follow-up rounds.
    fn final_assignment(
        kind: StickyKind,
        partitions: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> GroupAssignment {
        match kind {
            StickyKind::Eager => StickyAssignor::new().assign(partitions, members),
            StickyKind::Cooperative => {
                let generation = members.iter().map(|m| m.generation).max().unwrap_or(-1);
                cooperative_rounds(partitions, members, generation).0
            }
        }
    }

    // -- Java helpers ---------------------------------------------------------

    #[test]
    fn java_string_hash_and_order_match_java() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("hello"), 99162322);
        assert_eq!(java_string_hash("consumer1"), -421004549);
        assert_eq!(java_cmp("a", "b"), Ordering::Less);
        // U+FF5E sorts after U+1F600 in UTF-16 (surrogates are 0xD83D...), unlike in UTF-8.
        assert_eq!(java_cmp("\u{FF5E}", "\u{1F600}"), Ordering::Greater);
        // Printed by java.util.HashMap for these keys put in this order.
        let keys = [
            "consumer1",
            "consumer2",
            "consumer3",
            "consumer10",
            "c-0",
            "a",
            "zz",
            "consumer-b",
            "consumer-a",
        ];
        let hashes: Vec<i32> = keys.iter().map(|k| java_string_hash(k)).collect();
        let order: Vec<&str> = java_hash_map_order(&hashes)
            .into_iter()
            .map(|i| keys[i])
            .collect();
        assert_eq!(
            order,
            [
                "zz",
                "a",
                "consumer10",
                "c-0",
                "consumer3",
                "consumer2",
                "consumer1",
                "consumer-b",
                "consumer-a"
            ]
        );
    }

    // -- range (Java's RangeAssignorTest) -------------------------------------

    #[test]
    fn range_one_consumer_no_topic() {
        let a = RangeAssignor.assign(&ppt(&[]), &[member("consumer1", &[])]);
        assert_eq!(a.len(), 1);
        assert!(get(&a, "consumer1").is_empty());
    }

    #[test]
    fn range_one_consumer_nonexistent_topic() {
        let a = RangeAssignor.assign(&ppt(&[]), &[member("consumer1", &["topic1"])]);
        assert!(get(&a, "consumer1").is_empty());
    }

    #[test]
    fn range_one_consumer_one_topic_and_only_subscribed_topics() {
        let a = RangeAssignor.assign(
            &ppt(&[("topic1", 3), ("other", 3)]),
            &[member("consumer1", &["topic1"])],
        );
        assert_eq!(get(&a, "consumer1"), parts("topic1-0, topic1-1, topic1-2"));
    }

    #[test]
    fn range_one_consumer_multiple_topics() {
        let a = RangeAssignor.assign(
            &ppt(&[("topic1", 1), ("topic2", 2)]),
            &[member("consumer1", &["topic1", "topic2"])],
        );
        assert_eq!(get(&a, "consumer1"), parts("topic1-0, topic2-0, topic2-1"));
    }

    #[test]
    fn range_two_consumers_one_topic() {
        let ms = [
            member("consumer1", &["topic1"]),
            member("consumer2", &["topic1"]),
        ];
        let a = RangeAssignor.assign(&ppt(&[("topic1", 1)]), &ms);
        assert_eq!(get(&a, "consumer1"), parts("topic1-0"));
        assert!(get(&a, "consumer2").is_empty());
        let a = RangeAssignor.assign(&ppt(&[("topic1", 2)]), &ms);
        assert_eq!(get(&a, "consumer1"), parts("topic1-0"));
        assert_eq!(get(&a, "consumer2"), parts("topic1-1"));
    }

    #[test]
    fn range_multiple_consumers_mixed_topics() {
        let ms = [
            member("consumer1", &["topic1"]),
            member("consumer2", &["topic1", "topic2"]),
            member("consumer3", &["topic1"]),
        ];
        let a = RangeAssignor.assign(&ppt(&[("topic1", 3), ("topic2", 2)]), &ms);
        assert_eq!(get(&a, "consumer1"), parts("topic1-0"));
        assert_eq!(get(&a, "consumer2"), parts("topic1-1, topic2-0, topic2-1"));
        assert_eq!(get(&a, "consumer3"), parts("topic1-2"));
    }

    #[test]
    fn range_two_consumers_two_topics_six_partitions() {
        // Also the javadoc example (C0, C1, t0 and t1 with 3 partitions each).
        let ms = [
            member("consumer1", &["topic1", "topic2"]),
            member("consumer2", &["topic1", "topic2"]),
        ];
        let a = RangeAssignor.assign(&ppt(&[("topic1", 3), ("topic2", 3)]), &ms);
        assert_eq!(
            get(&a, "consumer1"),
            parts("topic1-0, topic1-1, topic2-0, topic2-1")
        );
        assert_eq!(get(&a, "consumer2"), parts("topic1-2, topic2-2"));
    }

    #[test]
    fn range_static_members_ordered_by_instance_id() {
        let p = ppt(&[("topic1", 3), ("topic2", 3)]);
        // consumer-a sorts first by member id, but instance1 < instance2.
        let ms = [
            static_member("consumer-b", "instance1", &["topic1", "topic2"]),
            static_member("consumer-a", "instance2", &["topic1", "topic2"]),
        ];
        let a = RangeAssignor.assign(&p, &ms);
        assert_eq!(
            get(&a, "consumer-b"),
            parts("topic1-0, topic1-1, topic2-0, topic2-1")
        );
        assert_eq!(get(&a, "consumer-a"), parts("topic1-2, topic2-2"));
        // A static member comes before a dynamic one whatever the ids.
        let ms = [
            static_member("consumer-b", "instance1", &["topic1", "topic2"]),
            member("consumer-a", &["topic1", "topic2"]),
        ];
        let a = RangeAssignor.assign(&p, &ms);
        assert_eq!(
            get(&a, "consumer-b"),
            parts("topic1-0, topic1-1, topic2-0, topic2-1")
        );
        assert_eq!(get(&a, "consumer-a"), parts("topic1-2, topic2-2"));
    }

    #[test]
    fn range_static_assignment_persistent() {
        let p = ppt(&[("topic1", 5), ("topic2", 4)]);
        let statics = |ids: [&str; 3]| -> Vec<MemberSubscription> {
            ids.iter()
                .zip(["instance1", "instance2", "instance3"])
                .map(|(id, inst)| static_member(id, inst, &["topic1", "topic2"]))
                .collect()
        };
        let mut ms = statics(["consumer1", "consumer2", "consumer3"]);
        ms.push(member("consumer4", &["topic1", "topic2"]));
        let a = RangeAssignor.assign(&p, &ms);
        assert_eq!(get(&a, "consumer1"), parts("topic1-0, topic1-1, topic2-0"));
        assert_eq!(get(&a, "consumer2"), parts("topic1-2, topic2-1"));
        assert_eq!(get(&a, "consumer3"), parts("topic1-3, topic2-2"));
        assert_eq!(get(&a, "consumer4"), parts("topic1-4, topic2-3"));
        ms.pop();
        ms.push(member("consumer5", &["topic1", "topic2"]));
        let a = RangeAssignor.assign(&p, &ms);
        assert_eq!(get(&a, "consumer5"), parts("topic1-4, topic2-3"));
        assert_eq!(get(&a, "consumer1"), parts("topic1-0, topic1-1, topic2-0"));

        // Member ids change, instance ids stay: same partitions per instance.
        let p = ppt(&[("topic1", 5), ("topic2", 5)]);
        let before = RangeAssignor.assign(&p, &statics(["consumer1", "consumer2", "consumer3"]));
        let after = RangeAssignor.assign(&p, &statics(["consumer1", "consumer5", "consumer4"]));
        assert_eq!(
            get(&before, "consumer1"),
            parts("topic1-0, topic1-1, topic2-0, topic2-1")
        );
        assert_eq!(
            get(&before, "consumer2"),
            parts("topic1-2, topic1-3, topic2-2, topic2-3")
        );
        assert_eq!(get(&before, "consumer3"), parts("topic1-4, topic2-4"));
        assert_eq!(get(&after, "consumer1"), get(&before, "consumer1"));
        assert_eq!(get(&after, "consumer5"), get(&before, "consumer2"));
        assert_eq!(get(&after, "consumer4"), get(&before, "consumer3"));
    }

    #[test]
    fn range_repeated_topic_in_subscription_counts_once() {
        let ms = [member("a", &["t", "t"]), member("b", &["t"])];
        let a = RangeAssignor.assign(&ppt(&[("t", 4)]), &ms);
        assert_eq!(get(&a, "a"), parts("t-0, t-1"));
        assert_eq!(get(&a, "b"), parts("t-2, t-3"));
    }

    // -- roundrobin (Java's RoundRobinAssignorTest and javadoc) ----------------

    #[test]
    fn roundrobin_basics() {
        let a = RoundRobinAssignor.assign(
            &ppt(&[("topic1", 3), ("other", 3)]),
            &[member("consumer1", &["topic1"])],
        );
        assert_eq!(get(&a, "consumer1"), parts("topic1-0, topic1-1, topic1-2"));
        let a = RoundRobinAssignor.assign(&ppt(&[]), &[member("consumer1", &["topic1"])]);
        assert!(get(&a, "consumer1").is_empty());
        let ms = [
            member("consumer1", &["topic1"]),
            member("consumer2", &["topic1"]),
        ];
        let a = RoundRobinAssignor.assign(&ppt(&[("topic1", 1)]), &ms);
        assert_eq!(get(&a, "consumer1"), parts("topic1-0"));
        assert!(get(&a, "consumer2").is_empty());
    }

    #[test]
    fn roundrobin_two_consumers_two_topics_six_partitions() {
        let ms = [
            member("consumer1", &["topic1", "topic2"]),
            member("consumer2", &["topic1", "topic2"]),
        ];
        let a = RoundRobinAssignor.assign(&ppt(&[("topic1", 3), ("topic2", 3)]), &ms);
        assert_eq!(get(&a, "consumer1"), parts("topic1-0, topic1-2, topic2-1"));
        assert_eq!(get(&a, "consumer2"), parts("topic1-1, topic2-0, topic2-2"));
    }

    #[test]
    fn roundrobin_mixed_topics() {
        let ms = [
            member("consumer1", &["topic1"]),
            member("consumer2", &["topic1", "topic2"]),
            member("consumer3", &["topic1"]),
        ];
        let a = RoundRobinAssignor.assign(&ppt(&[("topic1", 3), ("topic2", 2)]), &ms);
        assert_eq!(get(&a, "consumer1"), parts("topic1-0"));
        assert_eq!(get(&a, "consumer2"), parts("topic1-1, topic2-0, topic2-1"));
        assert_eq!(get(&a, "consumer3"), parts("topic1-2"));
        // The javadoc's uneven example.
        let ms = [
            member("C0", &["t0"]),
            member("C1", &["t0", "t1"]),
            member("C2", &["t0", "t1", "t2"]),
        ];
        let a = RoundRobinAssignor.assign(&ppt(&[("t0", 1), ("t1", 2), ("t2", 3)]), &ms);
        assert_eq!(get(&a, "C0"), parts("t0-0"));
        assert_eq!(get(&a, "C1"), parts("t1-0"));
        assert_eq!(get(&a, "C2"), parts("t1-1, t2-0, t2-1, t2-2"));
    }

    #[test]
    fn roundrobin_static_members() {
        let p = ppt(&[("topic1", 3), ("topic2", 3)]);
        let ms = [
            static_member("consumer-b", "instance1", &["topic1", "topic2"]),
            static_member("consumer-a", "instance2", &["topic1", "topic2"]),
        ];
        let a = RoundRobinAssignor.assign(&p, &ms);
        assert_eq!(get(&a, "consumer-b"), parts("topic1-0, topic1-2, topic2-1"));
        assert_eq!(get(&a, "consumer-a"), parts("topic1-1, topic2-0, topic2-2"));
        let ms = [
            static_member("consumer-b", "instance1", &["topic1", "topic2"]),
            member("consumer-a", &["topic1", "topic2"]),
        ];
        let a = RoundRobinAssignor.assign(&p, &ms);
        assert_eq!(get(&a, "consumer-b"), parts("topic1-0, topic1-2, topic2-1"));
        // Persistent across member id changes.
        let p = ppt(&[("topic1", 5), ("topic2", 5)]);
        let ms = |ids: [&str; 3]| -> Vec<MemberSubscription> {
            ids.iter()
                .zip(["instance1", "instance2", "instance3"])
                .map(|(id, inst)| static_member(id, inst, &["topic1", "topic2"]))
                .collect()
        };
        let before = RoundRobinAssignor.assign(&p, &ms(["consumer1", "consumer2", "consumer3"]));
        let after = RoundRobinAssignor.assign(&p, &ms(["consumer9", "consumer5", "consumer4"]));
        assert_eq!(
            get(&before, "consumer1"),
            parts("topic1-0, topic1-3, topic2-1, topic2-4")
        );
        assert_eq!(get(&after, "consumer9"), get(&before, "consumer1"));
        assert_eq!(get(&after, "consumer5"), get(&before, "consumer2"));
        assert_eq!(get(&after, "consumer4"), get(&before, "consumer3"));
    }

    // -- sticky and cooperative-sticky: Java's AbstractStickyAssignorTest ------

    #[test]
    fn sticky_one_consumer() {
        for kind in sticky_kinds() {
            let a = sticky(kind, &ppt(&[]), &[member("consumer", &[])]);
            assert!(get(&a, "consumer").is_empty());
            let a = sticky(
                kind,
                &ppt(&[("topic", 0)]),
                &[member("consumer", &["topic"])],
            );
            assert!(get(&a, "consumer").is_empty());
            let a = sticky(
                kind,
                &ppt(&[("topic", 3)]),
                &[member("consumer", &["topic"])],
            );
            assert_eq!(get(&a, "consumer"), parts("topic-0, topic-1, topic-2"));
            assert_eq!(
                transfers(
                    kind,
                    &ppt(&[("topic", 3)]),
                    &[member("consumer", &["topic"])]
                ),
                Some(BTreeMap::new())
            );
            let a = sticky(
                kind,
                &ppt(&[("topic1", 1), ("topic2", 2)]),
                &[member("consumer", &["topic1", "topic2"])],
            );
            assert_eq!(get(&a, "consumer"), parts("topic1-0, topic2-0, topic2-1"));
            // Deleted topic: 1 + 100 partitions of the existing ones.
            let a = sticky(
                kind,
                &ppt(&[("topic1", 1), ("topic3", 100)]),
                &[member("consumer", &["topic1", "topic2", "topic3"])],
            );
            assert_eq!(a["consumer"].partitions.len(), 101);
        }
    }

    #[test]
    fn sticky_only_assigns_partitions_from_subscribed_topics() {
        for kind in sticky_kinds() {
            let owned = parts("topic-0, topic-1, other-0, other-1");
            let ms = [owning("consumer", &["topic"], &owned, 1)];
            let a = sticky(kind, &ppt(&[("topic", 2)]), &ms);
            assert_eq!(get(&a, "consumer"), parts("topic-0, topic-1"));
        }
    }

    #[test]
    fn sticky_two_consumers() {
        for kind in sticky_kinds() {
            let ms = [
                member("consumer1", &["topic"]),
                member("consumer2", &["topic"]),
            ];
            let a = sticky(kind, &ppt(&[("topic", 1)]), &ms);
            assert!(fully_balanced(&a));
            let a = sticky(kind, &ppt(&[("topic", 2)]), &ms);
            assert_eq!(get(&a, "consumer1"), parts("topic-0"));
            assert_eq!(get(&a, "consumer2"), parts("topic-1"));
            let ms = [
                member("consumer1", &["topic1", "topic2"]),
                member("consumer2", &["topic1", "topic2"]),
            ];
            let a = sticky(kind, &ppt(&[("topic1", 3), ("topic2", 3)]), &ms);
            assert_eq!(get(&a, "consumer1"), parts("topic1-0, topic1-2, topic2-1"));
            assert_eq!(get(&a, "consumer2"), parts("topic1-1, topic2-0, topic2-2"));
        }
    }

    #[test]
    fn sticky_multiple_consumers_mixed_topic_subscriptions() {
        for kind in sticky_kinds() {
            let ms = [
                member("consumer1", &["topic1"]),
                member("consumer2", &["topic1", "topic2"]),
                member("consumer3", &["topic1"]),
            ];
            let p = ppt(&[("topic1", 3), ("topic2", 2)]);
            let a = sticky(kind, &p, &ms);
            assert_eq!(get(&a, "consumer1"), parts("topic1-0, topic1-2"));
            assert_eq!(get(&a, "consumer2"), parts("topic2-0, topic2-1"));
            assert_eq!(get(&a, "consumer3"), parts("topic1-1"));
            assert_eq!(transfers(kind, &p, &ms), None);
        }
    }

    #[test]
    fn sticky_owning_min_quota_expected_max_quota() {
        for kind in sticky_kinds() {
            let ts = ["topic1", "topic2"];
            let ms = [
                owning("consumer1", &ts, &parts("topic1-0, topic2-1"), 1),
                owning("consumer2", &ts, &parts("topic1-1, topic2-2"), 1),
            ];
            let p = ppt(&[("topic1", 2), ("topic2", 3)]);
            let a = sticky(kind, &p, &ms);
            assert_eq!(get(&a, "consumer1"), parts("topic1-0, topic2-1, topic2-0"));
            assert_eq!(get(&a, "consumer2"), parts("topic1-1, topic2-2"));
            assert_eq!(transfers(kind, &p, &ms), Some(BTreeMap::new()));
        }
    }

    #[test]
    fn sticky_max_quota_owners_more_than_expected() {
        for kind in sticky_kinds() {
            let ts = ["topic1", "topic2"];
            let ms = [
                owning("consumer1", &ts, &parts("topic1-0, topic2-0"), 1),
                owning("consumer2", &ts, &parts("topic1-1, topic2-1"), 1),
                owning("consumer3", &ts, &[], 1),
            ];
            let p = ppt(&[("topic1", 2), ("topic2", 2)]);
            assert_eq!(
                transfers(kind, &p, &ms),
                Some(tmap(&[(("topic2", 0), "consumer3")]))
            );
            let a = final_assignment(kind, &p, &ms);
            assert_eq!(get(&a, "consumer1"), parts("topic1-0"));
            assert_eq!(get(&a, "consumer2"), parts("topic1-1, topic2-1"));
            assert_eq!(get(&a, "consumer3"), parts("topic2-0"));
        }
    }

    #[test]
    fn sticky_all_consumers_under_min_quota() {
        for kind in sticky_kinds() {
            let ts = ["topic1", "topic2"];
            let ms = [
                owning("consumer1", &ts, &parts("topic1-0"), 1),
                owning("consumer2", &ts, &parts("topic1-1"), 1),
                owning("consumer3", &ts, &[], 1),
            ];
            let p = ppt(&[("topic1", 2), ("topic2", 3)]);
            let a = sticky(kind, &p, &ms);
            assert_eq!(get(&a, "consumer1"), parts("topic1-0, topic2-1"));
            assert_eq!(get(&a, "consumer2"), parts("topic1-1, topic2-2"));
            assert_eq!(get(&a, "consumer3"), parts("topic2-0"));
            assert_eq!(transfers(kind, &p, &ms), Some(BTreeMap::new()));
        }
    }

    #[test]
    fn sticky_add_remove_consumer_one_topic() {
        for kind in sticky_kinds() {
            let p = ppt(&[("topic", 3)]);
            let a = sticky(kind, &p, &[member("consumer1", &["topic"])]);
            assert_eq!(get(&a, "consumer1"), parts("topic-0, topic-1, topic-2"));
            let ms = [
                owning("consumer1", &["topic"], &get(&a, "consumer1"), 1),
                owning("consumer2", &["topic"], &[], 1),
            ];
            assert_eq!(
                transfers(kind, &p, &ms),
                Some(tmap(&[(("topic", 2), "consumer2")]))
            );
            let a = final_assignment(kind, &p, &ms);
            assert_eq!(get(&a, "consumer1"), parts("topic-0, topic-1"));
            assert_eq!(get(&a, "consumer2"), parts("topic-2"));
            let ms = [owning("consumer2", &["topic"], &get(&a, "consumer2"), 1)];
            let a = sticky(kind, &p, &ms);
            assert_eq!(get(&a, "consumer2"), parts("topic-0, topic-1, topic-2"));
            assert_eq!(transfers(kind, &p, &ms), Some(BTreeMap::new()));
        }
    }

    #[test]
    fn sticky_add_remove_two_consumers_two_topics() {
        for kind in sticky_kinds() {
            let ts = ["topic1", "topic2"];
            let p = ppt(&[("topic1", 3), ("topic2", 4)]);
            let ms = [member("consumer1", &ts), member("consumer2", &ts)];
            let a = sticky(kind, &p, &ms);
            assert_eq!(
                get(&a, "consumer1"),
                parts("topic1-0, topic1-2, topic2-1, topic2-3")
            );
            assert_eq!(get(&a, "consumer2"), parts("topic1-1, topic2-0, topic2-2"));

            let ms = [
                owning("consumer1", &ts, &get(&a, "consumer1"), 1),
                owning("consumer2", &ts, &get(&a, "consumer2"), 1),
                owning("consumer3", &ts, &[], 1),
                owning("consumer4", &ts, &[], 1),
            ];
            assert_eq!(
                transfers(kind, &p, &ms),
                Some(tmap(&[
                    (("topic1", 2), "consumer3"),
                    (("topic2", 3), "consumer3"),
                    (("topic2", 2), "consumer4"),
                ]))
            );
            let a = final_assignment(kind, &p, &ms);
            assert_eq!(get(&a, "consumer1"), parts("topic1-0, topic2-1"));
            assert_eq!(get(&a, "consumer2"), parts("topic2-0, topic1-1"));
            assert_eq!(get(&a, "consumer3"), parts("topic1-2, topic2-3"));
            assert_eq!(get(&a, "consumer4"), parts("topic2-2"));

            let ms = [
                owning("consumer3", &ts, &get(&a, "consumer3"), 1),
                owning("consumer4", &ts, &get(&a, "consumer4"), 1),
            ];
            let a = sticky(kind, &p, &ms);
            assert_eq!(
                get(&a, "consumer3"),
                parts("topic1-2, topic2-3, topic1-0, topic2-1")
            );
            assert_eq!(get(&a, "consumer4"), parts("topic2-2, topic1-1, topic2-0"));
            assert_eq!(transfers(kind, &p, &ms), Some(BTreeMap::new()));
        }
    }

    #[test]
    fn sticky_topic_balance_after_reassignment() {
        for kind in sticky_kinds() {
            let ts = ["topic1", "topic2"];
            let p = ppt(&[("topic1", 12), ("topic2", 12)]);
            let per_topic = |a: &GroupAssignment, n: usize| {
                for x in a.values() {
                    for t in ts {
                        assert_eq!(x.partitions.iter().filter(|(pt, _)| pt == t).count(), n);
                    }
                }
            };
            let a = sticky(kind, &p, &[member("consumer1", &ts)]);
            per_topic(&a, 12);
            let ms = [
                owning("consumer1", &ts, &get(&a, "consumer1"), 1),
                owning("consumer2", &ts, &[], 1),
            ];
            let a = final_assignment(kind, &p, &ms);
            per_topic(&a, 6);
            let ms = [
                owning("consumer1", &ts, &get(&a, "consumer1"), 1),
                owning("consumer2", &ts, &get(&a, "consumer2"), 1),
                owning("consumer3", &ts, &[], 1),
                owning("consumer4", &ts, &[], 1),
            ];
            let a = final_assignment(kind, &p, &ms);
            per_topic(&a, 3);
            let ms = [
                owning("consumer3", &ts, &get(&a, "consumer3"), 1),
                owning("consumer4", &ts, &get(&a, "consumer4"), 1),
            ];
            let a = final_assignment(kind, &p, &ms);
            per_topic(&a, 6);
        }
    }

    #[test]
    fn sticky_all_consumers_reach_expected_quota() {
        for kind in sticky_kinds() {
            let ms = [
                owning("consumer1", &["topic"], &parts("topic-0, topic-1"), 1),
                owning("consumer2", &["topic"], &parts("topic-2"), 1),
                owning("consumer3", &["topic"], &[], 1),
            ];
            let p = ppt(&[("topic", 4)]);
            let a = sticky(kind, &p, &ms);
            assert_eq!(get(&a, "consumer1"), parts("topic-0, topic-1"));
            assert_eq!(get(&a, "consumer2"), parts("topic-2"));
            assert_eq!(get(&a, "consumer3"), parts("topic-3"));
            assert_eq!(transfers(kind, &p, &ms), Some(BTreeMap::new()));
        }
    }

    #[test]
    fn sticky_owned_partitions_invalidated_for_stale_or_no_generation() {
        for kind in sticky_kinds() {
            for other_generation in [9, -1] {
                let ts = ["topic", "topic2"];
                let owned = parts("topic-0, topic-2, topic2-1");
                let ms = [
                    owning("consumer1", &ts, &owned, 10),
                    owning("consumer2", &ts, &owned, other_generation),
                ];
                let p = ppt(&[("topic", 3), ("topic2", 3)]);
                let a = sticky(kind, &p, &ms);
                assert_eq!(get(&a, "consumer1"), owned);
                assert_eq!(get(&a, "consumer2"), parts("topic-1, topic2-0, topic2-2"));
                assert_eq!(transfers(kind, &p, &ms), Some(BTreeMap::new()));
            }
        }
    }

    #[test]
    fn sticky_partition_claimed_by_two_in_same_generation_is_transferring() {
        for kind in sticky_kinds() {
            for (n, c1) in [(3, "topic-1"), (4, "topic-1, topic-3")] {
                let ms = [
                    owning("consumer1", &["topic"], &parts("topic-0, topic-1"), 1),
                    owning("consumer2", &["topic"], &parts("topic-0, topic-2"), 1),
                    owning("consumer3", &["topic"], &[], 1),
                ];
                let p = ppt(&[("topic", n)]);
                assert_eq!(
                    transfers(kind, &p, &ms),
                    Some(tmap(&[(("topic", 0), "consumer3")]))
                );
                let a = sticky(kind, &p, &ms);
                assert_eq!(get(&a, "consumer1"), parts(c1));
                assert_eq!(get(&a, "consumer2"), parts("topic-2"));
                assert_eq!(get(&a, "consumer3"), parts("topic-0"));
            }
        }
    }

    #[test]
    fn sticky_partitions_go_to_highest_generation() {
        for kind in sticky_kinds() {
            let ts = ["topic", "topic2", "topic3"];
            let p = ppt(&[("topic", 3), ("topic2", 3), ("topic3", 3)]);
            let ms = [
                owning("consumer1", &ts, &parts("topic-0, topic2-0, topic3-0"), 10),
                owning("consumer2", &ts, &parts("topic-1, topic2-1, topic3-1"), 9),
                owning("consumer3", &ts, &parts("topic2-1, topic3-0, topic3-2"), 8),
            ];
            let a = sticky(kind, &p, &ms);
            assert_eq!(get(&a, "consumer1"), parts("topic-0, topic2-0, topic3-0"));
            assert_eq!(get(&a, "consumer2"), parts("topic-1, topic2-1, topic3-1"));
            assert_eq!(get(&a, "consumer3"), parts("topic-2, topic2-2, topic3-2"));
            assert_eq!(transfers(kind, &p, &ms), Some(BTreeMap::new()));
        }
    }

    #[test]
    fn sticky_no_reassignment_on_current_members() {
        for kind in sticky_kinds() {
            let ts = ["topic", "topic2", "topic3", "topic1"];
            let p = ppt(&[("topic", 3), ("topic1", 3), ("topic2", 3), ("topic3", 3)]);
            let ms = [
                owning("consumer1", &ts, &[], -1),
                owning("consumer2", &ts, &parts("topic-0, topic2-0, topic1-0"), 9),
                owning("consumer3", &ts, &parts("topic3-2, topic2-2, topic1-1"), 8),
                owning("consumer4", &ts, &parts("topic3-1, topic-1, topic-2"), 7),
            ];
            let a = sticky(kind, &p, &ms);
            assert_eq!(get(&a, "consumer1"), parts("topic1-2, topic2-1, topic3-0"));
            assert_eq!(transfers(kind, &p, &ms), Some(BTreeMap::new()));
        }
    }

    #[test]
    fn sticky_owned_partitions_invalidated_with_multiple_generations() {
        for kind in sticky_kinds() {
            let ts = ["topic", "topic2"];
            let p = ppt(&[("topic", 3), ("topic2", 3)]);
            let ms = [
                owning("consumer1", &ts, &parts("topic-0, topic2-1, topic-1"), 10),
                owning("consumer2", &ts, &parts("topic-0, topic2-1, topic2-2"), 8),
            ];
            let a = sticky(kind, &p, &ms);
            assert_eq!(get(&a, "consumer1"), parts("topic-0, topic2-1, topic-1"));
            assert_eq!(get(&a, "consumer2"), parts("topic-2, topic2-2, topic2-0"));
        }
    }

    /// The non-rack-aware expectations of Java's testRackAwareAssignmentWith
    /// {Uniform,NonEqual}Subscription (members consumer0..2).
    #[test]
    fn sticky_java_three_topic_scenarios() {
        let p = ppt(&[("t1", 6), ("t2", 7), ("t3", 2)]);
        let all = ["t1", "t2", "t3"];
        let expected_uniform = [
            "t1-0, t1-3, t2-0, t2-3, t2-6",
            "t1-1, t1-4, t2-1, t2-4, t3-0",
            "t1-2, t1-5, t2-2, t2-5, t3-1",
        ];
        let expected_non_equal = [
            "t1-5, t2-0, t2-2, t2-4, t2-6",
            "t1-3, t2-1, t2-3, t2-5, t3-0",
            "t1-0, t1-1, t1-2, t1-4, t3-1",
        ];
        for kind in sticky_kinds() {
            for (topics, expected) in [
                ([&all[..], &all[..], &all[..]], expected_uniform),
                ([&all[..], &all[..], &["t1", "t3"][..]], expected_non_equal),
            ] {
                let fresh: Vec<MemberSubscription> = (0..3)
                    .map(|i| member(&format!("consumer{i}"), topics[i]))
                    .collect();
                let a = sticky(kind, &p, &fresh);
                for (i, e) in expected.iter().enumerate() {
                    assert_eq!(
                        get(&a, &format!("consumer{i}")),
                        parts(e),
                        "{kind:?} consumer{i}"
                    );
                }
                // Owning exactly that: unchanged.
                let again: Vec<MemberSubscription> = (0..3)
                    .map(|i| owning(&format!("consumer{i}"), topics[i], &parts(expected[i]), -1))
                    .collect();
                assert_eq!(sticky(kind, &p, &again), a);
            }
        }
        // Owned partitions far from balanced, non-equal subscriptions, no
        // generation and no user data (as Java's test builds them): the sticky
        // assignor reads nothing owned; the cooperative one's first round and
        // final result.
        let owned = [
            "t1-0, t1-1, t1-2, t1-3, t1-4",
            "t1-5, t2-0, t2-1, t2-2, t2-3",
            "t2-4, t2-5, t2-6, t3-0, t3-1",
        ];
        let topics = [&all[..], &all[..], &["t1", "t3"][..]];
        let with_owned = |owned: [&str; 3]| -> Vec<MemberSubscription> {
            (0..3)
                .map(|i| {
                    let mut m = member(&format!("consumer{i}"), topics[i]);
                    m.owned_partitions = parts(owned[i]);
                    m
                })
                .collect()
        };
        let ms = with_owned(owned);
        let a = StickyAssignor::new().assign(&p, &ms);
        for (i, e) in expected_non_equal.iter().enumerate() {
            assert_eq!(get(&a, &format!("consumer{i}")), parts(e));
        }
        let intermediate = ["t1-2, t1-3, t1-4", "t2-0, t2-1, t2-2, t2-3", "t3-0, t3-1"];
        let a = CooperativeStickyAssignor::new().assign(&p, &ms);
        for (i, e) in intermediate.iter().enumerate() {
            assert_eq!(
                get(&a, &format!("consumer{i}")),
                parts(e),
                "first round consumer{i}"
            );
        }
        let a = CooperativeStickyAssignor::new().assign(&p, &with_owned(intermediate));
        let expected = [
            "t1-2, t1-3, t1-4, t2-4, t2-5",
            "t2-0, t2-1, t2-2, t2-3, t2-6",
            "t1-0, t1-1, t1-5, t3-0, t3-1",
        ];
        for (i, e) in expected.iter().enumerate() {
            assert_eq!(
                get(&a, &format!("consumer{i}")),
                parts(e),
                "second round consumer{i}"
            );
        }
    }

    #[test]
    fn sticky_javadoc_examples() {
        // Example 1: C1 leaves; the others keep everything.
        let p = ppt(&[("t0", 2), ("t1", 2), ("t2", 2), ("t3", 2)]);
        let ts = ["t0", "t1", "t2", "t3"];
        let ms = [member("C0", &ts), member("C1", &ts), member("C2", &ts)];
        let a = StickyAssignor::new().assign(&p, &ms);
        check_valid_and_balanced(&p, &ms, &a);
        let ms2 = [
            owning("C0", &ts, &get(&a, "C0"), 1),
            owning("C2", &ts, &get(&a, "C2"), 1),
        ];
        let b = StickyAssignor::new().assign(&p, &ms2);
        for c in ["C0", "C2"] {
            assert!(get(&a, c).iter().all(|x| get(&b, c).contains(x)));
        }
        // Example 2: uneven subscriptions, then C0 leaves.
        let p = ppt(&[("t0", 1), ("t1", 2), ("t2", 3)]);
        let ms = [
            member("C0", &["t0"]),
            member("C1", &["t0", "t1"]),
            member("C2", &["t0", "t1", "t2"]),
        ];
        let a = StickyAssignor::new().assign(&p, &ms);
        assert_eq!(get(&a, "C0"), parts("t0-0"));
        assert_eq!(get(&a, "C1"), parts("t1-0, t1-1"));
        assert_eq!(get(&a, "C2"), parts("t2-0, t2-1, t2-2"));
        let ms = [
            owning("C1", &["t0", "t1"], &get(&a, "C1"), 1),
            owning("C2", &["t0", "t1", "t2"], &get(&a, "C2"), 1),
        ];
        let a = StickyAssignor::new().assign(&p, &ms);
        assert_eq!(get(&a, "C1"), parts("t1-0, t1-1, t0-0"));
        assert_eq!(get(&a, "C2"), parts("t2-0, t2-1, t2-2"));
    }

    #[test]
    fn sticky_stickiness_when_leader_leaves() {
        for kind in sticky_kinds() {
            let p = ppt(&[("topic1", 3)]);
            let ms: Vec<MemberSubscription> = (1..=4)
                .map(|i| member(&format!("consumer{i}"), &["topic1"]))
                .collect();
            let a = sticky(kind, &p, &ms);
            assert!(a.values().all(|x| x.partitions.len() <= 1));
            let ms2 = owning_all(&ms[1..], &a, 1);
            let b = final_assignment(kind, &p, &ms2);
            for m in &ms2 {
                assert_eq!(b[&m.member_id].partitions.len(), 1);
                for x in &a[&m.member_id].partitions {
                    assert!(
                        b[&m.member_id].partitions.contains(x),
                        "stickiness for {}",
                        m.member_id
                    );
                }
            }
        }
    }

    #[test]
    fn sticky_reassignment_after_one_consumer_leaves_or_joins() {
        for kind in sticky_kinds() {
            // 19 topics t01..t19 with i partitions; consumer i subscribes to t01..ti.
            let p: BTreeMap<String, i32> = (1..20).map(|i| (format!("t{i:02}"), i)).collect();
            let ms: Vec<MemberSubscription> = (1..20)
                .map(|i| {
                    let topics: Vec<String> = (1..=i).map(|j| format!("t{j:02}")).collect();
                    MemberSubscription::new(format!("c{i:02}"), topics)
                })
                .collect();
            let a = sticky(kind, &p, &ms);
            check_valid_and_balanced(&p, &ms, &a);
            let ms2: Vec<MemberSubscription> = owning_all(&ms, &a, 1)
                .into_iter()
                .filter(|m| m.member_id != "c10")
                .collect();
            let b = final_assignment(kind, &p, &ms2);
            check_valid_and_balanced(&p, &ms2, &b);

            // 9 members on one topic of 20, then a tenth.
            let p = ppt(&[("topic", 20)]);
            let mut ms: Vec<MemberSubscription> = (1..10)
                .map(|i| member(&format!("c{i:02}"), &["topic"]))
                .collect();
            let a = sticky(kind, &p, &ms);
            check_valid_and_balanced(&p, &ms, &a);
            ms.push(member("c10", &["topic"]));
            let b = sticky(kind, &p, &ms);
            check_valid_and_balanced(&p, &ms, &b);
        }
    }

    #[test]
    fn sticky_same_subscriptions_member_removed() {
        for kind in sticky_kinds() {
            let p: BTreeMap<String, i32> = (1..15).map(|i| (format!("t{i:02}"), i)).collect();
            let topics: Vec<String> = p.keys().cloned().collect();
            let ms: Vec<MemberSubscription> = (1..9)
                .map(|i| MemberSubscription::new(format!("c{i}"), topics.clone()))
                .collect();
            let a = sticky(kind, &p, &ms);
            check_valid_and_balanced(&p, &ms, &a);
            let ms2: Vec<MemberSubscription> = owning_all(&ms, &a, 1)
                .into_iter()
                .filter(|m| m.member_id != "c5")
                .collect();
            assert_eq!(transfers(kind, &p, &ms2), Some(BTreeMap::new()));
            let b = sticky(kind, &p, &ms2);
            check_valid_and_balanced(&p, &ms2, &b);
            for m in &ms2 {
                for x in &a[&m.member_id].partitions {
                    assert!(b[&m.member_id].partitions.contains(x));
                }
            }
        }
    }

    #[test]
    fn sticky_move_existing_assignments() {
        for kind in sticky_kinds() {
            let p: BTreeMap<String, i32> = (1..=6).map(|i| (format!("topic{i}"), 1)).collect();
            let ms = [
                owning("consumer1", &["topic1", "topic2"], &parts("topic1-0"), 1),
                owning(
                    "consumer2",
                    &["topic1", "topic2", "topic3", "topic4"],
                    &parts("topic2-0, topic3-0"),
                    1,
                ),
                owning(
                    "consumer3",
                    &["topic2", "topic3", "topic4", "topic5", "topic6"],
                    &parts("topic4-0, topic5-0, topic6-0"),
                    1,
                ),
            ];
            assert_eq!(transfers(kind, &p, &ms), None);
            let a = final_assignment(kind, &p, &ms);
            check_valid_and_balanced(&p, &ms, &a);
        }
    }

    #[test]
    fn sticky_add_remove_topic_two_consumers() {
        for kind in sticky_kinds() {
            let mut p = ppt(&[("topic", 3)]);
            let ms = [
                member("consumer1", &["topic"]),
                member("consumer2", &["topic"]),
            ];
            let a = sticky(kind, &p, &ms);
            p.insert("topic2".into(), 3);
            let ts = ["topic", "topic2"];
            let ms = [
                owning("consumer1", &ts, &get(&a, "consumer1"), 1),
                owning("consumer2", &ts, &get(&a, "consumer2"), 1),
            ];
            let b = sticky(kind, &p, &ms);
            assert_eq!(transfers(kind, &p, &ms), Some(BTreeMap::new()));
            check_valid_and_balanced(&p, &ms, &b);
            for c in ["consumer1", "consumer2"] {
                assert_eq!(b[c].partitions.len(), 3);
                assert!(get(&a, c).iter().all(|x| get(&b, c).contains(x)));
            }
            p.remove("topic");
            let ms = [
                owning("consumer1", &["topic2"], &get(&b, "consumer1"), 1),
                owning("consumer2", &["topic2"], &get(&b, "consumer2"), 1),
            ];
            let c = sticky(kind, &p, &ms);
            check_valid_and_balanced(&p, &ms, &c);
            for id in ["consumer1", "consumer2"] {
                assert!(get(&c, id).iter().all(|x| get(&b, id).contains(x)));
            }
        }
    }

    #[test]
    fn sticky_multiple_generations() {
        for kind in sticky_kinds() {
            for equal in [true, false] {
                let all = ["topic", "topic2"];
                let c2_topics: &[&str] = if equal { &all } else { &["topic"] };
                let p = ppt(&[("topic", 6), ("topic2", 6)]);
                let ms = [
                    member("consumer1", &all),
                    member("consumer2", c2_topics),
                    member("consumer3", &all),
                ];
                let r1 = final_assignment(kind, &p, &ms);
                assert!(r1.values().all(|x| x.partitions.len() == 4));
                let ms = [
                    owning("consumer1", &all, &get(&r1, "consumer1"), 1),
                    owning("consumer2", c2_topics, &get(&r1, "consumer2"), 1),
                ];
                let r2 = final_assignment(kind, &p, &ms);
                assert!(r2.values().all(|x| x.partitions.len() == 6));
                assert!(
                    get(&r1, "consumer2")
                        .iter()
                        .all(|x| get(&r2, "consumer2").contains(x))
                );
                if equal {
                    assert!(
                        get(&r1, "consumer1")
                            .iter()
                            .all(|x| get(&r2, "consumer1").contains(x))
                    );
                }
                let ms = [
                    owning("consumer2", c2_topics, &get(&r2, "consumer2"), 2),
                    owning("consumer3", &all, &get(&r1, "consumer3"), 1),
                ];
                let r3 = final_assignment(kind, &p, &ms);
                assert!(r3.values().all(|x| x.partitions.len() == 6));
                check_valid_and_balanced(&p, &ms, &r3);
            }
        }
    }

    #[test]
    fn sticky_same_partition_three_generations() {
        for kind in sticky_kinds() {
            let p = ppt(&[("topic", 6), ("topic1", 1)]);
            for gens in [
                [1, 2, 3],
                [1, 3, 2],
                [2, 1, 3],
                [2, 3, 1],
                [3, 1, 2],
                [3, 2, 1],
            ] {
                let ms = [
                    owning("consumer1", &["topic"], &parts("topic-0, topic-2"), gens[0]),
                    owning(
                        "consumer2",
                        &["topic"],
                        &parts("topic-1, topic-2, topic-3"),
                        gens[1],
                    ),
                    owning(
                        "consumer3",
                        &["topic"],
                        &parts("topic-2, topic-4, topic-5"),
                        gens[2],
                    ),
                    owning("consumer4", &["topic1"], &parts("topic1-0"), 2),
                ];
                let a = sticky(kind, &p, &ms);
                check_valid_and_balanced(&p, &ms, &a);
                assert!(a.values().all(|x| (1..=2).contains(&x.partitions.len())));
            }
        }
    }

    // -- sticky user data -----------------------------------------------------

    #[test]
    fn sticky_user_data_round_trip_and_versions() {
        let owned = parts("t1-0, t2-1, t1-3");
        let bytes = encode_sticky_user_data(&owned, 7).unwrap();
        let d = decode_sticky_user_data(&bytes).unwrap();
        assert_eq!(d.generation, Some(7));
        let mut got = d.partitions.clone();
        got.sort();
        assert_eq!(got, owned);
        // v0: no generation.
        let v0 = &bytes[..bytes.len() - 4];
        assert_eq!(decode_sticky_user_data(v0).unwrap().generation, None);
        // One topic: the exact bytes.
        let bytes = encode_sticky_user_data(&parts("t-1, t-2"), 7).unwrap();
        assert_eq!(
            bytes,
            [
                0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 7
            ]
        );
        // kafka-python 3 prefixes a version.
        let mut prefixed = vec![0, 1];
        prefixed.extend_from_slice(&bytes);
        let d = decode_sticky_user_data(&prefixed).unwrap();
        assert_eq!((d.partitions, d.generation), (parts("t-1, t-2"), Some(7)));
        // Garbage: ignored, and the member counts as generation -1.
        assert_eq!(decode_sticky_user_data(&[0xff, 0xff, 0xff, 0xff]), None);
        let mut m = member("m", &["t"]);
        m.user_data = Some(vec![1, 2, 3]);
        let no_topics = BTreeMap::new();
        let g = Group::new(&no_topics, std::slice::from_ref(&m));
        let ctx = StickyCtx::new(&g);
        assert_eq!(ctx.member_data(0, StickyKind::Eager), (vec![], Some(-1)));
        m.user_data = Some(vec![]);
        let g = Group::new(&no_topics, std::slice::from_ref(&m));
        assert_eq!(
            StickyCtx::new(&g).member_data(0, StickyKind::Eager),
            (vec![], None)
        );
    }

    #[test]
    fn assignor_state_and_user_data() {
        let mut s = StickyAssignor::new();
        assert_eq!(s.subscription_user_data(&[], &[]), None);
        s.on_assignment(&Assignment::new(parts("t-0, t-2")), 5);
        let d = decode_sticky_user_data(&s.subscription_user_data(&[], &[]).unwrap()).unwrap();
        assert_eq!((d.partitions, d.generation), (parts("t-0, t-2"), Some(5)));
        let mut c = CooperativeStickyAssignor::default();
        assert_eq!(c.subscription_user_data(&[], &[]), Some(vec![0xff; 4]));
        c.on_assignment(&Assignment::default(), 3);
        assert_eq!(c.subscription_user_data(&[], &[]), Some(vec![0, 0, 0, 3]));
        assert!(c.protocol_supports_cooperative());
        assert!(!s.protocol_supports_cooperative());
        // A cooperative member whose subscription lacks a generation is read from the user data.
        let mut m = member("m", &["t"]);
        m.owned_partitions = parts("t-0");
        m.user_data = Some(vec![0, 0, 0, 3]);
        let p = ppt(&[("t", 2)]);
        let g = Group::new(&p, std::slice::from_ref(&m));
        assert_eq!(
            StickyCtx::new(&g).member_data(0, StickyKind::Cooperative),
            (vec![(0, 0)], Some(3))
        );
        for (name, expect) in [
            ("range", "range"),
            ("roundrobin", "roundrobin"),
            ("org.apache.kafka.clients.consumer.StickyAssignor", "sticky"),
            (" cooperative-sticky ", "cooperative-sticky"),
        ] {
            assert_eq!(assignor_by_name(name).unwrap().name(), expect);
        }
        assert!(assignor_by_name("fair").is_none());
    }

    // -- cooperative ----------------------------------------------------------

    #[test]
    fn cooperative_moved_partitions_wait_one_round() {
        let p = ppt(&[("t", 6)]);
        let a = CooperativeStickyAssignor::new()
            .assign(&p, &[member("a", &["t"]), member("b", &["t"])]);
        assert_eq!(get(&a, "a").len() + get(&a, "b").len(), 6);
        // c joins: a and b each give one up, c gets nothing yet.
        let ms = vec![
            owning("a", &["t"], &get(&a, "a"), 1),
            owning("b", &["t"], &get(&a, "b"), 1),
            owning("c", &["t"], &[], 1),
        ];
        let r1 = CooperativeStickyAssignor::new().assign(&p, &ms);
        assert!(get(&r1, "c").is_empty());
        assert_eq!(get(&r1, "a").len(), 2);
        assert_eq!(get(&r1, "b").len(), 2);
        assert!(partitions_transferring_ownership(&ms, &r1).is_empty());
        // The eager sticky result gives c exactly the two left out.
        let s = StickyAssignor::new().assign(&p, &ms);
        let left_out: Vec<(String, i32)> = (0..6)
            .map(|i| tp("t", i))
            .filter(|x| !get(&r1, "a").contains(x) && !get(&r1, "b").contains(x))
            .collect();
        assert_eq!(get(&s, "c"), left_out);
        // Next round: they are unowned now and go to c.
        let ms2 = owning_all(&ms, &r1, 2);
        let r2 = CooperativeStickyAssignor::new().assign(&p, &ms2);
        assert_eq!(get(&r2, "c"), left_out);
        assert_eq!(get(&r2, "a"), get(&r1, "a"));
        assert_eq!(get(&r2, "b"), get(&r1, "b"));
        let (fin, rounds) = cooperative_rounds(&p, &ms, 1);
        assert_eq!(rounds, 1);
        assert_eq!(fin, r2);
    }

    #[test]
    fn cooperative_general_case_revokes_first() {
        // Unequal subscriptions: transfers computed from owned partitions.
        let p = ppt(&[("t1", 4), ("t2", 4)]);
        let ms = [
            owning(
                "a",
                &["t1", "t2"],
                &parts("t1-0, t1-1, t1-2, t1-3, t2-0, t2-1, t2-2, t2-3"),
                3,
            ),
            owning("b", &["t1"], &[], 3),
        ];
        let sticky = StickyAssignor::new().assign(&p, &ms);
        let coop = CooperativeStickyAssignor::new().assign(&p, &ms);
        assert!(!get(&sticky, "b").is_empty());
        assert!(get(&coop, "b").is_empty());
        assert!(partitions_transferring_ownership(&ms, &coop).is_empty());
        let (fin, rounds) = cooperative_rounds(&p, &ms, 3);
        assert_eq!(rounds, 1);
        assert_eq!(fin, sticky);
    }

    // -- randomized properties --------------------------------------------------

    /// SplitMix64: deterministic and good enough.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn chance(&mut self, percent: usize) -> bool {
            self.below(100) < percent
        }
    }

    fn random_topics(rng: &mut Rng) -> BTreeMap<String, i32> {
        let n = 1 + rng.below(8);
        (0..n)
            .map(|i| (format!("t{i}"), rng.below(12) as i32))
            .collect()
    }

    fn random_subscription(
        rng: &mut Rng,
        topics: &[String],
        equal: Option<&[String]>,
    ) -> Vec<String> {
        if let Some(all) = equal {
            return all.to_vec();
        }
        let mut sub: Vec<String> = topics.iter().filter(|_| rng.chance(50)).cloned().collect();
        if sub.is_empty() {
            sub.push(topics[rng.below(topics.len())].clone());
        }
        if rng.chance(10) {
            sub.push("missing-topic".into());
        }
        sub
    }

    #[test]
    fn random_range_and_roundrobin_are_valid() {
        let mut rng = Rng(1);
        for _ in 0..300 {
            let p = random_topics(&mut rng);
            let names: Vec<String> = p.keys().cloned().collect();
            let ms: Vec<MemberSubscription> = (0..1 + rng.below(8))
                .map(|i| {
                    let mut m = MemberSubscription::new(
                        format!("m{}", rng.below(1000) * 10 + i),
                        random_subscription(&mut rng, &names, None),
                    );
                    if rng.chance(30) {
                        m.group_instance_id = Some(format!("i{}", rng.below(100) * 10 + i));
                    }
                    m
                })
                .collect();
            for a in [
                RangeAssignor.assign(&p, &ms),
                RoundRobinAssignor.assign(&p, &ms),
            ] {
                assert_eq!(a.len(), ms.len());
                let mut seen = HashSet::new();
                for m in &ms {
                    for x in &a[&m.member_id].partitions {
                        assert!(m.topics.contains(&x.0));
                        assert!(seen.insert(x.clone()));
                    }
                }
                let expected: usize = p
                    .iter()
                    .filter(|(t, _)| ms.iter().any(|m| m.topics.contains(t)))
                    .map(|(_, &n)| n as usize)
                    .sum();
                assert_eq!(seen.len(), expected);
            }
            // Equal subscriptions: roundrobin is balanced.
            let all: Vec<String> = names.clone();
            let eq: Vec<MemberSubscription> = (0..1 + rng.below(6))
                .map(|i| MemberSubscription::new(format!("e{i}"), all.clone()))
                .collect();
            assert!(fully_balanced(&RoundRobinAssignor.assign(&p, &eq)));
        }
    }

    /// Rounds of membership and subscription changes: every result valid and
    /// balanced; a balanced assignment, owned as is, is kept exactly; with
    /// equal subscriptions, every member keeps as many of its partitions as its
    /// new count allows; the cooperative protocol converges to the sticky
    /// result without ever assigning a partition that is still owned.
    #[test]
    fn random_sticky_and_cooperative_properties() {
        let mut rng = Rng(42);
        for round in 0..150 {
            let p = random_topics(&mut rng);
            let names: Vec<String> = p.keys().cloned().collect();
            let equal = round % 2 == 0;
            let all = names.clone();
            let eq = equal.then_some(&all[..]);
            let mut ms: Vec<MemberSubscription> = (0..1 + rng.below(7))
                .map(|i| {
                    MemberSubscription::new(
                        format!("c{i}"),
                        random_subscription(&mut rng, &names, eq),
                    )
                })
                .collect();
            let mut generation = 1;
            let mut next_id = ms.len();
            let mut sticky_prev = StickyAssignor::new().assign(&p, &ms);
            check_valid_and_balanced(&p, &ms, &sticky_prev);
            for _ in 0..4 {
                // Everyone owns its last sticky partitions; then change the group.
                let mut next = owning_all(&ms, &sticky_prev, generation);
                let stable = StickyAssignor::new().assign(&p, &next);
                assert_eq!(stable, sticky_prev, "a balanced assignment is kept as is");
                assert_eq!(
                    CooperativeStickyAssignor::new().assign(&p, &next),
                    sticky_prev
                );
                if next.len() > 1 && rng.chance(40) {
                    next.remove(rng.below(next.len()));
                }
                if rng.chance(50) {
                    let topics = random_subscription(&mut rng, &names, eq);
                    next.push(owning(
                        &format!("c{next_id}"),
                        &topics.iter().map(String::as_str).collect::<Vec<_>>(),
                        &[],
                        generation,
                    ));
                    next_id += 1;
                }
                if !equal && rng.chance(40) {
                    let i = rng.below(next.len());
                    next[i].topics = random_subscription(&mut rng, &names, None);
                }
                generation += 1;
                let a = StickyAssignor::new().assign(&p, &next);
                check_valid_and_balanced(&p, &next, &a);
                if equal {
                    for m in &next {
                        let before = &m.owned_partitions;
                        let now = &a[&m.member_id].partitions;
                        let kept = before.iter().filter(|x| now.contains(x)).count();
                        assert_eq!(
                            kept,
                            before.len().min(now.len()),
                            "{} kept too few: {before:?} -> {now:?}",
                            m.member_id
                        );
                    }
                }
                let (coop, _) = cooperative_rounds(&p, &next, generation);
                check_valid_and_balanced(&p, &next, &coop);
                if equal {
                    assert_eq!(coop, a, "cooperative converges to the sticky result");
                }
                ms = next;
                sticky_prev = a;
            }
        }
    }

    #[test]
    fn sticky_larger_groups_are_valid() {
        let mut rng = Rng(7);
        for (topics, members) in [(20, 30), (40, 60)] {
            let p: BTreeMap<String, i32> = (0..topics)
                .map(|i| (format!("topic{i:03}"), 1 + rng.below(10) as i32))
                .collect();
            let names: Vec<String> = p.keys().cloned().collect();
            let ms: Vec<MemberSubscription> = (0..members)
                .map(|i| {
                    MemberSubscription::new(
                        format!("member{i:03}"),
                        random_subscription(&mut rng, &names, None),
                    )
                })
                .collect();
            let a = StickyAssignor::new().assign(&p, &ms);
            check_valid_and_balanced(&p, &ms, &a);
            let mut next = owning_all(&ms, &a, 1);
            for _ in 0..members / 4 {
                next.remove(rng.below(next.len()));
            }
            let b = StickyAssignor::new().assign(&p, &next);
            check_valid_and_balanced(&p, &next, &b);
            let (c, _) = cooperative_rounds(&p, &next, 1);
            check_valid_and_balanced(&p, &next, &c);
        }
        // A large uniform group is quick (the constrained path).
        let p: BTreeMap<String, i32> = (0..50).map(|i| (format!("t{i:02}"), 200)).collect();
        let topics: Vec<String> = p.keys().cloned().collect();
        let ms: Vec<MemberSubscription> = (0..200)
            .map(|i| MemberSubscription::new(format!("m{i:03}"), topics.clone()))
            .collect();
        let a = StickyAssignor::new().assign(&p, &ms);
        assert!(fully_balanced(&a));
        let b = StickyAssignor::new().assign(&p, &owning_all(&ms[1..], &a, 1));
        assert!(fully_balanced(&b));
    }

    #[test]
    fn member_with_empty_subscription_gets_nothing() {
        for kind in sticky_kinds() {
            let p = ppt(&[("t", 4)]);
            for order in [["empty", "x"], ["x", "empty"]] {
                let ms: Vec<MemberSubscription> = order
                    .iter()
                    .map(|&id| member(id, if id == "empty" { &[] } else { &["t"] }))
                    .collect();
                let a = sticky(kind, &p, &ms);
                assert!(get(&a, "empty").is_empty());
                assert_eq!(get(&a, "x").len(), 4);
            }
        }
    }

    #[test]
    fn invalid_owned_partitions_are_ignored() {
        for kind in sticky_kinds() {
            let p = ppt(&[("t", 3)]);
            let ms = [
                owning("a", &["t"], &parts("t-7, t-0"), 1),
                owning("b", &["t"], &parts("t--1"), 1),
            ];
            let a = sticky(kind, &p, &ms);
            check_valid_and_balanced(&p, &ms, &a);
            assert!(get(&a, "a").contains(&tp("t", 0)));
        }
    }

    // -- ConsumerProtocol bytes ------------------------------------------------

    #[test]
    fn subscription_bytes_match_java() {
        let sub = Subscription {
            topics: vec!["b".into(), "a".into()],
            user_data: None,
            owned_partitions: vec![tp("a", 2), tp("a", 1)],
            generation: 5,
            rack: Some("r1".into()),
        };
        // Topics and owned partitions sorted, as Java writes them.
        let v3 = encode_subscription(&sub, 3).unwrap();
        assert_eq!(
            v3,
            hex(
                "000300000002000161000162ffffffff000000010001610000000200000001000000020000000500027231"
            )
        );
        let d = decode_subscription(&v3).unwrap();
        assert_eq!(d.topics, ["a", "b"]);
        assert_eq!(d.owned_partitions, [tp("a", 1), tp("a", 2)]);
        assert_eq!(
            (d.generation, d.rack.as_deref(), d.user_data),
            (5, Some("r1"), None)
        );
        // v0 keeps topics and user data only.
        let mut sub0 = sub.clone();
        sub0.user_data = Some(vec![9, 8]);
        let v0 = encode_subscription(&sub0, 0).unwrap();
        assert_eq!(v0, hex("000000000002000161000162000000020908"));
        let d = decode_subscription(&v0).unwrap();
        assert_eq!(
            (d.owned_partitions.len(), d.generation, d.rack),
            (0, -1, None)
        );
        assert_eq!(d.user_data, Some(vec![9, 8]));
        // A higher version writes v3; a newer one reads as v3, ignoring what follows.
        assert_eq!(encode_subscription(&sub, 9).unwrap(), v3);
        let mut v4 = v3.clone();
        v4[1] = 4;
        v4.extend_from_slice(&[0, 0, 0, 42, 1, 2, 3]);
        assert_eq!(
            decode_subscription(&v4).unwrap(),
            decode_subscription(&v3).unwrap()
        );
        // Errors.
        assert!(encode_subscription(&sub, -1).is_err());
        assert!(decode_subscription(&[0]).is_err());
        assert!(decode_subscription(&hex("ffff00000000ffffffff")).is_err());
        assert!(decode_subscription(&v3[..v3.len() - 1]).is_err());
        // An empty rack reads as none, a negative generation as -1.
        let mut odd = sub.clone();
        odd.rack = Some(String::new());
        odd.generation = -7;
        let d = decode_subscription(&encode_subscription(&odd, 3).unwrap()).unwrap();
        assert_eq!((d.rack, d.generation), (None, -1));
    }

    #[test]
    fn assignment_bytes_match_java() {
        let a = Assignment {
            partitions: vec![tp("b", 3), tp("a", 1), tp("b", 0)],
            user_data: Some(b"xy".to_vec()),
        };
        // Grouped by topic in order of first appearance.
        let v3 = encode_assignment(&a, 3).unwrap();
        assert_eq!(
            v3,
            hex("0003000000020001620000000200000003000000000001610000000100000001000000027879")
        );
        let d = decode_assignment(&v3).unwrap();
        assert_eq!(d.partitions, [tp("b", 3), tp("b", 0), tp("a", 1)]);
        assert_eq!(d.user_data.as_deref(), Some(&b"xy"[..]));
        let v0 = encode_assignment(&a, 0).unwrap();
        assert_eq!(&v0[2..], &v3[2..]);
        let mut v7 = v3.clone();
        v7[1] = 7;
        v7.push(0);
        assert_eq!(decode_assignment(&v7).unwrap(), d);
        assert!(decode_assignment(&v3[..5]).is_err());
        assert!(decode_assignment(&[0x80, 0]).is_err());
        assert_eq!(
            decode_assignment(&encode_assignment(&Assignment::default(), 3).unwrap()).unwrap(),
            Assignment::default()
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn subscription_into_member_and_back() {
        let sub = Subscription {
            topics: vec!["t".into()],
            user_data: Some(vec![1]),
            owned_partitions: vec![tp("t", 0)],
            generation: 4,
            rack: Some("r".into()),
        };
        let m = sub.clone().into_member("m-1", Some("i-1".into()));
        assert_eq!(m.member_id, "m-1");
        assert_eq!(m.group_instance_id.as_deref(), Some("i-1"));
        assert_eq!(m.subscription(), sub);
    }

    #[test]
    fn duplicate_member_ids_keep_the_last_subscription() {
        let ms = [
            member("a", &["t1"]),
            member("b", &["t1"]),
            member("a", &["t2"]),
        ];
        let p = ppt(&[("t1", 2), ("t2", 2)]);
        let a = RangeAssignor.assign(&p, &ms);
        assert_eq!(a.len(), 2);
        assert_eq!(get(&a, "a"), parts("t2-0, t2-1"));
        assert_eq!(get(&a, "b"), parts("t1-0, t1-1"));
    }
}
