//! The group coordinator of a consumer: membership in a consumer group,
//! driven from inside [`Consumer::poll`] (no heartbeat thread).
//!
//! [`Coordinator`] holds what both group protocols share (group id and
//! settings, the coordinator's address, member id and generation, the
//! subscription, owned partitions, commits) and one [`MemberProtocol`]:
//! [`classic::Classic`] (JoinGroup/SyncGroup/Heartbeat/LeaveGroup, with the
//! assignors run by the leader) or [`kip848::Kip848`] (KIP-848
//! ConsumerGroupHeartbeat, the broker assigns). Neither reaches into the
//! consumer: each step gets the cluster and the partition state in a
//! [`Ctx`], and what the consumer must do (revoke and call the listener,
//! report lost partitions, take an assignment) comes back as [`Action`]s.
//!
//! Rules, as in the Java client unless noted:
//! - **poll never blocks on the group.** FindCoordinator, JoinGroup,
//!   SyncGroup, heartbeats, OffsetFetch for new partitions and auto-commits
//!   are sent from `poll` and their answers handled by a later step (they
//!   arrive as [`Event::Group`]), so `poll(timeout)` returns by its deadline
//!   while the broker holds a JoinGroup (`group.initial.rebalance.delay.ms`,
//!   up to the rebalance timeout), and two members polled from one thread
//!   both get through a rebalance. Only the calls that are blocking by
//!   contract (`commit_sync`, `committed`, `close`) wait, each bounded by its
//!   timeout.
//! - **Heartbeats** go out every `heartbeat.interval.ms` from the poll loop,
//!   also while `poll` waits for data (the wait ends at the next heartbeat),
//!   on their own connection to the coordinator, so a Fetch held for
//!   `fetch.max.wait.ms` never delays them.
//! - **max.poll.interval.ms**: without a background thread nothing can
//!   heartbeat while the application is away, so a member that does not call
//!   `poll` for longer than `session.timeout.ms` is removed by the
//!   coordinator, and one away longer than `max.poll.interval.ms` leaves the
//!   group itself as soon as it calls `poll` or `commit_*` again: its
//!   partitions are reported lost, a pending commit fails with
//!   [`Error::CommitFailed`] saying what to change, and the next `poll` rejoins.
//! - **Eager vs cooperative** (KIP-429): with an eager assignor every
//!   partition is revoked (after an auto-commit) before rejoining; with
//!   `cooperative-sticky` a member keeps its partitions while rejoining and
//!   gives up only those the new assignment moves away, then rejoins once
//!   more so that their new owner gets them.
//! - **Static membership** (KIP-345): with `group.instance.id` a closing
//!   member does not send LeaveGroup, so a restart within
//!   `session.timeout.ms` gets its partitions back without a rebalance.
//! - **Offsets**: a newly assigned partition waits (unfetched) for its
//!   committed offset; only a partition without one uses `auto.offset.reset`.
//!   A failed lookup is retried, never replaced by the reset policy. A seek
//!   (e.g. in `on_partitions_assigned`) wins over the committed offset.
//!   Auto-commit (every `auto.commit.interval.ms`, asynchronously) also runs
//!   synchronously before a revocation and on close.

pub(crate) mod classic;
pub(crate) mod commit;
pub(crate) mod kip848;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use super::state::Subscriptions;
use super::{Consumer, Event, TopicPartition};
use crate::cluster::{Broker, Cluster, Retry};
use crate::config::GroupProtocol;
pub(crate) use crate::config::GroupSettings;
use crate::error::{Error, Result};
use crate::net::{BrokerAddress, Connection};
use crate::protocol::KafkaCode;
use crate::protocol::messages::{
    ConsumerGroupHeartbeatResponse, FindCoordinatorRequest, FindCoordinatorResponse,
    HeartbeatResponse, JoinGroupResponse, OffsetCommitResponse, OffsetFetchResponse,
    SyncGroupResponse,
};

use super::assignor::PartitionAssignor;

/// Callbacks for partition assignment changes, called inside
/// [`Consumer::poll`] (and `close`/`unsubscribe`) on the polling thread. They
/// get the consumer, so they may commit offsets, seek, pause or resume.
pub trait ConsumerRebalanceListener: Send {
    /// Partitions this member is giving up in an orderly rebalance: commit
    /// what was processed. With an eager assignor it is called with every
    /// partition before each rebalance; with cooperative-sticky only with the
    /// partitions that move.
    fn on_partitions_revoked(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        let _ = (consumer, partitions);
    }

