//! Consumer groups on tansu (session.timeout.ms=6000, as BROKERS.md advises).

#[path = "support/mod.rs"]
mod support;

#[path = "support/deadline.rs"]
mod deadline;

#[path = "consumer_util/mod.rs"]
mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::consumer::{Consumer, ConsumerRebalanceListener, TopicPartition};
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::{AdminConfig, ConsumerConfig, Error, ProducerConfig};

fn setup(prefix: &str, partitions: i32, records: usize) -> (String, String) {
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic(prefix);
    let admin = AdminClient::new(AdminConfig::new().bootstrap_servers(&bootstrap)).unwrap();
    admin
        .create_topic(NewTopic::new(&topic, partitions, 1))
        .unwrap();
    admin
        .cluster()
        .wait_for_topic(&topic, Instant::now() + Duration::from_secs(10))
        .unwrap();
    produce(&bootstrap, &topic, 0, records);
    (bootstrap, topic)
}

fn produce(bootstrap: &str, topic: &str, from: usize, n: usize) {
    let p = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(bootstrap)
            .set("linger.ms", 1),
    )
    .unwrap();
    for i in from..from + n {
        let v = format!("r{i}");
        let _ = p
            .send(ProducerRecord::new(topic, v.as_bytes()).key(v.as_bytes()))
            .unwrap();
    }
    p.close(None).unwrap();
}

fn config(bootstrap: &str, group: &str) -> ConsumerConfig {
    ConsumerConfig::new()
        .bootstrap_servers(bootstrap)
        .set("group.id", group)
        .set("session.timeout.ms", 6000)
        .set("heartbeat.interval.ms", 300)
        .set("max.poll.interval.ms", 15000)
        .set("auto.offset.reset", "earliest")
        .set("fetch.max.wait.ms", 100)
}

fn tps(v: &[TopicPartition]) -> BTreeSet<i32> {
    v.iter().map(|tp| tp.partition).collect()
}

/// Each test body runs under this overall limit (a stuck member fails the test).
const TEST_LIMIT: Duration = Duration::from_secs(240);

#[test]
fn three_members_share_six_partitions_and_consume_everything_once() {
    deadline::within(TEST_LIMIT, "three members", three_members);
}

