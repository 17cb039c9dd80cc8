use super::*;

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
    let a =
        CooperativeStickyAssignor::new().assign(&p, &[member("a", &["t"]), member("b", &["t"])]);
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
