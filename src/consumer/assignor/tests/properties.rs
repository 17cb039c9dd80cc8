use super::*;

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

fn random_subscription(rng: &mut Rng, topics: &[String], equal: Option<&[String]>) -> Vec<String> {
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
                MemberSubscription::new(format!("c{i}"), random_subscription(&mut rng, &names, eq))
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
