//! The sender thread: drains ready batches to partition leaders and resolves
//! their outcomes. All producer state beyond the accumulator lives here, on
//! one thread, without locks.
//!
//! Rules kept here:
//! - **One input.** Everything arrives on one channel: "a batch may be
//!   ready" from `send`, close, and Produce responses from the connections'
//!   reader threads. The thread waits on it with a timeout equal to the next
//!   deadline (linger, retry backoff, delivery timeout, close), so it never
//!   spins: with every broker down it wakes once per `retry.backoff.ms`.
//! - **One Produce request per broker per round**, holding at most one batch
//!   per partition, up to `max.request.size`, while fewer than
//!   `max.in.flight.requests.per.connection` requests are outstanding there.
//! - **Retries.** A retriable failure (network error, request timeout,
//!   NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS, ...) puts the batch in its
//!   partition's retry queue for `retry.backoff.ms` (doubling up to
//!   `retry.backoff.max.ms`) and marks metadata stale. It is retried while
//!   attempts ≤ `retries` and `delivery.timeout.ms` since the batch was created
//!   has not passed; then the batch fails with the last error. Non-retriable
//!   errors fail the batch at once, with the Kafka error name.
//! - **Order.** Once a batch of a partition has failed, the partition is
//!   "recovering": nothing newer is sent until every retried batch is
//!   acknowledged or has failed, a retried batch is sent only when nothing
//!   else of its partition is in flight, and retry queues are kept sorted by
//!   sequence number. This is stricter than Java (which relies on the broker's
//!   sequence checks alone) and costs pipelining only while failures last.
//!   Batches already in flight when an earlier one fails are kept in order by
//!   the broker's sequence checks (OUT_OF_ORDER_SEQUENCE_NUMBER sends them
//!   back here, behind the failed one); a broker without those checks can
//!   append them first unless max.in.flight.requests.per.connection=1.
//! - **Idempotence.** The producer id comes from InitProducerId before the
//!   first batch; each partition's batches take consecutive sequence numbers
//!   when first sent, and keep them across retries, so the broker discards
//!   duplicates (DUPLICATE_SEQUENCE_NUMBER counts as success). On
//!   UNKNOWN_PRODUCER_ID or an OUT_OF_ORDER_SEQUENCE_NUMBER not explained by an
//!   earlier batch awaiting retry, sending stops until nothing is in flight,
//!   a new producer id is fetched, and sequences restart at 0 (unacknowledged
//!   batches are renumbered in order).
//! - **Too large.** MESSAGE_TOO_LARGE (a batch above the topic's
//!   `max.message.bytes`, by default the broker's `message.max.bytes`; the
//!   broker appended nothing) on a batch of several records splits it, as
//!   Java's `splitAndReenqueue`: the records are re-encoded into batches of
//!   at most half its size (and at most `batch.size`, and at most half the
//!   smallest batch of the topic refused so far; a larger record goes
//!   alone), which go in order to the front of the partition's retry queue,
//!   before every batch created after the big one, ready at once and with
//!   their attempts at 0. They count as retried batches for the order rule
//!   above (nothing newer is sent until they are resolved, one in flight at
//!   a time with idempotence). With idempotence they take the big batch's
//!   sequence numbers in order, so the numbers of the batches after it stay
//!   valid and no producer id is fetched. A part still too large is split
//!   again; a single record too large fails alone with the limit's name, and
//!   the partition's later batches (queued or in flight) move their sequence
//!   numbers down by one, so the broker sees no gap: the OUT_OF_ORDER answer
//!   to those in flight is expected (they are marked), not a lost producer
//!   state. Each record's handle follows its own part: a split batch's
//!   records complete part by part, and a flush waits for all of them.
//! - **First batch alone.** Until a partition has acknowledged a batch of the
//!   current producer id, it has at most one batch in flight. A broker that has
//!   no state for a producer id on a partition accepts *any* first sequence
//!   number (Apache Kafka's ProducerStateManager does), so if the first batch
//!   failed (NOT_LEADER_OR_FOLLOWER on a topic created a moment ago, seen on
//!   Apache Kafka 4.4) a pipelined second batch would be appended first, and
//!   the first one could then only be rejected as out of order. Once one batch
//!   is acknowledged the broker checks every sequence and pipelining is safe.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, atomic::Ordering};
use std::time::{Duration, Instant};

