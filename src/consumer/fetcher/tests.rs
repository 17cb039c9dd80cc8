//! Tests of the fetcher: preferred read replicas (KIP-392) and log
//! truncation (KIP-320), on hand-made responses.

use super::*;
use crate::cluster::{Broker, TopicMetadata};
use crate::protocol::Uuid;

const LEASE: Duration = Duration::from_secs(300);

fn settings() -> FetchSettings {
    FetchSettings {
        min_bytes: 1,
        max_wait: Duration::from_millis(500),
        max_bytes: 1 << 20,
        max_partition_bytes: 1 << 20,
        max_poll_records: 500,
        reset_policy: OffsetResetPolicy::Earliest,
        read_committed: false,
        check_crcs: true,
        retry_backoff: Duration::from_millis(100),
        api_timeout: Duration::from_secs(60),
        rack: "rack-2".into(),
        max_response: 100 << 20,
        partition_eof: false,
    }
}

/// Topic `t`, partition 0 led by broker 1 (epoch 5), replicas 1, 2, 3.
fn metadata() -> ClusterMetadata {
    let mut md = ClusterMetadata::default();
    for id in 1..=3 {
        md.brokers.insert(
            id,
            Broker {
                node_id: id,
                host: "localhost".into(),
                port: 9090 + id as u16,
                rack: Some(format!("rack-{id}")),
            },
        );
    }
    md.topics.insert(
        "t".into(),
        TopicMetadata {
            name: "t".into(),
            topic_id: Uuid([7; 16]),
            is_internal: false,
            partitions: vec![PartitionMetadata {
                partition: 0,
                leader: 1,
                leader_epoch: 5,
                replicas: vec![1, 2, 3],
                isr: vec![1, 2, 3],
                offline_replicas: vec![],
                error: None,
            }],
            error: None,
        },
    );
    md
}

fn subs_at(offset: i64) -> (Subscriptions, TopicPartition) {
    let tp = TopicPartition::new("t", 0);
    let mut subs = Subscriptions::default();
    subs.assign(vec![tp.clone()]);
    subs.get_mut(&tp).unwrap().seek(offset);
    (subs, tp)
}

fn sent(st: &PartitionState) -> Sent {
    Sent {
        generation: st.generation,
        fetch_offset: st.fetch_offset,
        max_bytes: 1 << 20,
        leader: (1, 5),
    }
}

fn answer(error: KafkaCode, preferred: i32) -> PartitionData {
    PartitionData {
        error_code: error.code(),
        high_watermark: 100,
        last_stable_offset: 100,
        log_start_offset: 0,
        preferred_read_replica: preferred,
        ..Default::default()
    }
}

fn ok(preferred: i32) -> PartitionData {
    PartitionData {
        high_watermark: 100,
        last_stable_offset: 100,
        log_start_offset: 0,
        preferred_read_replica: preferred,
        ..Default::default()
    }
}

#[test]
fn leader_names_a_replica_and_fetches_go_there() {
    let md = metadata();
    let (mut subs, tp) = subs_at(10);
    let now = Instant::now();
    let st = subs.get_mut(&tp).unwrap();
    assert_eq!(fetch_target(&md, st), Some((1, (1, 5))));
    let s = sent(st);
    assert!(!handle_partition(
        &settings(),
        1,
        st,
        ok(2),
        s,
        now,
        now + LEASE
    ));
    assert_eq!(st.preferred_replica.map(|r| r.node), Some(2));
    assert_eq!(fetch_target(&md, st), Some((2, (1, 5))));
    assert!(st.fetchable(now), "fetched again at once, from the replica");
    // Still valid: kept; the lease is not extended by naming it again.
    assert!(!check_preferred_replicas(&mut subs, &md, now));
    let st = subs.get_mut(&tp).unwrap();
    let s = sent(st);
    handle_partition(&settings(), 1, st, ok(2), s, now, now + 2 * LEASE);
    assert_eq!(st.preferred_replica.unwrap().expires, now + LEASE);
    // Expired: back to the leader.
    assert!(!check_preferred_replicas(
        &mut subs,
        &md,
        now + LEASE + Duration::from_millis(1)
    ));
    let st = subs.get(&tp).unwrap();
    assert_eq!(st.preferred_replica, None);
    assert_eq!(fetch_target(&md, st), Some((1, (1, 5))));
    // The leader naming itself (or nothing) keeps fetches at the leader.
    let st = subs.get_mut(&tp).unwrap();
    let s = sent(st);
    handle_partition(&settings(), 1, st, ok(1), s, now, now + LEASE);
    assert_eq!(st.preferred_replica, None);
}

