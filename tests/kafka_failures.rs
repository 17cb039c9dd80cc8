//! Issue 9, points 2 and 3: our clients against a real three-node Apache Kafka
//! cluster (KRaft, replication factor 3, `min.insync.replicas=2`) while its
//! brokers fail.
//!
//! * [`idempotent_producer_loses_and_duplicates_nothing_through_kill9_and_rolling_restart`]:
//!   200,000 keyed records, acks=all, idempotence on, sent at a steady pace
//!   while the leader of the most partitions is killed -9 and restarted twice,
//!   then every node is restarted in turn (controlled shutdown). Read back:
//!   every acknowledged record is in the log exactly once, at the offset its
//!   acknowledgement named; no record is in the log twice; each key's records
//!   are in send order; every send was resolved (Ok or Err) and every record
//!   missing from the log was reported to its caller as an error.
//! * [`group_members_process_everything_through_a_rolling_restart_both_protocols`]:
//!   two groups of three members, one with the classic protocol and one with
//!   `group.protocol=consumer` (KIP-848), consume the same topic while it is
//!   being written and while every node is restarted in turn (so each group
//!   coordinator moves, checked with FindCoordinator before each stop). Every
//!   record is processed; no poll or commit call blocks beyond a bound; every
//!   member ends with partitions, keeps polling and processes records written
//!   after the restart (none stuck); rebalances are counted and printed.
//!
//!   Duplicates are measured with one journal per group, appended under a lock
//!   in real time order: "member m processed p@o" after each record, "member m
//!   committed p up to n" after each commit that succeeded. Replaying it, a
//!   record seen a second time is a duplicate, and it must lie at or after the
//!   last committed offset of its partition at that moment: only records
//!   processed after the last commit can be processed again. Duplicates are
//!   counted and printed; commits never go backwards; the final commit of every
//!   partition is the end of the log.
//!
//! Both tests use one cluster (see [`ClusterLease`]), started by the first of
//! them and stopped after the last; a mutex runs them one after the other (two
//! clusters of three JVMs on two cores would measure the machine, not the
//! client). Together they take about four minutes on this project's 2-core
//! machine.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::consumer::{
    Consumer, ConsumerRebalanceListener, OffsetAndMetadata, TopicPartition,
};
use kafka_blocking::producer::{DeliveryFuture, Producer, ProducerRecord};
use kafka_blocking::unstable::protocol::messages::FindCoordinatorRequest;
use kafka_blocking::{AdminConfig, ConsumerConfig, ProducerConfig};
use support::kafka::KafkaCluster;

struct Shared {
    cluster: Mutex<Option<KafkaCluster>>,
    /// Tests waiting for the cluster.
    waiting: AtomicUsize,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| Shared {
        cluster: Mutex::new(None),
        waiting: AtomicUsize::new(0),
    })
}

/// Exclusive use of the three-node cluster for one test. The cluster is
/// started by the first lease and stopped when a lease ends with no test
/// waiting for it (so also when tests are filtered or run one at a time), or
/// when its test panics: then at once, so that its logs are kept and the next
/// test starts a fresh cluster.
struct ClusterLease {
    guard: Option<MutexGuard<'static, Option<KafkaCluster>>>,
}

impl ClusterLease {
    fn acquire() -> ClusterLease {
        shared().waiting.fetch_add(1, Ordering::SeqCst);
        // A test that panicked poisons the mutex; its cluster is gone then.
        let mut guard = shared()
            .cluster
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        shared().waiting.fetch_sub(1, Ordering::SeqCst);
        if guard.is_none() {
            let started = Instant::now();
            let c = KafkaCluster::start(3).expect("start a three-node Kafka cluster");
            eprintln!(
                "three Kafka nodes up in {:?}: {}",
                started.elapsed(),
                c.bootstrap
            );
            *guard = Some(c);
        }
        let lease = ClusterLease { guard: Some(guard) };
        lease
            .cluster()
            .wait_healthy(Duration::from_secs(120))
            .expect("healthy cluster before the test");
        lease
    }

    fn cluster(&self) -> &KafkaCluster {
        self.guard.as_ref().unwrap().as_ref().unwrap()
    }

    fn cluster_mut(&mut self) -> &mut KafkaCluster {
        self.guard.as_mut().unwrap().as_mut().unwrap()
    }
}

impl Drop for ClusterLease {
    fn drop(&mut self) {
        let mut guard = self.guard.take().unwrap();
        if thread::panicking() || shared().waiting.load(Ordering::SeqCst) == 0 {
            // KafkaCluster's Drop keeps the logs when this thread panics.
            drop(guard.take());
        }
    }
}

