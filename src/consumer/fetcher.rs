//! The fetch side of the poll loop: one Fetch request in flight per broker
//! fetched from, responses turned into buffered [`CompletedFetch`]es, offset
//! resets (ListOffsets) for partitions without a position.
//!
//! A partition is fetched from its leader, or from the replica the leader
//! named as its preferred read replica (fetch from the closest replica,
//! KIP-392: brokers with a `replica.selector.class` answer a Fetch carrying
//! the consumer's `client.rack` with that replica and no records). As in
//! Java, the replica is used until `metadata.max.age.ms` after it was named,
//! and the partition goes back to the leader at once when the replica leaves
//! the metadata (or is offline), when the leader changes, and after any
//! failed fetch from the replica (a partition or request error, including
//! OFFSET_OUT_OF_RANGE, which then resets nothing: the leader decides; a lost
//! connection). ListOffsets always goes to the leader.
//!
//! Log truncation (KIP-320): each Fetch (v12+) carries the leader epoch of
//! the last batch fetched (`last_fetched_epoch`); a replica whose log no
//! longer holds that epoch up to the fetch offset (after an unclean leader
//! election) answers with a `diverging_epoch` instead of records, and a
//! position past it moves back to the divergence (see
//! `on_diverging_epoch`). Kafka 2.7+ brokers all answer Fetch v12+, so the
//! consumer does not validate positions with OffsetForLeaderEpoch as Java
//! (which sends no `last_fetched_epoch`) does after a leader change.
//!
//! Everything here runs on the application's thread inside `poll`; requests
//! are sent with [`Connection::send`](crate::net::Connection::send), whose
//! callback (on the connection's reader thread) only forwards the response
//! into the consumer's channel as an [`Event`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use crate::cluster::{Cluster, ClusterMetadata, PartitionMetadata, is_routing_error};
use crate::error::{Error, Result};
use crate::protocol::KafkaCode;
use crate::protocol::messages::fetch_response::PartitionData;
use crate::protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use crate::protocol::messages::{
    FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse,
};

use super::Event;
use super::completed::{CompletedFetch, Drained, scan};
use super::record::{ConsumerRecords, TopicPartition};
use super::session::{FetchSession, Wanted};
use super::state::{OffsetResetPolicy, PartitionState, ResetTo, Subscriptions};

/// The fetch settings, from the consumer's configuration.
#[derive(Clone, Debug)]
pub(crate) struct FetchSettings {
    pub min_bytes: i32,
    pub max_wait: Duration,
    pub max_bytes: i32,
    pub max_partition_bytes: i32,
    pub max_poll_records: usize,
    pub reset_policy: OffsetResetPolicy,
    pub read_committed: bool,
    pub check_crcs: bool,
    pub retry_backoff: Duration,
    pub api_timeout: Duration,
    pub rack: String,
    /// `receive.message.max.bytes`: no single batch can be larger.
    pub max_response: usize,
    /// `enable.partition.eof`: report partitions reaching their end.
    pub partition_eof: bool,
}

/// What a Fetch request asked of one partition.
#[derive(Clone, Copy, Debug)]
struct Sent {
    generation: u64,
    fetch_offset: i64,
    max_bytes: i32,
    /// The partition's leader and leader epoch when the request was built:
    /// a request to another broker went to its preferred read replica.
    leader: (i32, i32),
}

/// A Fetch request in flight: what each partition was asked at.
struct InFlightFetch {
    id: u64,
    version: i16,
    full: bool,
    sent: HashMap<TopicPartition, Sent>,
}

/// Per-broker fetch state.
#[derive(Default)]
struct BrokerState {
    session: FetchSession,
    in_flight: Option<InFlightFetch>,
    backoff_until: Option<Instant>,
}

/// A ListOffsets request in flight for offset resets.
struct PendingReset {
    node: i32,
    version: i16,
    parts: HashMap<TopicPartition, (u64, ResetTo)>,
}

/// The fetcher: subscription state plus the requests in flight.
pub(crate) struct Fetcher {
    pub cluster: Arc<Cluster>,
    pub settings: FetchSettings,
    pub subs: Subscriptions,
    /// Bounded read: no record at or after these offsets is returned and a
    /// partition at or past its offset is not fetched.
    pub stop_offsets: Option<HashMap<TopicPartition, i64>>,
    brokers: HashMap<i32, BrokerState>,
    resets: HashMap<u64, PendingReset>,
    tx: Sender<Event>,
    next_id: u64,
    rotation: usize,
    fetch_rotation: usize,
}

/// A partition's metadata, when known.
fn partition_of<'a>(
    md: &'a ClusterMetadata,
    topic: &str,
    partition: i32,
) -> Option<&'a PartitionMetadata> {
    let t = md.topics.get(topic)?;
    match t.partitions.get(partition as usize) {
        Some(p) if p.partition == partition => Some(p),
        _ => t.partitions.iter().find(|p| p.partition == partition),
    }
}