    /// Partitions newly given to this member. Their committed offsets are
    /// looked up by the next `poll`; a seek here wins over them.
    fn on_partitions_assigned(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        let _ = (consumer, partitions);
    }

    /// Partitions this member lost without an orderly rebalance (it was
    /// removed from the group, e.g. after missing heartbeats): they may
    /// already belong to another member, so committing is pointless. By
    /// default calls [`on_partitions_revoked`](Self::on_partitions_revoked).
    fn on_partitions_lost(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        self.on_partitions_revoked(consumer, partitions);
    }
}

/// An offset to commit, with optional metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The offset of the next record to read (the position), as Kafka commits it.
    pub offset: i64,
    /// Free-form metadata stored with the offset.
    pub metadata: Option<String>,
    /// The leader epoch of the record before `offset` (KIP-320), when
    /// known: committed with the offset so that a consumer resuming from it
    /// detects a log truncated below it. `commit_sync` and auto-commit fill
    /// it in from what was consumed.
    pub leader_epoch: Option<i32>,
}

impl OffsetAndMetadata {
    /// An offset without metadata or leader epoch.
    pub fn new(offset: i64) -> OffsetAndMetadata {
        OffsetAndMetadata {
            offset,
            metadata: None,
            leader_epoch: None,
        }
    }
}

/// The group identity of a consumer, for transactional producers
/// (`sendOffsetsToTransaction`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    /// group.id.
    pub group_id: String,
    /// Current generation, or -1 outside a generation.
    pub generation_id: i32,
    /// Member id ("" before the first join).
    pub member_id: String,
    /// group.instance.id, for static members.
    pub group_instance_id: Option<String>,
}

/// Topics a consumer subscribes to.
pub(crate) enum SubscriptionMode {
    Topics(BTreeSet<String>),
    Pattern(Box<dyn Fn(&str) -> bool + Send>),
}

/// What a group step needs of the consumer: the routing layer, the partition
/// state (positions, assignment) and the channel responses come back on.
pub(crate) struct Ctx<'a> {
    pub cluster: &'a Arc<Cluster>,
    pub subs: &'a mut Subscriptions,
    pub events: &'a Sender<Event>,
}

/// What the consumer must do for the group, in order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Give these partitions up in an orderly way: commit their positions
    /// (with auto-commit), call `on_partitions_revoked`, then
    /// [`Coordinator::drop_partitions`].
    Revoke(Vec<TopicPartition>),
    /// These partitions were lost (already dropped): `on_partitions_lost`.
    Lost(Vec<TopicPartition>),
    /// Take exactly `all` ([`Coordinator::take_assignment`]), then call
    /// `on_partitions_assigned` with `added`.
    Assign {
        all: Vec<TopicPartition>,
        added: Vec<TopicPartition>,
    },
}

/// A group response delivered by a connection's reader thread, tagged with
/// the token of the request it answers (stale answers are ignored).
pub(crate) enum Response {
    FindCoordinator(u64, Result<FindCoordinatorResponse>, i16, String),
    Join(u64, Result<JoinGroupResponse>),
    Sync(u64, Result<SyncGroupResponse>),
    Heartbeat(i32, Result<HeartbeatResponse>),
    MemberHeartbeat(i32, Result<ConsumerGroupHeartbeatResponse>),
    Commit(u64, Result<OffsetCommitResponse>),
    OffsetFetch(u64, Vec<TopicPartition>, Result<OffsetFetchResponse>, i16),
}

/// One group protocol: classic or KIP-848. Both are driven the same way: a
/// step from every poll, the responses they asked for, a leave on close.
pub(crate) trait MemberProtocol: Send {
    /// The protocol's work in a poll: join, heartbeat, reconcile.
    fn step(&mut self, core: &mut Core, ctx: &mut Ctx, now: Instant) -> Result<()>;
    /// A response to a request this protocol sent (Join, Sync, heartbeats).
    fn handle(&mut self, core: &mut Core, ctx: &mut Ctx, response: Response);
    /// When the poll loop must wake up for this protocol's timers.
    fn next_wakeup(&self, core: &Core) -> Option<Instant>;
    /// Leaves the group (LeaveGroup, or the leave heartbeat), waiting no
    /// longer than `deadline`.
    fn leave(&mut self, core: &mut Core, ctx: &mut Ctx, reason: &str, deadline: Option<Instant>);
    /// Makes the next step send a heartbeat at once.
    fn heartbeat_now(&mut self);
    /// A rebalance is pending or under way (no settled assignment).
    fn rebalancing(&self, core: &Core) -> bool;
    /// Installs custom assignors (classic protocol only).
    fn set_assignors(&mut self, assignors: Vec<Box<dyn PartitionAssignor>>) -> Result<()>;
}

