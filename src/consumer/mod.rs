//! The consumer: reads records from the partitions it is given.
//!
//! ```no_run
//! use std::time::Duration;
//! use kafka_blocking::consumer::{Consumer, StringDeserializer, TopicPartition};
//! use kafka_blocking::ConsumerConfig;
//!
//! let mut consumer = Consumer::new(
//!     ConsumerConfig::new()
//!         .bootstrap_servers("localhost:9092")
//!         .set("auto.offset.reset", "earliest"),
//! )?;
//! consumer.assign(vec![TopicPartition::new("science", 0)])?;
//! loop {
//!     for record in consumer.poll(Duration::from_secs(1))? {
//!         let value: Option<String> = record.value_as(&StringDeserializer)?;
//!         println!("{}@{}: {:?}", record.partition, record.offset, value);
//!     }
//! }
//! # Ok::<(), kafka_blocking::Error>(())
//! ```
//!
//! # Threads and the poll loop
//! A consumer belongs to one thread (it is `Send`; its methods take `&mut
//! self`). Nothing runs behind the application's back: besides the broker
//! connections' reader threads, all work happens inside [`Consumer::poll`]
//! (and the blocking offset lookups). `poll` is a loop over events: it keeps
//! one Fetch request in flight per broker fetched from (a partition's leader,
//! or the preferred read replica the leader names, KIP-392), covering every
//! assigned, unpaused partition it serves with a position, and waits on one
//! channel (into which the reader threads forward responses) until the
//! earliest of its deadline and its timers. Before `poll` returns records, the
//! next Fetch to each broker whose response was processed is already sent
//! (pipelining), so the brokers fill it while the application works.
//!
//! Memory: at most one Fetch (`fetch.max.bytes`) in flight per broker, and a
//! partition is fetched again only while its unconsumed buffered data is
//! below `max.partition.fetch.bytes` (and all buffered data below
//! `fetch.max.bytes`).
//!
//! # Settings
//! The Java names and defaults: `fetch.min.bytes` (1), `fetch.max.wait.ms`
//! (500), `fetch.max.bytes` (52428800), `max.partition.fetch.bytes`
//! (1048576), `max.poll.records` (500), `auto.offset.reset` (latest;
//! earliest, latest or none), `isolation.level` (read_uncommitted or
//! read_committed), `check.crcs` (true), `client.id`, `receive.buffer.bytes`,
//! `request.timeout.ms`, `retry.backoff.ms`, `default.api.timeout.ms` (for
//! the blocking offset lookups), `client.rack`; and librdkafka's
//! `enable.partition.eof` (false; see [`ConsumerRecords::partition_eofs`]).
//!
//! # Batch jobs: reading up to the end and stopping
//! [`Consumer::stop_at_end_offsets`] captures the end offsets of the
//! subscription (or assignment) and `poll` then returns records only up to
//! them; [`Consumer::reached_stop_offsets`] says when this consumer has
//! everything it must read (in a group: of the partitions it holds). Then
//! commit and close. `examples/batch_job.rs` is the whole shape.

pub mod assignor;
mod completed;
mod deserializer;
mod fetcher;
mod group;
mod membership;
mod offsets;
mod record;
mod session;
mod state;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::cluster::{Cluster, ClusterSettings};
use crate::config::{AutoOffsetReset, ConsumerConfig};
use crate::error::{Error, Result};
use crate::protocol::messages::{FetchResponse, ListOffsetsResponse};

pub use deserializer::{
    BytesDeserializer, DeserializeError, Deserializer, IntegerDeserializer, StringDeserializer,
};
pub use record::{
    ConsumerRecord, ConsumerRecords, Header, OffsetAndTimestamp, TimestampType, TopicPartition,
};

pub use group::{ConsumerGroupMetadata, ConsumerRebalanceListener, OffsetAndMetadata};

use fetcher::{FetchSettings, Fetcher};
use state::{OffsetResetPolicy, ResetTo};

/// Something that happened while the application was away: a response
/// delivered by a connection's reader thread. The poll loop handles events
/// in order; the group's timers (next heartbeat, next auto-commit, retry
/// backoffs) set its next wake-up.
pub(crate) enum Event {
    /// A Fetch response (or its failure) from broker `node`.
    Fetch {
        node: i32,
        id: u64,
        result: Result<FetchResponse>,
    },
    /// A ListOffsets response for offset resets.
    ListOffsets {
        node: i32,
        id: u64,
        result: Result<ListOffsetsResponse>,
    },
    /// A response to a request of the group coordinator (FindCoordinator,
    /// JoinGroup, SyncGroup, heartbeats, commits, OffsetFetch).
    Group(group::Response),
    /// [`WakeupHandle::wakeup`] was called: ends the poll loop's wait at
    /// once (the flag it set makes `poll` return [`Error::Wakeup`]).
    Wakeup,
}

