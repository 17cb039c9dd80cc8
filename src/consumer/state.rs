//! Assigned partitions and what the consumer knows about each: position,
//! pause state, buffered fetched data, pending offset reset, pending error.
//!
//! The group coordinator changes the assignment through
//! [`Subscriptions::assign`] and reads/sets positions through the same
//! methods the public API uses; nothing here knows where an assignment came
//! from.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use crate::error::Error;

use super::completed::CompletedFetch;
use super::record::TopicPartition;

/// What `auto.offset.reset` says to do for a partition without a valid position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OffsetResetPolicy {
    /// Start at the log start offset.
    Earliest,
    /// Start at the log end offset (only records produced from now on).
    Latest,
    /// Fail: [`poll`](super::Consumer::poll) returns an error naming the partitions.
    None,
}

/// Where a pending offset lookup should put the position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResetTo {
    Earliest,
    Latest,
}

impl std::fmt::Display for ResetTo {
    /// `earliest` or `latest`, as in `auto.offset.reset`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ResetTo::Earliest => "earliest",
            ResetTo::Latest => "latest",
        })
    }
}

impl ResetTo {
    /// The ListOffsets timestamp meaning this spot.
    pub(crate) fn timestamp(self) -> i64 {
        match self {
            ResetTo::Earliest => -2,
            ResetTo::Latest => -1,
        }
    }
}

/// KIP-392: the replica to fetch a partition from instead of its leader, as
/// named by the leader (`preferred_read_replica` in a Fetch response, when
/// the brokers run a replica selector and the consumer sets `client.rack`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PreferredReplica {
    /// The replica's node id.
    pub node: i32,
    /// The leader (node id, leader epoch) that named it: a new leader
    /// forgets it.
    pub leader: (i32, i32),
    /// When it stops being used (`metadata.max.age.ms` after it was named):
    /// the next fetch goes to the leader, which names a replica again.
    pub expires: Instant,
}

/// One assigned partition.
pub(crate) struct PartitionState {
    pub topic: Arc<str>,
    pub partition: i32,
    /// Offset of the next record to return; `None` until known.
    pub position: Option<i64>,
    /// A pending offset lookup (seek_to_beginning/end, auto.offset.reset).
    pub reset: Option<ResetTo>,
    pub reset_in_flight: bool,
    /// Bumped by every seek/reset: responses to older requests are dropped.
    pub generation: u64,
    /// The leader epoch of the last record batch the position moved past
    /// (whose records `poll` returned, or that it skipped: a control batch,
    /// an aborted transaction): the epoch that goes with the position, as
    /// Java's `FetchPosition.offsetEpoch`. Commits carry it as
    /// `committed_leader_epoch` (KIP-320). `None` after a seek to an offset
    /// without an epoch, and for batches without one (message format v0/v1).
    pub last_epoch: Option<i32>,
    /// Offset the next fetch starts at: the end of the buffered data.
    pub fetch_offset: i64,
    /// The leader epoch of the last batch fetched (the one ending at
    /// `fetch_offset`): the next Fetch's `last_fetched_epoch` (KIP-320,
    /// Fetch v12+), by which the leader detects that the log diverged from
    /// what this consumer read (`diverging_epoch`).
    pub fetch_epoch: Option<i32>,
    pub fetch_in_flight: bool,
    pub paused: bool,
    pub backoff_until: Option<Instant>,
    /// Fetched data not yet returned, oldest first.
    pub buffer: VecDeque<CompletedFetch>,
    /// An error to return from the next poll.
    pub error: Option<Error>,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// A larger per-partition fetch size, after a batch did not fit.
    pub size_hint: Option<i32>,
    /// Whether a fetch response for the current position's generation was
    /// handled, so that `high_watermark` and `last_stable_offset` describe
    /// the log this position reads (a new or moved partition is not at its
    /// end until then).
    pub end_checked: bool,
    /// Whether reaching the end was reported (`enable.partition.eof`) since
    /// the position last moved.
    pub eof_reported: bool,
    /// The group just assigned this partition and its committed offset is
    /// being looked up (OffsetFetch): it is neither fetched nor reset by
    /// `auto.offset.reset` until the answer, or a seek, gives it a position.
    /// A failed lookup keeps it waiting and is retried, so a committed
    /// offset is never replaced by the reset policy.
    pub awaiting_committed: bool,
    /// Where fetches go instead of the leader (fetch from the closest
    /// replica, KIP-392); ListOffsets always goes to the leader. Kept across
    /// seeks and resets, as in Java; dropped when it expires, when the
    /// leader changes, when the replica leaves the metadata and after any
    /// failed fetch from it.
    pub preferred_replica: Option<PreferredReplica>,
}

