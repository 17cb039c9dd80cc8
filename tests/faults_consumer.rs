//! Issue 6, invariant 2: a consumer group that commits after processing,
//! under group coordinator moves, brokers going down and coming back, and a
//! member killed in the middle of a batch (its consumer is leaked with
//! `std::mem::forget`: no LeaveGroup, no commit, no more heartbeats, as if the
//! process had died). Every record must be processed at least once, and the
//! only records processed twice are ones after the last commit of their
//! partition (at the time they were processed again).
//!
//! Runs on the librdkafka mock cluster (3 brokers, `coordinator group` moves).
//! Its group support is enough (classic protocol: join, sync, heartbeats,
//! session timeouts, generation checks on commits) with two caps, set with
//! `apiversion` below: its JoinGroup v6 parser reads the protocol count as an
//! int32 although v6 is flexible (compact array), so it drops the
//! connection ("ProtocolCnt 50754145 > max allowed 1000"), and a SyncGroup v4
//! request kills the mock process. librdkafka itself uses JoinGroup v5 and
//! SyncGroup v3, which the mock handles.

#[path = "support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use kafka_blocking::consumer::{Consumer, OffsetAndMetadata, TopicPartition};
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::{ConsumerConfig, ProducerConfig};
use support::mock::MockCluster;

const PARTITIONS: i32 = 4;
const PER_PARTITION: usize = 500;
const MEMBERS: usize = 3;
/// Simulated processing time per record: slow enough that the faults land
/// while the group is busy.
const PROCESS_TIME: Duration = Duration::from_millis(10);

#[derive(Clone, Debug)]
enum Event {
    /// `member` finished processing record `partition`@`offset`.
    Processed {
        member: usize,
        partition: i32,
        offset: i64,
    },
    /// A commit of `next` (the offset of the next record to read) for
    /// `partition` by `member` succeeded.
    Committed {
        member: usize,
        partition: i32,
        next: i64,
    },
}

#[derive(Default)]
struct Shared {
    journal: Mutex<Vec<Event>>,
    stop: AtomicBool,
    /// The next member to get a batch of two or more records crashes in it.
    kill_next: AtomicBool,
    dead: [AtomicBool; MEMBERS],
    errors: Mutex<Vec<String>>,
}

impl Shared {
    fn processed(&self) -> BTreeSet<(i32, i64)> {
        self.journal
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                Event::Processed {
                    partition, offset, ..
                } => Some((*partition, *offset)),
                _ => None,
            })
            .collect()
    }
}

