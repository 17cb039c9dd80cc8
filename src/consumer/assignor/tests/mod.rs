//! The assignors' unit tests, many of them ported from Java's.

use std::cmp::Ordering;

use super::sticky::{StickyCtx, StickyKind, sticky_assign};
use super::*;

mod properties;
mod protocol;
mod range;
mod roundrobin;
mod sticky;

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
