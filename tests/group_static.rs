//! Static membership (KIP-345; issue 5, acceptance 5) on tansu.
//!
//! What tansu 0.6.0 does with static members (measured with its debug log,
//! `TANSU_RUST_LOG=tansu_broker::coordinator=debug`):
//! - it holds every JoinGroup for about session.timeout.ms/2 (in 1 s steps;
//!   at least 3 s for a static member), and a SyncGroup that carries a
//!   `group.instance.id` for another 3 s: a static restart takes about
//!   session.timeout.ms/2 + 3 s;
//! - a JoinGroup with an empty member id and a known `group.instance.id`,
//!   while the group is formed, gets the old member id back with the current
//!   generation, and SyncGroup returns the stored assignment: no rebalance.
//!   This needs the subscription bytes to equal those of the old instance's
//!   last JoinGroup (else tansu reopens the group without telling the other
//!   members); they do here because B joins once, after A;
//! - only heartbeats refresh a member's "last contact" (JoinGroup and SyncGroup
//!   do not), and any member's heartbeat expels every member whose last
//!   contact is older than session.timeout.ms. So the restarted instance must
//!   send its first heartbeat within session.timeout.ms of the old instance's
//!   last one: session.timeout.ms/2 + 3 s + a heartbeat interval must fit in
//!   session.timeout.ms, i.e. session.timeout.ms > ~6.6 s. With 6000 it never
//!   does: the member is expelled (A's heartbeat gets REBALANCE_IN_PROGRESS,
//!   the new instance UNKNOWN_MEMBER_ID) and the restart costs a rebalance
//!   after all; a static member that joins a formed group can even be expelled
//!   the same way at its first heartbeat, again and again. tansu therefore
//!   cannot show static membership at session.timeout.ms=6000; these tests use
//!   12000 there (a restart then takes about 9 s).
//!
//! Apache Kafka has none of these quirks: on it (`KAFKA_BLOCKING_BROKER=kafka`)
//! the tests use the broker's minimum session timeout, 6000.

#[path = "support/mod.rs"]
mod support;

#[path = "consumer_util/mod.rs"]
mod consumer_util;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_blocking::ConsumerConfig;
use kafka_blocking::consumer::{Consumer, ConsumerRebalanceListener, TopicPartition};

/// 12 s on tansu (see above), 6 s (the broker's group.min.session.timeout.ms) on
/// Apache Kafka.
fn session_timeout() -> Duration {
    if support::kafka::real_kafka() {
        Duration::from_secs(6)
    } else {
        Duration::from_secs(12)
    }
}

fn config(bootstrap: &str, group: &str) -> ConsumerConfig {
    ConsumerConfig::new()
        .bootstrap_servers(bootstrap)
        .set("group.id", group)
        .set("session.timeout.ms", session_timeout().as_millis() as u64)
        .set("heartbeat.interval.ms", 300)
        .set("max.poll.interval.ms", 30000)
        .set("auto.offset.reset", "earliest")
        .set("fetch.max.wait.ms", 100)
}

fn static_config(bootstrap: &str, group: &str, instance: &str) -> ConsumerConfig {
    config(bootstrap, group).set("group.instance.id", instance)
}

fn tps(v: &[TopicPartition]) -> BTreeSet<i32> {
    v.iter().map(|tp| tp.partition).collect()
}

/// A listener call: its name and partitions.
type Event = (&'static str, BTreeSet<i32>);

/// Records every listener call.
#[derive(Clone, Default)]
struct Recorder {
    events: Arc<Mutex<Vec<Event>>>,
}

impl ConsumerRebalanceListener for Recorder {
    fn on_partitions_revoked(&mut self, _c: &mut Consumer, p: &[TopicPartition]) {
        self.events.lock().unwrap().push(("revoked", tps(p)));
    }
    fn on_partitions_assigned(&mut self, _c: &mut Consumer, p: &[TopicPartition]) {
        self.events.lock().unwrap().push(("assigned", tps(p)));
    }
    fn on_partitions_lost(&mut self, _c: &mut Consumer, p: &[TopicPartition]) {
        self.events.lock().unwrap().push(("lost", tps(p)));
    }
}

/// What a member looked like after one poll.
#[derive(Clone, Debug, PartialEq, Eq)]
struct View {
    generation: i32,
    member_id: String,
    partitions: BTreeSet<i32>,
}

fn view(c: &Consumer) -> View {
    let md = c.group_metadata().unwrap();
    View {
        generation: md.generation_id,
        member_id: md.member_id,
        partitions: tps(&c.assignment()),
    }
}

/// Polls `c` until `cond` holds for its view; panics after `secs`.
fn poll_until(c: &mut Consumer, what: &str, secs: u64, cond: impl Fn(&View) -> bool) -> View {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        c.poll(Duration::from_millis(100)).unwrap();
        let v = view(c);
        if cond(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not reached; {v:?}");
    }
}

/// Runs `main` while `a` is polled on its own thread (a join blocks inside
/// poll); returns `main`'s result and every distinct view of `a` seen
/// meanwhile, in order (starting with its view before).
fn while_polling<T>(a: &mut Consumer, main: impl FnOnce() -> T) -> (T, Vec<View>) {
    let stop = AtomicBool::new(false);
    let mut views = vec![view(a)];
    let out = std::thread::scope(|s| {
        let poller = s.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                a.poll(Duration::from_millis(100)).unwrap();
                let v = view(a);
                if views.last() != Some(&v) {
                    views.push(v);
                }
            }
        });
        let out = main();
        stop.store(true, Ordering::SeqCst);
        poller.join().unwrap();
        out
    });
    (out, views)
}