use super::accumulator::{ProducerBatch, split_batch};
use super::{BatchAck, BatchResult, DeliveryCallback, Shared, Span, TopicPartition};
use crate::cluster::{ClusterMetadata, is_routing_error};
use crate::error::{Error, Result};
use crate::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use crate::protocol::messages::{InitProducerIdRequest, ProduceRequest, ProduceResponse};
use crate::protocol::records::{ProducerState, rewrite_producer_state};
use crate::protocol::{Bytes, KafkaCode};

mod split;

pub(crate) enum Event {
    /// A batch may be ready (or a flush started).
    Wakeup,
    /// Close: flush until the deadline (None = no limit), then stop.
    Close(Option<Instant>),
    /// A Produce response (or the failure of the request).
    Response {
        id: u64,
        result: Result<ProduceResponse>,
    },
}

/// A batch that has left the accumulator: its bytes are final (up to the
/// producer id/epoch/sequence, rewritten on renumbering).
struct SentBatch {
    tp: TopicPartition,
    bytes: Bytes,
    record_count: i32,
    /// Index (in `result`) of the first record: 0 unless this is a part of
    /// a split batch.
    first_index: i32,
    /// Records of the batch `send` filled (of all its parts, once split).
    whole: i32,
    created: Instant,
    result: Arc<BatchResult>,
    callbacks: Vec<(i32, i64, DeliveryCallback)>,
    reserved: usize,
    attempts: u32,
    base_sequence: Option<i32>,
    retry_at: Option<Instant>,
    last_error: Option<Error>,
    /// Counted in `Sender::recovering` (a retried batch or a split part).
    recovering: bool,
    /// In flight with a sequence number that an earlier batch's failure
    /// moved down since: the broker answers OUT_OF_ORDER_SEQUENCE_NUMBER to
    /// the request sent, which is expected, not a lost producer state.
    resequenced: bool,
}

impl SentBatch {
    fn span(&self) -> Span {
        Span {
            first: self.first_index,
            count: self.record_count,
            whole: self.whole,
        }
    }
}

struct InFlightRequest {
    node: i32,
    batches: Vec<SentBatch>,
    sent_at: Instant,
}

pub(crate) struct Sender {
    shared: Arc<Shared>,
    rx: Receiver<Event>,
    tx: mpsc::Sender<Event>,
    in_flight: HashMap<u64, InFlightRequest>,
    in_flight_per_node: HashMap<i32, usize>,
    in_flight_per_partition: HashMap<TopicPartition, usize>,
    retries: BTreeMap<TopicPartition, VecDeque<SentBatch>>,
    /// Partitions with a retried batch not yet resolved, and how many.
    recovering: HashMap<TopicPartition, usize>,
    next_id: u64,
    producer: Option<(i64, i16)>,
    next_init_attempt: Instant,
    /// Failed InitProducerId attempts in a row (for the backoff).
    init_failures: u32,
    sequences: HashMap<TopicPartition, i32>,
    /// Partitions that acknowledged a batch of the current producer id (the
    /// broker checks their sequences); the others send one batch at a time.
    confirmed: HashSet<TopicPartition>,
    /// Per topic, the smallest batch (as `split_batch` measures) refused as
    /// too large: later splits cut below it at once rather than halving
    /// their way down again.
    too_large: HashMap<Arc<str>, usize>,
    needs_reset: bool,
    closing: Option<Option<Instant>>,
}

impl Sender {
    pub(crate) fn new(shared: Arc<Shared>, rx: Receiver<Event>, tx: mpsc::Sender<Event>) -> Sender {
        Sender {
            shared,
            rx,
            tx,
            in_flight: HashMap::new(),
            in_flight_per_node: HashMap::new(),
            in_flight_per_partition: HashMap::new(),
            retries: BTreeMap::new(),
            recovering: HashMap::new(),
            next_id: 1,
            producer: None,
            next_init_attempt: Instant::now(),
            init_failures: 0,
            sequences: HashMap::new(),
            confirmed: HashSet::new(),
            too_large: HashMap::new(),
            needs_reset: false,
            closing: None,
        }
    }

