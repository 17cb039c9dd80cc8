//! The `sticky` and `cooperative-sticky` assignors.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use super::java_order::{JAVA_MIN_TREEIFY_CAPACITY, JAVA_TREEIFY_BIN, java_spread};
use super::{
    Assignment, Group, GroupAssignment, MemberSubscription, NO_GENERATION, PartitionAssignor,
    decode_sticky_user_data, encode_sticky_user_data, java_cmp, java_string_hash,
};

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
pub(super) enum StickyKind {
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
pub(super) struct StickyCtx<'g, 'a> {
    group: &'g Group<'a>,
    /// Topic index → name, in Java's string order.
    pub(super) names: Vec<&'a str>,
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
    pub(super) fn new(group: &'g Group<'a>) -> StickyCtx<'g, 'a> {
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
    pub(super) fn member_data(&self, member: usize, kind: StickyKind) -> (Vec<Tp>, Option<i32>) {
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
pub(super) struct StickyOutcome<'g, 'a> {
    pub(super) ctx: StickyCtx<'g, 'a>,
    /// Per member.
    assignment: Vec<Vec<Tp>>,
    /// Partitions assigned to a member while another one owns them (Java's
    /// `partitionsTransferringOwnership`), when the algorithm tracked them (all
    /// subscriptions equal); `None` in the general case.
    pub(super) transferring: Option<HashMap<Tp, usize>>,
}

impl StickyOutcome<'_, '_> {
    fn named(&self, parts: &[Tp]) -> Vec<(String, i32)> {
        parts
            .iter()
            .map(|&(t, p)| (self.ctx.names[t as usize].to_owned(), p))
            .collect()
    }

    pub(super) fn named_assignment(&self) -> Vec<Vec<(String, i32)>> {
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
pub(super) fn sticky_assign<'g, 'a>(
    group: &'g Group<'a>,
    kind: StickyKind,
) -> StickyOutcome<'g, 'a> {
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
