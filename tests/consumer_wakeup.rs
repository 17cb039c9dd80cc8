//! Issue 11, consumer API: `WakeupHandle::wakeup` ends a blocking `poll` with
//! `Error::Wakeup` (Java's `wakeup`), `close_timeout` and `Drop` are bounded,
//! and the pause-and-poll pattern keeps a group member's partitions through
//! processing longer than session.timeout.ms (tansu; the bounded close on the
//! librdkafka mock cluster, whose responses can be delayed).

#[path = "support/mod.rs"]
mod support;

#[path = "support/deadline.rs"]
mod deadline;

#[path = "consumer_util/mod.rs"]
mod util;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_blocking::consumer::{Consumer, ConsumerRebalanceListener, TopicPartition};
use kafka_blocking::{ConsumerConfig, Error};
use support::mock::MockCluster;
use util::{consumer, create_topic, python, read_n};

/// Produces `count` records `v{i}` to partition `part` of a topic.
const PRODUCE: &str = r#"
import sys
from kafka import KafkaProducer
boot, topic, part, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
p = KafkaProducer(bootstrap_servers=boot, linger_ms=5)
fs = [p.send(topic, value=b'v%d' % i, partition=part) for i in range(count)]
p.flush()
for f in fs:
    f.get(timeout=10)
p.close()
"#;

fn produce(bootstrap: &str, topic: &str, partition: i32, count: usize) {
    python(
        PRODUCE,
        &[bootstrap, topic, &partition.to_string(), &count.to_string()],
    );
}

const TEST_LIMIT: Duration = Duration::from_secs(180);

#[test]
fn wakeup_from_another_thread_ends_a_blocking_poll_at_once() {
    deadline::within(TEST_LIMIT, "wakeup during poll", || {
        util::init_log();
        let bootstrap = support::tansu::bootstrap();
        let topic = support::unique_topic("wakeup-during");
        create_topic(&bootstrap, &topic, 1);
        let mut c = consumer(&bootstrap, &[("auto.offset.reset", "earliest")]);
        let tp = TopicPartition::new(&topic, 0);
        c.assign(vec![tp.clone()]).unwrap();
        // Nothing to read: the poll would wait its whole 30 s.
        assert!(c.poll(Duration::from_millis(300)).unwrap().is_empty());
        let waker = c.wakeup_handle();
        let other = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            waker.wakeup();
        });
        let start = Instant::now();
        let result = c.poll(Duration::from_secs(30));
        let took = start.elapsed();
        other.join().unwrap();
        assert!(
            matches!(result, Err(Error::Wakeup)),
            "poll ended with {result:?}"
        );
        assert!(
            took >= Duration::from_millis(400) && took < Duration::from_millis(1500),
            "poll returned {took:?} after it started; the wakeup came after 500 ms"
        );
        // Also with nothing in flight to end the wait (the partition paused:
        // no fetch), the wakeup alone ends it.
        c.pause(std::slice::from_ref(&tp)).unwrap();
        assert!(c.poll(Duration::from_millis(300)).unwrap().is_empty());
        let waker = c.wakeup_handle();
        let other = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            waker.wakeup();
        });
        let start = Instant::now();
        let result = c.poll(Duration::from_secs(30));
        let took = start.elapsed();
        other.join().unwrap();
        assert!(
            matches!(result, Err(Error::Wakeup)),
            "poll ended with {result:?}"
        );
        assert!(took < Duration::from_millis(1500), "took {took:?}");
        c.resume(std::slice::from_ref(&tp)).unwrap();
        // The consumer is usable: the following polls read normally.
        produce(&bootstrap, &topic, 0, 3);
        let got = read_n(&mut c, 3, Duration::from_secs(30));
        let offsets: Vec<i64> = got.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![0, 1, 2]);
        c.close_timeout(Duration::from_secs(5)).unwrap();
    });
}

#[test]
fn wakeup_before_poll_ends_the_next_poll_only() {
    deadline::within(TEST_LIMIT, "wakeup before poll", || {
        util::init_log();
        let bootstrap = support::tansu::bootstrap();
        let topic = support::unique_topic("wakeup-before");
        create_topic(&bootstrap, &topic, 1);
        produce(&bootstrap, &topic, 0, 5);
        let mut c = consumer(
            &bootstrap,
            &[("auto.offset.reset", "earliest"), ("max.poll.records", "2")],
        );
        let tp = TopicPartition::new(&topic, 0);
        c.assign(vec![tp.clone()]).unwrap();
        // Two records returned; the rest may be buffered already.
        let first = read_n(&mut c, 1, Duration::from_secs(30));
        assert!(!first.is_empty());
        // Wakeups while no poll runs: the next poll (only) ends at once,
        // several wakeups being one; cloned handles share it.
        let waker = c.wakeup_handle();
        waker.wakeup();
        waker.clone().wakeup();
        c.wakeup();
        let start = Instant::now();
        let result = c.poll(Duration::from_secs(30));
        assert!(
            matches!(result, Err(Error::Wakeup)),
            "poll ended with {result:?}"
        );
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "took {:?}",
            start.elapsed()
        );
        // The following polls work normally and lose no record.
        let mut offsets: Vec<i64> = first.iter().map(|r| r.offset).collect();
        let rest = read_n(&mut c, 5 - offsets.len(), Duration::from_secs(30));
        offsets.extend(rest.iter().map(|r| r.offset));
        assert_eq!(offsets, vec![0, 1, 2, 3, 4]);
        assert!(c.poll(Duration::from_millis(300)).unwrap().is_empty());
        assert_eq!(c.position(&tp).unwrap(), 5);
        c.close();
        // A closed consumer says so, wakeup or not.
        waker.wakeup();
        assert!(matches!(
            c.poll(Duration::from_millis(10)),
            Err(Error::Closed(_))
        ));
    });
}