fn three_members() {
    util::init_log();
    let n = 600;
    let (bootstrap, topic) = setup("group3", 6, n);
    let group = support::unique_topic("g3");
    let seen: Arc<Mutex<Vec<(i32, i64)>>> = Arc::new(Mutex::new(Vec::new()));
    let total = Arc::new(AtomicUsize::new(0));
    let assignments: Arc<Mutex<Vec<BTreeSet<i32>>>> = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (bootstrap, topic, group) = (bootstrap.clone(), topic.clone(), group.clone());
            let (seen, total, assignments) = (seen.clone(), total.clone(), assignments.clone());
            std::thread::spawn(move || {
                let mut c = Consumer::new(config(&bootstrap, &group)).unwrap();
                c.subscribe(&[&topic]).unwrap();
                let deadline = Instant::now() + Duration::from_secs(120);
                let mut quiet_since = Instant::now();
                loop {
                    let records = c.poll(Duration::from_millis(200)).unwrap();
                    if !records.is_empty() {
                        quiet_since = Instant::now();
                    }
                    for r in records {
                        seen.lock().unwrap().push((r.partition, r.offset));
                        total.fetch_add(1, Ordering::SeqCst);
                    }
                    if total.load(Ordering::SeqCst) >= n
                        && quiet_since.elapsed() > Duration::from_secs(2)
                    {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "timed out; consumed {}",
                        total.load(Ordering::SeqCst)
                    );
                }
                assignments.lock().unwrap().push(tps(&c.assignment()));
                // Keep polling (heartbeating) until everyone has recorded, within
                // the deadline (a barrier here waited forever for a member that
                // had panicked or was stuck).
                while assignments.lock().unwrap().len() < 3 {
                    assert!(
                        Instant::now() < deadline,
                        "the other members did not finish; assignments {:?}",
                        assignments.lock().unwrap()
                    );
                    c.poll(Duration::from_millis(100)).unwrap();
                }
                c.close();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    let unique: BTreeSet<(i32, i64)> = seen.iter().copied().collect();
    assert_eq!(unique.len(), n, "every record consumed");
    assert_eq!(seen.len(), n, "no record consumed twice");
    let a = assignments.lock().unwrap();
    let union: BTreeSet<i32> = a.iter().flatten().copied().collect();
    assert_eq!(
        union,
        (0..6).collect(),
        "assignments cover every partition: {a:?}"
    );
    assert_eq!(
        a.iter().map(|s| s.len()).sum::<usize>(),
        6,
        "assignments are disjoint: {a:?}"
    );
    assert!(
        a.iter().all(|s| s.len() == 2),
        "range gives two each: {a:?}"
    );
}

type Events = Arc<Mutex<Vec<(String, BTreeSet<i32>)>>>;

#[derive(Clone, Default)]
struct Recorder {
    events: Events,
}

impl ConsumerRebalanceListener for Recorder {
    fn on_partitions_revoked(&mut self, _c: &mut Consumer, p: &[TopicPartition]) {
        self.events.lock().unwrap().push(("revoked".into(), tps(p)));
    }
    fn on_partitions_assigned(&mut self, _c: &mut Consumer, p: &[TopicPartition]) {
        self.events
            .lock()
            .unwrap()
            .push(("assigned".into(), tps(p)));
    }
    fn on_partitions_lost(&mut self, _c: &mut Consumer, p: &[TopicPartition]) {
        self.events.lock().unwrap().push(("lost".into(), tps(p)));
    }
}

/// Runs `step` (which polls `c`) until it returns true (or panics after `secs`).
fn poll_until(c: &mut Consumer, secs: u64, mut step: impl FnMut(&mut Consumer) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !step(c) {
        assert!(
            Instant::now() < deadline,
            "condition not reached; assignment {:?}",
            c.assignment()
        );
    }
}

/// Polls `c` (discarding records) until `cond` holds.
fn poll_for(c: &mut Consumer, secs: u64, mut cond: impl FnMut(&Consumer) -> bool) {
    poll_until(c, secs, |c| {
        c.poll(Duration::from_millis(100)).unwrap();
        cond(c)
    });
}

/// Polls two consumers, each on its own thread (a join blocks inside poll
/// until the other member rejoins too), until `cond` holds for their assignments.
fn poll_both(
    a: &mut Consumer,
    b: &mut Consumer,
    secs: u64,
    cond: impl Fn(&[TopicPartition], &[TopicPartition]) -> bool + Sync,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let state: Mutex<(Vec<TopicPartition>, Vec<TopicPartition>)> =
        Mutex::new((a.assignment(), b.assignment()));
    let done = std::sync::atomic::AtomicBool::new(cond(&a.assignment(), &b.assignment()));
    std::thread::scope(|s| {
        for (i, c) in [a, b].into_iter().enumerate() {
            let (state, done, cond) = (&state, &done, &cond);
            s.spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    assert!(
                        Instant::now() < deadline,
                        "not reached: {:?}",
                        state.lock().unwrap()
                    );
                    c.poll(Duration::from_millis(100)).unwrap();
                    let mut st = state.lock().unwrap();
                    if i == 0 {
                        st.0 = c.assignment();
                    } else {
                        st.1 = c.assignment();
                    }
                    if cond(&st.0, &st.1) {
                        done.store(true, Ordering::SeqCst);
                    }
                }
            });
        }
    });
}

#[test]
fn cooperative_sticky_revokes_only_moved_partitions() {
    deadline::within(
        TEST_LIMIT,
        "cooperative_sticky_revokes_only_moved_partitions",
        cooperative_sticky_revokes_only_moved_partitions_body,
    );
}

fn cooperative_sticky_revokes_only_moved_partitions_body() {
    util::init_log();
    let (bootstrap, topic) = setup("coop", 6, 0);
    let group = support::unique_topic("gcoop");
    let cfg =
        |b: &str| config(b, &group).set("partition.assignment.strategy", "cooperative-sticky");
    let mut a = Consumer::new(cfg(&bootstrap)).unwrap();
    let rec = Recorder::default();
    a.set_rebalance_listener(rec.clone());
    a.subscribe(&[&topic]).unwrap();
    poll_for(&mut a, 30, |c| c.assignment().len() == 6);
    rec.events.lock().unwrap().clear();
    let mut b = Consumer::new(cfg(&bootstrap)).unwrap();
    b.subscribe(&[&topic]).unwrap();
    poll_both(&mut a, &mut b, 40, |a, b| a.len() == 3 && b.len() == 3);
    let events = rec.events.lock().unwrap().clone();
    let revoked: Vec<&BTreeSet<i32>> = events
        .iter()
        .filter(|e| e.0 == "revoked")
        .map(|e| &e.1)
        .collect();
    assert_eq!(revoked.len(), 1, "one revocation: {events:?}");
    assert_eq!(
        revoked[0].len(),
        3,
        "only the three moved partitions are revoked: {events:?}"
    );
    let kept: BTreeSet<i32> = tps(&a.assignment());
    assert!(kept.is_disjoint(revoked[0]));
    assert!(tps(&b.assignment()).is_disjoint(&kept));
    assert!(!events.iter().any(|e| e.0 == "lost"), "{events:?}");
    a.close();
    b.close();
}