    pub(crate) fn run(mut self) {
        loop {
            let now = Instant::now();
            if let Some(Some(deadline)) = self.closing {
                if now >= deadline {
                    self.abort_all(
                        "the producer was closed before these records were acknowledged",
                    );
                    return;
                }
            }
            self.expire(now);
            self.maybe_init_producer(now);
            if let Err(e) = self.shared.cluster.maybe_refresh() {
                log::debug!("producer metadata refresh failed: {e}");
            }
            let next = self.send_ready(now);
            if self.closing.is_some()
                && self.in_flight.is_empty()
                && self.retries.is_empty()
                && self.shared.accumulator.is_empty()
            {
                return;
            }
            let wait = self.next_wait(now, next);
            match self.rx.recv_timeout(wait) {
                Ok(e) => self.handle(e),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            while let Ok(e) = self.rx.try_recv() {
                self.handle(e);
            }
        }
    }

    fn handle(&mut self, e: Event) {
        match e {
            Event::Wakeup => {}
            Event::Close(deadline) => self.closing = Some(deadline),
            Event::Response { id, result } => self.on_response(id, result),
        }
    }

    fn idempotent(&self) -> bool {
        self.shared.settings.idempotence
    }

    fn next_wait(&self, now: Instant, next_ready: Option<Instant>) -> Duration {
        let s = &self.shared.settings;
        let mut until = now + Duration::from_secs(1);
        let mut consider = |t: Instant| {
            if t < until {
                until = t;
            }
        };
        if let Some(t) = next_ready {
            consider(t);
        }
        for q in self.retries.values() {
            if let Some(b) = q.front() {
                consider(
                    b.retry_at
                        .unwrap_or(now)
                        .max(now + Duration::from_millis(1)),
                );
            }
        }
        if let Some(oldest) = self.shared.accumulator.oldest() {
            consider(oldest + s.delivery_timeout);
            // Batches may be waiting for a leader or a connection.
            consider(now + s.common.retry_backoff.max(Duration::from_millis(5)));
        }
        if self.idempotent() && (self.producer.is_none() || self.needs_reset) {
            consider(self.next_init_attempt.max(now + Duration::from_millis(1)));
        }
        if let Some(Some(d)) = self.closing {
            consider(d);
        }
        until.saturating_duration_since(now)
    }

    /// Fails batches whose delivery timeout passed while queued.
    fn expire(&mut self, now: Instant) {
        let timeout = self.shared.settings.delivery_timeout;
        let md = self.shared.cluster.metadata();
        for b in self.shared.accumulator.expire(now, timeout) {
            // Never sent: say why when metadata named a leader it does not list.
            let unlisted_leader = md
                .topics
                .get(&*b.tp.topic)
                .and_then(|t| t.partitions.iter().find(|p| p.partition == b.tp.partition))
                .filter(|p| p.leader >= 0 && !md.brokers.contains_key(&p.leader))
                .map(|p| Error::UnknownBroker {
                    node_id: p.leader,
                    known: md.brokers.keys().copied().collect(),
                });
            let err = self.shared.cluster.annotate(delivery_timeout_error(
                &b.tp,
                b.record_count,
                now.duration_since(b.created),
                timeout,
                unlisted_leader.as_ref(),
            ));
            self.fail_unsent(b, err);
        }
        let mut expired = Vec::new();
        for q in self.retries.values_mut() {
            while q
                .front()
                .is_some_and(|b| now.duration_since(b.created) >= timeout)
            {
                expired.push(q.pop_front().expect("batch"));
            }
        }
        self.retries.retain(|_, q| !q.is_empty());
        for b in expired {
            let err = self.shared.cluster.annotate(delivery_timeout_error(
                &b.tp,
                b.record_count,
                now.duration_since(b.created),
                timeout,
                b.last_error.as_ref(),
            ));
            self.finish(b, Err(err));
        }
    }

    fn maybe_init_producer(&mut self, now: Instant) {
        if !self.idempotent() || now < self.next_init_attempt {
            return;
        }
        let needed = self.producer.is_none() || (self.needs_reset && self.in_flight.is_empty());
        if !needed
            || (self.shared.accumulator.is_empty()
                && self.retries.is_empty()
                && self.producer.is_some())
        {
            return;
        }
        let req = InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: i32::MAX,
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        };
        // One attempt per turn of the loop, not `Cluster::request_any`: that
        // retries (sleeping) until a deadline, and this thread must stay free
        // to honour close() and expire batches while no broker is reachable.
        // The loop tries again after the retry backoff (retry.backoff.ms,
        // doubling per failure up to retry.backoff.max.ms).
        let result = self
            .shared
            .cluster
            .any_connection()
            .and_then(|conn| conn.request(&req))
            .and_then(|r| match KafkaCode::from_code(r.error_code) {
                None => Ok((r.producer_id, r.producer_epoch)),
                Some(code) => Err(Error::kafka(code, "InitProducerId (idempotent producer)")),
            });
        match result {
            Ok(p) => {
                log::debug!("producer id {} epoch {}", p.0, p.1);
                self.producer = Some(p);
                self.init_failures = 0;
                if self.needs_reset {
                    self.needs_reset = false;
                    self.sequences.clear();
                    self.confirmed.clear();
                    for q in self.retries.values_mut() {
                        for b in q.iter_mut() {
                            b.base_sequence = None;
                        }
                    }
                }
            }
            Err(e) => {
                // Connect failures, authentication ones included, are
                // already warned about (throttled) by the connection pool.
                if e.is_authentication() {
                    // Retrying will not help until the configuration (or the
                    // broker's) changes: the records waiting for a producer id
                    // fail with the cause now rather than with a timeout later;
                    // new records try again.
                    log::debug!("InitProducerId failed: {e}; failing the waiting records");
                    self.fail_all(e);
                } else if e.is_retriable() {
                    log::debug!("InitProducerId failed: {e}; retrying");
                } else {
                    log::warn!("InitProducerId failed: {e}; retrying");
                }
                self.init_failures += 1;
                self.next_init_attempt = Instant::now()
                    + self
                        .shared
                        .cluster
                        .settings()
                        .retry_policy()
                        .delay(self.init_failures);
            }
        }
    }