#[test]
fn replica_leaving_the_metadata_or_a_new_leader_sends_fetches_to_the_leader() {
    let now = Instant::now();
    let (mut subs, tp) = subs_at(0);
    let name = |subs: &mut Subscriptions| {
        let st = subs.get_mut(&tp).unwrap();
        st.set_preferred_read_replica(3, (1, 5), now + LEASE);
    };
    // Offline replica: forgotten, metadata refreshed.
    let mut md = metadata();
    md.topics.get_mut("t").unwrap().partitions[0].offline_replicas = vec![3];
    name(&mut subs);
    assert!(check_preferred_replicas(&mut subs, &md, now));
    assert_eq!(subs.get(&tp).unwrap().preferred_replica, None);
    // Broker gone from the metadata.
    let mut md = metadata();
    md.brokers.remove(&3);
    name(&mut subs);
    assert!(check_preferred_replicas(&mut subs, &md, now));
    assert_eq!(subs.get(&tp).unwrap().preferred_replica, None);
    // No longer a replica.
    let mut md = metadata();
    md.topics.get_mut("t").unwrap().partitions[0].replicas = vec![1, 2];
    name(&mut subs);
    assert!(check_preferred_replicas(&mut subs, &md, now));
    assert_eq!(subs.get(&tp).unwrap().preferred_replica, None);
    // A new leader epoch.
    let mut md = metadata();
    md.topics.get_mut("t").unwrap().partitions[0].leader_epoch = 6;
    name(&mut subs);
    assert!(!check_preferred_replicas(&mut subs, &md, now));
    assert_eq!(subs.get(&tp).unwrap().preferred_replica, None);
}

#[test]
fn any_error_from_the_replica_sends_the_partition_back_to_the_leader() {
    let md = metadata();
    let now = Instant::now();
    for (code, refresh, backoff) in [
        // The replica is behind: no reset, retried at the leader at once.
        (KafkaCode::OffsetOutOfRange, false, false),
        (KafkaCode::NotLeaderOrFollower, true, true),
        (KafkaCode::ReplicaNotAvailable, true, true),
        (KafkaCode::UnknownLeaderEpoch, true, true),
        (KafkaCode::CorruptMessage, false, true),
    ] {
        let (mut subs, tp) = subs_at(50);
        let st = subs.get_mut(&tp).unwrap();
        st.set_preferred_read_replica(2, (1, 5), now + LEASE);
        let s = sent(st);
        assert_eq!(
            handle_partition(&settings(), 2, st, answer(code, -1), s, now, now + LEASE),
            refresh,
            "{code:?}"
        );
        assert_eq!(st.preferred_replica, None, "{code:?}");
        assert_eq!(st.position, Some(50), "{code:?}: no reset");
        assert_eq!(st.reset, None, "{code:?}");
        assert!(st.error.is_none(), "{code:?}: the leader decides");
        assert_eq!(st.backoff_until.is_some(), backoff, "{code:?}");
        assert_eq!(fetch_target(&md, st), Some((1, (1, 5))), "{code:?}");
    }
    // The same OFFSET_OUT_OF_RANGE from the leader resets the position.
    let (mut subs, tp) = subs_at(50);
    let st = subs.get_mut(&tp).unwrap();
    let s = sent(st);
    handle_partition(
        &settings(),
        1,
        st,
        answer(KafkaCode::OffsetOutOfRange, -1),
        s,
        now,
        now + LEASE,
    );
    assert_eq!(st.reset, Some(ResetTo::Earliest));
}

fn diverging(epoch: i32, end: i64) -> PartitionData {
    let mut p = ok(-1);
    p.diverging_epoch.epoch = epoch;
    p.diverging_epoch.end_offset = end;
    p
}

/// A batch of `n` records from `base` in leader epoch `epoch`.
fn records(base: i64, n: usize, epoch: i32) -> crate::protocol::Bytes {
    use crate::protocol::compression::Compression;
    use crate::protocol::records::{ProducerState, RecordBatchBuilder};
    let mut b = RecordBatchBuilder::new();
    b.set_base_offset(base);
    b.set_partition_leader_epoch(epoch);
    for i in 0..n {
        b.append(i as i64, None, Some(&b"v"[..]), &[]).unwrap();
    }
    crate::protocol::Bytes::from(
        b.finish(ProducerState::NONE, Compression::None)
            .unwrap()
            .to_vec(),
    )
}

fn with_policy(policy: OffsetResetPolicy) -> FetchSettings {
    FetchSettings {
        reset_policy: policy,
        ..settings()
    }
}