fn member_config(bootstrap: &str, group: &str) -> ConsumerConfig {
    ConsumerConfig::new()
        .bootstrap_servers(bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", 3000)
        .set("heartbeat.interval.ms", 300)
        .set("max.poll.interval.ms", 20000)
        .set("max.poll.records", 20)
        .set("fetch.max.wait.ms", 100)
        .set("request.timeout.ms", 3000)
        .set("retry.backoff.ms", 50)
        .set("reconnect.backoff.ms", 50)
        .set("reconnect.backoff.max.ms", 300)
        .set("default.api.timeout.ms", 5000)
}

/// One group member: poll, process every record, commit what it processed.
/// When told to die, it stops in the middle of a batch without committing
/// and leaks its consumer.
fn run_member(id: usize, bootstrap: String, topic: String, group: String, shared: Arc<Shared>) {
    let mut c = Consumer::new(member_config(&bootstrap, &group)).unwrap();
    c.subscribe(&[&topic]).unwrap();
    while !shared.stop.load(Ordering::SeqCst) {
        let records = match c.poll(Duration::from_millis(100)) {
            Ok(r) => r,
            Err(e) => {
                shared
                    .errors
                    .lock()
                    .unwrap()
                    .push(format!("m{id} poll: {e}"));
                continue;
            }
        };
        let n = records.len();
        let die_after = (n >= 2 && shared.kill_next.swap(false, Ordering::SeqCst)).then_some(n / 2);
        let mut next: BTreeMap<TopicPartition, OffsetAndMetadata> = BTreeMap::new();
        for (k, r) in records.into_iter().enumerate() {
            thread::sleep(PROCESS_TIME);
            shared.journal.lock().unwrap().push(Event::Processed {
                member: id,
                partition: r.partition,
                offset: r.offset,
            });
            next.insert(r.topic_partition(), OffsetAndMetadata::new(r.offset + 1));
            if die_after == Some(k + 1) {
                // Crash: half the batch processed, nothing committed, no
                // LeaveGroup (Drop would leave the group), threads leaked.
                shared.dead[id].store(true, Ordering::SeqCst);
                std::mem::forget(c);
                return;
            }
        }
        if next.is_empty() {
            continue;
        }
        match c.commit_sync_offsets(&next) {
            Ok(()) => {
                let mut j = shared.journal.lock().unwrap();
                for (tp, om) in &next {
                    j.push(Event::Committed {
                        member: id,
                        partition: tp.partition,
                        next: om.offset,
                    });
                }
            }
            Err(e) => shared
                .errors
                .lock()
                .unwrap()
                .push(format!("m{id} commit: {e}")),
        }
    }
    c.close();
}

#[test]
fn group_commits_after_processing_survive_coordinator_moves_bounces_and_a_crash() {
    let mut mock = MockCluster::start(3).expect("mock cluster");
    // See the module comment: versions the mock's group handlers can parse.
    mock.apiversion("JoinGroup", 0, 5).unwrap();
    mock.apiversion("SyncGroup", 0, 3).unwrap();
    let topic = support::unique_topic("faults-group");
    // Leaders: partition p on broker p % 3 + 1.
    mock.create_topic(&topic, PARTITIONS, 3).unwrap();
    let group = support::unique_topic("faults-group");
    mock.coordinator("group", &group, 1).unwrap();

    // The records to process, all acknowledged before the group starts.
    let producer = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(mock.bootstrap())
            .set("linger.ms", 5),
    )
    .unwrap();
    let mut handles = Vec::new();
    for i in 0..PER_PARTITION {
        for p in 0..PARTITIONS {
            let v = format!("p{p}-{i}");
            handles.push(
                producer
                    .send(ProducerRecord::new(&topic, v.as_bytes()).partition(p))
                    .unwrap(),
            );
        }
    }
    let mut end = [0i64; PARTITIONS as usize];
    for h in handles {
        let md = h.wait().unwrap();
        end[md.partition as usize] = end[md.partition as usize].max(md.offset + 1);
    }
    producer.close(None).unwrap();
    let total: usize = end.iter().map(|e| *e as usize).sum();
    assert_eq!(total, PER_PARTITION * PARTITIONS as usize);

    mock.cmd("track start").unwrap();
    let shared = Arc::new(Shared::default());
    let start = Instant::now();
    let members: Vec<_> = (0..MEMBERS)
        .map(|id| {
            let (b, t, g, s) = (
                mock.bootstrap().to_string(),
                topic.clone(),
                group.clone(),
                shared.clone(),
            );
            thread::Builder::new()
                .name(format!("member-{id}"))
                .spawn(move || run_member(id, b, t, g, s))
                .unwrap()
        })
        .collect();

    let wait_for = |what: &str, cond: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond() {
            if Instant::now() > deadline {
                shared.stop.store(true, Ordering::SeqCst);
                panic!(
                    "timed out waiting for {what} after {:?}: processed {}/{total}; errors: {:?}",
                    start.elapsed(),
                    shared.processed().len(),
                    shared.errors.lock().unwrap()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    };
    let progress = |fraction: f64| {
        let want = (total as f64 * fraction) as usize;
        wait_for(&format!("{want} records processed"), &|| {
            shared.processed().len() >= want
        });
        eprintln!(
            "{:?}: {} processed",
            start.elapsed(),
            shared.processed().len()
        );
    };

    // The fault schedule, by progress.
    progress(0.05);
    mock.coordinator("group", &group, 2).unwrap();
    progress(0.15);
    // Broker 3 leads partition 2.
    mock.broker_down(3).unwrap();
    thread::sleep(Duration::from_millis(2000));
    mock.broker_up(3).unwrap();
    progress(0.25);
    shared.kill_next.store(true, Ordering::SeqCst);
    wait_for("a member to crash", &|| {
        shared.dead.iter().any(|d| d.load(Ordering::SeqCst))
    });
    progress(0.40);
    // Broker 2 is the coordinator now (and leads partition 1).
    mock.broker_down(2).unwrap();
    thread::sleep(Duration::from_millis(1500));
    mock.broker_up(2).unwrap();
    progress(0.55);
    mock.coordinator("group", &group, 3).unwrap();
    // Until everything is processed, or nothing more is for 30 s (then the
    // checks below say which records were lost; a rebalance on a busy machine
    // can pause progress for longer than 10 s).
    let mut last = (0, Instant::now());
    while last.0 < total && last.1.elapsed() < Duration::from_secs(30) {
        thread::sleep(Duration::from_millis(50));
        let n = shared.processed().len();
        if n != last.0 {
            last = (n, Instant::now());
        }
    }
    let took = start.elapsed();
    shared.stop.store(true, Ordering::SeqCst);
    for m in members {
        m.join().expect("member thread");
    }

    // The members followed the coordinator: group requests reached each
    // coordinator in turn (broker 1, then 2, then 3).
    let requests = mock.cmd("track dump").unwrap();
    for broker in 1..=3 {
        assert!(
            requests.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() == 4
                    && f[0] == "REQ"
                    && f[2] == broker.to_string()
                    && matches!(
                        f[3],
                        "JoinGroup" | "SyncGroup" | "Heartbeat" | "OffsetCommit"
                    )
            }),
            "no group request reached broker {broker}"
        );
    }

    // Every record processed at least once.
    let journal = shared.journal.lock().unwrap().clone();
    let processed = shared.processed();
    for p in 0..PARTITIONS {
        for o in 0..end[p as usize] {
            assert!(
                processed.contains(&(p, o)),
                "record {p}@{o} never processed"
            );
        }
    }
    assert_eq!(
        processed.len(),
        total,
        "processed records that do not exist"
    );

    // Replaying the journal: a record processed again must not be covered
    // by a commit made before; commits never go backwards.
    let mut seen: BTreeSet<(i32, i64)> = BTreeSet::new();
    let mut committed: BTreeMap<i32, i64> = BTreeMap::new();
    let mut twice = 0;
    for e in &journal {
        match *e {
            Event::Processed {
                member,
                partition,
                offset,
            } => {
                let last = committed.get(&partition).copied().unwrap_or(0);
                if !seen.insert((partition, offset)) {
                    twice += 1;
                    assert!(
                        offset >= last,
                        "member {member} processed {partition}@{offset} again, but offset {last} was committed before"
                    );
                }
            }
            Event::Committed {
                member,
                partition,
                next,
            } => {
                let last = committed.entry(partition).or_insert(0);
                assert!(
                    next >= *last,
                    "member {member} committed {partition}@{next} after {last} had been committed"
                );
                *last = next;
            }
        }
    }
    // The crashed member processed records it never committed: someone
    // processed them again.
    assert!(twice > 0, "the crash caused no reprocessing");

    // What the group committed last is the end of every partition.
    let mut check = Consumer::new(member_config(mock.bootstrap(), &group)).unwrap();
    let tps: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(&topic, p))
        .collect();
    let last = check.committed(&tps).unwrap();
    for tp in &tps {
        assert_eq!(
            last[tp].as_ref().map(|o| o.offset),
            Some(end[tp.partition as usize]),
            "final commit of {tp}"
        );
    }
    check.close();
    let errors = shared.errors.lock().unwrap();
    eprintln!(
        "{total} records, {twice} processed twice, {} errors on the way, in {took:?}; first errors: {:#?}",
        errors.len(),
        errors.iter().take(8).collect::<Vec<_>>()
    );
}