impl PartitionState {
    fn new(tp: &TopicPartition) -> PartitionState {
        PartitionState {
            topic: tp.topic.clone(),
            partition: tp.partition,
            position: None,
            reset: None,
            reset_in_flight: false,
            generation: 0,
            last_epoch: None,
            fetch_offset: 0,
            fetch_epoch: None,
            fetch_in_flight: false,
            paused: false,
            backoff_until: None,
            buffer: VecDeque::new(),
            error: None,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            size_hint: None,
            end_checked: false,
            eof_reported: false,
            awaiting_committed: false,
            preferred_replica: None,
        }
    }

    pub(crate) fn tp(&self) -> TopicPartition {
        TopicPartition {
            topic: self.topic.clone(),
            partition: self.partition,
        }
    }

    /// Drops buffered data and invalidates requests in flight.
    pub(crate) fn invalidate(&mut self) {
        self.generation += 1;
        self.buffer.clear();
        self.size_hint = None;
        self.backoff_until = None;
        self.end_checked = false;
        self.eof_reported = false;
    }

    /// Moves the position (seek), to an offset without a known leader epoch.
    pub(crate) fn seek(&mut self, offset: i64) {
        self.seek_with_epoch(offset, None);
    }

    /// Moves the position to `offset`, whose preceding record was written in
    /// leader epoch `epoch` when known (a committed offset's
    /// `committed_leader_epoch`, a ListOffsets answer's `leader_epoch`, the
    /// end of a diverging epoch): the next Fetch carries it as
    /// `last_fetched_epoch`, so that the leader reports a log truncated
    /// below `offset` (KIP-320). A negative epoch means none.
    pub(crate) fn seek_with_epoch(&mut self, offset: i64, epoch: Option<i32>) {
        let epoch = epoch.filter(|e| *e >= 0);
        self.invalidate();
        self.position = Some(offset);
        self.last_epoch = epoch;
        self.fetch_offset = offset;
        self.fetch_epoch = epoch;
        self.reset = None;
        self.error = None;
        self.awaiting_committed = false;
    }

    /// Drops the buffered data (and invalidates requests in flight): the
    /// next fetch starts at the position, with its epoch.
    pub(crate) fn refetch_from_position(&mut self) {
        self.invalidate();
        if let Some(p) = self.position {
            self.fetch_offset = p;
            self.fetch_epoch = self.last_epoch;
        }
    }

    /// Forgets the position until an offset lookup finds it.
    pub(crate) fn request_reset(&mut self, to: ResetTo) {
        self.invalidate();
        self.position = None;
        self.last_epoch = None;
        self.fetch_epoch = None;
        self.reset = Some(to);
        self.error = None;
        self.awaiting_committed = false;
    }

    /// The preferred read replica named by the leader, unless it expired
    /// (then it is forgotten).
    pub(crate) fn preferred_read_replica(&mut self, now: Instant) -> Option<PreferredReplica> {
        match self.preferred_replica {
            Some(r) if now > r.expires => {
                self.preferred_replica = None;
                None
            }
            r => r,
        }
    }