type CommitCallback = Box<dyn FnOnce(Result<()>) + Send>;

/// State both group protocols share.
pub(crate) struct Core {
    pub s: GroupSettings,
    pub subscription: Option<SubscriptionMode>,
    pub member_id: String,
    /// Classic generation, or KIP-848 member epoch; -1 outside one.
    pub generation: i32,
    pub joined: bool,
    pub needs_join: bool,
    /// Partitions owned in the current generation.
    pub owned: Vec<TopicPartition>,
    /// Actions for the consumer, in order.
    pub actions: Vec<Action>,
    pub fatal: Option<Error>,
    coordinator: Option<BrokerAddress>,
    find_in_flight: Option<u64>,
    find_retry_at: Option<Instant>,
    find_failures: u32,
    next_token: u64,
    pub last_poll: Instant,
    /// Set when the member left because the application did not poll in time.
    pub poll_timeout_left: bool,
    pub next_auto_commit: Instant,
    pub async_commits: HashMap<u64, Option<CommitCallback>>,
    /// The OffsetFetch for newly assigned partitions in flight, and when to
    /// try again after a failed one.
    pub offset_fetch: Option<u64>,
    pub offset_fetch_retry_at: Option<Instant>,
    pub offset_fetch_failures: u32,
}

impl Core {
    pub(crate) fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    pub(crate) fn context(&self) -> String {
        match &self.coordinator {
            Some(c) => format!(
                "group {} (coordinator {}:{})",
                self.s.group_id, c.host, c.port
            ),
            None => format!("group {}", self.s.group_id),
        }
    }

    /// Forgets membership after an error that ended it.
    pub(crate) fn reset_membership(&mut self, forget_member_id: bool) {
        self.generation = -1;
        if forget_member_id {
            self.member_id.clear();
        }
        self.joined = false;
        self.needs_join = true;
    }

    /// Every owned partition is lost: dropped now, reported to the listener
    /// by the consumer.
    pub(crate) fn lose_partitions(&mut self, ctx: &mut Ctx) {
        if self.owned.is_empty() {
            return;
        }
        let lost = std::mem::take(&mut self.owned);
        drop_from(ctx.subs, &lost);
        self.actions.push(Action::Lost(lost));
    }

    /// The backoff before attempt `failures` + 1 (retry.backoff.ms doubling
    /// up to retry.backoff.max.ms, with jitter), the one formula of
    /// [`Retry`].
    pub(crate) fn backoff(ctx: &Ctx, failures: u32) -> Duration {
        ctx.cluster
            .settings()
            .retry_policy()
            .delay(failures + 1)
            .max(ctx.cluster.min_backoff())
    }

    /// The coordinator connection when it is known; otherwise starts (or
    /// waits for) FindCoordinator and returns None: a later step carries on.
    pub(crate) fn coordinator(&mut self, ctx: &mut Ctx, now: Instant) -> Option<Arc<Connection>> {
        if let Some(addr) = self.coordinator.clone() {
            match ctx.cluster.pool().get(&addr) {
                Ok(c) => return Some(c),
                Err(e) => {
                    log::debug!("{}: coordinator connection failed: {e}", self.context());
                    self.coordinator = None;
                    self.find_retry_at = Some(now + Core::backoff(ctx, self.find_failures));
                    self.find_failures += 1;
                    return None;
                }
            }
        }
        if self.find_in_flight.is_some() || self.find_retry_at.is_some_and(|t| now < t) {
            return None;
        }
        let token = self.token();
        let sent = ctx.cluster.any_connection().and_then(|conn| {
            let version = conn.version::<FindCoordinatorRequest>()?;
            let req = find_coordinator_request(&self.s.group_id, version);
            let tx = ctx.events.clone();
            let label = conn.label().to_string();
            conn.send(&req, version, move |result| {
                let _ = tx.send(Event::Group(Response::FindCoordinator(
                    token, result, version, label,
                )));
            })
        });
        match sent {
            Ok(()) => self.find_in_flight = Some(token),
            Err(e) => {
                if e.is_authentication() || !e.is_retriable() {
                    self.fatal = Some(e);
                } else {
                    log::debug!("{}: FindCoordinator not sent: {e}", self.context());
                }
                self.find_retry_at = Some(now + Core::backoff(ctx, self.find_failures));
                self.find_failures += 1;
            }
        }
        None
    }