fn admin(bootstrap: &str) -> AdminClient {
    AdminClient::new(
        AdminConfig::new()
            .bootstrap_servers(bootstrap)
            .set("request.timeout.ms", "10000")
            .set("default.api.timeout.ms", "30000"),
    )
    .unwrap()
}

/// The node id of `group`'s coordinator (FindCoordinator, retried until a
/// broker answers with one).
fn coordinator_of(bootstrap: &str, group: &str) -> i32 {
    let a = admin(bootstrap);
    let deadline = Instant::now() + Duration::from_secs(30);
    let found = loop {
        // Apache Kafka 4 answers FindCoordinator v4+ only: the batched form.
        let req = FindCoordinatorRequest {
            key_type: 0,
            coordinator_keys: vec![group.to_string()],
            ..Default::default()
        };
        let answer =
            a.cluster()
                .request_any(&req, deadline)
                .map(|r| match r.coordinators.first() {
                    Some(c) => (c.error_code, c.node_id),
                    None => (r.error_code, r.node_id),
                });
        match answer {
            Ok((0, node)) => break node,
            _ if Instant::now() > deadline => panic!("no coordinator for {group}: {answer:?}"),
            _ => thread::sleep(Duration::from_millis(200)),
        }
    };
    a.close();
    found
}

/// Restarts node `id` and waits until every partition has its full ISR again,
/// printing how long each step took.
fn bring_back(cluster: &mut KafkaCluster, id: u32, t0: Instant) {
    cluster.restart(id).expect("restart the node");
    eprintln!("{:>6.1?}: node {id} running again", t0.elapsed());
    cluster
        .wait_healthy(Duration::from_secs(180))
        .expect("cluster healthy again");
    eprintln!("{:>6.1?}: cluster healthy (full ISR)", t0.elapsed());
}

/// Stops every node in turn (controlled shutdown), restarting it and waiting
/// for a full ISR before the next.
fn rolling_restart(cluster: &mut KafkaCluster, t0: Instant) {
    for id in cluster.node_ids() {
        eprintln!(
            "{:>6.1?}: rolling restart: stopping node {id}",
            t0.elapsed()
        );
        cluster.stop_node(id);
        bring_back(cluster, id, t0);
    }
}

// ---------------------------------------------------------------------------
// Point 2: the idempotent producer.

const RECORDS: usize = 200_000;
const KEYS: usize = 1_000;
const PARTITIONS: i32 = 8;
/// Steady send rate while the failures are being driven.
const RATE_PER_SEC: f64 = 2_000.0;
/// The last records wait until the failure schedule is over, so that every
/// failure happens while records are still being sent.
const HELD_BACK: usize = 10_000;
/// Handles kept before the oldest is waited on.
const MAX_PENDING: usize = 20_000;
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);

/// Record `i` is the `i / KEYS`-th record of key `i % KEYS`; its value names
/// both so that the reader can check order and identity.
fn key_of(i: usize) -> String {
    format!("key-{}", i % KEYS)
}

fn value_of(i: usize) -> String {
    format!("{}:{}", i / KEYS, i)
}

/// What the producer thread learnt about each record, by send index.
#[derive(Default)]
struct SendLog {
    /// Acknowledged: partition and offset.
    acked: HashMap<usize, (i32, i64)>,
    /// Reported as failed (by `send` or by the handle), with the error.
    failed: BTreeMap<usize, String>,
    /// Handles still unresolved after delivery.timeout.ms and a margin.
    hung: Vec<usize>,
}

fn resolve(i: usize, h: DeliveryFuture, log: &mut SendLog) {
    // A bound well beyond delivery.timeout.ms: a handle unresolved by then
    // would hang its caller.
    match h.wait_timeout(DELIVERY_TIMEOUT + Duration::from_secs(60)) {
        Ok(md) => {
            log.acked.insert(i, (md.partition, md.offset));
        }
        Err(_) if !h.is_done() => log.hung.push(i),
        Err(e) => {
            log.failed.insert(i, e.to_string());
        }
    }
}