    /// Takes note of the preferred read replica a leader named. As in Java,
    /// naming the replica already in use does not extend its lease: it
    /// expires `metadata.max.age.ms` after it was first named, and the
    /// leader is asked again. Returns whether the replica changed.
    pub(crate) fn set_preferred_read_replica(
        &mut self,
        node: i32,
        leader: (i32, i32),
        expires: Instant,
    ) -> bool {
        if self
            .preferred_replica
            .is_some_and(|r| r.node == node && r.leader == leader)
        {
            return false;
        }
        self.preferred_replica = Some(PreferredReplica {
            node,
            leader,
            expires,
        });
        true
    }

    /// Forgets the preferred read replica: fetches go to the leader again.
    /// Returns the replica that was forgotten.
    pub(crate) fn clear_preferred_read_replica(&mut self) -> Option<i32> {
        self.preferred_replica.take().map(|r| r.node)
    }

    /// Bytes fetched and not yet returned.
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.buffer
            .iter()
            .map(CompletedFetch::remaining_bytes)
            .sum()
    }

    /// Whether the position is known to be at the end of the log: everything
    /// fetched was returned and the position is at the high watermark (the
    /// last stable offset under read_committed) of the latest fetch response
    /// for this position.
    pub(crate) fn at_end(&self, read_committed: bool) -> bool {
        let end = if read_committed && self.last_stable_offset >= 0 {
            self.last_stable_offset
        } else {
            self.high_watermark
        };
        self.end_checked
            && end >= 0
            && self.buffer.is_empty()
            && self.position.is_some_and(|p| p >= end)
    }

    /// Whether a fetch may include this partition now.
    pub(crate) fn fetchable(&self, now: Instant) -> bool {
        !self.paused
            && self.position.is_some()
            && self.reset.is_none()
            && !self.fetch_in_flight
            && self.error.is_none()
            && self.backoff_until.is_none_or(|t| t <= now)
    }
}

/// The assignment, in the order given, with each partition's state.
#[derive(Default)]
pub(crate) struct Subscriptions {
    order: Vec<TopicPartition>,
    parts: HashMap<TopicPartition, PartitionState>,
}

impl Subscriptions {
    /// Replaces the assignment. Partitions kept keep their state (position,
    /// buffered data, pause); new ones start without a position.
    pub(crate) fn assign(&mut self, partitions: Vec<TopicPartition>) {
        let mut seen = std::collections::HashSet::new();
        let order: Vec<TopicPartition> = partitions
            .into_iter()
            .filter(|tp| seen.insert(tp.clone()))
            .collect();
        self.parts.retain(|tp, _| seen.contains(tp));
        for tp in &order {
            self.parts
                .entry(tp.clone())
                .or_insert_with(|| PartitionState::new(tp));
        }
        self.order = order;
    }

    pub(crate) fn order(&self) -> &[TopicPartition] {
        &self.order
    }

    pub(crate) fn get(&self, tp: &TopicPartition) -> Option<&PartitionState> {
        self.parts.get(tp)
    }

    pub(crate) fn get_mut(&mut self, tp: &TopicPartition) -> Option<&mut PartitionState> {
        self.parts.get_mut(tp)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &PartitionState> {
        self.order.iter().filter_map(|tp| self.parts.get(tp))
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut PartitionState> {
        self.parts.values_mut()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Bytes buffered for unpaused partitions (data held for paused ones
    /// must not stop the others from being fetched).
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.parts
            .values()
            .filter(|st| !st.paused)
            .map(PartitionState::buffered_bytes)
            .sum()
    }

    /// The partitions in assignment order, starting at index `start`
    /// (modulo the count), so that no partition is always first.
    pub(crate) fn iter_from(&self, start: usize) -> impl Iterator<Item = &PartitionState> {
        let k = if self.order.is_empty() {
            0
        } else {
            start % self.order.len()
        };
        let (a, b) = self.order.split_at(k);
        b.iter().chain(a.iter()).filter_map(|tp| self.parts.get(tp))
    }
}