/// Wakes a [`Consumer`] up from another thread (Java's
/// `KafkaConsumer.wakeup()`): from [`Consumer::wakeup_handle`]; cheap to
/// clone, `Send + Sync`.
///
/// ```no_run
/// # use std::time::Duration;
/// # fn f(mut consumer: kafka_blocking::consumer::Consumer) -> kafka_blocking::Result<()> {
/// use kafka_blocking::Error;
///
/// let waker = consumer.wakeup_handle();
/// // e.g. from a signal handler thread: stop the consumer promptly.
/// std::thread::spawn(move || waker.wakeup());
/// loop {
///     match consumer.poll(Duration::from_secs(30)) {
///         Ok(records) => { /* process */ }
///         Err(Error::Wakeup) => break,
///         Err(e) => return Err(e),
///     }
/// }
/// consumer.close_timeout(Duration::from_secs(10))?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WakeupHandle {
    flag: Arc<AtomicBool>,
    events: Sender<Event>,
}

impl WakeupHandle {
    /// Makes the [`Consumer::poll`] in progress return [`Error::Wakeup`] at
    /// once, or, when none is in progress, the next `poll` (as Java). One
    /// wakeup ends one `poll`; several before it are one. The consumer stays
    /// usable: the following `poll` works normally. Does nothing once the
    /// consumer is gone.
    ///
    /// A `poll` waiting for responses (fetches, the group's requests, the
    /// metadata) returns at once; a blocking call (`commit_sync`,
    /// `committed`, `position`) finishes first and the next `poll` returns
    /// [`Error::Wakeup`].
    pub fn wakeup(&self) {
        if !self.flag.swap(true, Ordering::SeqCst) {
            // Ends a wait in progress; nothing listens once the consumer is
            // dropped, and then there is nothing to wake.
            let _ = self.events.send(Event::Wakeup);
        }
    }
}

impl std::fmt::Debug for WakeupHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WakeupHandle")
            .field("pending", &self.flag.load(Ordering::SeqCst))
            .finish()
    }
}

const _: () = {
    const fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<WakeupHandle>();
};

/// How long [`Consumer::close`] waits at most for the commit on close and
/// the LeaveGroup request (Java's default close timeout).
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long dropping a [`Consumer`] that was not closed waits at most for the
/// commit on close and the LeaveGroup request. Nothing is sent (no wait at
/// all) when it is dropped while its thread panics.
pub const DROP_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A Kafka consumer: reads partitions it is assigned ([`Consumer::assign`])
/// or that its group gives it ([`Consumer::subscribe`], with `group.id`).
///
/// See the [module documentation](self) for the threading model and settings.
pub struct Consumer {
    fetcher: Fetcher,
    events: Receiver<Event>,
    /// Kept so the channel never disconnects while the consumer lives; the
    /// group's heartbeats and commits send their responses through it.
    events_sender: Sender<Event>,
    api_timeout: Duration,
    closed: bool,
    /// Set by [`WakeupHandle::wakeup`]; taken by `poll`.
    wakeup: Arc<AtomicBool>,
    /// Group membership (when group.id is set).
    group: Option<group::Coordinator>,
    listener: Option<Box<dyn ConsumerRebalanceListener>>,
}

const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<Consumer>();
};

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("assignment", &self.fetcher.subs.order())
            .field("closed", &self.closed)
            .finish()
    }
}

impl Consumer {
    /// Builds a consumer; fails on invalid configuration. Nothing is
    /// connected until the first call that needs a broker.
    pub fn new(config: ConsumerConfig) -> Result<Consumer> {
        let s = config.settings()?;
        let mut cluster_settings = ClusterSettings::from_settings(&s.common)?;
        cluster_settings.allow_auto_create_topics = s.allow_auto_create_topics;
        let settings = FetchSettings {
            min_bytes: s.fetch_min_bytes,
            max_wait: s.fetch_max_wait,
            max_bytes: s.fetch_max_bytes,
            max_partition_bytes: s.max_partition_fetch_bytes,
            max_poll_records: s.max_poll_records,
            reset_policy: match s.auto_offset_reset {
                AutoOffsetReset::Earliest => OffsetResetPolicy::Earliest,
                AutoOffsetReset::Latest => OffsetResetPolicy::Latest,
                AutoOffsetReset::None => OffsetResetPolicy::None,
            },
            read_committed: s.read_committed,
            check_crcs: s.check_crcs,
            retry_backoff: s.common.retry_backoff,
            api_timeout: s.default_api_timeout,
            rack: s.client_rack.clone().unwrap_or_default(),
            max_response: s.common.receive_message_max_bytes,
            partition_eof: s.enable_partition_eof,
        };
        let (tx, rx) = mpsc::channel();
        Ok(Consumer {
            api_timeout: settings.api_timeout,
            fetcher: Fetcher::new(
                Arc::new(Cluster::new(cluster_settings)),
                settings,
                tx.clone(),
            ),
            events: rx,
            events_sender: tx,
            closed: false,
            wakeup: Arc::new(AtomicBool::new(false)),
            group: s.group.map(group::Coordinator::new).transpose()?,
            listener: None,
        })
    }