    /// Drains what is ready and sends it. Returns when an open batch becomes
    /// ready next.
    fn send_ready(&mut self, now: Instant) -> Option<Instant> {
        if self.idempotent() && (self.producer.is_none() || self.needs_reset) {
            return None;
        }
        let md = self.shared.cluster.metadata();
        let max_in_flight = self.shared.settings.max_in_flight;
        let mut per_node: BTreeMap<i32, Vec<SentBatch>> = BTreeMap::new();
        let mut planned: HashMap<i32, usize> = HashMap::new();
        let leader_of = |tp: &TopicPartition| leader_node(&md, tp);
        let pool = self.shared.cluster.pool();
        let node_ok =
            |node: i32, planned: &mut HashMap<i32, usize>, in_flight: &HashMap<i32, usize>| {
                let busy = in_flight.get(&node).copied().unwrap_or(0);
                let p = planned.entry(node).or_insert(0);
                if *p == 0 && busy < max_in_flight && !pool.is_backing_off(node) {
                    *p = 1;
                }
                *p == 1
            };
        let mut missing_leader = false;
        // max.in.flight.requests.per.connection=1 promises order without
        // idempotence (as in Java): a partition then has at most one batch
        // in flight anywhere, also when its leader moved meanwhile (a batch
        // sent to the new leader would land before the one the old leader
        // is about to reject).
        let one_at_a_time = max_in_flight == 1;

        // A request holds at most one batch per partition: its response has
        // one result per partition.
        let mut taken: std::collections::HashSet<TopicPartition> = std::collections::HashSet::new();
        // Retries first, in sequence order per partition.
        let tps: Vec<TopicPartition> = self.retries.keys().cloned().collect();
        for tp in tps {
            let q = self.retries.get_mut(&tp).expect("queue");
            let ready = q
                .front()
                .is_some_and(|b| b.retry_at.is_none_or(|t| t <= now));
            if !ready {
                continue;
            }
            if (self.shared.settings.idempotence || one_at_a_time)
                && self.in_flight_per_partition.get(&tp).copied().unwrap_or(0) > 0
            {
                continue;
            }
            let Some(node) = leader_of(&tp) else {
                missing_leader = true;
                continue;
            };
            if !node_ok(node, &mut planned, &self.in_flight_per_node) {
                continue;
            }
            let b = q.pop_front().expect("batch");
            if q.is_empty() {
                self.retries.remove(&tp);
            }
            taken.insert(tp);
            per_node.entry(node).or_default().push(b);
        }

        // Then fresh batches of partitions with nothing waiting for retry.
        let retries = &self.retries;
        let recovering = &self.recovering;
        let in_flight_per_node = &self.in_flight_per_node;
        let in_flight_per_partition = &self.in_flight_per_partition;
        let confirmed = &self.confirmed;
        let idempotent = self.shared.settings.idempotence;
        let partitioner = &self.shared.partitioner;
        let mut chosen_nodes: HashMap<TopicPartition, i32> = HashMap::new();
        let (fresh, next_ready) = self.shared.accumulator.drain(
            now,
            self.shared.settings.linger,
            self.closing.is_some(),
            |tp| {
                if retries.contains_key(tp)
                    || recovering.contains_key(tp)
                    || taken.contains(tp)
                    || (one_at_a_time && in_flight_per_partition.contains_key(tp))
                    || (idempotent
                        && !confirmed.contains(tp)
                        && in_flight_per_partition.contains_key(tp))
                {
                    return false;
                }
                match leader_of(tp) {
                    Some(node) if node_ok(node, &mut planned, in_flight_per_node) => {
                        chosen_nodes.insert(tp.clone(), node);
                        true
                    }
                    Some(_) => false,
                    None => {
                        missing_leader = true;
                        false
                    }
                }
            },
            |tp| {
                let n = md.partition_count(&tp.topic).unwrap_or(1);
                partitioner.on_new_batch(&tp.topic, tp.partition, n);
            },
        );
        if missing_leader {
            self.shared.cluster.request_refresh();
        }
        for b in fresh {
            let node = chosen_nodes[&b.tp];
            if let Some(sb) = self.seal(b) {
                per_node.entry(node).or_default().push(sb);
            }
        }
        for (node, batches) in per_node {
            self.send_to(node, batches);
        }
        next_ready
    }