    /// The coordinator connection, discovering it if needed and retrying
    /// until `deadline` (at least once): for the calls that block by
    /// contract (commit_sync, committed, leave).
    pub(crate) fn coordinator_blocking(
        &mut self,
        ctx: &mut Ctx,
        deadline: Instant,
    ) -> Result<Arc<Connection>> {
        let mut retry = Retry::new(ctx.cluster, deadline);
        loop {
            if let Some(addr) = self.coordinator.clone() {
                match ctx.cluster.pool().get(&addr) {
                    Ok(c) => return Ok(c),
                    Err(e) => {
                        log::debug!("{}: coordinator connection failed: {e}", self.context());
                        self.coordinator = None;
                        retry.backoff("connecting to the group coordinator", e)?;
                        continue;
                    }
                }
            }
            let found = ctx.cluster.any_connection().and_then(|conn| {
                let version = conn.version::<FindCoordinatorRequest>()?;
                let req = find_coordinator_request(&self.s.group_id, version);
                let resp = conn.request_at(&req, version)?;
                coordinator_address(&self.s.group_id, resp, version, conn.label())
            });
            match found {
                Ok(addr) => self.set_coordinator(addr),
                Err(e) => retry.backoff("FindCoordinator", e)?,
            }
        }
    }

    fn set_coordinator(&mut self, addr: BrokerAddress) {
        log::debug!(
            "group {} coordinator is {}:{}",
            self.s.group_id,
            addr.host,
            addr.port
        );
        self.coordinator = Some(addr);
        self.find_retry_at = None;
        self.find_failures = 0;
    }

    fn handle_find_coordinator(
        &mut self,
        ctx: &mut Ctx,
        token: u64,
        result: Result<FindCoordinatorResponse>,
        version: i16,
        label: &str,
    ) {
        if self.find_in_flight != Some(token) {
            return;
        }
        self.find_in_flight = None;
        match result.and_then(|r| coordinator_address(&self.s.group_id, r, version, label)) {
            Ok(addr) => self.set_coordinator(addr),
            Err(e) => {
                log::debug!("{}: FindCoordinator failed: {e}", self.context());
                if !e.is_retriable() {
                    self.fatal = Some(e);
                }
                self.find_retry_at = Some(Instant::now() + Core::backoff(ctx, self.find_failures));
                self.find_failures += 1;
            }
        }
    }

    /// Forgets the coordinator (and closes its connection): the next step
    /// finds it again.
    pub(crate) fn coordinator_dead(&mut self, ctx: &Ctx) {
        if let Some(addr) = self.coordinator.take() {
            ctx.cluster.pool().disconnect(addr.node_id);
        }
    }

    /// The coordinator connection if one is open, without discovery.
    pub(crate) fn coordinator_now(&self, ctx: &Ctx) -> Option<Arc<Connection>> {
        self.coordinator
            .as_ref()
            .and_then(|a| ctx.cluster.pool().get(a).ok())
    }

    /// Handles an error answer that means "the coordinator moved": true when
    /// it was one (the coordinator is forgotten).
    pub(crate) fn coordinator_error(&mut self, ctx: &Ctx, e: &Error) -> bool {
        let moved = e.kafka_code().is_some_and(is_coordinator_error)
            || (e.is_retriable() && matches!(e, Error::Io { .. } | Error::Timeout { .. }));
        if moved {
            self.coordinator_dead(ctx);
        }
        moved
    }

    /// Topics the subscription means now (a pattern is matched against the
    /// cluster's current metadata).
    pub(crate) fn subscribed_topics(&self, ctx: &Ctx) -> BTreeSet<String> {
        match &self.subscription {
            Some(SubscriptionMode::Topics(t)) => t.clone(),
            Some(SubscriptionMode::Pattern(p)) => ctx
                .cluster
                .metadata()
                .topics
                .values()
                .filter(|t| {
                    !(self.s.exclude_internal_topics && t.is_internal)
                        && t.error.is_none()
                        && p(&t.name)
                })
                .map(|t| t.name.clone())
                .collect(),
            None => BTreeSet::new(),
        }
    }