    /// Builds a consumer whose group uses the given assignors (in preference
    /// order) instead of `partition.assignment.strategy`: the way to plug in a
    /// custom [`PartitionAssignor`](assignor::PartitionAssignor).
    pub fn with_assignors(
        config: ConsumerConfig,
        assignors: Vec<Box<dyn assignor::PartitionAssignor>>,
    ) -> Result<Consumer> {
        if assignors.is_empty() {
            return Err(Error::InvalidArgument(
                "with_assignors needs at least one assignor".into(),
            ));
        }
        let mut c = Consumer::new(config)?;
        match c.group.as_mut() {
            Some(g) => g.set_assignors(assignors)?,
            None => {
                return Err(Error::config(
                    "group.id",
                    "",
                    "assignors need a consumer group: set group.id",
                ));
            }
        }
        Ok(c)
    }

    fn ensure_open(&self) -> Result<()> {
        if self.closed {
            Err(Error::Closed("consumer".into()))
        } else {
            Ok(())
        }
    }

    fn assigned(&self, tp: &TopicPartition) -> Result<()> {
        if self.fetcher.subs.get(tp).is_some() {
            Ok(())
        } else {
            Err(Error::InvalidArgument(format!(
                "partition {tp} is not assigned to this consumer (assigned: {})",
                list_or_none(self.fetcher.subs.order())
            )))
        }
    }

    /// A handle that makes this consumer's `poll` return [`Error::Wakeup`]
    /// from another thread: see [`WakeupHandle::wakeup`]. All handles of a
    /// consumer share one wakeup.
    pub fn wakeup_handle(&self) -> WakeupHandle {
        WakeupHandle {
            flag: self.wakeup.clone(),
            events: self.events_sender.clone(),
        }
    }

    /// [`WakeupHandle::wakeup`] on this consumer (from its own thread, e.g.
    /// in a rebalance listener); from another thread use a
    /// [`Consumer::wakeup_handle`].
    pub fn wakeup(&self) {
        self.wakeup_handle().wakeup();
    }

    /// Takes a pending wakeup: `Err(Error::Wakeup)` when there was one.
    fn check_wakeup(&self) -> Result<()> {
        if self.wakeup.swap(false, Ordering::SeqCst) {
            Err(Error::Wakeup)
        } else {
            Ok(())
        }
    }

    /// The routing layer (metadata and connections) behind this consumer
    /// (cargo feature `unstable`: a lower-layer type, without semver
    /// guarantee).
    #[cfg(feature = "unstable")]
    pub fn cluster(&self) -> &Cluster {
        &self.fetcher.cluster
    }

    /// Reads exactly these partitions from now on (replacing any previous
    /// assignment; an empty list unassigns everything). Partitions kept from
    /// the previous assignment keep their position, pause state and buffered
    /// records; new ones start without a position (see `auto.offset.reset`).
    pub fn assign(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) -> Result<()> {
        self.ensure_open()?;
        let partitions: Vec<TopicPartition> = partitions.into_iter().collect();
        for tp in &partitions {
            crate::cluster::validate_topic_name(&tp.topic)
                .map_err(|e| Error::InvalidArgument(format!("cannot assign {tp}: {e}")))?;
            if tp.partition < 0 {
                return Err(Error::InvalidArgument(format!(
                    "cannot assign {tp}: the partition number must be >= 0"
                )));
            }
        }
        let mut topics: Vec<&str> = partitions.iter().map(|tp| &*tp.topic).collect();
        topics.sort_unstable();
        topics.dedup();
        self.fetcher.cluster.add_topics(&topics);
        self.fetcher.subs.assign(partitions);
        Ok(())
    }