/// The leader of a partition and its epoch, when known.
pub(crate) fn leader_of(md: &ClusterMetadata, topic: &str, partition: i32) -> Option<(i32, i32)> {
    let p = partition_of(md, topic, partition)?;
    if p.leader < 0 || !md.brokers.contains_key(&p.leader) {
        return None;
    }
    Some((p.leader, p.leader_epoch))
}

impl Fetcher {
    pub(crate) fn new(
        cluster: Arc<Cluster>,
        settings: FetchSettings,
        tx: Sender<Event>,
    ) -> Fetcher {
        Fetcher {
            cluster,
            settings,
            subs: Subscriptions::default(),
            stop_offsets: None,
            brokers: HashMap::new(),
            resets: HashMap::new(),
            tx,
            next_id: 1,
            rotation: 0,
            fetch_rotation: 0,
        }
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Starts offset lookups for partitions without a position, following
    /// auto.offset.reset. Fails for `none`, naming every such partition.
    pub(crate) fn apply_reset_policy(&mut self) -> Result<()> {
        let policy = self.settings.reset_policy;
        let mut missing = Vec::new();
        for st in self.subs.iter_mut() {
            if st.position.is_none() && st.reset.is_none() && !st.awaiting_committed {
                match policy {
                    OffsetResetPolicy::Earliest => st.request_reset(ResetTo::Earliest),
                    OffsetResetPolicy::Latest => st.request_reset(ResetTo::Latest),
                    OffsetResetPolicy::None => missing.push(st.tp()),
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort();
        let names: Vec<String> = missing.iter().map(|tp| tp.to_string()).collect();
        Err(Error::InvalidArgument(format!(
            "no position for partition(s) {} and auto.offset.reset=none: seek to an offset \
             (seek, seek_to_beginning or seek_to_end) before polling, or set auto.offset.reset to earliest or latest",
            names.join(", ")
        )))
    }

    /// Sends ListOffsets for partitions waiting for a reset, one request per leader.
    pub(crate) fn send_resets(&mut self, now: Instant) {
        let md = self.cluster.metadata();
        let mut by_node: BTreeMap<i32, Vec<(TopicPartition, u64, ResetTo, i32)>> = BTreeMap::new();
        for st in self.subs.iter() {
            let Some(to) = st.reset else { continue };
            if st.reset_in_flight || st.backoff_until.is_some_and(|t| t > now) {
                continue;
            }
            match leader_of(&md, &st.topic, st.partition) {
                Some((node, epoch)) => {
                    by_node
                        .entry(node)
                        .or_default()
                        .push((st.tp(), st.generation, to, epoch))
                }
                None => self.cluster.request_refresh(),
            }
        }
        for (node, parts) in by_node {
            if let Err(e) = self.send_reset_request(node, &parts) {
                log::debug!("ListOffsets to broker {node} not sent: {e}");
                self.cluster.request_refresh();
                for (tp, ..) in &parts {
                    if let Some(st) = self.subs.get_mut(tp) {
                        st.backoff_until = Some(now + self.settings.retry_backoff);
                    }
                }
            }
        }
    }

    fn send_reset_request(
        &mut self,
        node: i32,
        parts: &[(TopicPartition, u64, ResetTo, i32)],
    ) -> Result<()> {
        let conn = self.cluster.connection(node)?;
        let version = conn.version::<ListOffsetsRequest>()?;
        let req = list_offsets_request(
            version,
            self.settings.read_committed,
            parts
                .iter()
                .map(|(tp, _, to, epoch)| (tp, to.timestamp(), *epoch)),
            self.settings.api_timeout,
        );
        let id = self.next_id();
        let tx = self.tx.clone();
        conn.send(&req, version, move |result| {
            let _ = tx.send(Event::ListOffsets { node, id, result });
        })?;
        let mut map = HashMap::new();
        for (tp, generation, to, _) in parts {
            if let Some(st) = self.subs.get_mut(tp) {
                st.reset_in_flight = true;
            }
            map.insert(tp.clone(), (*generation, *to));
        }
        self.resets.insert(
            id,
            PendingReset {
                node,
                version,
                parts: map,
            },
        );
        Ok(())
    }

    /// Applies a ListOffsets response to the partitions it resets.
    pub(crate) fn handle_list_offsets(
        &mut self,
        node: i32,
        id: u64,
        result: Result<ListOffsetsResponse>,
    ) {
        let Some(pending) = self.resets.remove(&id) else {
            return;
        };
        debug_assert_eq!(pending.node, node);
        let now = Instant::now();
        let backoff = now + self.settings.retry_backoff;
        for tp in pending.parts.keys() {
            if let Some(st) = self.subs.get_mut(tp) {
                st.reset_in_flight = false;
            }
        }
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                log::debug!("ListOffsets to broker {node} failed: {e}; retrying");
                self.cluster.request_refresh();
                for tp in pending.parts.keys() {
                    if let Some(st) = self.subs.get_mut(tp) {
                        st.backoff_until = Some(backoff);
                    }
                }
                return;
            }
        };
        let mut answered = std::collections::HashSet::new();
        for t in &resp.topics {
            for p in &t.partitions {
                let tp = TopicPartition::new(t.name.as_str(), p.partition_index);
                let Some(&(generation, to)) = pending.parts.get(&tp) else {
                    continue;
                };
                answered.insert(tp.clone());
                let Some(st) = self.subs.get_mut(&tp) else {
                    continue;
                };
                if st.generation != generation || st.reset != Some(to) {
                    continue;
                }
                match KafkaCode::from_code(p.error_code) {
                    None => {
                        let offset = if pending.version == 0 {
                            p.old_style_offsets.first().copied().unwrap_or(-1)
                        } else {
                            p.offset
                        };
                        if offset < 0 {
                            log::debug!("ListOffsets for {tp} returned no offset; retrying");
                            st.backoff_until = Some(backoff);
                        } else {
                            log::debug!("position of {tp} reset to {offset} ({to})");
                            // The epoch (v4+) lets the first Fetch detect a
                            // log truncated meanwhile, as Java.
                            let epoch = (pending.version >= 4).then_some(p.leader_epoch);
                            st.seek_with_epoch(offset, epoch);
                        }
                    }
                    Some(code) if code.is_retriable() || is_routing_error(code) => {
                        log::debug!("ListOffsets for {tp}: {}; retrying", code.name());
                        if is_routing_error(code) {
                            self.cluster.request_refresh();
                        }
                        st.backoff_until = Some(backoff);
                    }
                    Some(code) => {
                        st.error = Some(Error::Kafka {
                            code,
                            context: format!(
                                "ListOffsets for {tp} (resetting its position to {to}) on broker {node}"
                            ),
                            message: None,
                        });
                    }
                }
            }
        }
        for tp in pending.parts.keys() {
            if !answered.contains(tp) {
                if let Some(st) = self.subs.get_mut(tp) {
                    st.backoff_until = Some(backoff);
                }
            }
        }
    }

    /// Sends a Fetch to every leader that has none in flight, covering its
    /// fetchable partitions whose buffered data is below the bound.
    pub(crate) fn send_fetches(&mut self, now: Instant) {
        if self.subs.is_empty() {
            return;
        }
        if self.subs.buffered_bytes() >= self.settings.max_bytes as usize {
            return;
        }
        let md = self.cluster.metadata();
        let bound = self.settings.max_partition_bytes.max(1) as usize;
        let mut by_node: BTreeMap<i32, Vec<(Wanted, Sent)>> = BTreeMap::new();
        let mut need_refresh = check_preferred_replicas(&mut self.subs, &md, now);
        // Brokers fill partitions in request order until fetch.max.bytes:
        // start at a different partition each time.
        self.fetch_rotation = self.fetch_rotation.wrapping_add(1);
        // A broker with a partition held back only by its buffered data gets
        // no fetch until that buffer drains below the bound: a fetch of its
        // other (idle) partitions would wait fetch.max.wait.ms at the broker
        // and, being the broker's one fetch in flight, delay the busy one.
        let held_back: std::collections::HashSet<i32> = self
            .subs
            .iter()
            .filter(|st| st.fetchable(now) && st.buffered_bytes() >= bound)
            .filter_map(|st| fetch_target(&md, st).map(|t| t.0))
            .collect();
        for st in self.subs.iter_from(self.fetch_rotation) {
            if !st.fetchable(now) || st.buffered_bytes() >= bound {
                continue;
            }
            if self.stopped(st) {
                continue;
            }
            let Some((node, leader)) = fetch_target(&md, st) else {
                need_refresh = true;
                continue;
            };
            if held_back.contains(&node) {
                continue;
            }
            let b = self.brokers.get(&node);
            if b.is_some_and(|b| b.in_flight.is_some() || b.backoff_until.is_some_and(|t| t > now))
            {
                continue;
            }
            let topic_id = md
                .topics
                .get(&*st.topic)
                .map(|t| t.topic_id)
                .unwrap_or_default();
            let max_bytes = st.size_hint.unwrap_or(self.settings.max_partition_bytes);
            by_node.entry(node).or_default().push((
                Wanted {
                    topic: st.topic.clone(),
                    topic_id,
                    partition: st.partition,
                    fetch_offset: st.fetch_offset,
                    max_bytes,
                    leader_epoch: leader.1,
                    last_fetched_epoch: st.fetch_epoch.unwrap_or(-1),
                },
                Sent {
                    generation: st.generation,
                    fetch_offset: st.fetch_offset,
                    max_bytes,
                    leader,
                },
            ));
        }
        if need_refresh {
            self.cluster.request_refresh();
        }
        for (node, wanted) in by_node {
            let to_replica: Vec<TopicPartition> = wanted
                .iter()
                .filter(|(_, s)| s.leader.0 != node)
                .map(|(w, _)| TopicPartition {
                    topic: w.topic.clone(),
                    partition: w.partition,
                })
                .collect();
            if let Err(e) = self.send_fetch(node, wanted) {
                log::debug!("Fetch to broker {node} not sent: {e}");
                self.cluster.request_refresh();
                let b = self.brokers.entry(node).or_default();
                b.session.reset();
                b.backoff_until = Some(now + self.settings.retry_backoff);
                self.forget_replica(node, &to_replica, &format!("cannot be fetched from ({e})"));
            }
        }
    }

    /// Sends the partitions `tps`, fetched from their preferred read replica
    /// `node`, back to their leader after `node` failed them.
    fn forget_replica<'a>(
        &mut self,
        node: i32,
        tps: impl IntoIterator<Item = &'a TopicPartition>,
        why: &str,
    ) {
        for tp in tps {
            let Some(st) = self.subs.get_mut(tp) else {
                continue;
            };
            if st.preferred_replica.is_some_and(|r| r.node == node) {
                st.clear_preferred_read_replica();
                log::debug!(
                    "{tp}: preferred read replica broker {node} {why}; fetching from the leader"
                );
            }
        }
    }

    fn send_fetch(&mut self, node: i32, wanted: Vec<(Wanted, Sent)>) -> Result<()> {
        let conn = self.cluster.connection(node)?;
        let mut version = conn.version::<FetchRequest>()?;
        if wanted.iter().any(|(w, _)| w.topic_id.is_zero()) {
            // Topic ids come from Metadata v10+; without them, name topics (v12 at most).
            version = version.min(12);
        }
        let mut sent = HashMap::with_capacity(wanted.len());
        for (w, s) in &wanted {
            sent.insert(
                TopicPartition {
                    topic: w.topic.clone(),
                    partition: w.partition,
                },
                *s,
            );
        }
        let broker = self.brokers.entry(node).or_default();
        let s = broker
            .session
            .build(wanted.into_iter().map(|(w, _)| w).collect(), version);
        let req = FetchRequest {
            max_wait_ms: self.settings.max_wait.as_millis().min(i32::MAX as u128) as i32,
            min_bytes: self.settings.min_bytes,
            max_bytes: self.settings.max_bytes,
            isolation_level: if self.settings.read_committed && version >= 4 {
                1
            } else {
                0
            },
            session_id: s.session_id,
            session_epoch: s.session_epoch,
            topics: s.topics,
            forgotten_topics_data: s.forgotten,
            rack_id: if version >= 11 {
                self.settings.rack.clone()
            } else {
                String::new()
            },
            ..Default::default()
        };
        self.next_id += 1;
        let id = self.next_id;
        let tx = self.tx.clone();
        if let Err(e) = conn.send(&req, version, move |result| {
            let _ = tx.send(Event::Fetch { node, id, result });
        }) {
            broker.session.reset();
            return Err(e);
        }
        for tp in sent.keys() {
            if let Some(st) = self.subs.get_mut(tp) {
                st.fetch_in_flight = true;
            }
        }
        broker.in_flight = Some(InFlightFetch {
            id,
            version,
            full: s.full,
            sent,
        });
        Ok(())
    }

    /// Whether a Fetch is in flight to some broker.
    pub(crate) fn fetches_in_flight(&self) -> usize {
        self.brokers
            .values()
            .filter(|b| b.in_flight.is_some())
            .count()
    }

    /// Buffers the data of a Fetch response and deals with its errors.
    pub(crate) fn handle_fetch(&mut self, node: i32, id: u64, result: Result<FetchResponse>) {
        let now = Instant::now();
        let Some(broker) = self.brokers.get_mut(&node) else {
            return;
        };
        if broker.in_flight.as_ref().is_none_or(|f| f.id != id) {
            return;
        }
        let flight = broker.in_flight.take().expect("checked");
        for tp in flight.sent.keys() {
            if let Some(st) = self.subs.get_mut(tp) {
                st.fetch_in_flight = false;
            }
        }
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                log::debug!("Fetch from broker {node} failed: {e}");
                broker.session.reset();
                broker.backoff_until = Some(now + self.settings.retry_backoff);
                self.cluster.request_refresh();
                self.forget_replica(node, flight.sent.keys(), &format!("failed: {e}"));
                return;
            }
        };
        if let Some(code) = KafkaCode::from_code(resp.error_code) {
            broker.session.reset();
            match code {
                KafkaCode::FetchSessionIdNotFound
                | KafkaCode::InvalidFetchSessionEpoch
                | KafkaCode::FetchSessionTopicIdError => {
                    log::debug!(
                        "fetch session with broker {node} lost ({}); starting a new one",
                        code.name()
                    );
                }
                _ => {
                    if code.is_retriable() || is_routing_error(code) {
                        log::debug!("Fetch from broker {node} failed: {}; retrying", code.name());
                    } else {
                        log::warn!(
                            "Fetch from broker {node} failed: {} ({})",
                            code.name(),
                            code.description()
                        );
                    }
                    broker.backoff_until = Some(now + self.settings.retry_backoff);
                    if is_routing_error(code) || code.is_retriable() {
                        self.cluster.request_refresh();
                    }
                    self.forget_replica(
                        node,
                        flight.sent.keys(),
                        &format!("failed the fetch: {}", code.name()),
                    );
                }
            }
            return;
        }
        broker
            .session
            .on_success(resp.session_id, flight.full, flight.version);
        let mut names: Vec<Option<Arc<str>>> = Vec::with_capacity(resp.responses.len());
        for t in &resp.responses {
            names.push(if flight.version >= 13 {
                broker.session.topic_name(&t.topic_id).cloned()
            } else {
                Some(Arc::from(t.topic.as_str()))
            });
        }
        let mut refresh = false;
        let lease_end = now + self.cluster.settings().metadata_max_age;
        for (t, name) in resp.responses.into_iter().zip(names) {
            let Some(name) = name else {
                log::debug!(
                    "Fetch response from broker {node} names unknown topic id {}",
                    t.topic_id
                );
                refresh = true;
                continue;
            };
            for p in t.partitions {
                let tp = TopicPartition {
                    topic: name.clone(),
                    partition: p.partition_index,
                };
                let Some(&sent) = flight.sent.get(&tp) else {
                    continue;
                };
                let Some(st) = self.subs.get_mut(&tp) else {
                    continue;
                };
                if st.generation != sent.generation
                    || st.position.is_none()
                    || st.fetch_offset != sent.fetch_offset
                {
                    log::trace!("dropping stale fetch data of {tp} at {}", sent.fetch_offset);
                    continue;
                }
                refresh |= handle_partition(&self.settings, node, st, p, sent, now, lease_end);
            }
        }
        if refresh {
            self.cluster.request_refresh();
        }
    }

    /// The stop offset of `tp` in a bounded read, if any.
    fn stop_offset(&self, tp: &TopicPartition) -> Option<i64> {
        self.stop_offsets.as_ref()?.get(tp).copied()
    }

    /// Whether a bounded read of this partition is finished: its position is
    /// at or past its stop offset.
    pub(crate) fn stopped(&self, st: &PartitionState) -> bool {
        let Some(stops) = &self.stop_offsets else {
            return false;
        };
        match (stops.get(&(st.tp())), st.position) {
            (Some(&stop), Some(p)) => p >= stop,
            _ => false,
        }
    }

    /// Moves buffered records into a batch of at most `max.poll.records`,
    /// starting at a different partition each time for fairness. A partition
    /// error is returned when no record was collected before it (else at the
    /// next poll).
    pub(crate) fn collect(&mut self) -> Result<ConsumerRecords> {
        let max = self.settings.max_poll_records;
        let mut out = ConsumerRecords::new();
        let order: Vec<TopicPartition> = self.subs.order().to_vec();
        let n = order.len();
        if n == 0 {
            return Ok(out);
        }
        self.rotation = (self.rotation + 1) % n;
        for i in 0..n {
            let tp = &order[(self.rotation + i) % n];
            let stop = self.stop_offset(tp);
            let Some(st) = self.subs.get_mut(tp) else {
                continue;
            };
            if st.paused {
                continue;
            }
            if st.error.is_some() {
                if out.is_empty() {
                    return Err(st.error.take().expect("checked"));
                }
                break;
            }
            let Some(mut position) = st.position else {
                continue;
            };
            if stop.is_some_and(|s| position >= s) {
                continue;
            }
            let before = position;
            let mut epoch = st.last_epoch;
            let start = out.len_for_partition_start();
            while let Some(front) = st.buffer.front_mut() {
                match front.drain(
                    &st.topic,
                    st.partition,
                    &mut position,
                    &mut epoch,
                    &mut out,
                    max,
                ) {
                    Drained::Full => break,
                    Drained::Done => {
                        st.buffer.pop_front();
                    }
                    Drained::Corrupt(offset, message) => {
                        let node = front.node;
                        st.position = Some(position);
                        st.last_epoch = epoch;
                        st.refetch_from_position();
                        st.error = Some(Error::Kafka {
                            code: KafkaCode::CorruptMessage,
                            context: format!(
                                "Fetch of {tp} from broker {node}: the record batch at offset {offset} is corrupt ({message}); \
                                 the position stays at {position}: seek past offset {offset} to skip the batch"
                            ),
                            message: None,
                        });
                        break;
                    }
                }
            }
            st.position = Some(position);
            st.last_epoch = epoch;
            if st.buffer.is_empty() && !st.fetch_in_flight && st.fetch_offset < position {
                st.fetch_offset = position;
                st.fetch_epoch = epoch;
            }
            if let Some(stop) = stop.filter(|&s| position > s) {
                // Bounded read: what was drained past the stop offset is
                // dropped and the partition stays at its stop offset (a
                // skipped control batch may leave it past the stop).
                if out.truncate_at(start, stop) {
                    // The fetched high watermark still describes this log.
                    let checked = st.end_checked;
                    st.seek(stop);
                    st.end_checked = checked;
                }
            }
            if position != before {
                st.eof_reported = false;
            }
            if self.settings.partition_eof
                && st.error.is_none()
                && !st.eof_reported
                && st.at_end(self.settings.read_committed)
            {
                st.eof_reported = true;
                out.push_eof(tp.clone());
            }
            out.close_partition(tp, start);
            if st.error.is_some() && out.is_empty() {
                return Err(st.error.take().expect("checked"));
            }
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
    }

    /// The earliest time something waiting on a backoff may proceed.
    pub(crate) fn next_wakeup(&self, now: Instant) -> Option<Instant> {
        let parts = self
            .subs
            .iter()
            .filter_map(|st| st.backoff_until)
            .filter(|t| *t > now);
        let brokers = self
            .brokers
            .values()
            .filter_map(|b| b.backoff_until)
            .filter(|t| *t > now);
        let mut next = parts.chain(brokers).min();
        // Partitions without a leader wait for a metadata refresh.
        let md = self.cluster.metadata();
        let leaderless = self.subs.iter().any(|st| {
            (st.reset.is_some() || st.position.is_some())
                && leader_of(&md, &st.topic, st.partition).is_none()
        });
        if leaderless {
            let t = now + self.settings.retry_backoff;
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        next
    }

    /// Closes every connection (joining their reader threads).
    pub(crate) fn close(&mut self) {
        self.cluster.close();
        self.brokers.clear();
        self.resets.clear();
    }
}

/// Forgets the preferred read replicas that expired, whose leader
/// changed, or that are no longer online replicas in the metadata (as
/// Java, asking for a metadata refresh then). Returns whether metadata
/// should be refreshed.
fn check_preferred_replicas(subs: &mut Subscriptions, md: &ClusterMetadata, now: Instant) -> bool {
    let mut refresh = false;
    for st in subs.iter_mut() {
        let Some(r) = st.preferred_replica else {
            continue;
        };
        let why = if st.preferred_read_replica(now).is_none() {
            "expired (metadata.max.age.ms)"
        } else {
            match partition_of(md, &st.topic, st.partition) {
                Some(p) if p.leader != r.leader.0 || p.leader_epoch != r.leader.1 => {
                    "was named by a former leader"
                }
                Some(p)
                    if md.brokers.contains_key(&r.node)
                        && p.replicas.contains(&r.node)
                        && !p.offline_replicas.contains(&r.node) =>
                {
                    continue;
                }
                _ => {
                    refresh = true;
                    "is not an online replica in the metadata"
                }
            }
        };
        st.clear_preferred_read_replica();
        log::debug!(
            "{}-{}: preferred read replica broker {} {why}; fetching from the leader",
            st.topic,
            st.partition,
            r.node
        );
    }
    refresh
}

/// Where to fetch a partition from, with its leader and leader epoch: its
/// preferred read replica when one is set (see
/// [`check_preferred_replicas`]), else the leader. `None` while the
/// leader is unknown.
fn fetch_target(md: &ClusterMetadata, st: &PartitionState) -> Option<(i32, (i32, i32))> {
    let leader = leader_of(md, &st.topic, st.partition)?;
    Some((st.preferred_replica.map_or(leader.0, |r| r.node), leader))
}

/// Handles one partition of a Fetch response from broker `node`. Returns
/// true when metadata should be refreshed. A preferred read replica named in
/// the response is used from `lease_end` minus `metadata.max.age.ms` to
/// `lease_end`.
fn handle_partition(
    settings: &FetchSettings,
    node: i32,
    st: &mut PartitionState,
    p: PartitionData,
    sent: Sent,
    now: Instant,
    lease_end: Instant,
) -> bool {
    let tp = st.tp();
    let Sent {
        fetch_offset,
        max_bytes,
        leader,
        ..
    } = sent;
    if node != leader.0 {
        if let Some(code) = KafkaCode::from_code(p.error_code) {
            // Any error from a preferred read replica (it may be behind the
            // leader: OFFSET_OUT_OF_RANGE; or no longer a replica) sends the
            // partition back to the leader, which decides.
            st.clear_preferred_read_replica();
            log::debug!(
                "{tp}: preferred read replica broker {node} answered {} at offset {fetch_offset}; fetching from the leader (broker {})",
                code.name(),
                leader.0
            );
            if code != KafkaCode::OffsetOutOfRange {
                st.backoff_until = Some(now + settings.retry_backoff);
            }
            return is_routing_error(code) || is_metadata_error(code);
        }
    }
    match KafkaCode::from_code(p.error_code) {
        None => {
            st.end_checked = true;
            st.high_watermark = p.high_watermark;
            st.last_stable_offset = p.last_stable_offset;
            st.log_start_offset = p.log_start_offset;
            let replica = p.preferred_read_replica;
            if replica == leader.0 {
                st.clear_preferred_read_replica();
            } else if replica >= 0 && st.set_preferred_read_replica(replica, leader, lease_end) {
                log::debug!(
                    "{tp}: fetching from preferred read replica broker {replica} (named by broker {node}, the leader, for client.rack={})",
                    settings.rack
                );
            }
            if p.diverging_epoch.epoch >= 0 && p.diverging_epoch.end_offset >= 0 {
                on_diverging_epoch(
                    settings,
                    node,
                    st,
                    fetch_offset,
                    p.diverging_epoch.epoch,
                    p.diverging_epoch.end_offset,
                );
                return false;
            }
            let Some(data) = p.records.filter(|d| !d.is_empty()) else {
                return false;
            };
            let stable_end = (settings.read_committed && p.last_stable_offset >= 0)
                .then_some(p.last_stable_offset);
            let s = scan(&data, stable_end);
            if s.end > 0 {
                if let Some(next) = s.next_offset.filter(|&n| n > st.fetch_offset) {
                    st.fetch_offset = next;
                    st.fetch_epoch = s.last_epoch;
                }
                st.size_hint = None;
                let aborted = if settings.read_committed {
                    p.aborted_transactions.map(|v| {
                        v.into_iter()
                            .map(|a| (a.producer_id, a.first_offset))
                            .collect()
                    })
                } else {
                    None
                };
                let mut c = CompletedFetch::new(
                    data,
                    s.end,
                    settings.check_crcs,
                    settings.read_committed,
                    aborted,
                );
                c.node = node;
                st.buffer.push_back(c);
            } else if let Some((offset, size)) = s.first_batch_truncated {
                if size > max_bytes as usize {
                    if size > settings.max_response {
                        st.error = Some(Error::Kafka {
                            code: KafkaCode::MessageTooLarge,
                            context: format!(
                                "Fetch of {tp} from broker {node}: the record batch at offset {offset} is {size} bytes, \
                                 more than receive.message.max.bytes ({}); raise it to read this batch",
                                settings.max_response
                            ),
                            message: None,
                        });
                    } else {
                        log::debug!(
                            "{tp}: batch at offset {offset} is {size} bytes; fetching it whole"
                        );
                        st.size_hint = Some(size as i32);
                    }
                }
            }
            false
        }
        Some(KafkaCode::OffsetOutOfRange) => {
            if st.position == Some(fetch_offset) {
                match settings.reset_policy {
                    OffsetResetPolicy::Earliest | OffsetResetPolicy::Latest => {
                        let to = if settings.reset_policy == OffsetResetPolicy::Earliest {
                            ResetTo::Earliest
                        } else {
                            ResetTo::Latest
                        };
                        log::info!(
                            "fetch offset {fetch_offset} of {tp} is out of range (log {}..{}); resetting to {to} (auto.offset.reset)",
                            p.log_start_offset,
                            p.high_watermark
                        );
                        st.request_reset(to);
                    }
                    OffsetResetPolicy::None => {
                        st.error = Some(Error::Kafka {
                            code: KafkaCode::OffsetOutOfRange,
                            context: format!(
                                "Fetch of {tp} at offset {fetch_offset} from broker {node} (auto.offset.reset=none): \
                                 seek to a valid offset (the log holds {}..{}) or set auto.offset.reset to earliest or latest",
                                p.log_start_offset, p.high_watermark
                            ),
                            message: None,
                        });
                    }
                }
            } else {
                // Fetched ahead of the position: deal with it once the
                // buffered records are consumed and the fetch is repeated.
                st.backoff_until = Some(now + settings.retry_backoff);
            }
            false
        }
        Some(code) if is_routing_error(code) || is_metadata_error(code) => {
            log::debug!(
                "Fetch of {tp} from broker {node}: {}; refreshing metadata",
                code.name()
            );
            st.backoff_until = Some(now + settings.retry_backoff);
            true
        }
        Some(code) if code.is_retriable() => {
            log::debug!(
                "Fetch of {tp} from broker {node}: {}; retrying",
                code.name()
            );
            st.backoff_until = Some(now + settings.retry_backoff);
            false
        }
        Some(code) => {
            st.error = Some(Error::Kafka {
                code,
                context: format!("Fetch of {tp} at offset {fetch_offset} from broker {node}"),
                message: None,
            });
            false
        }
    }
}

/// Handles a Fetch answer (v12+) saying that the log diverged from what
/// this consumer fetched (KIP-320): its `last_fetched_epoch` is not in the
/// replica's log as it was fetched, and leader epoch `epoch` (the largest
/// one not above it) ends at offset `end`, beyond which the replica's log
/// holds other records (an unclean leader election truncated the log the
/// consumer read). As Java's `SubscriptionState.maybeCompleteValidation`:
///
/// * `end` below the position: records the application already received
///   are gone. With `auto.offset.reset` earliest or latest the position
///   moves back to `end`, the first offset of the truncated range, and the
///   records written there since are read; with `none`, poll fails
///   (OFFSET_OUT_OF_RANGE) naming the partition, its position and the
///   divergent offset, until the application seeks.
/// * otherwise nothing consumed is lost: only buffered data past the
///   position may be, so it is dropped and fetched again from the position
///   (a fetch at the position itself takes `epoch` as its last fetched
///   epoch, which the replica knows to end at or after it).
fn on_diverging_epoch(
    settings: &FetchSettings,
    node: i32,
    st: &mut PartitionState,
    fetch_offset: i64,
    epoch: i32,
    end: i64,
) {
    let tp = st.tp();
    let Some(position) = st.position else {
        return;
    };
    let fetched_epoch = st.fetch_epoch.unwrap_or(-1);
    if end < position {
        match settings.reset_policy {
            OffsetResetPolicy::Earliest | OffsetResetPolicy::Latest => {
                log::info!(
                    "log truncation detected for {tp} at offset {position}: leader epoch {epoch} ends at \
                     offset {end} on broker {node} (fetched at {fetch_offset} after epoch {fetched_epoch}); \
                     resetting the position to {end}, the first offset of the truncated range"
                );
                st.seek_with_epoch(end, Some(epoch));
            }
            OffsetResetPolicy::None => {
                log::warn!(
                    "log truncation detected for {tp} at offset {position}: leader epoch {epoch} ends at \
                     offset {end} on broker {node}; auto.offset.reset=none"
                );
                st.refetch_from_position();
                st.error = Some(Error::Kafka {
                    code: KafkaCode::OffsetOutOfRange,
                    context: format!(
                        "log truncation detected for {tp}: the position {position} is past the end of the log \
                         kept by broker {node} (leader epoch {epoch} ends at offset {end}, the divergent offset: \
                         records from {end} on were replaced, e.g. after an unclean leader election); \
                         auto.offset.reset=none: seek to {end} (the first offset of the truncated range) \
                         or to another offset to go on"
                    ),
                    message: None,
                });
            }
        }
    } else {
        log::debug!(
            "{tp}: broker {node} reports leader epoch {epoch} ending at {end} for a fetch at {fetch_offset} \
             after epoch {fetched_epoch}; the position {position} is not past it: fetching again from the position"
        );
        st.refetch_from_position();
        if fetch_offset == position {
            st.fetch_epoch = Some(epoch);
        }
    }
}

/// Partition errors that mean our metadata (leader, epoch, topic id) is stale.
fn is_metadata_error(code: KafkaCode) -> bool {
    matches!(
        code,
        KafkaCode::UnknownTopicId
            | KafkaCode::InconsistentTopicId
            | KafkaCode::ReplicaNotAvailable
            | KafkaCode::OffsetNotAvailable
            | KafkaCode::NotLeaderOrFollower
            | KafkaCode::FencedLeaderEpoch
            | KafkaCode::UnknownLeaderEpoch
    )
}

/// A ListOffsets request at `version` for `(partition, timestamp, leader epoch)` triples.
pub(crate) fn list_offsets_request<'a>(
    version: i16,
    read_committed: bool,
    parts: impl Iterator<Item = (&'a TopicPartition, i64, i32)>,
    timeout: Duration,
) -> ListOffsetsRequest {
    let mut topics: Vec<ListOffsetsTopic> = Vec::new();
    for (tp, timestamp, epoch) in parts {
        let part = ListOffsetsPartition {
            partition_index: tp.partition,
            current_leader_epoch: epoch,
            timestamp,
            max_num_offsets: 1,
            ..Default::default()
        };
        match topics.iter_mut().find(|t| *t.name == *tp.topic) {
            Some(t) => t.partitions.push(part),
            None => topics.push(ListOffsetsTopic {
                name: tp.topic.to_string(),
                partitions: vec![part],
                ..Default::default()
            }),
        }
    }
    ListOffsetsRequest {
        replica_id: -1,
        isolation_level: if read_committed && version >= 2 { 1 } else { 0 },
        topics,
        timeout_ms: timeout.as_millis().min(i32::MAX as u128) as i32,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