#[test]
fn idempotent_producer_loses_and_duplicates_nothing_through_kill9_and_rolling_restart() {
    let mut lease = ClusterLease::acquire();
    let bootstrap = lease.cluster().bootstrap.clone();
    let topic = support::unique_topic("failures-producer");
    let a = admin(&bootstrap);
    a.create_topic(NewTopic::new(&topic, PARTITIONS, 3))
        .unwrap();
    a.close();
    lease
        .cluster()
        .wait_healthy(Duration::from_secs(60))
        .unwrap();

    let producer = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(&bootstrap)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", 5)
            .set("delivery.timeout.ms", DELIVERY_TIMEOUT.as_millis() as i64)
            .set("request.timeout.ms", 30_000)
            .set("retry.backoff.ms", 100)
            .set("retry.backoff.max.ms", 1000)
            .set("reconnect.backoff.ms", 100)
            .set("reconnect.backoff.max.ms", 1000)
            .set("metadata.max.age.ms", 10_000),
    )
    .unwrap();
    let producer = Arc::new(producer);
    let failures_over = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();

    let sender = {
        let (producer, topic, failures_over, sent) = (
            producer.clone(),
            topic.clone(),
            failures_over.clone(),
            sent.clone(),
        );
        thread::Builder::new()
            .name("paced-producer".into())
            .spawn(move || {
                let mut log = SendLog::default();
                let mut pending: VecDeque<(usize, DeliveryFuture)> = VecDeque::new();
                let start = Instant::now();
                for i in 0..RECORDS {
                    if !failures_over.load(Ordering::SeqCst) {
                        if i >= RECORDS - HELD_BACK {
                            while !failures_over.load(Ordering::SeqCst) {
                                thread::sleep(Duration::from_millis(20));
                            }
                        } else {
                            let due = start + Duration::from_secs_f64(i as f64 / RATE_PER_SEC);
                            let now = Instant::now();
                            if due > now {
                                thread::sleep(due - now);
                            }
                        }
                    }
                    let (k, v) = (key_of(i), value_of(i));
                    match producer.send(ProducerRecord::new(&topic, v.as_bytes()).key(k.as_bytes()))
                    {
                        Ok(h) => pending.push_back((i, h)),
                        Err(e) => {
                            log.failed.insert(i, format!("send: {e}"));
                        }
                    }
                    sent.store(i as u64 + 1, Ordering::Relaxed);
                    while pending.len() > MAX_PENDING
                        || pending.front().is_some_and(|(_, h)| h.is_done())
                    {
                        let (j, h) = pending.pop_front().unwrap();
                        resolve(j, h, &mut log);
                    }
                }
                for (j, h) in pending {
                    resolve(j, h, &mut log);
                }
                log
            })
            .unwrap()
    };

    // The failure schedule, driven while the records go out.
    let wait_sent = |n: u64| {
        while sent.load(Ordering::Relaxed) < n {
            assert!(!sender.is_finished(), "the producer thread ended early");
            thread::sleep(Duration::from_millis(50));
        }
    };
    wait_sent(10_000);
    for cycle in 1..=2 {
        let victim = lease.cluster().busiest_leader(&topic).unwrap();
        eprintln!(
            "{:>6.1?}: cycle {cycle}: kill -9 node {victim} (leads the most partitions), {} sent",
            t0.elapsed(),
            sent.load(Ordering::Relaxed)
        );
        lease.cluster_mut().kill9(victim);
        // Long enough for the controller to fence it (broker session
        // timeout) and move its leaderships: the producer meets both the
        // dead connections and the new leaders.
        thread::sleep(Duration::from_secs(12));
        eprintln!(
            "{:>6.1?}: restarting node {victim}, {} sent",
            t0.elapsed(),
            sent.load(Ordering::Relaxed)
        );
        bring_back(lease.cluster_mut(), victim, t0);
    }
    rolling_restart(lease.cluster_mut(), t0);
    let sent_during_failures = sent.load(Ordering::Relaxed);
    eprintln!(
        "{:>6.1?}: failure schedule over, {sent_during_failures} sent",
        t0.elapsed()
    );
    assert!(
        sent_during_failures < RECORDS as u64,
        "every record was sent before the failures ended"
    );
    failures_over.store(true, Ordering::SeqCst);
    let log = sender.join().expect("producer thread");
    let send_time = t0.elapsed();
    let metrics = producer.metrics();
    // A failed record is counted and judged below, with the full report;
    // close reports it too (issue 11).
    if let Err(e) = producer.close(Some(Duration::from_secs(30))) {
        eprintln!("close reported undelivered records: {e}");
    }

    // Read the whole topic back.
    let mut c = Consumer::new(
        ConsumerConfig::new()
            .bootstrap_servers(&bootstrap)
            .set("fetch.max.wait.ms", 100)
            .set("max.poll.records", 5000),
    )
    .unwrap();
    let tps: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(&topic, p))
        .collect();
    c.assign(tps.clone()).unwrap();
    c.seek_to_beginning(&tps).unwrap();
    let end = c.end_offsets(&tps).unwrap();
    let total: i64 = end.values().sum();
    // (partition, offset) -> send index, in log order per partition.
    let mut log_records: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    let read_deadline = Instant::now() + Duration::from_secs(120);
    while (log_records.len() as i64) < total {
        assert!(
            Instant::now() < read_deadline,
            "read back only {} of {total} records",
            log_records.len()
        );
        for r in c.poll(Duration::from_millis(500)).unwrap() {
            let v = std::str::from_utf8(r.value.as_deref().unwrap()).unwrap();
            let (seq, i) = v.split_once(':').unwrap();
            let (seq, i): (usize, usize) = (seq.parse().unwrap(), i.parse().unwrap());
            assert_eq!(seq, i / KEYS, "{v}");
            assert_eq!(r.key.as_deref(), Some(key_of(i).as_bytes()), "key of {v}");
            log_records.insert((r.partition, r.offset), i);
        }
    }
    c.close();

    // Checks.
    let mut copies: HashMap<usize, u32> = HashMap::new();
    for i in log_records.values() {
        *copies.entry(*i).or_default() += 1;
    }
    let duplicated: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    // Per key: send indexes increase with the offset (a key has one partition).
    let mut last_of_key: HashMap<usize, (i64, usize)> = HashMap::new();
    let mut reordered = Vec::new();
    for (&(_, offset), &i) in &log_records {
        let key = i % KEYS;
        if let Some(&(prev_offset, prev)) = last_of_key.get(&key) {
            if prev >= i {
                reordered.push(format!(
                    "key {key}: record {i} at {offset} after record {prev} at {prev_offset}"
                ));
            }
        }
        last_of_key.insert(key, (offset, i));
    }
    let mut missing_acked = Vec::new();
    let mut misplaced = Vec::new();
    for (&i, &(p, o)) in &log.acked {
        match log_records.get(&(p, o)) {
            None => missing_acked.push(i),
            Some(&j) if j != i => misplaced.push((i, p, o, j)),
            Some(_) => {}
        }
    }
    let silently_lost: Vec<usize> = (0..RECORDS)
        .filter(|i| !copies.contains_key(i) && !log.failed.contains_key(i))
        .collect();
    let failed_but_written = log.failed.keys().filter(|i| copies.contains_key(i)).count();

    eprintln!(
        "producer under failures: {RECORDS} sent in {send_time:.1?} ({sent_during_failures} during the failures), \
         {} acknowledged, {} failed with an error ({failed_but_written} of them written anyway), {} unresolved; \
         {} in the log, {} duplicated, {} out of key order, {} acknowledged but missing, {} misplaced, {} silently lost; \
         {} batch retries; total {:.1?}",
        log.acked.len(),
        log.failed.len(),
        log.hung.len(),
        log_records.len(),
        duplicated.len(),
        reordered.len(),
        missing_acked.len(),
        misplaced.len(),
        silently_lost.len(),
        metrics.retries,
        t0.elapsed(),
    );
    if !log.failed.is_empty() {
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for e in log.failed.values() {
            *kinds.entry(e.chars().take(120).collect()).or_default() += 1;
        }
        eprintln!("failed sends by error: {kinds:#?}");
    }
    assert!(
        log.hung.is_empty(),
        "handles never resolved: {:?}",
        &log.hung[..log.hung.len().min(10)]
    );
    assert_eq!(
        log.acked.len() + log.failed.len(),
        RECORDS,
        "every send resolved exactly once"
    );
    assert!(
        missing_acked.is_empty(),
        "acknowledged but not in the log: {:?}",
        &missing_acked[..missing_acked.len().min(10)]
    );
    assert!(
        misplaced.is_empty(),
        "acknowledged at another offset: {:?}",
        &misplaced[..misplaced.len().min(10)]
    );
    assert!(
        duplicated.is_empty(),
        "in the log more than once: {:?}",
        &duplicated[..duplicated.len().min(10)]
    );
    assert!(
        reordered.is_empty(),
        "per-key order broken: {:?}",
        &reordered[..reordered.len().min(10)]
    );
    assert!(
        silently_lost.is_empty(),
        "neither in the log nor reported failed: {:?}",
        &silently_lost[..silently_lost.len().min(10)]
    );
    assert_eq!(log_records.len() as i64, total);
}