#[test]
fn closing_member_hands_over_and_commits_are_honoured() {
    deadline::within(
        TEST_LIMIT,
        "closing_member_hands_over_and_commits_are_honoured",
        closing_member_hands_over_and_commits_are_honoured_body,
    );
}

fn closing_member_hands_over_and_commits_are_honoured_body() {
    util::init_log();
    let n = 300;
    let (bootstrap, topic) = setup("handover", 4, n);
    let group = support::unique_topic("gh");
    let cfg = |b: &str| config(b, &group).set("enable.auto.commit", "false");
    let mut a = Consumer::new(cfg(&bootstrap)).unwrap();
    a.subscribe(&[&topic]).unwrap();
    let mut got: Vec<(i32, i64)> = Vec::new();
    // a alone: read some and commit what it processed.
    poll_until(&mut a, 30, |c| {
        got.extend(
            c.poll(Duration::from_millis(50))
                .unwrap()
                .into_iter()
                .map(|r| (r.partition, r.offset)),
        );
        got.len() >= 100
    });
    a.commit_sync().unwrap();
    let committed_a = a.committed(&a.assignment()).unwrap();
    assert!(committed_a.values().any(|v| v.is_some()));
    let mut b = Consumer::new(cfg(&bootstrap)).unwrap();
    let rec = Recorder::default();
    b.set_rebalance_listener(rec.clone());
    b.subscribe(&[&topic]).unwrap();
    poll_both(&mut a, &mut b, 40, |a, b| !a.is_empty() && !b.is_empty());
    // a closes: b gets everything in one rebalance, starting at a's commits.
    a.close();
    let mut got_b: Vec<(i32, i64)> = Vec::new();
    poll_until(&mut b, 40, |c| {
        got_b.extend(
            c.poll(Duration::from_millis(50))
                .unwrap()
                .into_iter()
                .map(|r| (r.partition, r.offset)),
        );
        c.assignment().len() == 4 && got.len() + got_b.len() >= n
    });
    let assigned_events = rec
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.0 == "assigned")
        .count();
    assert_eq!(
        assigned_events,
        2,
        "join, then one rebalance after a left: {:?}",
        rec.events.lock().unwrap()
    );
    let all: BTreeSet<(i32, i64)> = got.iter().chain(&got_b).copied().collect();
    assert_eq!(all.len(), n, "nothing skipped");
    // Nothing a committed is read again by b.
    for (tp, om) in committed_a {
        if let Some(om) = om {
            assert!(
                !got_b
                    .iter()
                    .any(|(p, o)| *p == tp.partition && *o < om.offset),
                "b re-read committed records of {tp}"
            );
        }
    }
    b.close();
}

#[test]
fn crashed_member_loses_partitions_after_session_timeout_at_least_once() {
    deadline::within(
        TEST_LIMIT,
        "crashed_member_loses_partitions_after_session_timeout_at_least_once",
        crashed_member_loses_partitions_after_session_timeout_at_least_once_body,
    );
}