/// A group member on the mock cluster (one broker, id 1) that joined and
/// knows its position, so that closing it commits and leaves the group.
fn joined_mock_member(mock: &MockCluster, topic: &str) -> Consumer {
    let group = support::unique_topic("wakeup-close");
    let mut c = Consumer::new(
        ConsumerConfig::new()
            .bootstrap_servers(mock.bootstrap())
            .set("group.id", &group)
            .set("enable.auto.commit", "true")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", 30000)
            .set("heartbeat.interval.ms", 1000)
            .set("fetch.max.wait.ms", 100)
            .set("request.timeout.ms", 30000)
            .set("default.api.timeout.ms", 60000)
            .set("retry.backoff.ms", 50),
    )
    .unwrap();
    c.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while c.assignment().is_empty() {
        assert!(Instant::now() < deadline, "the member never got partitions");
        c.poll(Duration::from_millis(100)).unwrap();
    }
    let tp = c.assignment()[0].clone();
    assert_eq!(c.position(&tp).unwrap(), 0);
    c
}

fn start_mock() -> (MockCluster, String) {
    let mut mock = MockCluster::start(1).expect("mock cluster");
    // Versions the mock's group handlers can parse (see tests/faults_consumer.rs).
    mock.apiversion("JoinGroup", 0, 5).unwrap();
    mock.apiversion("SyncGroup", 0, 3).unwrap();
    let topic = support::unique_topic("wakeup-close");
    mock.create_topic(&topic, 1, 1).unwrap();
    (mock, topic)
}

#[test]
fn close_timeout_and_drop_are_bounded_when_the_coordinator_hangs() {
    deadline::within(TEST_LIMIT, "bounded close", || {
        util::init_log();
        let (mut mock, topic) = start_mock();

        // close_timeout: the commit on close and the LeaveGroup get 1 s in
        // all, although request.timeout.ms is 30 s and the broker answers
        // after 20 s.
        let mut c = joined_mock_member(&mock, &topic);
        mock.rtt(1, 20000).unwrap();
        let start = Instant::now();
        let result = c.close_timeout(Duration::from_secs(1));
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(3),
            "close_timeout(1 s) took {took:?}"
        );
        assert!(
            matches!(result, Err(Error::Timeout { .. })),
            "the commit on close did not finish: {result:?}"
        );
        assert!(matches!(
            c.poll(Duration::from_millis(10)),
            Err(Error::Closed(_))
        ));
        // Closing again does nothing.
        c.close_timeout(Duration::from_secs(1)).unwrap();
        c.close();
        drop(c);

        // Drop: at most DROP_CLOSE_TIMEOUT.
        mock.rtt(1, 0).unwrap();
        let c = joined_mock_member(&mock, &topic);
        mock.rtt(1, 20000).unwrap();
        let start = Instant::now();
        drop(c);
        let took = start.elapsed();
        assert!(
            took < kafka_blocking::consumer::DROP_CLOSE_TIMEOUT + Duration::from_secs(2),
            "drop took {took:?}"
        );

        // Drop while panicking: no request, no wait.
        mock.rtt(1, 0).unwrap();
        let c = joined_mock_member(&mock, &topic);
        mock.rtt(1, 20000).unwrap();
        let start = Instant::now();
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _c = c;
            panic!("processing failed");
        }));
        let took = start.elapsed();
        assert!(unwound.is_err());
        assert!(
            took < Duration::from_secs(1),
            "drop while panicking took {took:?}"
        );
    });
}

/// Records every rebalance callback of a member.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl ConsumerRebalanceListener for Recorder {
    fn on_partitions_revoked(&mut self, _: &mut Consumer, p: &[TopicPartition]) {
        self.0.lock().unwrap().push(format!("revoked {p:?}"));
    }
    fn on_partitions_assigned(&mut self, _: &mut Consumer, p: &[TopicPartition]) {
        self.0.lock().unwrap().push(format!("assigned {p:?}"));
    }
    fn on_partitions_lost(&mut self, _: &mut Consumer, p: &[TopicPartition]) {
        self.0.lock().unwrap().push(format!("lost {p:?}"));
    }
}