// ---------------------------------------------------------------------------
// Point 3: consumer groups.

const GROUP_PARTITIONS: i32 = 8;
const MEMBERS: usize = 3;
/// No poll (100 ms timeout) or commit may block longer than this, whatever the
/// brokers do: bounded by request.timeout.ms / default.api.timeout.ms below.
const CALL_BOUND: Duration = Duration::from_secs(20);
/// Rate of the writer feeding the groups during the rolling restart.
const FEED_PER_SEC: f64 = 400.0;

#[derive(Clone, Debug)]
enum Event {
    /// `member` processed record `partition`@`offset`.
    Processed {
        member: usize,
        partition: i32,
        offset: i64,
    },
    /// A commit by `member` of `next` (offset of the next record to read) for
    /// `partition` succeeded.
    Committed {
        member: usize,
        partition: i32,
        next: i64,
    },
}

/// What the members of one group share with the test.
struct Group {
    protocol: &'static str,
    group_id: String,
    journal: Mutex<Vec<Event>>,
    stop: AtomicBool,
    errors: Mutex<Vec<String>>,
    /// Per member: listener calls (assigned / revoked / lost).
    listener_calls: Vec<AtomicU64>,
    /// Per member: distinct generations (member epochs under KIP-848) seen.
    generations: Vec<Mutex<BTreeSet<i32>>>,
    /// Per member: the longest poll and the longest commit.
    longest_call: Vec<Mutex<(Duration, Duration)>>,
    /// Per member: when its last poll returned, and its assignment then.
    last_poll: Vec<Mutex<(Instant, Vec<TopicPartition>)>>,
}

