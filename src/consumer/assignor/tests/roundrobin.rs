use super::*;

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
