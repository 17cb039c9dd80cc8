//! The KIP-848 consumer group protocol (group.protocol=consumer) on the
//! librdkafka mock cluster, which implements ConsumerGroupHeartbeat (tansu
//! does not): our members alone, and mixed with a confluent-kafka member.

#[path = "support/mod.rs"]
mod support;

#[path = "consumer_util/mod.rs"]
mod util;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_blocking::consumer::Consumer;
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::{ConsumerConfig, ProducerConfig};

fn config(bootstrap: &str, group: &str) -> ConsumerConfig {
    ConsumerConfig::new()
        .bootstrap_servers(bootstrap)
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("auto.offset.reset", "earliest")
        .set("fetch.max.wait.ms", 100)
}

fn produce(bootstrap: &str, topic: &str, n: usize) {
    let p = Producer::new(ProducerConfig::new().bootstrap_servers(bootstrap)).unwrap();
    for i in 0..n {
        let v = format!("r{i}");
        let _ = p
            .send(ProducerRecord::new(topic, v.as_bytes()).key(v.as_bytes()))
            .unwrap();
    }
    p.close(None).unwrap();
}

type Shared = Arc<Mutex<Vec<BTreeSet<i32>>>>;

/// Runs `members` of our consumers in threads until `done` says stop; each
/// publishes its assignment and the records it read.
fn run_members(
    bootstrap: &str,
    topic: &str,
    group: &str,
    members: usize,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(i32, i64)>>>,
) -> (Shared, Vec<std::thread::JoinHandle<()>>) {
    let assignments: Shared = Arc::new(Mutex::new(vec![BTreeSet::new(); members]));
    let handles = (0..members)
        .map(|i| {
            let (bootstrap, topic, group) =
                (bootstrap.to_string(), topic.to_string(), group.to_string());
            let (stop, seen, assignments) = (stop.clone(), seen.clone(), assignments.clone());
            std::thread::spawn(move || {
                let mut c = Consumer::new(config(&bootstrap, &group)).unwrap();
                c.subscribe(&[&topic]).unwrap();
                while !stop.load(Ordering::SeqCst) {
                    for r in c.poll(Duration::from_millis(100)).unwrap() {
                        seen.lock().unwrap().push((r.partition, r.offset));
                    }
                    assignments.lock().unwrap()[i] =
                        c.assignment().iter().map(|tp| tp.partition).collect();
                }
                c.close();
            })
        })
        .collect();
    (assignments, handles)
}

fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn disjoint_and_complete(sets: &[BTreeSet<i32>], partitions: i32) -> bool {
    let union: BTreeSet<i32> = sets.iter().flatten().copied().collect();
    sets.iter().all(|s| !s.is_empty())
        && sets.iter().map(BTreeSet::len).sum::<usize>() == partitions as usize
        && union == (0..partitions).collect()
}

#[test]
fn our_members_share_partitions_and_read_everything_once() {
    let mut mock = support::mock::MockCluster::start(3).unwrap();
    let topic = support::unique_topic("kip848");
    mock.create_topic(&topic, 6, 3).unwrap();
    produce(mock.bootstrap(), &topic, 300);
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let group = support::unique_topic("g848");
    let (assignments, handles) = run_members(
        mock.bootstrap(),
        &topic,
        &group,
        2,
        stop.clone(),
        seen.clone(),
    );
    wait_until(
        40,
        "two members sharing six partitions and 300 records read",
        || {
            disjoint_and_complete(&assignments.lock().unwrap(), 6)
                && seen.lock().unwrap().len() >= 300
        },
    );
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    for h in handles {
        h.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    let unique: BTreeSet<(i32, i64)> = seen.iter().copied().collect();
    assert_eq!(unique.len(), 300);
    assert_eq!(seen.len(), 300, "no record read twice");
}

#[test]
fn mixed_with_a_confluent_kafka_member() {
    if !support::python_has("confluent_kafka") {
        panic!("confluent-kafka is required (scripts/test.sh installs it)");
    }
    let mut mock = support::mock::MockCluster::start(3).unwrap();
    let topic = support::unique_topic("kip848mix");
    mock.create_topic(&topic, 6, 3).unwrap();
    let group = support::unique_topic("g848mix");
    let script = r#"
import sys, json, time
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[3], "group.protocol": "consumer",
              "auto.offset.reset": "earliest"})