/// A (dynamic, listener attached) owns the topic's four partitions, then
/// static member B joins: returns both once they hold two partitions each in
/// the same generation.
fn a_and_static_b(
    bootstrap: &str,
    topic: &str,
    group: &str,
    instance: &str,
) -> (Consumer, Recorder, Consumer) {
    let mut a = Consumer::new(config(bootstrap, group)).unwrap();
    let rec = Recorder::default();
    a.set_rebalance_listener(rec.clone());
    a.subscribe(&[topic]).unwrap();
    poll_until(&mut a, "A alone owns 4", 30, |v| v.partitions.len() == 4);
    let mut b = Consumer::new(static_config(bootstrap, group, instance)).unwrap();
    b.subscribe(&[topic]).unwrap();
    let (vb, views) = while_polling(&mut a, || {
        poll_until(&mut b, "B joins", 40, |v| v.partitions.len() == 2)
    });
    // A may still be finishing the same rebalance: poll both until they agree.
    let (_, views_after) = while_polling(&mut b, || {
        poll_until(&mut a, "A and B share a generation", 30, |v| {
            v.partitions.len() == 2 && v.generation == vb.generation
        })
    });
    assert!(
        views_after.iter().all(|v| v == &vb),
        "B stays put while A settles: {views:?} {views_after:?}"
    );
    (a, rec, b)
}

#[test]
fn static_member_restarting_within_session_timeout_causes_no_rebalance() {
    consumer_util::init_log();
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("static");
    consumer_util::create_topic(&bootstrap, &topic, 4);
    let group = support::unique_topic("gstatic");
    let instance = support::unique_topic("b");
    let (mut a, rec, mut b) = a_and_static_b(&bootstrap, &topic, &group, &instance);
    let before_a = view(&a);
    let before_b = view(&b);
    assert!(before_a.partitions.is_disjoint(&before_b.partitions));
    rec.events.lock().unwrap().clear();

    // B restarts: close (a static member sends no LeaveGroup), then a new
    // consumer with the same group.instance.id. A keeps polling throughout,
    // until the old instance's session would have expired and a bit more.
    let ((rejoined, rejoin_time, after_b), a_views) = while_polling(&mut a, || {
        b.close();
        let closed = Instant::now();
        let mut b2 = Consumer::new(static_config(&bootstrap, &group, &instance)).unwrap();
        b2.subscribe(&[&topic]).unwrap();
        let rejoined = poll_until(&mut b2, "B restarts", 30, |v| !v.partitions.is_empty());
        let rejoin_time = closed.elapsed();
        let after_b = poll_until(&mut b2, "the old session's end", 30, |_| {
            closed.elapsed() > session_timeout() + Duration::from_secs(2)
        });
        b2.close();
        (rejoined, rejoin_time, after_b)
    });
    eprintln!(
        "B rejoined in {rejoin_time:?}: before {before_b:?}, after {rejoined:?}; A's views {a_views:?}"
    );
    assert!(
        rejoin_time < session_timeout(),
        "the restart fits in the session timeout ({rejoin_time:?})"
    );
    // No rebalance for A: no listener call, same generation and partitions all along.
    assert_eq!(
        rec.events.lock().unwrap().as_slice(),
        &[],
        "A's listener is not called"
    );
    assert_eq!(
        a_views,
        vec![before_a],
        "A's generation and assignment never change"
    );
    // B gets its partitions back, in the same generation, and keeps them.
    assert_eq!(
        rejoined.partitions, before_b.partitions,
        "B gets the same partitions back"
    );
    assert_eq!(
        rejoined.generation, before_b.generation,
        "no new generation"
    );
    assert_eq!(
        after_b, rejoined,
        "and keeps them past the old session's end"
    );
    a.close();
}

#[test]
fn static_member_that_does_not_return_loses_partitions_after_session_timeout() {
    consumer_util::init_log();
    let bootstrap = support::tansu::bootstrap();
    let topic = support::unique_topic("static-gone");
    consumer_util::create_topic(&bootstrap, &topic, 4);
    let group = support::unique_topic("gstatic-gone");
    let instance = support::unique_topic("b");
    let (mut a, rec, mut b) = a_and_static_b(&bootstrap, &topic, &group, &instance);
    let before = view(&a);
    rec.events.lock().unwrap().clear();
    b.close();
    let closed = Instant::now();
    // No LeaveGroup: A keeps its two partitions until B's session expires, then
    // one rebalance gives it all four.
    let after = poll_until(&mut a, "A takes over", 30, |v| v.partitions.len() == 4);
    let waited = closed.elapsed();
    assert!(
        waited >= session_timeout() - Duration::from_secs(1),
        "B's partitions move only when its session expires, not at close ({waited:?})"
    );
    assert!(after.generation > before.generation);
    let events = rec.events.lock().unwrap().clone();
    assert_eq!(
        events,
        vec![
            ("revoked", before.partitions.clone()),
            ("assigned", (0..4).collect())
        ],
        "one rebalance"
    );
    a.close();
}