#[test]
fn fetched_and_consumed_epochs_follow_the_batches() {
    let now = Instant::now();
    let (mut subs, tp) = subs_at(0);
    let st = subs.get_mut(&tp).unwrap();
    let s = sent(st);
    let mut p = ok(-1);
    p.records = Some(records(0, 5, 4));
    handle_partition(&settings(), 1, st, p, s, now, now + LEASE);
    assert_eq!((st.fetch_offset, st.fetch_epoch), (5, Some(4)));
    assert_eq!((st.position, st.last_epoch), (Some(0), None));
    // A seek with an epoch (a committed offset's, ListOffsets') sets both.
    st.seek_with_epoch(3, Some(2));
    assert_eq!((st.last_epoch, st.fetch_epoch), (Some(2), Some(2)));
    st.seek_with_epoch(3, Some(-1));
    assert_eq!((st.last_epoch, st.fetch_epoch), (None, None));
}

#[test]
fn a_log_truncated_below_the_position_moves_it_back_to_the_divergence() {
    let now = Instant::now();
    let (mut subs, tp) = subs_at(30);
    let st = subs.get_mut(&tp).unwrap();
    st.last_epoch = Some(7);
    st.fetch_epoch = Some(7);
    let s = sent(st);
    let generation = st.generation;
    assert!(!handle_partition(
        &settings(),
        1,
        st,
        diverging(5, 20),
        s,
        now,
        now + LEASE
    ));
    assert_eq!(
        st.position,
        Some(20),
        "the first offset of the truncated range"
    );
    assert_eq!((st.fetch_offset, st.fetch_epoch), (20, Some(5)));
    assert_eq!(st.last_epoch, Some(5));
    assert!(st.error.is_none() && st.reset.is_none());
    assert!(st.generation > generation, "older requests are dropped");
    assert!(st.fetchable(now), "fetched again at once");
    // latest behaves the same: the truncation point, not the log end.
    let (mut subs, tp) = subs_at(30);
    let st = subs.get_mut(&tp).unwrap();
    let s = sent(st);
    handle_partition(
        &with_policy(OffsetResetPolicy::Latest),
        1,
        st,
        diverging(5, 20),
        s,
        now,
        now + LEASE,
    );
    assert_eq!(st.position, Some(20));
}

#[test]
fn a_log_truncation_with_auto_offset_reset_none_is_an_error() {
    let now = Instant::now();
    let (mut subs, tp) = subs_at(30);
    let st = subs.get_mut(&tp).unwrap();
    st.last_epoch = Some(7);
    st.fetch_epoch = Some(7);
    let s = sent(st);
    handle_partition(
        &with_policy(OffsetResetPolicy::None),
        1,
        st,
        diverging(5, 20),
        s,
        now,
        now + LEASE,
    );
    assert_eq!(st.position, Some(30), "the application decides");
    let e = st.error.take().expect("an error");
    let text = e.to_string();
    assert!(
        matches!(
            e,
            Error::Kafka {
                code: KafkaCode::OffsetOutOfRange,
                ..
            }
        ),
        "{text}"
    );
    for part in ["log truncation", "t-0", "30", "20"] {
        assert!(text.contains(part), "{part:?} in {text}");
    }
    // Until a seek, the next fetch asks again at the position.
    assert_eq!((st.fetch_offset, st.fetch_epoch), (30, Some(7)));
}

#[test]
fn a_divergence_past_the_position_drops_only_buffered_data() {
    let now = Instant::now();
    let (mut subs, tp) = subs_at(10);
    let st = subs.get_mut(&tp).unwrap();
    st.last_epoch = Some(4);
    // Records 10-14 buffered, the next fetch at 15 after epoch 5.
    let s = sent(st);
    let mut p = ok(-1);
    p.records = Some(records(10, 5, 5));
    handle_partition(&settings(), 1, st, p, s, now, now + LEASE);
    assert_eq!((st.fetch_offset, st.fetch_epoch), (15, Some(5)));
    assert_eq!(st.buffer.len(), 1);
    let s = sent(st);
    handle_partition(&settings(), 1, st, diverging(4, 12), s, now, now + LEASE);
    assert_eq!(st.position, Some(10), "nothing consumed was lost");
    assert!(st.buffer.is_empty(), "buffered records past 12 may be gone");
    assert_eq!((st.fetch_offset, st.fetch_epoch), (10, Some(4)));
    assert!(st.error.is_none());
    // At the position, an older epoch ending after it is taken as the
    // last fetched epoch (no loop on the same answer).
    let s = sent(st);
    st.fetch_epoch = Some(6);
    handle_partition(&settings(), 1, st, diverging(4, 12), s, now, now + LEASE);
    assert_eq!((st.position, st.fetch_offset), (Some(10), 10));
    assert_eq!(st.fetch_epoch, Some(4));
    // A response without a diverging epoch (-1) changes nothing.
    let s = sent(st);
    handle_partition(&settings(), 1, st, ok(-1), s, now, now + LEASE);
    assert_eq!((st.position, st.fetch_epoch), (Some(10), Some(4)));
}