    /// Finishes a batch's bytes: producer id, epoch and sequence; compression.
    /// A batch that cannot be encoded fails here (None).
    fn seal(&mut self, b: ProducerBatch) -> Option<SentBatch> {
        let (state, seq) = self.producer_state(&b.tp, b.record_count);
        let ProducerBatch {
            tp,
            builder,
            record_count,
            created,
            result,
            callbacks,
            reserved,
            ..
        } = b;
        match builder.finish(state, self.shared.settings.compression) {
            Ok(bytes) => Some(SentBatch {
                tp,
                bytes: Bytes::from(bytes),
                record_count,
                first_index: 0,
                whole: record_count,
                created,
                result,
                callbacks,
                reserved,
                attempts: 0,
                base_sequence: seq,
                retry_at: None,
                last_error: None,
                recovering: false,
                resequenced: false,
            }),
            Err(e) => {
                let err = Error::InvalidArgument(format!("cannot encode a batch for {tp}: {e}"));
                self.shared
                    .counters
                    .records_failed
                    .fetch_add(record_count as u64, Ordering::Relaxed);
                complete(
                    &self.shared,
                    &result,
                    Span::whole(record_count),
                    reserved,
                    callbacks,
                    Err(err),
                );
                None
            }
        }
    }

    /// The producer state for the next batch of `tp`, taking its sequence numbers.
    fn producer_state(
        &mut self,
        tp: &TopicPartition,
        records: i32,
    ) -> (ProducerState, Option<i32>) {
        match self.producer {
            Some((pid, epoch)) if self.idempotent() => {
                let seq = self.sequences.entry(tp.clone()).or_insert(0);
                let base = *seq;
                *seq = seq.wrapping_add(records) & i32::MAX;
                (
                    ProducerState {
                        producer_id: pid,
                        producer_epoch: epoch,
                        base_sequence: base,
                        transactional: false,
                    },
                    Some(base),
                )
            }
            _ => (ProducerState::NONE, None),
        }
    }

    fn send_to(&mut self, node: i32, mut batches: Vec<SentBatch>) {
        // Retried batches renumbered after a producer reset need new sequences.
        for b in batches.iter_mut() {
            if self.idempotent() && b.base_sequence.is_none() {
                let (state, seq) = self.producer_state(&b.tp, b.record_count);
                let mut v = b.bytes.to_vec();
                if rewrite_producer_state(&mut v, state).is_ok() {
                    b.bytes = Bytes::from(v);
                    b.base_sequence = seq;
                }
            }
        }
        let s = &self.shared.settings;
        // Split by max.request.size (each request holds at least one batch).
        let mut groups: Vec<Vec<SentBatch>> = Vec::new();
        let mut size = 0;
        for b in batches {
            let len = b.bytes.len() + b.tp.topic.len() + 32;
            if groups.is_empty()
                || (size + len > s.max_request_size && !groups.last().expect("group").is_empty())
            {
                groups.push(Vec::new());
                size = 0;
            }
            size += len;
            groups.last_mut().expect("group").push(b);
        }
        for group in groups {
            self.send_request(node, group);
        }
    }