impl Group {
    fn new(protocol: &'static str) -> Group {
        Group {
            protocol,
            group_id: support::unique_topic(&format!("failures-{protocol}")),
            journal: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            errors: Mutex::new(Vec::new()),
            listener_calls: (0..MEMBERS).map(|_| AtomicU64::new(0)).collect(),
            generations: (0..MEMBERS).map(|_| Mutex::new(BTreeSet::new())).collect(),
            longest_call: (0..MEMBERS)
                .map(|_| Mutex::new((Duration::ZERO, Duration::ZERO)))
                .collect(),
            last_poll: (0..MEMBERS)
                .map(|_| Mutex::new((Instant::now(), Vec::new())))
                .collect(),
        }
    }

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

    fn config(&self, bootstrap: &str) -> ConsumerConfig {
        let c = ConsumerConfig::new()
            .bootstrap_servers(bootstrap)
            .set("group.id", &self.group_id)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("max.poll.interval.ms", 60_000)
            .set("max.poll.records", 200)
            .set("fetch.max.wait.ms", 100)
            .set("request.timeout.ms", 10_000)
            .set("default.api.timeout.ms", 10_000)
            .set("retry.backoff.ms", 100)
            .set("reconnect.backoff.ms", 100)
            .set("reconnect.backoff.max.ms", 1000)
            .set("metadata.max.age.ms", 10_000);
        if self.protocol == "consumer" {
            // Session timeout and heartbeat interval come from the broker.
            c.set("group.protocol", "consumer")
        } else {
            c.set("group.protocol", "classic")
                .set("session.timeout.ms", 10_000)
                .set("heartbeat.interval.ms", 1000)
                .set("partition.assignment.strategy", "cooperative-sticky")
        }
    }
}

struct CountingListener {
    group: Arc<Group>,
    member: usize,
}

impl ConsumerRebalanceListener for CountingListener {
    fn on_partitions_revoked(&mut self, _: &mut Consumer, _: &[TopicPartition]) {
        self.group.listener_calls[self.member].fetch_add(1, Ordering::Relaxed);
    }
    fn on_partitions_assigned(&mut self, _: &mut Consumer, _: &[TopicPartition]) {
        self.group.listener_calls[self.member].fetch_add(1, Ordering::Relaxed);
    }
    fn on_partitions_lost(&mut self, _: &mut Consumer, _: &[TopicPartition]) {
        self.group.listener_calls[self.member].fetch_add(1, Ordering::Relaxed);
    }
}

