//! The real-Kafka test bed itself: a three-node KRaft cluster starts, has the
//! promised shape (three brokers with racks, replication factor 3 by default,
//! min.insync.replicas=2), and the harness can kill -9, pause and restart a node
//! and wait for the cluster to heal.
//!
//! `scripts/test.sh` runs the `kafka_*` suites in its real-Kafka pass only (they
//! start clusters of their own and need Java and Maven).

mod support;

use std::time::{Duration, Instant};

use kafka_blocking::admin::{AdminClient, NewTopic};
use kafka_blocking::producer::{Producer, ProducerRecord};
use kafka_blocking::{AdminConfig, ProducerConfig};
use support::kafka::KafkaCluster;

#[test]
fn three_node_cluster_starts_fails_and_heals() {
    let started = Instant::now();
    let mut cluster = KafkaCluster::start(3).expect("start a three-node cluster");
    eprintln!(
        "three nodes up in {:?}: {}",
        started.elapsed(),
        cluster.bootstrap
    );
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "start-up took {:?}",
        started.elapsed()
    );

    let admin = AdminClient::new(AdminConfig::new().bootstrap_servers(&cluster.bootstrap)).unwrap();
    let desc = admin.describe_cluster().unwrap();
    let md = admin.metadata().unwrap();
    assert_eq!(md.brokers.len(), 3, "{desc:?}");
    let racks: Vec<_> = md.brokers.values().map(|b| b.rack.clone()).collect();
    assert_eq!(
        racks,
        vec![
            Some("rack-1".to_string()),
            Some("rack-2".to_string()),
            Some("rack-3".to_string())
        ]
    );

    // Replication factor 3 when none is given (-1 = the broker's default).
    let topic = support::unique_topic("testbed");
    admin.create_topic(NewTopic::new(&topic, 6, -1)).unwrap();
    let t = &admin.describe_topics(&[&topic]).unwrap()[0];
    assert!(t.partitions.iter().all(|p| p.replicas.len() == 3), "{t:?}");
    cluster.wait_healthy(Duration::from_secs(60)).unwrap();

    let producer = Producer::new(
        ProducerConfig::new()
            .bootstrap_servers(&cluster.bootstrap)
            .set("acks", "all")
            .set("delivery.timeout.ms", "60000"),
    )
    .unwrap();
    let send_all = |n: usize| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (k, v) = (format!("k{i}"), format!("v{i}"));
                producer
                    .send(ProducerRecord::new(&topic, v.as_bytes()).key(k.as_bytes()))
                    .unwrap()
            })
            .collect();
        for h in handles {
            h.wait().unwrap();
        }
    };
    send_all(100);

    // kill -9 the busiest leader: with two of three replicas left, acks=all still
    // succeeds (min.insync.replicas=2), and the node comes back with its data.
    let victim = cluster.busiest_leader(&topic).unwrap();
    cluster.kill9(victim);
    send_all(100);
    let md = admin.metadata().unwrap();
    let t = &md.topics[&topic];
    assert!(
        t.partitions.iter().all(|p| p.leader != victim as i32),
        "node {victim} still leads: {t:?}"
    );
    cluster.restart(victim).unwrap();
    cluster.wait_healthy(Duration::from_secs(90)).unwrap();

    // SIGSTOP a node: the rest go on once its leadership times out; SIGCONT heals.
    let frozen = cluster.busiest_leader(&topic).unwrap();
    cluster.pause(frozen);
    send_all(20);
    cluster.resume(frozen);
    cluster.wait_healthy(Duration::from_secs(90)).unwrap();

    // A controlled shutdown and restart.
    cluster.stop_node(2);
    send_all(20);
    cluster.restart(2).unwrap();
    cluster.wait_healthy(Duration::from_secs(90)).unwrap();

    producer.close(None).unwrap();
    admin.close();
}