    /// The assigned partitions, in the order given to [`Consumer::assign`].
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.fetcher.subs.order().to_vec()
    }

    /// The partitions of `topic`, from metadata (waiting up to
    /// `default.api.timeout.ms` for it).
    pub fn partitions_for(&mut self, topic: &str) -> Result<Vec<TopicPartition>> {
        self.ensure_open()?;
        crate::cluster::validate_topic_name(topic)?;
        let t = self
            .fetcher
            .cluster
            .wait_for_topic(topic, Instant::now() + self.api_timeout)?;
        Ok(t.partitions
            .iter()
            .map(|p| TopicPartition::new(topic, p.partition))
            .collect())
    }

    /// Waits up to `timeout` for records and returns those available (at
    /// most `max.poll.records`), in offset order per partition. Returns an
    /// empty batch when none arrived in time. With `enable.partition.eof=true`
    /// it also returns as soon as a partition reaches its end, listing it in
    /// [`ConsumerRecords::partition_eofs`]. In a bounded read
    /// ([`Consumer::stop_at_offsets`]) no record at or after a partition's
    /// stop offset is returned.
    ///
    /// Fails when a partition has no position and `auto.offset.reset=none`,
    /// when a fetched batch is corrupt (the position stays before it), on an
    /// out-of-range offset with `auto.offset.reset=none`, and on
    /// non-retriable broker errors (e.g. TOPIC_AUTHORIZATION_FAILED). Records
    /// collected before such an error are returned first; the error comes
    /// with the next call.
    ///
    /// Returns [`Error::Wakeup`] at once when [`WakeupHandle::wakeup`] is
    /// called during the wait (or was called since the last `poll`); no
    /// record is lost (positions only move for records returned).
    ///
    /// In a group, `poll` is also what heartbeats and commits (there is no
    /// background thread): call it at least every `max.poll.interval.ms`, and
    /// during long processing pause the partitions and keep polling (see
    /// [`Consumer::pause`]).
    pub fn poll(&mut self, timeout: Duration) -> Result<ConsumerRecords> {
        // A timeout (e.g. of the group's rebalance) names unreachable
        // brokers when there are any: the real cause.
        self.poll_inner(timeout)
            .map_err(|e| self.fetcher.cluster.annotate(e))
    }

    fn poll_inner(&mut self, timeout: Duration) -> Result<ConsumerRecords> {
        self.ensure_open()?;
        let start = Instant::now();
        let deadline = start
            .checked_add(timeout)
            .unwrap_or(start + Duration::from_secs(86400 * 365));
        self.check_wakeup()?;
        self.group_on_poll(start)?;
        loop {
            while let Ok(event) = self.events.try_recv() {
                self.handle(event);
            }
            // Before records are collected: a wakeup loses none.
            self.check_wakeup()?;
            self.group_step(Instant::now(), deadline)?;
            self.check_wakeup()?;
            self.maintain(Instant::now())?;
            let records = self.fetcher.collect()?;
            // Pipelining: the next fetches are sent before records are returned.
            self.fetcher.send_fetches(Instant::now());
            let now = Instant::now();
            if !records.is_empty() || !records.partition_eofs().is_empty() || now >= deadline {
                return Ok(records);
            }
            self.wait_for_event(now, deadline)?;
        }
    }

    /// The poll loop's timed work, run after the group's step and before
    /// records are collected: offset resets (auto.offset.reset; partitions
    /// still waiting for their committed offset are left alone), metadata
    /// refresh.
    fn maintain(&mut self, now: Instant) -> Result<()> {
        self.fetcher.apply_reset_policy()?;
        if let Err(e) = self.fetcher.cluster.maybe_refresh() {
            // Authentication and TLS failures need a configuration change:
            // raised at once, as Java's AuthenticationException.
            if e.is_authentication() {
                return Err(e);
            }
            log::debug!("metadata refresh failed: {e}");
        }
        if let Some(e) = self.fetcher.cluster.take_unauthorized() {
            return Err(e);
        }
        self.fetcher.send_resets(now);
        Ok(())
    }

    /// Waits for one event until the earliest of `deadline` and the loop's
    /// timers, and handles it.
    fn wait_for_event(&mut self, now: Instant, deadline: Instant) -> Result<()> {
        let wake = self.next_wakeup(now).map_or(deadline, |t| t.min(deadline));
        match self
            .events
            .recv_timeout(wake.saturating_duration_since(now))
        {
            Ok(event) => self.handle(event),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Err(Error::Closed("consumer".into())),
        }
        Ok(())
    }

    /// The earliest time the poll loop must wake up even without a response:
    /// retry backoffs, metadata waits and the group's timers (next
    /// heartbeat, next auto-commit, retries of its requests).
    fn next_wakeup(&self, now: Instant) -> Option<Instant> {
        let fetch = self.fetcher.next_wakeup(now);
        let group = self.group.as_ref().and_then(|g| g.next_wakeup());
        match (fetch, group) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Fetch { node, id, result } => self.fetcher.handle_fetch(node, id, result),
            Event::ListOffsets { node, id, result } => {
                self.fetcher.handle_list_offsets(node, id, result)
            }
            Event::Group(response) => self.handle_group(response),
            // The flag, not the event, makes poll return Error::Wakeup.
            Event::Wakeup => {}
        }
    }

    /// A blocking iterator over records for batch jobs: it polls with
    /// `idle_timeout` and ends when a poll returns nothing (no record arrived
    /// for that long) or after yielding an error.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # fn f(consumer: &mut kafka_blocking::consumer::Consumer) -> kafka_blocking::Result<()> {
    /// for record in consumer.iter(Duration::from_secs(5)) {
    ///     let record = record?;
    ///     println!("{} {:?}", record.offset, record.value);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn iter(&mut self, idle_timeout: Duration) -> Iter<'_> {
        Iter {
            consumer: self,
            idle_timeout,
            buffered: Vec::new().into_iter(),
            done: false,
        }
    }

    /// Starts a bounded read: from now on `poll` returns no record of a
    /// partition at or after its offset here (exclusive, like an end offset)
    /// and stops fetching it once its position is there, and
    /// [`Consumer::reached_stop_offsets`] tells when every assigned partition
    /// got there. Replaces earlier stop offsets; partitions not in `offsets`
    /// are read without bound.
    ///
    /// The map may name partitions not assigned now: in a group, a partition
    /// assigned later is read up to its stop offset from where it starts (its
    /// committed offset), and one that moves to another member is no longer
    /// this member's to finish. [`Consumer::stop_at_end_offsets`] captures
    /// the current ends and calls this.
    pub fn stop_at_offsets(&mut self, offsets: HashMap<TopicPartition, i64>) -> Result<()> {
        self.ensure_open()?;
        if let Some((tp, o)) = offsets.iter().find(|(_, o)| **o < 0) {
            return Err(Error::InvalidArgument(format!(
                "stop offset {o} for {tp} is negative"
            )));
        }
        self.fetcher.stop_offsets = Some(offsets);
        Ok(())
    }

    /// Captures the end offset of every partition of the subscription (every
    /// partition of the subscribed topics, whoever is assigned them) or,
    /// without a subscription, of the assignment, and starts a bounded read
    /// up to them ([`Consumer::stop_at_offsets`]). Returns the captured
    /// offsets. An end offset is the high watermark, or the last stable
    /// offset under read_committed; whatever is written after this call is
    /// not read.
    ///
    /// The shape of a batch job:
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # fn f(consumer: &mut kafka_blocking::consumer::Consumer) -> kafka_blocking::Result<()> {
    /// consumer.subscribe(&["events"])?;
    /// consumer.stop_at_end_offsets()?;
    /// while !consumer.reached_stop_offsets() {
    ///     for record in consumer.poll(Duration::from_secs(1))? {
    ///         println!("{} {:?}", record.offset, record.value);
    ///     }
    /// }
    /// consumer.commit_sync()?;
    /// # Ok(()) }
    /// ```
    ///
    /// With a pattern subscription, topics that match later are read without
    /// bound.
    pub fn stop_at_end_offsets(&mut self) -> Result<HashMap<TopicPartition, i64>> {
        self.ensure_open()?;
        let partitions = if self.subscribed() {
            let mut all = Vec::new();
            for topic in self.resolve_subscription()? {
                all.extend(self.partitions_for(&topic)?);
            }
            all
        } else {
            self.assignment()
        };
        let ends = self.end_offsets(&partitions)?;
        self.stop_at_offsets(ends.clone())?;
        Ok(ends)
    }

    /// Ends a bounded read: every partition is read without bound again.
    pub fn clear_stop_offsets(&mut self) {
        self.fetcher.stop_offsets = None;
    }

    /// The stop offsets of the bounded read, if one is under way.
    pub fn stop_offsets(&self) -> Option<&HashMap<TopicPartition, i64>> {
        self.fetcher.stop_offsets.as_ref()
    }

    /// True when a bounded read is finished for this consumer: every assigned
    /// partition with a stop offset has its position at or past it (so every
    /// record before it was returned by `poll`), and, in a group, the member
    /// holds a settled assignment (it joined and no rebalance is pending
    /// that it knows of). False before a bounded read was started.
    ///
    /// An empty partition finishes once its position is known; a compacted
    /// one even when its last offsets were removed; a transactional one
    /// even when its end is a commit or abort marker. A member that got no
    /// partitions finishes as soon as it joined.
    pub fn reached_stop_offsets(&self) -> bool {
        if self.fetcher.stop_offsets.is_none() {
            return false;
        }
        if self.group_rebalancing() {
            return false;
        }
        self.fetcher.subs.iter().all(|st| {
            self.fetcher.stopped(st)
                || !self
                    .fetcher
                    .stop_offsets
                    .as_ref()
                    .is_some_and(|m| m.contains_key(&st.tp()))
        })
    }

    /// Sets the offset the next poll reads `tp` from (buffered records of `tp`
    /// are dropped).
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.ensure_open()?;
        self.assigned(tp)?;
        if offset < 0 {
            return Err(Error::InvalidArgument(format!(
                "cannot seek {tp} to negative offset {offset}; use seek_to_beginning or seek_to_end"
            )));
        }
        self.fetcher
            .subs
            .get_mut(tp)
            .expect("assigned")
            .seek(offset);
        Ok(())
    }

    fn seek_to(&mut self, partitions: &[TopicPartition], to: ResetTo) -> Result<()> {
        self.ensure_open()?;
        let all;
        let partitions = if partitions.is_empty() {
            all = self.assignment();
            &all
        } else {
            partitions
        };
        for tp in partitions {
            self.assigned(tp)?;
        }
        for tp in partitions {
            self.fetcher
                .subs
                .get_mut(tp)
                .expect("assigned")
                .request_reset(to);
        }
        Ok(())
    }

    /// Moves the given partitions (all assigned ones when empty) to their
    /// first offset. Evaluated lazily, by the next `poll` or `position`.
    pub fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_to(partitions, ResetTo::Earliest)
    }

    /// Moves the given partitions (all assigned ones when empty) to their end
    /// (the last stable offset under read_committed). Evaluated lazily, by the
    /// next `poll` or `position`.
    pub fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_to(partitions, ResetTo::Latest)
    }

    /// The offset of the next record `poll` will return for `tp`, looking it
    /// up (per a pending seek_to_beginning/end, or auto.offset.reset) when it
    /// is not known yet, waiting up to `default.api.timeout.ms`.
    pub fn position(&mut self, tp: &TopicPartition) -> Result<i64> {
        self.ensure_open()?;
        self.assigned(tp)?;
        let st = self.fetcher.subs.get(tp).expect("assigned");
        if let Some(p) = st.position {
            return Ok(p);
        }
        if st.awaiting_committed {
            // Newly assigned by the group: its committed offset first.
            let generation = st.generation;
            let committed = self.committed(std::slice::from_ref(tp))?;
            let st = self.fetcher.subs.get_mut(tp).expect("assigned");
            if st.generation == generation && st.awaiting_committed {
                match committed.get(tp).cloned().flatten() {
                    Some(om) => st.seek_with_epoch(om.offset, om.leader_epoch),
                    None => st.awaiting_committed = false,
                }
            }
            if let Some(p) = st.position {
                return Ok(p);
            }
        }
        let st = self.fetcher.subs.get(tp).expect("assigned");
        if st.reset.is_none() {
            self.fetcher.apply_reset_policy()?;
        }
        let st = self.fetcher.subs.get(tp).expect("assigned");
        let (to, generation) = (st.reset.expect("reset requested"), st.generation);
        let found = self.fetcher.lookup_offsets(
            &[(tp.clone(), to.timestamp())],
            self.api_timeout,
            "position",
        )?;
        let offset = found
            .get(tp)
            .copied()
            .flatten()
            .map(|o| o.offset)
            .ok_or_else(|| {
                // A broker's answer: not the caller's mistake.
                Error::protocol(
                    format!("leading {tp}"),
                    format!("ListOffsets answered no {to} offset for {tp} and no error code"),
                )
            })?;
        let st = self.fetcher.subs.get_mut(tp).expect("assigned");
        if st.generation == generation && st.position.is_none() {
            st.seek(offset);
        }
        Ok(st.position.unwrap_or(offset))
    }

    /// The first offset of each partition (the log start offset).
    pub fn beginning_offsets(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, i64>> {
        self.edge_offsets(partitions, offsets::EARLIEST, "beginning_offsets")
    }

    /// The end offset of each partition: the high watermark (the offset the
    /// next produced record will get), or the last stable offset under
    /// read_committed.
    pub fn end_offsets(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, i64>> {
        self.edge_offsets(partitions, offsets::LATEST, "end_offsets")
    }

    fn edge_offsets(
        &mut self,
        partitions: &[TopicPartition],
        ts: i64,
        what: &str,
    ) -> Result<HashMap<TopicPartition, i64>> {
        self.ensure_open()?;
        let query: Vec<(TopicPartition, i64)> =
            partitions.iter().map(|tp| (tp.clone(), ts)).collect();
        let found = self
            .fetcher
            .lookup_offsets(&query, self.api_timeout, what)?;
        found
            .into_iter()
            .map(|(tp, o)| match o {
                Some(o) => Ok((tp, o.offset)),
                // A broker's answer: not the caller's mistake.
                None => Err(Error::protocol(
                    format!("leading {tp}"),
                    format!("{what}: ListOffsets answered no offset for {tp} and no error code"),
                )),
            })
            .collect()
    }

    /// For each partition, the earliest offset whose record timestamp is at
    /// least the given one (milliseconds since the epoch), or `None` when
    /// there is no such record.
    pub fn offsets_for_times(
        &mut self,
        query: &[(TopicPartition, i64)],
    ) -> Result<HashMap<TopicPartition, Option<OffsetAndTimestamp>>> {
        self.ensure_open()?;
        if let Some((tp, ts)) = query.iter().find(|(_, ts)| *ts < 0) {
            return Err(Error::InvalidArgument(format!(
                "offsets_for_times: timestamp {ts} for {tp} is negative; use beginning_offsets or end_offsets"
            )));
        }
        self.fetcher
            .lookup_offsets(query, self.api_timeout, "offsets_for_times")
    }

    /// Stops returning records of these partitions (and fetching them) until
    /// [`Consumer::resume`]; records already fetched are kept.
    ///
    /// # Long processing: pause and keep polling
    /// `poll` is what heartbeats, commits and shows the group that the
    /// application is alive (there is no background thread). When processing
    /// a batch takes longer than `session.timeout.ms` or
    /// `max.poll.interval.ms`, do it on another thread (or in steps), pause
    /// every assigned partition, and keep calling `poll` meanwhile: it
    /// returns no records but heartbeats, so the member keeps its partitions
    /// and no rebalance happens. Then resume.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # fn f(consumer: &mut kafka_blocking::consumer::Consumer) -> kafka_blocking::Result<()> {
    /// # fn process(_: Vec<kafka_blocking::consumer::ConsumerRecord>) {}
    /// let records = consumer.poll(Duration::from_secs(1))?;
    /// let assigned = consumer.assignment();
    /// consumer.pause(&assigned)?;
    /// let work = std::thread::spawn(move || process(records.into_vec()));
    /// while !work.is_finished() {
    ///     let none = consumer.poll(Duration::from_millis(500))?;
    ///     assert!(none.is_empty());
    /// }
    /// work.join().expect("processing panicked");
    /// consumer.commit_sync()?;
    /// // A rebalance during the pause (a member joining) may have changed the
    /// // assignment: resume what is assigned now.
    /// let paused = consumer.paused();
    /// consumer.resume(&paused)?;
    /// # Ok(()) }
    /// ```
    ///
    /// Partitions a rebalance assigns during the pause start unpaused.
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.set_paused(partitions, true)
    }

    /// Resumes partitions paused with [`Consumer::pause`], exactly where they stopped.
    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.set_paused(partitions, false)
    }

    fn set_paused(&mut self, partitions: &[TopicPartition], paused: bool) -> Result<()> {
        self.ensure_open()?;
        for tp in partitions {
            self.assigned(tp)?;
        }
        for tp in partitions {
            self.fetcher.subs.get_mut(tp).expect("assigned").paused = paused;
        }
        Ok(())
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.fetcher
            .subs
            .iter()
            .filter(|st| st.paused)
            .map(|st| st.tp())
            .collect()
    }

    /// How far `tp`'s position is behind its high watermark (the last stable
    /// offset under read_committed), as of the last fetch; `None` before the
    /// first fetch response.
    pub fn current_lag(&self, tp: &TopicPartition) -> Option<i64> {
        let st = self.fetcher.subs.get(tp)?;
        let end = if self.fetcher.settings.read_committed {
            st.last_stable_offset
        } else {
            st.high_watermark
        };
        match (st.position, end) {
            (Some(p), e) if e >= 0 => Some((e - p).max(0)),
            _ => None,
        }
    }

    /// [`Consumer::close_timeout`] with [`DEFAULT_CLOSE_TIMEOUT`] (30 s, as
    /// Java's `close()`); a failed commit on close is logged.
    pub fn close(&mut self) {
        if let Err(e) = self.close_timeout(DEFAULT_CLOSE_TIMEOUT) {
            log::warn!("closing the consumer: {e}");
        }
    }

    /// Closes the consumer, waiting at most about `timeout` for the broker:
    /// in a group, commits the consumed positions (with
    /// `enable.auto.commit`), revokes the partitions (the rebalance
    /// listener's `on_partitions_revoked`, not bounded by `timeout`) and
    /// leaves the group (LeaveGroup; not for static members); then closes the
    /// connections and joins their reader threads: no thread outlives the
    /// consumer. Later calls fail with [`Error::Closed`]; closing again does
    /// nothing.
    ///
    /// The consumer is closed whatever happens; the result is the commit on
    /// close's failure, if any (e.g. [`Error::Timeout`] when the coordinator
    /// did not answer in time). `Duration::ZERO` closes without waiting (the
    /// commit and LeaveGroup get one request each, timing out at once).
    /// Dropping a consumer closes it with [`DROP_CLOSE_TIMEOUT`] (and
    /// without any request when its thread panics).
    pub fn close_timeout(&mut self, timeout: Duration) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let now = Instant::now();
        let deadline = now
            .checked_add(timeout)
            .unwrap_or(now + DEFAULT_CLOSE_TIMEOUT);
        // Commit (with auto-commit), revoke and leave the group first.
        let result = self.leave_group_within("the consumer is closing", Some(deadline));
        self.close_connections();
        result
    }

    /// Marks the consumer closed, closes the connections and drops pending
    /// events.
    fn close_connections(&mut self) {
        self.closed = true;
        self.fetcher.close();
        while self.events.try_recv().is_ok() {}
    }

    /// Number of Fetch requests in flight (at most one per broker). For tests
    /// and diagnostics: right after `poll` returns records it is normally
    /// positive, the next fetch having been sent already.
    pub fn fetches_in_flight(&self) -> usize {
        self.fetcher.fetches_in_flight()
    }
}