fn crashed_member_loses_partitions_after_session_timeout_at_least_once_body() {
    util::init_log();
    let n = 200;
    let (bootstrap, topic) = setup("crash", 2, n);
    let group = support::unique_topic("gc");
    let cfg = |b: &str| config(b, &group).set("enable.auto.commit", "false");
    let mut a = Consumer::new(cfg(&bootstrap)).unwrap();
    let mut b = Consumer::new(cfg(&bootstrap)).unwrap();
    a.subscribe(&[&topic]).unwrap();
    b.subscribe(&[&topic]).unwrap();
    poll_both(&mut a, &mut b, 40, |a, b| a.len() == 1 && b.len() == 1);
    // a processes some records, commits part of them, then crashes (no LeaveGroup, no more heartbeats).
    let mut processed_a: Vec<(i32, i64)> = Vec::new();
    poll_until(&mut a, 20, |c| {
        processed_a.extend(
            c.poll(Duration::from_millis(50))
                .unwrap()
                .into_iter()
                .map(|r| (r.partition, r.offset)),
        );
        processed_a.len() >= 40
    });
    let pa = a.assignment()[0].clone();
    let commit_at = processed_a[19].1 + 1;
    let mut offsets = BTreeMap::new();
    offsets.insert(
        pa.clone(),
        kafka_blocking::consumer::OffsetAndMetadata::new(commit_at),
    );
    a.commit_sync_offsets(&offsets).unwrap();
    std::mem::forget(a);
    let start = Instant::now();
    let mut got_b: Vec<(i32, i64)> = Vec::new();
    poll_until(&mut b, 40, |c| {
        got_b.extend(
            c.poll(Duration::from_millis(100))
                .unwrap()
                .into_iter()
                .map(|r| (r.partition, r.offset)),
        );
        let all: BTreeSet<(i32, i64)> = processed_a.iter().chain(got_b.iter()).copied().collect();
        c.assignment().len() == 2 && all.len() >= n && got_b.contains(&(pa.partition, commit_at))
    });
    assert!(
        start.elapsed() >= Duration::from_secs(3),
        "partitions moved only after the session timeout"
    );
    let from_a_partition: Vec<i64> = got_b
        .iter()
        .filter(|(p, _)| *p == pa.partition)
        .map(|(_, o)| *o)
        .collect();
    assert_eq!(
        from_a_partition.first(),
        Some(&commit_at),
        "b resumes exactly at a's commit"
    );
    // Records a processed after its commit are processed again (at least once), none skipped.
    let all: BTreeSet<(i32, i64)> = processed_a.iter().chain(&got_b).copied().collect();
    assert_eq!(all.len(), n);
    b.close();
}

#[test]
fn member_that_stops_polling_loses_partitions_and_its_commit_fails() {
    deadline::within(
        TEST_LIMIT,
        "member_that_stops_polling_loses_partitions_and_its_commit_fails",
        member_that_stops_polling_loses_partitions_and_its_commit_fails_body,
    );
}

fn member_that_stops_polling_loses_partitions_and_its_commit_fails_body() {
    util::init_log();
    let (bootstrap, topic) = setup("maxpoll", 2, 20);
    let group = support::unique_topic("gmp");
    let cfg = |b: &str| {
        config(b, &group)
            .set("max.poll.interval.ms", 4000)
            .set("enable.auto.commit", "false")
    };
    let mut a = Consumer::new(cfg(&bootstrap)).unwrap();
    let mut b = Consumer::new(cfg(&bootstrap)).unwrap();
    a.subscribe(&[&topic]).unwrap();
    b.subscribe(&[&topic]).unwrap();
    poll_both(&mut a, &mut b, 40, |a, b| a.len() == 1 && b.len() == 1);
    // a "processes" for longer than max.poll.interval.ms (and the session timeout); b keeps polling.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(8) {
        b.poll(Duration::from_millis(100)).unwrap();
    }
    poll_for(&mut b, 30, |c| c.assignment().len() == 2);
    let e = a.commit_sync().unwrap_err();
    assert!(matches!(e, Error::CommitFailed(_)), "{e}");
    assert!(e.to_string().contains("max.poll.interval.ms"), "{e}");
    // The next poll rejoins and gets a share again.
    poll_both(&mut a, &mut b, 40, |a, b| a.len() == 1 && b.len() == 1);
    a.close();
    b.close();
}

#[test]
fn auto_commit_on_close_commits_consumed_positions() {
    deadline::within(
        TEST_LIMIT,
        "auto_commit_on_close_commits_consumed_positions",
        auto_commit_on_close_commits_consumed_positions_body,
    );
}

fn auto_commit_on_close_commits_consumed_positions_body() {
    util::init_log();
    let (bootstrap, topic) = setup("autocommit", 3, 90);
    let group = support::unique_topic("gac");
    let mut c =
        Consumer::new(config(&bootstrap, &group).set("auto.commit.interval.ms", 60000)).unwrap();
    c.subscribe(&[&topic]).unwrap();
    let mut n = 0;
    poll_until(&mut c, 30, |c| {
        n += c.poll(Duration::from_millis(50)).unwrap().len();
        n >= 90
    });
    let positions: BTreeMap<TopicPartition, i64> = c
        .assignment()
        .into_iter()
        .map(|tp| (tp.clone(), c.position(&tp).unwrap()))
        .collect();
    c.close();
    let mut check = Consumer::new(config(&bootstrap, &group)).unwrap();
    let committed = check
        .committed(&positions.keys().cloned().collect::<Vec<_>>())
        .unwrap();
    for (tp, pos) in positions {
        assert_eq!(committed[&tp].as_ref().map(|o| o.offset), Some(pos), "{tp}");
    }
    check.close();
}
