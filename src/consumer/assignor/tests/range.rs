use super::*;

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