impl Drop for Consumer {
    /// Closes with [`DROP_CLOSE_TIMEOUT`]; while the thread panics, only the
    /// connections are closed (no commit, no LeaveGroup, no wait: the
    /// group's session timeout frees the partitions).
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        if std::thread::panicking() {
            self.close_connections();
        } else if let Err(e) = self.close_timeout(DROP_CLOSE_TIMEOUT) {
            log::warn!("closing the dropped consumer: {e}");
        }
    }
}

/// Blocking iterator over records, from [`Consumer::iter`].
pub struct Iter<'a> {
    consumer: &'a mut Consumer,
    idle_timeout: Duration,
    buffered: std::vec::IntoIter<ConsumerRecord>,
    done: bool,
}

impl Iterator for Iter<'_> {
    type Item = Result<ConsumerRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(r) = self.buffered.next() {
            return Some(Ok(r));
        }
        if self.done {
            return None;
        }
        loop {
            let started = Instant::now();
            match self.consumer.poll(self.idle_timeout) {
                // Partition end events alone: keep waiting out the idle time.
                Ok(records)
                    if records.is_empty()
                        && !records.partition_eofs().is_empty()
                        && started.elapsed() < self.idle_timeout => {}
                Ok(records) if records.is_empty() => {
                    self.done = true;
                    return None;
                }
                Ok(records) => {
                    self.buffered = records.into_vec().into_iter();
                    return self.buffered.next().map(Ok);
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// `a, b, c` from the items' Display forms, or `none`: for messages.
pub(crate) fn list_or_none<T: std::fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".to_string();
    }
    items
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_at_construction() {
        let base = ConsumerConfig::new().bootstrap_servers("127.0.0.1:9");
        let e = Consumer::new(base.clone().set("fetch.max.wait.ms", "40000")).unwrap_err();
        assert!(e.to_string().contains("fetch.max.wait.ms"), "{e}");
        let e = Consumer::new(base.clone().set("auto.offset.reset", "smallest")).unwrap_err();
        assert!(e.to_string().contains("earliest, latest, none"), "{e}");
        let e = Consumer::new(base.clone().set("isolation.level", "committed")).unwrap_err();
        assert!(e.to_string().contains("isolation.level"), "{e}");
        let mut c = Consumer::new(base).unwrap();
        let tp = TopicPartition::new("t", 0);
        assert!(
            c.seek(&tp, 0)
                .unwrap_err()
                .to_string()
                .contains("not assigned")
        );
        c.assign(vec![tp.clone(), tp.clone()]).unwrap();
        assert_eq!(c.assignment(), std::slice::from_ref(&tp));
        assert!(c.seek(&tp, -1).is_err());
        c.pause(std::slice::from_ref(&tp)).unwrap();
        assert_eq!(c.paused(), std::slice::from_ref(&tp));
        c.assign(Vec::new()).unwrap();
        assert!(c.assignment().is_empty() && c.paused().is_empty());
        c.close();
        assert!(matches!(c.assign(vec![tp]), Err(Error::Closed(_))));
    }
}