/// One member: poll, process every record, commit what it processed after
/// each batch. A commit that fails is retried with the next one for the
/// partitions the member still owns.
fn run_member(id: usize, bootstrap: String, topic: String, group: Arc<Group>) {
    let mut c = Consumer::new(group.config(&bootstrap)).unwrap();
    c.set_rebalance_listener(CountingListener {
        group: group.clone(),
        member: id,
    });
    c.subscribe(&[&topic]).unwrap();
    let mut uncommitted: BTreeMap<TopicPartition, OffsetAndMetadata> = BTreeMap::new();
    let note_error = |what: String| group.errors.lock().unwrap().push(what);
    while !group.stop.load(Ordering::SeqCst) {
        let t = Instant::now();
        let polled = c.poll(Duration::from_millis(100));
        let took = t.elapsed();
        {
            let mut l = group.longest_call[id].lock().unwrap();
            l.0 = l.0.max(took);
        }
        *group.last_poll[id].lock().unwrap() = (Instant::now(), c.assignment());
        if let Ok(md) = c.group_metadata() {
            if md.generation_id >= 0 {
                group.generations[id]
                    .lock()
                    .unwrap()
                    .insert(md.generation_id);
            }
        }
        let records = match polled {
            Ok(r) => r,
            Err(e) => {
                note_error(format!("m{id} poll: {e}"));
                continue;
            }
        };
        for r in records.iter() {
            group.journal.lock().unwrap().push(Event::Processed {
                member: id,
                partition: r.partition,
                offset: r.offset,
            });
            uncommitted.insert(r.topic_partition(), OffsetAndMetadata::new(r.offset + 1));
        }
        if uncommitted.is_empty() {
            continue;
        }
        let owned: BTreeSet<TopicPartition> = c.assignment().into_iter().collect();
        uncommitted.retain(|tp, _| owned.contains(tp));
        if uncommitted.is_empty() {
            continue;
        }
        let t = Instant::now();
        let result = c.commit_sync_offsets(&uncommitted);
        let took = t.elapsed();
        {
            let mut l = group.longest_call[id].lock().unwrap();
            l.1 = l.1.max(took);
        }
        match result {
            Ok(()) => {
                let mut j = group.journal.lock().unwrap();
                for (tp, om) in std::mem::take(&mut uncommitted) {
                    j.push(Event::Committed {
                        member: id,
                        partition: tp.partition,
                        next: om.offset,
                    });
                }
            }
            Err(e) => note_error(format!("m{id} commit: {e}")),
        }
    }
    c.close();
}

/// Checks that a group processed every record of `end` and replays its
/// journal. Returns how many records were processed more than once; panics
/// when one was processed again although a commit covering it had succeeded
/// before.
fn check_group(group: &Group, end: &BTreeMap<i32, i64>) -> usize {
    let processed = group.processed();
    for (&p, &e) in end {
        for o in 0..e {
            assert!(
                processed.contains(&(p, o)),
                "{}: record {p}@{o} never processed",
                group.protocol
            );
        }
    }
    let total: i64 = end.values().sum();
    assert_eq!(
        processed.len() as i64,
        total,
        "{}: processed records that do not exist",
        group.protocol
    );
    // A record processed again must not be covered by a commit that had
    // succeeded before (the window after the last commit); commits never go
    // backwards.
    let journal = group.journal.lock().unwrap();
    let mut seen: BTreeSet<(i32, i64)> = BTreeSet::new();
    let mut committed: BTreeMap<i32, i64> = BTreeMap::new();
    let mut twice = 0;
    for e in journal.iter() {
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
                        "{}: member {member} processed {partition}@{offset} again, but offset {last} had been committed",
                        group.protocol
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
                    "{}: member {member} committed {partition}@{next} after {last}",
                    group.protocol
                );
                *last = next;
            }
        }
    }
    twice
}