const SESSION_TIMEOUT: Duration = Duration::from_secs(6);
/// The simulated processing: longer than session.timeout.ms and than
/// max.poll.interval.ms.
const PROCESSING: Duration = Duration::from_secs(10);

fn group_config(bootstrap: &str, group: &str) -> ConsumerConfig {
    ConsumerConfig::new()
        .bootstrap_servers(bootstrap)
        .set("group.id", group)
        .set("session.timeout.ms", SESSION_TIMEOUT.as_millis() as u64)
        .set("heartbeat.interval.ms", 300)
        .set("max.poll.interval.ms", 8000)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.max.wait.ms", 100)
}

#[test]
fn paused_member_that_keeps_polling_keeps_its_partitions_through_long_processing() {
    deadline::within(
        Duration::from_secs(240),
        "pause and poll",
        paused_member_keeps_its_partitions,
    );
}

fn paused_member_keeps_its_partitions() {
    util::init_log();
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("pause-poll");
    create_topic(&bootstrap, &topic, 2);
    let group = support::unique_topic("pause-poll");
    let (ra, rb) = (Recorder::default(), Recorder::default());
    let mut a = Consumer::new(group_config(&bootstrap, &group)).unwrap();
    let mut b = Consumer::new(group_config(&bootstrap, &group)).unwrap();
    a.set_rebalance_listener(ra.clone());
    b.set_rebalance_listener(rb.clone());
    a.subscribe(&[&topic]).unwrap();
    b.subscribe(&[&topic]).unwrap();

    // Both members polled alongside until each holds one partition.
    let settled = AtomicBool::new(false);
    let sizes = Mutex::new([usize::MAX; 2]);
    let deadline = Instant::now() + Duration::from_secs(90);
    std::thread::scope(|s| {
        for (i, c) in [&mut a, &mut b].into_iter().enumerate() {
            let (settled, sizes) = (&settled, &sizes);
            s.spawn(move || {
                while !settled.load(Ordering::SeqCst) {
                    assert!(Instant::now() < deadline, "the group never settled");
                    assert!(c.poll(Duration::from_millis(100)).unwrap().is_empty());
                    sizes.lock().unwrap()[i] = c.assignment().len();
                }
            });
        }
        while *sizes.lock().unwrap() != [1, 1] && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        // Keep polling a little longer, so that neither member is left in
        // the middle of a join.
        std::thread::sleep(Duration::from_secs(1));
        settled.store(true, Ordering::SeqCst);
    });
    let (own_a, own_b) = (a.assignment(), b.assignment());
    assert_eq!((own_a.len(), own_b.len()), (1, 1), "{own_a:?} {own_b:?}");
    let pa = own_a[0].partition;
    let (events_a, events_b) = (ra.events().len(), rb.events().len());

    // Records for both members, then a's long processing: a pauses all its
    // partitions and polls every 500 ms while the work runs.
    produce(&bootstrap, &topic, 0, 20);
    produce(&bootstrap, &topic, 1, 20);
    a.pause(&own_a).unwrap();
    let started = Instant::now();
    let work = std::thread::spawn(|| std::thread::sleep(PROCESSING));
    let b_done = AtomicBool::new(false);
    let b_records = std::thread::scope(|s| {
        let b = &mut b;
        let b_done = &b_done;
        let t = s.spawn(move || {
            let mut got = 0;
            while !b_done.load(Ordering::SeqCst) {
                got += b.poll(Duration::from_millis(100)).unwrap().len();
            }
            got
        });
        let mut polls = 0;
        while !work.is_finished() {
            let records = a.poll(Duration::from_millis(500)).unwrap();
            assert!(records.is_empty(), "a paused member got {records:?}");
            assert_eq!(a.assignment(), own_a, "a lost its partitions");
            polls += 1;
        }
        b_done.store(true, Ordering::SeqCst);
        assert!(polls >= 10, "a polled only {polls} times");
        t.join().unwrap()
    });
    work.join().unwrap();
    assert!(started.elapsed() > SESSION_TIMEOUT + Duration::from_secs(3));

    // No rebalance: nobody's partitions moved, no callback ran.
    assert_eq!(a.assignment(), own_a);
    assert_eq!(b.assignment(), own_b, "b got a's partitions");
    assert_eq!(a.paused(), own_a);
    assert_eq!(ra.events()[events_a..], [] as [String; 0], "a rebalanced");
    assert_eq!(rb.events()[events_b..], [] as [String; 0], "b rebalanced");
    assert_eq!(b_records, 20, "b reads its own partition meanwhile");

    // Resume: a's records flow, all of them, from the start.
    a.resume(&own_a).unwrap();
    let got = read_n(&mut a, 20, Duration::from_secs(30));
    let offsets: BTreeSet<i64> = got.iter().map(|r| r.offset).collect();
    assert!(got.iter().all(|r| r.partition == pa));
    assert_eq!(offsets, (0..20).collect::<BTreeSet<i64>>());
    assert_eq!(a.assignment(), own_a);
    a.close_timeout(Duration::from_secs(10)).unwrap();
    b.close_timeout(Duration::from_secs(10)).unwrap();
}