    fn send_request(&mut self, node: i32, batches: Vec<SentBatch>) {
        let s = &self.shared.settings;
        let mut topics: BTreeMap<&str, Vec<PartitionProduceData>> = BTreeMap::new();
        for b in &batches {
            topics
                .entry(&b.tp.topic)
                .or_default()
                .push(PartitionProduceData {
                    index: b.tp.partition,
                    records: Some(b.bytes.clone()),
                    ..Default::default()
                });
        }
        let req = ProduceRequest {
            transactional_id: None,
            acks: s.acks,
            timeout_ms: s.common.request_timeout.as_millis().min(i32::MAX as u128) as i32,
            topic_data: topics
                .into_iter()
                .map(|(name, partition_data)| TopicProduceData {
                    name: name.to_string(),
                    partition_data,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let conn = match self.shared.cluster.connection(node) {
            Ok(c) => c,
            Err(e) => {
                self.shared.cluster.request_refresh();
                for b in batches {
                    self.retry_or_fail(b, e.clone(), false);
                }
                return;
            }
        };
        let version = match conn.version::<ProduceRequest>() {
            Ok(v) => v,
            Err(e) => {
                for b in batches {
                    self.finish(b, Err(e.clone()));
                }
                return;
            }
        };
        if s.acks == 0 {
            let res = conn.send_without_response(&req, version);
            for b in batches {
                match &res {
                    Ok(()) => {
                        self.shared
                            .counters
                            .bytes_sent
                            .fetch_add(b.bytes.len() as u64, Ordering::Relaxed);
                        self.finish(
                            b,
                            Ok(BatchAck {
                                base_offset: -1,
                                log_append_time: None,
                            }),
                        )
                    }
                    Err(e) => self.retry_or_fail(b, e.clone(), false),
                }
            }
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        let tx = self.tx.clone();
        let sent = conn.send(&req, version, move |result| {
            let _ = tx.send(Event::Response { id, result });
        });
        for b in &batches {
            *self
                .in_flight_per_partition
                .entry(b.tp.clone())
                .or_insert(0) += 1;
        }
        *self.in_flight_per_node.entry(node).or_insert(0) += 1;
        self.in_flight.insert(
            id,
            InFlightRequest {
                node,
                batches,
                sent_at: Instant::now(),
            },
        );
        if let Err(e) = sent {
            // The callback was not queued; resolve the request here.
            self.on_response(id, Err(e));
        }
    }

    fn on_response(&mut self, id: u64, result: Result<ProduceResponse>) {
        let Some(req) = self.in_flight.remove(&id) else {
            return;
        };
        if let Some(n) = self.in_flight_per_node.get_mut(&req.node) {
            *n = n.saturating_sub(1);
        }
        for b in &req.batches {
            if let Some(n) = self.in_flight_per_partition.get_mut(&b.tp) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.in_flight_per_partition.remove(&b.tp);
                }
            }
        }
        let shared = self.shared.clone();
        let c = &shared.counters;
        c.requests.fetch_add(1, Ordering::Relaxed);
        c.request_latency_us
            .fetch_add(req.sent_at.elapsed().as_micros() as u64, Ordering::Relaxed);
        let broker = self
            .shared
            .cluster
            .metadata()
            .brokers
            .get(&req.node)
            .map(|b| format!("{}:{} (id {})", b.host, b.port, b.node_id))
            .unwrap_or_else(|| format!("node {}", req.node));
        match result {
            Err(e) => {
                self.shared.cluster.request_refresh();
                for b in req.batches {
                    self.retry_or_fail(b, e.clone(), false);
                }
            }
            Ok(resp) => {
                for b in req.batches {
                    let p = resp
                        .responses
                        .iter()
                        .filter(|t| *t.name == *b.tp.topic)
                        .flat_map(|t| t.partition_responses.iter())
                        .find(|p| p.index == b.tp.partition);
                    let Some(p) = p else {
                        let e = Error::protocol(
                            &broker,
                            format!("Produce response has no result for {}", b.tp),
                        );
                        self.retry_or_fail(b, e, false);
                        continue;
                    };
                    match KafkaCode::from_code(p.error_code) {
                        None | Some(KafkaCode::DuplicateSequenceNumber) => {
                            let ack = BatchAck {
                                base_offset: p.base_offset,
                                log_append_time: (p.log_append_time_ms >= 0)
                                    .then_some(p.log_append_time_ms),
                            };
                            c.bytes_sent
                                .fetch_add(b.bytes.len() as u64, Ordering::Relaxed);
                            c.batches_sent.fetch_add(1, Ordering::Relaxed);
                            if self.shared.settings.idempotence {
                                self.confirmed.insert(b.tp.clone());
                            }
                            self.finish(b, Ok(ack));
                        }
                        Some(code) => {
                            let mut message = p.error_message.clone();
                            if let Some(first) = p.record_errors.first() {
                                let detail = format!(
                                    "record {} of the batch: {}",
                                    first.batch_index,
                                    first
                                        .batch_index_error_message
                                        .as_deref()
                                        .unwrap_or("rejected")
                                );
                                message = Some(
                                    message.map_or(detail.clone(), |m| format!("{m}; {detail}")),
                                );
                            }
                            let err = Error::Kafka {
                                code,
                                context: format!("Produce to {} on broker {broker}", b.tp),
                                message,
                            };
                            if code == KafkaCode::MessageTooLarge {
                                self.too_large(b, err);
                                continue;
                            }
                            if is_routing_error(code) {
                                self.shared.cluster.request_refresh();
                            }
                            let sequence_problem = matches!(
                                code,
                                KafkaCode::OutOfOrderSequenceNumber | KafkaCode::UnknownProducerId
                            );
                            self.retry_or_fail(b, err, sequence_problem);
                        }
                    }
                }
            }
        }
    }

    /// Retries a failed batch if the rules allow, else fails it.
    fn retry_or_fail(&mut self, mut b: SentBatch, err: Error, sequence_problem: bool) {
        let s = &self.shared.settings;
        let now = Instant::now();
        let mut retriable = err.is_retriable();
        let resequenced = std::mem::take(&mut b.resequenced);
        if sequence_problem && self.idempotent() {
            // Out of order because an earlier batch of this partition failed
            // and waits for retry: this one just goes back in line. Otherwise
            // the broker lost our producer state: renumber with a new id.
            // Or because an earlier batch failed for good and this one's
            // sequence moved down meanwhile (`release_sequences`).
            let explained = resequenced
                || self
                    .retries
                    .get(&b.tp)
                    .and_then(|q| q.front())
                    .and_then(|f| f.base_sequence)
                    .zip(b.base_sequence)
                    .is_some_and(|(first, mine)| first < mine);
            if !explained {
                self.needs_reset = true;
            }
            retriable = true;
        }
        // The one backoff formula (as `cluster::Retry`): retry.backoff.ms
        // doubling per attempt up to retry.backoff.max.ms, with jitter.
        let backoff = self
            .shared
            .cluster
            .settings()
            .retry_policy()
            .delay(b.attempts + 1);
        let within_timeout = now + backoff < b.created + s.delivery_timeout;
        if retriable && b.attempts < s.retries && within_timeout {
            if !b.recovering {
                b.recovering = true;
                *self.recovering.entry(b.tp.clone()).or_insert(0) += 1;
            }
            b.attempts += 1;
            b.retry_at = Some(now + backoff);
            log::debug!(
                "retrying a batch for {} (attempt {}): {err}",
                b.tp,
                b.attempts
            );
            b.last_error = Some(err);
            self.shared.counters.retries.fetch_add(1, Ordering::Relaxed);
            let q = self.retries.entry(b.tp.clone()).or_default();
            let pos = match b.base_sequence {
                Some(seq) => q
                    .iter()
                    .position(|o| o.base_sequence.is_some_and(|s2| s2 > seq))
                    .unwrap_or(q.len()),
                None => q.len(),
            };
            q.insert(pos, b);
        } else {
            let err = if retriable && !within_timeout {
                delivery_timeout_error(
                    &b.tp,
                    b.record_count,
                    now.duration_since(b.created),
                    s.delivery_timeout,
                    Some(&err),
                )
            } else {
                err
            };
            self.finish(b, Err(err));
        }
    }

    fn fail_unsent(&mut self, b: ProducerBatch, err: Error) {
        self.shared
            .counters
            .records_failed
            .fetch_add(b.record_count as u64, Ordering::Relaxed);
        complete(
            &self.shared,
            &b.result,
            Span::whole(b.record_count),
            b.reserved,
            b.callbacks,
            Err(err),
        );
    }

    /// A batch counted in `recovering` is resolved (or replaced by its parts).
    fn recovered(&mut self, tp: &TopicPartition) {
        if let Some(n) = self.recovering.get_mut(tp) {
            *n -= 1;
            if *n == 0 {
                self.recovering.remove(tp);
            }
        }
    }

    fn finish(&mut self, b: SentBatch, result: Result<BatchAck>) {
        if b.recovering {
            self.recovered(&b.tp);
        }
        let c = &self.shared.counters;
        match &result {
            Ok(_) => c
                .records_sent
                .fetch_add(b.record_count as u64, Ordering::Relaxed),
            Err(_) => c
                .records_failed
                .fetch_add(b.record_count as u64, Ordering::Relaxed),
        };
        let span = b.span();
        complete(
            &self.shared,
            &b.result,
            span,
            b.reserved,
            b.callbacks,
            result,
        );
    }

    fn abort_all(&mut self, why: &str) {
        self.fail_all(Error::Closed(format!("producer ({why})")));
    }

    /// Fails every batch not yet acknowledged with `err`.
    fn fail_all(&mut self, err: Error) {
        for b in self.shared.accumulator.take_all() {
            self.fail_unsent(b, err.clone());
        }
        let retries: Vec<SentBatch> = std::mem::take(&mut self.retries)
            .into_values()
            .flatten()
            .collect();
        for b in retries {
            self.finish(b, Err(err.clone()));
        }
        let in_flight: Vec<SentBatch> = self
            .in_flight
            .drain()
            .flat_map(|(_, r)| r.batches)
            .collect();
        for b in in_flight {
            self.finish(b, Err(err.clone()));
        }
    }
}

/// Publishes the outcome of a batch (or of the part `span` of a split one):
/// a failure is noted for the next `flush`/`close` first (a flush waiting on
/// this batch must see it), then callbacks run and handles complete; then
/// its memory is released, and once every record of the batch has its
/// outcome, flushes stop waiting for it.
fn complete(
    shared: &Shared,
    result: &Arc<BatchResult>,
    span: Span,
    reserved: usize,
    callbacks: Vec<(i32, i64, DeliveryCallback)>,
    outcome: Result<BatchAck>,
) {
    if let Err(e) = &outcome {
        shared.record_failure(span.count, e);
    }
    for (index, ts, cb) in callbacks {
        cb(result.metadata(index - span.first, ts, &outcome));
    }
    if result.complete(span, outcome) {
        shared.accumulator.completed(result.id, reserved, None);
    } else {
        shared.accumulator.memory.release(reserved);
    }
}

/// Fails batches left in the accumulator once the sender thread has stopped
/// (a `send` that raced with `close`), so that no handle waits forever.
pub(crate) fn fail_leftovers(shared: &Shared) {
    for b in shared.accumulator.take_all() {
        shared
            .counters
            .records_failed
            .fetch_add(b.record_count as u64, Ordering::Relaxed);
        complete(
            shared,
            &b.result,
            Span::whole(b.record_count),
            b.reserved,
            b.callbacks,
            Err(Error::Closed(
                "producer (closed while this record was being sent)".into(),
            )),
        );
    }
}

/// The node a batch of `tp` goes to, or `None` while its leader is unknown:
/// none (-1), or one the metadata names but does not list among its brokers
/// (a broker restarting, a lagging answer). `None` is retriable: the batch
/// stays queued, a metadata refresh is requested, and it is sent once fresh
/// metadata lists the leader, or expires at delivery.timeout.ms (with the
/// unlisted broker as last error), never failed at once.
fn leader_node(md: &ClusterMetadata, tp: &TopicPartition) -> Option<i32> {
    md.leader(&tp.topic, tp.partition).map(|b| b.node_id)
}

fn delivery_timeout_error(
    tp: &TopicPartition,
    records: i32,
    age: Duration,
    timeout: Duration,
    last: Option<&Error>,
) -> Error {
    let mut what = format!(
        "expiring {records} record(s) for {tp}: {} ms has passed since batch creation (delivery.timeout.ms)",
        age.as_millis()
    );
    if let Some(e) = last {
        what.push_str(&format!("; last error: {e}"));
    }
    Error::Timeout {
        what,
        after: timeout,
    }
}

#[cfg(test)]
mod tests;