c.subscribe([sys.argv[2]])
end = time.time() + 60
while time.time() < end:
    c.poll(0.1)
    print(json.dumps(sorted(p.partition for p in c.assignment())), flush=True)
    if sys.stdin.closed: break
c.close()
"#;
    let mut child = Command::new(support::python())
        .args(["-c", script, mock.bootstrap(), &topic, &group])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let theirs: Arc<Mutex<BTreeSet<i32>>> = Arc::new(Mutex::new(BTreeSet::new()));
    let out = child.stdout.take().unwrap();
    let t2 = theirs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let parts: BTreeSet<i32> = line
                .trim_matches(|c| c == '[' || c == ']')
                .split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect();
            *t2.lock().unwrap() = parts;
        }
    });
    let stop = Arc::new(AtomicBool::new(false));
    let (ours, handles) = run_members(
        mock.bootstrap(),
        &topic,
        &group,
        2,
        stop.clone(),
        Arc::new(Mutex::new(Vec::new())),
    );
    wait_until(
        45,
        "our two members and the confluent-kafka member sharing six partitions",
        || {
            let mut all = ours.lock().unwrap().clone();
            all.push(theirs.lock().unwrap().clone());
            disjoint_and_complete(&all, 6)
        },
    );
    stop.store(true, Ordering::SeqCst);
    for h in handles {
        h.join().unwrap();
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Issue 12, point 3: with the consumer protocol, an OffsetCommit answered
/// STALE_MEMBER_EPOCH (the epoch moved on in a heartbeat answer not handled
/// yet) is committed again after a heartbeat brings the current epoch, as
/// Java; FENCED_MEMBER_EPOCH fails the commit (partitions lost) and the
/// member rejoins with epoch 0. (Real Kafka answers these only in
/// a race between a heartbeat and a commit: the mock injects them.)
#[test]
fn kip848_commits_survive_epoch_changes() {
    util::init_log();
    use kafka_blocking::consumer::{OffsetAndMetadata, TopicPartition};
    use std::collections::BTreeMap;

    let mut mock = support::mock::MockCluster::start(1).unwrap();
    mock.create_topic("kip848-epochs", 2, 1).unwrap();
    produce(mock.bootstrap(), "kip848-epochs", 10);
    let mut c = Consumer::new(
        config(mock.bootstrap(), "kip848-epochs-group").set("enable.auto.commit", "false"),
    )
    .unwrap();
    c.subscribe(&["kip848-epochs"]).unwrap();
    wait_until(30, "an assignment", || {
        c.poll(Duration::from_millis(100)).unwrap();
        c.assignment().len() == 2
    });
    let tp = TopicPartition::new("kip848-epochs", 0);
    let offsets = |n| -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        [(tp.clone(), OffsetAndMetadata::new(n))]
            .into_iter()
            .collect()
    };

    mock.push_errors("OffsetCommit", 1, &["STALE_MEMBER_EPOCH"])
        .unwrap();
    c.commit_sync_offsets(&offsets(3))
        .expect("committed again with the current epoch");
    let committed = c.committed(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(committed[&tp].as_ref().map(|o| o.offset), Some(3));

    mock.push_errors("OffsetCommit", 1, &["FENCED_MEMBER_EPOCH"])
        .unwrap();
    let err = c
        .commit_sync_offsets(&offsets(4))
        .expect_err("a fenced member's commit fails");
    assert!(
        matches!(err, kafka_blocking::Error::CommitFailed(_)),
        "{err}"
    );
    assert!(
        c.assignment().is_empty(),
        "partitions lost: {:?}",
        c.assignment()
    );
    // It rejoins with epoch 0 and its member id, and the coordinator gives
    // it an epoch again. (Real Kafka answers an epoch-0 heartbeat with the
    // full assignment; the mock sends none when its target did not change,
    // so the partitions themselves come back only on a real broker.)
    let fenced_at = Instant::now();
    wait_until(30, "a new member epoch after rejoining", || {
        c.poll(Duration::from_millis(100)).unwrap();
        c.group_metadata().unwrap().generation_id > 0
    });
    assert!(fenced_at.elapsed() < Duration::from_secs(30));
    c.close();
}
