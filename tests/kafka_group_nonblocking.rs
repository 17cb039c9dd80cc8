//! `poll` never blocks on the group (issue 11): a real Apache Kafka broker
//! with `group.initial.rebalance.delay.ms=3000` holds the first JoinGroup of
//! a new group for three seconds, and `poll(100 ms)` must still return within
//! its timeout (plus a margin for a busy machine) in every call while the
//! join is pending. Two members polled alternately from one thread must both
//! get through the rebalance: a blocking join would hold the thread inside
//! one member's JoinGroup while the broker waits for the other.
//!
//! Runs in the Apache Kafka pass of `scripts/test.sh` (`tests/kafka_*.rs`),
//! on a private node of its own (the delay is a broker setting).

#[path = "support/mod.rs"]
mod support;

#[path = "consumer_util/mod.rs"]
mod util;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_blocking::ProducerConfig;
use kafka_blocking::consumer::{Consumer, TopicPartition};
use kafka_blocking::producer::{Producer, ProducerRecord};

const POLL: Duration = Duration::from_millis(100);
/// Scheduling slack on a loaded two-core machine; a blocking join would
/// take the whole 3 s delay.
const MARGIN: Duration = Duration::from_millis(400);

/// Polls once, checking the call returned by its deadline.
fn timed_poll(c: &mut Consumer, who: &str, slowest: &mut Duration) -> usize {
    let start = Instant::now();
    let n = c.poll(POLL).expect("poll").len();
    let took = start.elapsed();
    assert!(
        took <= POLL + MARGIN,
        "{who}: poll({POLL:?}) took {took:?} while the group was forming"
    );
    *slowest = (*slowest).max(took);
    n
}

fn group_consumer(bootstrap: &str, group: &str) -> Consumer {
    util::consumer(
        bootstrap,
        &[
            ("group.id", group),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "1000"),
        ],
    )
}

#[test]
fn poll_returns_in_time_while_join_is_held_and_two_members_share_a_thread() {
    util::init_log();
    if !support::kafka::real_kafka() {
        eprintln!("skipped: needs Apache Kafka (KAFKA_BLOCKING_BROKER=kafka)");
        return;
    }
    let cluster = support::kafka::KafkaCluster::start_configured(
        1,
        &["group.initial.rebalance.delay.ms=3000"],
    )
    .expect("start a Kafka node with group.initial.rebalance.delay.ms=3000");
    let bootstrap = cluster.bootstrap.clone();
    let topic = support::unique_topic("nonblocking-join");
    util::create_topic(&bootstrap, &topic, 4);
    let producer = Producer::new(ProducerConfig::new().bootstrap_servers(&bootstrap)).unwrap();
    for p in 0..4 {
        producer
            .send(ProducerRecord::new(&topic, format!("r{p}").as_bytes()).partition(p))
            .unwrap()
            .wait()
            .expect("record delivered");
    }
    producer.close(None).unwrap();

    // One member: the first join waits out the broker's 3 s delay while
    // every poll returns on time.
    let mut a = group_consumer(&bootstrap, &support::unique_topic("g-one"));
    a.subscribe(&[&topic]).unwrap();
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut polls = 0;
    let mut records = 0;
    while a.assignment().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no assignment after 60 s"
        );
        records += timed_poll(&mut a, "single member", &mut slowest);
        polls += 1;
    }
    let joined_after = start.elapsed();
    assert!(
        joined_after >= Duration::from_millis(2500),
        "the join completed after {joined_after:?}: the broker did not hold it for \
         group.initial.rebalance.delay.ms, so this test proved nothing"
    );
    assert!(polls >= 15, "only {polls} polls in {joined_after:?}");
    assert_eq!(a.assignment().len(), 4);
    // The member works once joined: every record is read.
    let until = Instant::now() + Duration::from_secs(30);
    while records < 4 && Instant::now() < until {
        records += timed_poll(&mut a, "single member", &mut slowest);
    }
    assert_eq!(records, 4, "records read by the single member");
    eprintln!("single member: joined after {joined_after:?} in {polls} polls, slowest {slowest:?}");
    a.close();

    // Two members of a new group, polled alternately from this one thread.
    let group = support::unique_topic("g-two");
    let mut b = group_consumer(&bootstrap, &group);
    let mut c = group_consumer(&bootstrap, &group);
    b.subscribe(&[&topic]).unwrap();
    c.subscribe(&[&topic]).unwrap();
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut read = 0;
    loop {
        read += timed_poll(&mut b, "member b", &mut slowest);
        read += timed_poll(&mut c, "member c", &mut slowest);
        let (ab, ac) = (b.assignment(), c.assignment());
        let all: BTreeSet<TopicPartition> = ab.iter().chain(ac.iter()).cloned().collect();
        if !ab.is_empty() && !ac.is_empty() && all.len() == 4 && ab.len() + ac.len() == 4 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "after 90 s: member b has {ab:?}, member c has {ac:?}"
        );
    }
    eprintln!(
        "two members: both assigned after {:?}, slowest poll {slowest:?}",
        start.elapsed()
    );
    let until = Instant::now() + Duration::from_secs(30);
    while read < 4 && Instant::now() < until {
        read += timed_poll(&mut b, "member b", &mut slowest);
        read += timed_poll(&mut c, "member c", &mut slowest);
    }
    assert_eq!(read, 4, "records read by the two members together");
    b.close();
    c.close();
}