#[test]
fn group_members_process_everything_through_a_rolling_restart_both_protocols() {
    let mut lease = ClusterLease::acquire();
    let bootstrap = lease.cluster().bootstrap.clone();
    let topic = support::unique_topic("failures-group");
    let a = admin(&bootstrap);
    a.create_topic(NewTopic::new(&topic, GROUP_PARTITIONS, 3))
        .unwrap();
    a.close();
    lease
        .cluster()
        .wait_healthy(Duration::from_secs(60))
        .unwrap();
    let t0 = Instant::now();
    // The test can never hang CI: past this, the members are told to stop
    // and the test fails.
    let deadline = t0 + Duration::from_secs(330);

    // A writer feeds the topic at a steady pace until told to stop.
    let stop_writer = Arc::new(AtomicBool::new(false));
    let writer = {
        let (bootstrap, topic, stop) = (bootstrap.clone(), topic.clone(), stop_writer.clone());
        thread::spawn(move || {
            let p = Producer::new(
                ProducerConfig::new()
                    .bootstrap_servers(&bootstrap)
                    .set("acks", "all")
                    .set("linger.ms", 5)
                    .set("delivery.timeout.ms", 120_000),
            )
            .unwrap();
            let start = Instant::now();
            let mut handles = Vec::new();
            let mut i = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let due = start + Duration::from_secs_f64(i as f64 / FEED_PER_SEC);
                let now = Instant::now();
                if due > now {
                    thread::sleep(due - now);
                }
                let v = format!("r{i}");
                handles.push(
                    p.send(ProducerRecord::new(&topic, v.as_bytes()).key(v.as_bytes()))
                        .unwrap(),
                );
                i += 1;
            }
            let acked = handles.iter().filter(|h| h.wait().is_ok()).count();
            // Only acknowledged records are counted; close reports the rest.
            if let Err(e) = p.close(None) {
                eprintln!("feeder close: {e}");
            }
            (i, acked)
        })
    };

    let groups: Vec<Arc<Group>> = ["classic", "consumer"]
        .into_iter()
        .map(|p| Arc::new(Group::new(p)))
        .collect();
    let mut members = Vec::new();
    for g in &groups {
        for id in 0..MEMBERS {
            let (b, t, g) = (bootstrap.clone(), topic.clone(), g.clone());
            members.push(
                thread::Builder::new()
                    .name(format!("{}-member-{id}", g.protocol))
                    .spawn(move || run_member(id, b, t, g))
                    .unwrap(),
            );
        }
    }
    let stop_all = || {
        stop_writer.store(true, Ordering::SeqCst);
        for g in &groups {
            g.stop.store(true, Ordering::SeqCst);
        }
    };

    // Both groups have started processing before the brokers go.
    while groups.iter().any(|g| g.processed().len() < 1000) {
        if Instant::now() > deadline {
            stop_all();
            panic!("the groups did not start processing");
        }
        thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "{:>6.1?}: both groups processing; rolling restart",
        t0.elapsed()
    );
    // Rebalances seen so far (generations / member epochs, listener calls):
    // the rolling restart changes no membership, so it must add none
    // (issue 12, point 4: a coordinator move is rediscovery, not a rejoin).
    let rebalance_marks = |groups: &[Arc<Group>]| -> Vec<Vec<(usize, u64)>> {
        groups
            .iter()
            .map(|g| {
                (0..MEMBERS)
                    .map(|m| {
                        (
                            g.generations[m].lock().unwrap().len(),
                            g.listener_calls[m].load(Ordering::Relaxed),
                        )
                    })
                    .collect()
            })
            .collect()
    };
    let before_restart = rebalance_marks(&groups);
    // The rolling restart, noting each group's coordinator before every stop
    // and at the end: each must have moved at least once.
    let mut coordinators: Vec<Vec<i32>> = vec![Vec::new(); groups.len()];
    let note_coordinators = |coordinators: &mut Vec<Vec<i32>>| {
        for (g, seen) in groups.iter().zip(coordinators.iter_mut()) {
            seen.push(coordinator_of(&bootstrap, &g.group_id));
        }
    };
    for id in lease.cluster().node_ids() {
        note_coordinators(&mut coordinators);
        eprintln!(
            "{:>6.1?}: rolling restart: stopping node {id}; coordinators (classic, consumer): {:?}",
            t0.elapsed(),
            coordinators
                .iter()
                .map(|c| c.last().copied())
                .collect::<Vec<_>>()
        );
        lease.cluster_mut().stop_node(id);
        bring_back(lease.cluster_mut(), id, t0);
    }
    note_coordinators(&mut coordinators);
    let after_restart_marks = rebalance_marks(&groups);
    // Where each journal stood when the cluster was whole again: every
    // member must process records written after that (none stuck).
    let after_restart: Vec<usize> = groups
        .iter()
        .map(|g| g.journal.lock().unwrap().len())
        .collect();
    for (g, seen) in groups.iter().zip(&coordinators) {
        eprintln!("{} group coordinator over time: {seen:?}", g.protocol);
        assert!(
            seen.windows(2).any(|w| w[0] != w[1]),
            "{}: the coordinator never moved: {seen:?}",
            g.protocol
        );
    }
    // A little more to read once the cluster is whole again.
    thread::sleep(Duration::from_secs(5));
    stop_writer.store(true, Ordering::SeqCst);
    let (written, acked) = writer.join().expect("writer");
    eprintln!(
        "{:>6.1?}: writer stopped: {written} sent, {acked} acknowledged",
        t0.elapsed()
    );

    let mut c = Consumer::new(ConsumerConfig::new().bootstrap_servers(&bootstrap)).unwrap();
    let tps: Vec<TopicPartition> = (0..GROUP_PARTITIONS)
        .map(|p| TopicPartition::new(&topic, p))
        .collect();
    let end: BTreeMap<i32, i64> = c
        .end_offsets(&tps)
        .unwrap()
        .into_iter()
        .map(|(tp, o)| (tp.partition, o))
        .collect();
    c.close();
    let total: i64 = end.values().sum();
    assert!(
        total >= acked as i64,
        "{total} in the log, {acked} acknowledged"
    );

    // Until each group has processed everything (or the deadline).
    for g in &groups {
        while (g.processed().len() as i64) < total {
            if Instant::now() > deadline {
                stop_all();
                panic!(
                    "{}: only {} of {total} records processed by the deadline; errors: {:?}",
                    g.protocol,
                    g.processed().len(),
                    g.errors.lock().unwrap().iter().take(10).collect::<Vec<_>>()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
    // Give the last commits a moment, then look at every member: none stuck.
    thread::sleep(Duration::from_secs(2));
    let now = Instant::now();
    let mut stuck = Vec::new();
    for (g, &from) in groups.iter().zip(&after_restart) {
        let mut late = [0usize; MEMBERS];
        for e in &g.journal.lock().unwrap()[from..] {
            if let Event::Processed { member, .. } = e {
                late[*member] += 1;
            }
        }
        eprintln!(
            "{} group: records processed per member after the rolling restart: {late:?}",
            g.protocol
        );
        for (id, late) in late.iter().enumerate() {
            let (at, assignment) = g.last_poll[id].lock().unwrap().clone();
            if now.duration_since(at) > CALL_BOUND || assignment.is_empty() || *late == 0 {
                stuck.push(format!(
                    "{} member {id}: last poll {:?} ago, assignment {assignment:?}, {late} records processed after the restart",
                    g.protocol,
                    now.duration_since(at)
                ));
            }
        }
    }
    stop_all();
    for m in members {
        m.join().expect("member thread");
    }
    let took = t0.elapsed();

    let mut failures = Vec::new();
    for g in &groups {
        let twice = check_group(g, &end);
        let rebalances: Vec<u64> = g
            .listener_calls
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect();
        // Rebalances a member went through: generations (member epochs under
        // KIP-848) it saw after its first.
        let generations: Vec<usize> = g
            .generations
            .iter()
            .map(|s| s.lock().unwrap().len().saturating_sub(1))
            .collect();
        let longest: Vec<(Duration, Duration)> =
            g.longest_call.iter().map(|l| *l.lock().unwrap()).collect();
        let errors = g.errors.lock().unwrap();
        eprintln!(
            "group ({} protocol): {total} records, all processed; {twice} processed twice (all after the last commit); \
             rebalances per member (new generations / member epochs after the first) {generations:?}, rebalance listener calls per member {rebalances:?}; \
             longest (poll, commit) per member {longest:?}; {} errors on the way, first: {:#?}; {took:.1?}",
            g.protocol,
            errors.len(),
            errors.iter().take(6).collect::<Vec<_>>()
        );
        for (id, (poll, commit)) in longest.iter().enumerate() {
            if *poll > CALL_BOUND || *commit > CALL_BOUND {
                failures.push(format!(
                    "{} member {id}: poll took up to {poll:?}, commit up to {commit:?}",
                    g.protocol
                ));
            }
        }
        // The last commit of every partition is the end of the log.
        let mut check = Consumer::new(g.config(&bootstrap)).unwrap();
        let last = check.committed(&tps).unwrap();
        for tp in &tps {
            let got = last[tp].as_ref().map(|o| o.offset);
            if got != Some(end[&tp.partition]) {
                failures.push(format!(
                    "{}: last commit of {tp} is {got:?}, the log ends at {}",
                    g.protocol, end[&tp.partition]
                ));
            }
        }
        check.close();
    }
    for ((g, before), after) in groups.iter().zip(&before_restart).zip(&after_restart_marks) {
        eprintln!(
            "{} group: (generations seen, listener calls) per member before the rolling restart {before:?}, after {after:?}",
            g.protocol
        );
        // No partition moves (listener calls) under either protocol; the
        // classic generation stays too. (A KIP-848 coordinator that takes
        // over may bump member epochs without moving partitions.)
        let moved = if g.protocol == "classic" {
            before != after
        } else {
            before.iter().zip(after).any(|(b, a)| b.1 != a.1)
        };
        if moved {
            failures.push(format!(
                "{} group: the rolling restart (no membership change) caused rebalances: \
                 (generations seen, listener calls) per member went from {before:?} to {after:?}",
                g.protocol
            ));
        }
    }
    assert!(stuck.is_empty(), "members stuck: {stuck:#?}");
    assert!(failures.is_empty(), "{failures:#?}");
}