    /// [`Core::subscribed_topics`], after asking the cluster for every
    /// topic's metadata when the subscription is a pattern (one Metadata
    /// request, bounded by request.timeout.ms).
    pub(crate) fn resolve_topics(&self, ctx: &Ctx) -> Result<BTreeSet<String>> {
        if matches!(self.subscription, Some(SubscriptionMode::Pattern(_))) {
            ctx.cluster.refresh_topics(None)?;
        }
        Ok(self.subscribed_topics(ctx))
    }

    /// Whether the coordinator's address is known.
    pub(crate) fn has_coordinator(&self) -> bool {
        self.coordinator.is_some()
    }

    /// The core's timers: FindCoordinator and OffsetFetch retries,
    /// auto-commit. (An answer in flight wakes the loop by itself.)
    fn next_wakeup(&self) -> Option<Instant> {
        [
            self.find_retry_at.filter(|_| self.find_in_flight.is_none()),
            self.offset_fetch_retry_at
                .filter(|_| self.offset_fetch.is_none()),
            self.s
                .auto_commit()
                .filter(|_| self.joined)
                .map(|_| self.next_auto_commit),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// What moving from `owned` to `new` means: the partitions revoked and the
/// ones added.
pub(crate) fn changes(
    owned: &[TopicPartition],
    new: &[TopicPartition],
) -> (Vec<TopicPartition>, Vec<TopicPartition>) {
    let revoked = owned
        .iter()
        .filter(|tp| !new.contains(tp))
        .cloned()
        .collect();
    let added = new
        .iter()
        .filter(|tp| !owned.contains(tp))
        .cloned()
        .collect();
    (revoked, added)
}

/// Removes `partitions` from the consumer's assignment.
pub(crate) fn drop_from(subs: &mut Subscriptions, partitions: &[TopicPartition]) {
    let keep: Vec<TopicPartition> = subs
        .order()
        .iter()
        .filter(|tp| !partitions.contains(tp))
        .cloned()
        .collect();
    subs.assign(keep);
}

pub(crate) fn is_coordinator_error(code: KafkaCode) -> bool {
    matches!(
        code,
        KafkaCode::NotCoordinator | KafkaCode::CoordinatorNotAvailable
    )
}

/// The pool key of the coordinator connection: separate from the broker's
/// data connection (as in Java), so that heartbeats never wait behind a
/// Fetch held for fetch.max.wait.ms.
fn coordinator_key(node_id: i32) -> i32 {
    i32::MAX - node_id
}

fn find_coordinator_request(group_id: &str, version: i16) -> FindCoordinatorRequest {
    FindCoordinatorRequest {
        key: if version < 4 {
            group_id.to_string()
        } else {
            String::new()
        },
        key_type: 0,
        coordinator_keys: if version >= 4 {
            vec![group_id.to_string()]
        } else {
            Vec::new()
        },
        ..Default::default()
    }
}

/// The coordinator's address from a FindCoordinator answer, or its error.
fn coordinator_address(
    group_id: &str,
    resp: FindCoordinatorResponse,
    version: i16,
    label: &str,
) -> Result<BrokerAddress> {
    let (code, message, node_id, host, port) = if version >= 4 {
        let c = resp
            .coordinators
            .into_iter()
            .find(|c| c.key == group_id)
            .ok_or_else(|| {
                Error::protocol(
                    label,
                    format!("FindCoordinator response has no entry for group {group_id}"),
                )
            })?;
        (c.error_code, c.error_message, c.node_id, c.host, c.port)
    } else {
        (
            resp.error_code,
            resp.error_message,
            resp.node_id,
            resp.host,
            resp.port,
        )
    };
    if let Some(code) = KafkaCode::from_code(code) {
        return Err(Error::Kafka {
            code,
            context: format!("FindCoordinator for group {group_id} on broker {label}"),
            message,
        });
    }
    let broker = Broker {
        node_id,
        host,
        port: u16::try_from(port)
            .map_err(|_| Error::protocol(label, format!("coordinator port {port}")))?,
        rack: None,
    };
    let mut addr = broker.address();
    addr.node_id = coordinator_key(node_id);
    Ok(addr)
}

/// A consumer's group membership: the shared state and its protocol.
pub(crate) struct Coordinator {
    pub core: Core,
    protocol: Box<dyn MemberProtocol>,
}

impl Coordinator {
    /// The coordinator for `s` (classic or consumer protocol).
    pub(crate) fn new(s: GroupSettings) -> Result<Coordinator> {
        let protocol: Box<dyn MemberProtocol> = if s.group_protocol == GroupProtocol::Consumer {
            Box::new(kip848::Kip848::new())
        } else {
            Box::new(classic::Classic::new(&s.partition_assignment_strategy)?)
        };
        let now = Instant::now();
        Ok(Coordinator {
            core: Core {
                s,
                subscription: None,
                member_id: String::new(),
                generation: -1,
                joined: false,
                needs_join: false,
                owned: Vec::new(),
                actions: Vec::new(),
                fatal: None,
                coordinator: None,
                find_in_flight: None,
                find_retry_at: None,
                find_failures: 0,
                next_token: 0,
                last_poll: now,
                poll_timeout_left: false,
                next_auto_commit: now,
                async_commits: HashMap::new(),
                offset_fetch: None,
                offset_fetch_retry_at: None,
                offset_fetch_failures: 0,
            },
            protocol,
        })
    }

    /// Installs custom assignors (classic protocol).
    pub(crate) fn set_assignors(&mut self, a: Vec<Box<dyn PartitionAssignor>>) -> Result<()> {
        self.protocol.set_assignors(a)
    }

    /// Subscribes (the next step joins).
    pub(crate) fn subscribe(&mut self, mode: SubscriptionMode) {
        self.core.subscription = Some(mode);
        self.core.needs_join = true;
    }

    /// The group identity.
    pub(crate) fn metadata(&self) -> ConsumerGroupMetadata {
        ConsumerGroupMetadata {
            group_id: self.core.s.group_id.clone(),
            generation_id: self.core.generation,
            member_id: self.core.member_id.clone(),
            group_instance_id: self.core.s.group_instance_id.clone(),
        }
    }

    /// Makes the next step heartbeat at once (e.g. to learn the current
    /// member epoch after STALE_MEMBER_EPOCH).
    pub(crate) fn heartbeat_now(&mut self) {
        self.protocol.heartbeat_now();
    }

    /// True while a subscribed member has no settled assignment.
    pub(crate) fn rebalancing(&self) -> bool {
        self.core.subscription.is_some()
            && (!self.core.joined || self.core.needs_join || self.protocol.rebalancing(&self.core))
    }

    /// Called at the start of every `poll`: raises a fatal error, detects a
    /// poll interval longer than max.poll.interval.ms (leaving the group)
    /// and records the poll.
    pub(crate) fn on_poll(&mut self, ctx: &mut Ctx, now: Instant) -> Result<()> {
        if let Some(e) = self.core.fatal.take() {
            return Err(e);
        }
        let away = now.saturating_duration_since(self.core.last_poll);
        self.core.last_poll = now;
        if self.core.joined && away > self.core.s.max_poll_interval {
            log::warn!(
                "{}: {} ms between polls is more than max.poll.interval.ms ({} ms); leaving the group",
                self.core.context(),
                away.as_millis(),
                self.core.s.max_poll_interval.as_millis()
            );
            self.leave_after_poll_timeout(ctx);
        }
        Ok(())
    }

    /// Leaves the group because the application did not poll within
    /// max.poll.interval.ms: its partitions are lost and the next poll rejoins.
    pub(crate) fn leave_after_poll_timeout(&mut self, ctx: &mut Ctx) {
        self.core.poll_timeout_left = true;
        self.protocol.leave(
            &mut self.core,
            ctx,
            "the application did not poll within max.poll.interval.ms",
            Some(Instant::now() + Duration::from_secs(1)),
        );
        self.core.lose_partitions(ctx);
        self.core.reset_membership(true);
    }

    /// The group's step in the poll loop: OffsetFetch for new partitions,
    /// the protocol's step, auto-commit when due. Never waits for an answer.
    pub(crate) fn step(&mut self, ctx: &mut Ctx, now: Instant) -> Result<()> {
        if let Some(e) = self.core.fatal.take() {
            return Err(e);
        }
        commit::maybe_fetch_committed(&mut self.core, ctx, now);
        self.protocol.step(&mut self.core, ctx, now)?;
        commit::maybe_auto_commit(&mut self.core, ctx, now);
        Ok(())
    }

    /// Handles a group response.
    pub(crate) fn handle(&mut self, ctx: &mut Ctx, response: Response) {
        match response {
            Response::FindCoordinator(token, result, version, label) => self
                .core
                .handle_find_coordinator(ctx, token, result, version, &label),
            Response::Commit(id, result) => commit::handle_commit(&mut self.core, ctx, id, result),
            Response::OffsetFetch(token, partitions, result, version) => {
                commit::handle_offset_fetch(&mut self.core, ctx, token, partitions, result, version)
            }
            r => self.protocol.handle(&mut self.core, ctx, r),
        }
    }

    /// Actions for the consumer, in order.
    pub(crate) fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.core.actions)
    }

    /// Drops revoked partitions (after the listener saw them).
    pub(crate) fn drop_partitions(&mut self, ctx: &mut Ctx, partitions: &[TopicPartition]) {
        self.core.owned.retain(|tp| !partitions.contains(tp));
        drop_from(ctx.subs, partitions);
    }

    /// Takes exactly `all`; `added` wait for their committed offsets.
    pub(crate) fn take_assignment(
        &mut self,
        ctx: &mut Ctx,
        all: Vec<TopicPartition>,
        added: &[TopicPartition],
    ) {
        self.core.owned = all.clone();
        let topics: Vec<&str> = all.iter().map(|tp| &*tp.topic).collect();
        ctx.cluster.add_topics(&topics);
        ctx.subs.assign(all);
        for tp in added {
            if let Some(st) = ctx.subs.get_mut(tp) {
                if st.position.is_none() && st.reset.is_none() {
                    st.awaiting_committed = true;
                }
            }
        }
        // Look the offsets up now rather than on the next step.
        self.core.offset_fetch_retry_at = None;
        commit::maybe_fetch_committed(&mut self.core, ctx, Instant::now());
    }

    /// When the poll loop must wake for the group's timers.
    pub(crate) fn next_wakeup(&self) -> Option<Instant> {
        [
            self.core.next_wakeup(),
            self.protocol.next_wakeup(&self.core),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Commits `offsets`, waiting for the answer (see [`commit::commit_sync`]).
    /// A member that was away longer than max.poll.interval.ms leaves the
    /// group first, as Java's heartbeat thread would have, and says why.
    pub(crate) fn commit_sync(
        &mut self,
        ctx: &mut Ctx,
        offsets: &std::collections::BTreeMap<TopicPartition, OffsetAndMetadata>,
        limit: Option<Instant>,
        hard: bool,
    ) -> Result<()> {
        let now = Instant::now();
        if self.core.joined
            && now.saturating_duration_since(self.core.last_poll) > self.core.s.max_poll_interval
        {
            self.leave_after_poll_timeout(ctx);
            return Err(commit::commit_failed(&self.core, None));
        }
        if !self.core.joined && self.core.poll_timeout_left {
            return Err(commit::commit_failed(&self.core, None));
        }
        commit::commit_sync(&mut self.core, ctx, offsets, limit, hard)
    }

    /// First half of an orderly exit: the auto-commit (bounded by
    /// `deadline`); returns the partitions to revoke (the consumer calls the
    /// listener, then [`Coordinator::finish_leave`]) and the commit's failure.
    pub(crate) fn prepare_leave(
        &mut self,
        ctx: &mut Ctx,
        deadline: Option<Instant>,
    ) -> (Vec<TopicPartition>, Result<()>) {
        if !self.core.joined {
            return (Vec::new(), Ok(()));
        }
        let mut result = Ok(());
        if self.core.s.auto_commit().is_some() {
            let offsets = commit::consumed_offsets(ctx.subs);
            result = self.commit_sync(ctx, &offsets, deadline, true);
        }
        (std::mem::take(&mut self.core.owned), result)
    }

    /// Second half of an orderly exit: LeaveGroup (waiting no longer than
    /// `deadline`), membership forgotten, pending async commits failed.
    pub(crate) fn finish_leave(&mut self, ctx: &mut Ctx, reason: &str, deadline: Option<Instant>) {
        if self.core.joined {
            self.protocol.leave(&mut self.core, ctx, reason, deadline);
        }
        self.core.reset_membership(true);
        self.core.needs_join = false;
        for (_, cb) in self.core.async_commits.drain() {
            if let Some(cb) = cb {
                cb(Err(Error::Closed("consumer group membership".into())));
            }
        }
    }
}
