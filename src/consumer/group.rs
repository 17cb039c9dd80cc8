//! Consumer groups (the classic protocol): coordinator discovery, JoinGroup
//! / SyncGroup, heartbeats, offset commits and rebalance callbacks, all
//! driven from inside [`Consumer::poll`] (no heartbeat thread).
//!
//! Rules, as in the Java client unless noted:
//! - **Heartbeats** go out every `heartbeat.interval.ms` from the poll loop,
//!   also while `poll` waits for data (the wait ends at the next heartbeat).
//!   They use their own connection to the coordinator, so a Fetch held by a
//!   broker for `fetch.max.wait.ms` never delays them.
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
//! - **Offsets**: newly assigned partitions start at their committed offset;
//!   without one, `auto.offset.reset` applies. Auto-commit (every
//!   `auto.commit.interval.ms`, asynchronously) also runs synchronously before
//!   an eager revocation and on close.
//! - **Blocking**: JoinGroup and SyncGroup run inside `poll` and may block
//!   until the group has formed (the broker holds JoinGroup for up to the
//!   rebalance timeout, `max.poll.interval.ms`). Coordinator discovery gives
//!   up at the poll deadline and is retried by the next `poll`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::assignor::{
    Assignment, MemberSubscription, PartitionAssignor, Subscription, assignor_by_name,
    decode_assignment, decode_subscription, encode_assignment, encode_subscription,
};
use super::{Consumer, Event, TopicPartition};
use crate::cluster::Broker;
use crate::cluster::Retry;
use crate::config::Resolved;
use crate::error::{Error, Result};
use crate::net::{BrokerAddress, Connection};
use crate::protocol::messages::heartbeat_request::HeartbeatRequest;
use crate::protocol::messages::join_group_request::JoinGroupRequestProtocol;
use crate::protocol::messages::leave_group_request::MemberIdentity;
use crate::protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use crate::protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use crate::protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use crate::protocol::messages::{
    FindCoordinatorRequest, JoinGroupRequest, LeaveGroupRequest, OffsetCommitRequest,
    OffsetFetchRequest, SyncGroupRequest,
};
use crate::protocol::{Bytes, KafkaCode};

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

    /// Partitions newly given to this member. Called after their committed
    /// offsets were looked up, so a seek here wins.
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
}

impl OffsetAndMetadata {
    /// An offset without metadata.
    pub fn new(offset: i64) -> OffsetAndMetadata {
        OffsetAndMetadata {
            offset,
            metadata: None,
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

type CommitCallback = Box<dyn FnOnce(Result<()>) + Send>;

/// The consumer's group membership state.
pub(crate) struct Group {
    pub(crate) group_id: String,
    instance_id: Option<String>,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    heartbeat_interval: Duration,
    auto_commit: Option<Duration>,
    retry_backoff: Duration,
    api_timeout: Duration,
    /// `exclude.internal.topics`: a pattern never matches internal topics.
    exclude_internal_topics: bool,
    rack: Option<String>,
    assignors: Vec<Box<dyn PartitionAssignor>>,
    pub(crate) subscription: Option<SubscriptionMode>,
    /// Topics the subscription resolved to at the last join.
    joined_topics: BTreeSet<String>,
    /// Partition counts of `joined_topics` at the last join.
    joined_counts: BTreeMap<String, i32>,
    /// Whether this member led (assigned) the current generation.
    is_leader: bool,
    member_id: String,
    generation: i32,
    protocol: Option<String>,
    coordinator: Option<BrokerAddress>,
    coordinator_retry_at: Option<Instant>,
    pub(crate) needs_join: bool,
    pub(crate) joined: bool,
    /// Partitions owned in the current generation.
    owned: Vec<TopicPartition>,
    /// Partitions lost (to report to the listener) since the last step.
    lost: Vec<TopicPartition>,
    last_heartbeat: Instant,
    heartbeat_in_flight: bool,
    next_auto_commit: Instant,
    pub(crate) last_poll: Instant,
    /// Set when the member left because the application did not poll in time.
    poll_timeout_left: bool,
    next_commit_id: u64,
    async_commits: HashMap<u64, Option<CommitCallback>>,
    fatal: Option<Error>,
    last_pattern_check: Option<Instant>,
    /// Set for `group.protocol=consumer` (KIP-848).
    pub(crate) membership: Option<super::membership::Membership>,
}

impl Group {
    /// Group settings from the consumer's configuration (None without group.id).
    pub(crate) fn from_config(c: &Resolved) -> Result<Option<Group>> {
        let Some(group_id) = c.opt_str("group.id") else {
            return Ok(None);
        };
        let mut assignors = Vec::new();
        for name in c.list("partition.assignment.strategy") {
            match assignor_by_name(&name) {
                Some(a) => assignors.push(a),
                None => {
                    return Err(Error::config(
                        "partition.assignment.strategy",
                        name,
                        "expected a list of range, roundrobin, sticky, cooperative-sticky (or use Consumer::with_assignors for a custom assignor)",
                    ));
                }
            }
        }
        let now = Instant::now();
        Ok(Some(Group {
            group_id: group_id.to_string(),
            instance_id: c.opt_str("group.instance.id").map(str::to_string),
            session_timeout: c.millis("session.timeout.ms"),
            rebalance_timeout: c.millis("max.poll.interval.ms"),
            heartbeat_interval: c.millis("heartbeat.interval.ms"),
            auto_commit: c
                .bool("enable.auto.commit")
                .then(|| c.millis("auto.commit.interval.ms")),
            retry_backoff: c.millis("retry.backoff.ms"),
            api_timeout: c.millis("default.api.timeout.ms"),
            exclude_internal_topics: c.bool("exclude.internal.topics"),
            rack: c.opt_str("client.rack").map(str::to_string),
            assignors,
            subscription: None,
            joined_topics: BTreeSet::new(),
            joined_counts: BTreeMap::new(),
            is_leader: false,
            member_id: String::new(),
            generation: -1,
            protocol: None,
            coordinator: None,
            coordinator_retry_at: None,
            needs_join: false,
            joined: false,
            owned: Vec::new(),
            lost: Vec::new(),
            last_heartbeat: now,
            heartbeat_in_flight: false,
            next_auto_commit: now,
            last_poll: now,
            poll_timeout_left: false,
            next_commit_id: 1,
            async_commits: HashMap::new(),
            fatal: None,
            last_pattern_check: None,
            membership: (c.str("group.protocol") == "consumer")
                .then(super::membership::Membership::new),
        }))
    }

    pub(crate) fn owned_partitions(&self) -> &[TopicPartition] {
        &self.owned
    }

    pub(crate) fn member_id(&self) -> &str {
        &self.member_id
    }

    pub(crate) fn set_member_id(&mut self, id: String) {
        self.member_id = id;
    }

    pub(crate) fn instance_id(&self) -> Option<&str> {
        self.instance_id.as_deref()
    }

    pub(crate) fn rack(&self) -> Option<&str> {
        self.rack.as_deref()
    }

    pub(crate) fn rebalance_timeout(&self) -> Duration {
        self.rebalance_timeout
    }

    /// The consumer protocol's equivalent of a completed join.
    pub(crate) fn set_joined(&mut self, epoch: i32) {
        if !self.joined {
            let now = Instant::now();
            if let Some(i) = self.auto_commit {
                self.next_auto_commit = now + i;
            }
        }
        self.generation = epoch;
        self.joined = epoch > 0;
        self.needs_join = false;
        self.poll_timeout_left = false;
    }

    /// Every owned partition is lost (reported to the listener next).
    pub(crate) fn lose_all(&mut self) {
        self.lose_partitions();
        self.joined = false;
        self.generation = -1;
    }

    pub(crate) fn set_fatal(&mut self, e: Error) {
        self.fatal = Some(e);
    }

    pub(crate) fn set_assignors(&mut self, assignors: Vec<Box<dyn PartitionAssignor>>) {
        self.assignors = assignors;
    }

    fn cooperative(&self) -> bool {
        let name = self
            .protocol
            .as_deref()
            .or_else(|| self.assignors.first().map(|a| a.name()));
        self.assignors
            .iter()
            .find(|a| Some(a.name()) == name)
            .is_some_and(|a| a.protocol_supports_cooperative())
    }

    fn context(&self) -> String {
        match &self.coordinator {
            Some(c) => format!(
                "group {} (coordinator {}:{})",
                self.group_id, c.host, c.port
            ),
            None => format!("group {}", self.group_id),
        }
    }

    /// Forget membership after an error that ended it.
    fn reset_membership(&mut self, forget_member_id: bool) {
        self.generation = -1;
        if forget_member_id {
            self.member_id.clear();
        }
        self.joined = false;
        self.needs_join = true;
        self.heartbeat_in_flight = false;
    }

    /// Marks every owned partition lost (reported to the listener next).
    fn lose_partitions(&mut self) {
        self.lost.append(&mut self.owned);
    }

    /// When the loop must wake for the group's timers.
    pub(crate) fn next_wakeup(&self) -> Option<Instant> {
        if let Some(m) = &self.membership {
            let hb = m.next_wakeup();
            let ac = self
                .auto_commit
                .filter(|_| self.joined)
                .map(|_| self.next_auto_commit);
            return match (hb, ac) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        if !self.joined {
            return self.coordinator_retry_at;
        }
        let mut t = self.last_heartbeat + self.heartbeat_interval;
        if let Some(_interval) = self.auto_commit {
            t = t.min(self.next_auto_commit);
        }
        Some(t)
    }

    /// The pool key of the coordinator connection: separate from the
    /// broker's data connection (as in Java), so that heartbeats never wait
    /// behind a Fetch held for fetch.max.wait.ms.
    fn coordinator_key(node_id: i32) -> i32 {
        i32::MAX - node_id
    }
}

fn is_coordinator_error(code: KafkaCode) -> bool {
    matches!(
        code,
        KafkaCode::NotCoordinator | KafkaCode::CoordinatorNotAvailable
    )
}

/// The error for a commit that the group rejected because this member fell
/// out of the generation.
fn commit_failed(group: &Group, code: Option<KafkaCode>) -> Error {
    let why = match code {
        Some(c) => format!("the coordinator answered {} ({})", c.name(), c.code()),
        None => "this member left the group".to_string(),
    };
    let mut msg = format!(
        "group {} has already rebalanced and assigned the partitions to another member ({why}). ",
        group.group_id
    );
    if group.poll_timeout_left {
        msg.push_str(&format!(
            "The time between calls to poll() was longer than max.poll.interval.ms ({} ms), so this member left the group. \
             Increase max.poll.interval.ms, or reduce the work per poll with a smaller max.poll.records; the next poll() rejoins.",
            group.rebalance_timeout.as_millis()
        ));
    } else {
        msg.push_str(
            "The member missed heartbeats (poll() was not called within session.timeout.ms) or was removed; \
             call poll() more often or raise session.timeout.ms / max.poll.interval.ms. The next poll() rejoins.",
        );
    }
    Error::CommitFailed(msg)
}

impl Consumer {
    fn group_ref(&self) -> Result<&Group> {
        self.group.as_ref().ok_or_else(|| {
            Error::InvalidArgument(
                "this consumer has no group.id (it is empty, and a group id must be non-empty): set group.id to subscribe or commit offsets".into(),
            )
        })
    }

    fn group_mut(&mut self) -> Result<&mut Group> {
        self.group.as_mut().ok_or_else(|| {
            Error::InvalidArgument(
                "this consumer has no group.id (it is empty, and a group id must be non-empty): set group.id to subscribe or commit offsets".into(),
            )
        })
    }

    /// Subscribes to `topics` (replacing any previous subscription): the group
    /// assigns partitions of them to this member in the next `poll`.
    pub fn subscribe<S: AsRef<str>>(&mut self, topics: &[S]) -> Result<()> {
        self.ensure_open()?;
        for t in topics {
            crate::cluster::validate_topic_name(t.as_ref())
                .map_err(|e| Error::InvalidArgument(format!("cannot subscribe: {e}")))?;
        }
        let set: BTreeSet<String> = topics.iter().map(|t| t.as_ref().to_string()).collect();
        let list: Vec<&str> = set.iter().map(String::as_str).collect();
        self.fetcher.cluster.add_topics(&list);
        let g = self.group_mut()?;
        g.subscription = Some(SubscriptionMode::Topics(set));
        g.needs_join = true;
        Ok(())
    }

    /// Subscribes to every topic whose name matches `pattern`, re-evaluated
    /// on every metadata refresh (`metadata.max.age.ms`): a new matching
    /// topic triggers a rebalance. Internal topics are never matched.
    pub fn subscribe_pattern(
        &mut self,
        pattern: impl Fn(&str) -> bool + Send + 'static,
    ) -> Result<()> {
        self.ensure_open()?;
        let g = self.group_mut()?;
        g.subscription = Some(SubscriptionMode::Pattern(Box::new(pattern)));
        g.needs_join = true;
        g.last_pattern_check = None;
        Ok(())
    }

    /// Sets the rebalance listener, called from inside `poll`.
    pub fn set_rebalance_listener(&mut self, listener: impl ConsumerRebalanceListener + 'static) {
        self.listener = Some(Box::new(listener));
    }

    /// Leaves the group (committing first with auto-commit) and drops the
    /// subscription and assignment.
    pub fn unsubscribe(&mut self) -> Result<()> {
        self.ensure_open()?;
        if self.group.is_none() {
            self.fetcher.subs.assign(Vec::new());
            return Ok(());
        }
        self.leave_group("the consumer unsubscribed")?;
        let g = self.group_mut()?;
        g.subscription = None;
        g.needs_join = false;
        self.fetcher.subs.assign(Vec::new());
        Ok(())
    }

    /// The group identity (for transactional producers).
    pub fn group_metadata(&self) -> Result<ConsumerGroupMetadata> {
        let g = self.group_ref()?;
        Ok(ConsumerGroupMetadata {
            group_id: g.group_id.clone(),
            generation_id: g.generation,
            member_id: g.member_id.clone(),
            group_instance_id: g.instance_id.clone(),
        })
    }

    /// Called at the start of every `poll`: detects a poll interval longer
    /// than max.poll.interval.ms (leaving the group) and records the poll.
    pub(crate) fn group_on_poll(&mut self, now: Instant) -> Result<()> {
        let Some(g) = self.group.as_mut() else {
            return Ok(());
        };
        if let Some(e) = g.fatal.take() {
            return Err(e);
        }
        let away = now.saturating_duration_since(g.last_poll);
        g.last_poll = now;
        if g.joined && away > g.rebalance_timeout {
            log::warn!(
                "{}: {} ms between polls is more than max.poll.interval.ms ({} ms); leaving the group",
                g.context(),
                away.as_millis(),
                g.rebalance_timeout.as_millis()
            );
            self.leave_after_poll_timeout();
        }
        Ok(())
    }

    /// Leaves the group because the application did not poll within
    /// max.poll.interval.ms: its partitions are lost and the next poll rejoins.
    fn leave_after_poll_timeout(&mut self) {
        self.group.as_mut().expect("group").poll_timeout_left = true;
        self.send_leave_group(
            "the application did not poll within max.poll.interval.ms",
            None,
        );
        let g = self.group.as_mut().expect("group");
        g.lose_partitions();
        g.reset_membership(true);
    }

    /// The group's step in the poll loop: report lost partitions, rejoin when
    /// needed, heartbeat and auto-commit when due.
    pub(crate) fn group_step(&mut self, now: Instant, deadline: Instant) -> Result<()> {
        if self.group.is_none() {
            return Ok(());
        }
        self.report_lost();
        if self.group.as_ref().is_some_and(|g| g.membership.is_some()) {
            self.membership_step(now, deadline)?;
            self.report_lost();
            self.maybe_auto_commit(now);
            return Ok(());
        }
        self.check_subscription_changes(now);
        let g = self.group.as_ref().expect("group");
        if g.subscription.is_some() && (g.needs_join || !g.joined) {
            match self.join_group(deadline) {
                Ok(()) => {}
                // The coordinator is unreachable: poll returns what it has
                // (as Java's does) and the next poll tries again.
                Err(e) if e.is_retriable() => {
                    log::debug!("joining the group failed: {e}; retrying on the next poll");
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        self.report_lost();
        self.maybe_heartbeat(now);
        self.maybe_auto_commit(now);
        Ok(())
    }

    fn report_lost(&mut self) {
        let lost = match self.group.as_mut() {
            Some(g) if !g.lost.is_empty() => std::mem::take(&mut g.lost),
            _ => return,
        };
        let keep: Vec<TopicPartition> = self
            .fetcher
            .subs
            .order()
            .iter()
            .filter(|tp| !lost.contains(tp))
            .cloned()
            .collect();
        self.fetcher.subs.assign(keep);
        self.call_listener(|l, c| l.on_partitions_lost(c, &lost));
    }

    fn call_listener(&mut self, f: impl FnOnce(&mut dyn ConsumerRebalanceListener, &mut Consumer)) {
        if let Some(mut l) = self.listener.take() {
            f(l.as_mut(), self);
            if self.listener.is_none() {
                self.listener = Some(l);
            }
        }
    }

    /// Topics the subscription means now.
    pub(crate) fn resolve_subscription(&mut self) -> Result<BTreeSet<String>> {
        let g = self.group.as_ref().expect("group");
        match &g.subscription {
            Some(SubscriptionMode::Topics(t)) => Ok(t.clone()),
            Some(SubscriptionMode::Pattern(_)) => {
                let md = self
                    .fetcher
                    .cluster
                    .refresh_topics_until(None, Instant::now() + g.api_timeout)?;
                let g = self.group.as_mut().expect("group");
                g.last_pattern_check = Some(Instant::now());
                let Some(SubscriptionMode::Pattern(p)) = &g.subscription else {
                    unreachable!()
                };
                let exclude_internal = g.exclude_internal_topics;
                Ok(md
                    .topics
                    .values()
                    .filter(|t| {
                        !(exclude_internal && t.is_internal) && t.error.is_none() && p(&t.name)
                    })
                    .map(|t| t.name.clone())
                    .collect())
            }
            None => Ok(BTreeSet::new()),
        }
    }

    /// A rebalance is needed when the pattern matches other topics or a
    /// subscribed topic's partition count changed.
    fn check_subscription_changes(&mut self, now: Instant) {
        let Some(g) = self.group.as_ref() else { return };
        if !g.joined {
            return;
        }
        let max_age = self.fetcher.cluster.settings().metadata_max_age;
        if matches!(g.subscription, Some(SubscriptionMode::Pattern(_)))
            && g.last_pattern_check
                .is_none_or(|t| now.duration_since(t) >= max_age)
        {
            if let Ok(topics) = self.resolve_subscription() {
                let g = self.group.as_mut().expect("group");
                if topics != g.joined_topics {
                    log::info!(
                        "{}: subscribed topics changed to [{}]; rejoining",
                        g.context(),
                        super::list_or_none(&topics.iter().collect::<Vec<_>>())
                    );
                    g.needs_join = true;
                }
            }
        }
        // Metadata changes are the leader's business (as Java's
        // assignmentSnapshot): it assigned from the partition counts it saw,
        // and it alone rejoins when they change. A follower that joined
        // before its own metadata had a new topic would otherwise force a
        // needless rebalance of the whole group.
        let md = self.fetcher.cluster.metadata();
        let g = self.group.as_mut().expect("group");
        if !g.is_leader {
            return;
        }
        for (topic, count) in &g.joined_counts {
            match md.partition_count(topic) {
                Some(n) if n as i32 != *count => {
                    log::info!(
                        "{}: topic {topic} now has {n} partitions; rejoining",
                        g.context()
                    );
                    g.needs_join = true;
                }
                // Subscribed but not in metadata at the join (a topic created a
                // moment ago that this broker's metadata did not have yet):
                // keep asking, at most once per retry.backoff.ms, so that the
                // group rebalances as soon as it appears instead of holding an
                // empty assignment until metadata.max.age.ms.
                None if *count == 0 => self.fetcher.cluster.request_refresh(),
                _ => {}
            }
        }
    }

    /// The coordinator connection, discovering the coordinator if needed
    /// (retrying until `deadline`, at least once).
    pub(crate) fn coordinator_connection(
        &mut self,
        deadline: Instant,
    ) -> Result<std::sync::Arc<Connection>> {
        self.coordinator(deadline)
    }

    pub(crate) fn forget_coordinator(&mut self) {
        self.mark_coordinator_dead();
    }

    /// Moves to exactly `new` (consumer protocol reconciliation): revokes
    /// what left (auto-commit first), positions what came at its committed
    /// offsets, and tells the listener.
    pub(crate) fn reconcile(&mut self, new: Vec<TopicPartition>) -> Result<()> {
        let g = self.group.as_ref().expect("group");
        let revoked: Vec<TopicPartition> = g
            .owned
            .iter()
            .filter(|tp| !new.contains(tp))
            .cloned()
            .collect();
        let added: Vec<TopicPartition> = new
            .iter()
            .filter(|tp| !g.owned.contains(tp))
            .cloned()
            .collect();
        if !revoked.is_empty() {
            if g.auto_commit.is_some() {
                let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> = self
                    .consumed_offsets()
                    .into_iter()
                    .filter(|(tp, _)| revoked.contains(tp))
                    .collect();
                if let Err(e) = self.commit_sync_offsets(&offsets) {
                    log::warn!("auto-commit before revocation failed: {e}");
                }
            }
            self.call_listener(|l, c| l.on_partitions_revoked(c, &revoked));
        }
        self.group.as_mut().expect("group").owned = new.clone();
        self.fetcher.subs.assign(new);
        if !added.is_empty() {
            let committed = self.committed(&added)?;
            for tp in &added {
                if let Some(Some(om)) = committed.get(tp) {
                    if let Some(st) = self.fetcher.subs.get_mut(tp) {
                        st.seek(om.offset);
                    }
                }
            }
            self.call_listener(|l, c| l.on_partitions_assigned(c, &added));
        }
        Ok(())
    }

    fn coordinator(&mut self, deadline: Instant) -> Result<std::sync::Arc<Connection>> {
        let cluster = self.fetcher.cluster.clone();
        let mut retry = Retry::new(&cluster, deadline);
        loop {
            let g = self.group.as_ref().expect("group");
            if let Some(addr) = g.coordinator.clone() {
                match self.fetcher.cluster.pool().get(&addr) {
                    Ok(c) => return Ok(c),
                    Err(e) => {
                        log::debug!("{}: coordinator connection failed: {e}", g.context());
                        self.group.as_mut().expect("group").coordinator = None;
                    }
                }
            }
            match self.find_coordinator() {
                Ok(()) => continue,
                Err(e) if e.is_retriable() && Instant::now() < deadline => {
                    retry.backoff("FindCoordinator", e)?;
                }
                Err(e) => {
                    let g = self.group.as_mut().expect("group");
                    g.coordinator_retry_at = Some(Instant::now() + g.retry_backoff);
                    return Err(e);
                }
            }
        }
    }

    fn find_coordinator(&mut self) -> Result<()> {
        let g = self.group.as_ref().expect("group");
        let group_id = g.group_id.clone();
        let conn = self.fetcher.cluster.any_connection()?;
        let version = conn.version::<FindCoordinatorRequest>()?;
        let req = FindCoordinatorRequest {
            key: if version < 4 {
                group_id.clone()
            } else {
                String::new()
            },
            key_type: 0,
            coordinator_keys: if version >= 4 {
                vec![group_id.clone()]
            } else {
                Vec::new()
            },
            ..Default::default()
        };
        let resp = conn.request_at(&req, version)?;
        let (code, message, node_id, host, port) = if version >= 4 {
            let c = resp
                .coordinators
                .into_iter()
                .find(|c| c.key == group_id)
                .ok_or_else(|| {
                    Error::protocol(
                        conn.label(),
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
                context: format!(
                    "FindCoordinator for group {group_id} on broker {}",
                    conn.label()
                ),
                message,
            });
        }
        let broker = Broker {
            node_id,
            host,
            port: u16::try_from(port)
                .map_err(|_| Error::protocol(conn.label(), format!("coordinator port {port}")))?,
            rack: None,
        };
        let mut addr = broker.address();
        addr.node_id = Group::coordinator_key(node_id);
        let g = self.group.as_mut().expect("group");
        log::debug!(
            "group {} coordinator is {}:{} (id {node_id})",
            g.group_id,
            addr.host,
            addr.port
        );
        g.coordinator = Some(addr);
        g.coordinator_retry_at = None;
        Ok(())
    }

    fn mark_coordinator_dead(&mut self) {
        if let Some(g) = self.group.as_mut() {
            if let Some(addr) = g.coordinator.take() {
                self.fetcher.cluster.pool().disconnect(addr.node_id);
            }
        }
    }

    /// JoinGroup + SyncGroup until this member has an assignment.
    fn join_group(&mut self, deadline: Instant) -> Result<()> {
        // Eager protocol: give up everything before joining.
        let cooperative = self.group.as_ref().expect("group").cooperative();
        let owned = self.group.as_ref().expect("group").owned.clone();
        if !cooperative && !owned.is_empty() {
            if self.group.as_ref().expect("group").auto_commit.is_some() {
                // Within the poll's deadline (as Java's onJoinPrepare uses
                // the poll timer), not default.api.timeout.ms: with the
                // coordinator unreachable, poll(250 ms) blocked 60 s here.
                let offsets = self.consumed_offsets();
                if let Err(e) = self.commit_sync_offsets_within(&offsets, Some(deadline), false) {
                    log::warn!("auto-commit before rebalance failed: {e}");
                }
            }
            self.call_listener(|l, c| l.on_partitions_revoked(c, &owned));
            self.group.as_mut().expect("group").owned.clear();
            self.fetcher.subs.assign(Vec::new());
        }
        let cluster = self.fetcher.cluster.clone();
        let mut retry = Retry::new(&cluster, deadline);
        let mut first_round = true;
        loop {
            // Every round after the first honours the poll's deadline, as
            // Java's joinGroupIfNeeded returns when the poll timer expires: a
            // group that keeps answering "join again" (REBALANCE_IN_PROGRESS,
            // UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, a moved coordinator) made
            // this loop cycle JoinGroup/SyncGroup inside one poll(200 ms) for
            // 17 minutes on a busy machine. The first round always runs, so
            // poll(0) still makes progress; the next poll carries on joining.
            if !first_round && Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!(
                        "{}: the rebalance did not complete within the poll timeout; the next poll carries on",
                        self.group.as_ref().expect("group").context()
                    ),
                    after: Duration::ZERO,
                });
            }
            first_round = false;
            let topics = self.resolve_subscription()?;
            let topic_list: Vec<&str> = topics.iter().map(String::as_str).collect();
            self.fetcher.cluster.add_topics(&topic_list);
            let conn = self.coordinator(deadline)?;
            match self.join_and_sync(&conn, &topics) {
                Ok(true) => return Ok(()),
                Ok(false) => continue,
                Err(e) => {
                    if let Some(code) = e.kafka_code() {
                        if is_coordinator_error(code) {
                            self.mark_coordinator_dead();
                            continue;
                        }
                    }
                    if e.is_retriable() && matches!(e, Error::Io { .. } | Error::Timeout { .. }) {
                        self.mark_coordinator_dead();
                    }
                    retry.backoff("JoinGroup/SyncGroup", e)?;
                }
            }
        }
    }

    /// One JoinGroup/SyncGroup round. Ok(false) means "join again".
    fn join_and_sync(&mut self, conn: &Connection, topics: &BTreeSet<String>) -> Result<bool> {
        let g = self.group.as_ref().expect("group");
        let owned: Vec<(String, i32)> = g
            .owned
            .iter()
            .map(|tp| (tp.topic.to_string(), tp.partition))
            .collect();
        let topic_vec: Vec<String> = topics.iter().cloned().collect();
        let mut protocols = Vec::new();
        for a in &g.assignors {
            let sub = Subscription {
                topics: topic_vec.clone(),
                user_data: a.subscription_user_data(&topic_vec, &owned),
                owned_partitions: owned.clone(),
                generation: g.generation,
                rack: g.rack.clone(),
            };
            protocols.push(JoinGroupRequestProtocol {
                name: a.name().to_string(),
                metadata: Bytes::from(encode_subscription(&sub, 3)?),
                ..Default::default()
            });
        }
        let version = conn.version::<JoinGroupRequest>()?;
        if g.instance_id.is_some() && version < 5 {
            return Err(Error::config(
                "group.instance.id",
                g.instance_id.clone().unwrap_or_default(),
                format!(
                    "static membership needs JoinGroup v5+, broker {} supports up to v{version}",
                    conn.label()
                ),
            ));
        }
        let mut req = JoinGroupRequest {
            group_id: g.group_id.clone(),
            session_timeout_ms: g.session_timeout.as_millis() as i32,
            rebalance_timeout_ms: g.rebalance_timeout.as_millis() as i32,
            member_id: g.member_id.clone(),
            group_instance_id: g.instance_id.clone(),
            protocol_type: "consumer".into(),
            protocols,
            reason: None,
            ..Default::default()
        };
        // The broker holds JoinGroup until every member joined: up to the
        // rebalance timeout, plus slack (as Java does).
        let join_timeout = g.rebalance_timeout + Duration::from_secs(5);
        let context = g.context();
        let resp = loop {
            let resp = conn.request_with_timeout(&req, version, join_timeout)?;
            match KafkaCode::from_code(resp.error_code) {
                None => break resp,
                Some(KafkaCode::MemberIdRequired) => {
                    // KIP-394: join again with the id the coordinator gave us.
                    req.member_id = resp.member_id.clone();
                    self.group.as_mut().expect("group").member_id = resp.member_id.clone();
                }
                // "Join again" answers go back to join_group's loop, which
                // checks the poll deadline between rounds.
                Some(KafkaCode::UnknownMemberId) => {
                    self.group.as_mut().expect("group").reset_membership(true);
                    return Ok(false);
                }
                Some(KafkaCode::IllegalGeneration) => {
                    self.group.as_mut().expect("group").reset_membership(false);
                    return Ok(false);
                }
                Some(
                    code @ (KafkaCode::CoordinatorLoadInProgress | KafkaCode::RebalanceInProgress),
                ) => {
                    log::debug!("{context}: JoinGroup {}; retrying", code.name());
                    std::thread::sleep(self.group.as_ref().expect("group").retry_backoff);
                    return Ok(false);
                }
                Some(code) => {
                    let e = Error::Kafka {
                        code,
                        context: format!("JoinGroup for {context}"),
                        message: None,
                    };
                    if matches!(code, KafkaCode::FencedInstanceId) {
                        self.group.as_mut().expect("group").fatal = Some(e.clone());
                    }
                    return Err(e);
                }
            }
        };
        let g = self.group.as_mut().expect("group");
        g.member_id = resp.member_id.clone();
        g.generation = resp.generation_id;
        g.protocol = resp.protocol_name.clone();
        let protocol = resp
            .protocol_name
            .clone()
            .unwrap_or_else(|| g.assignors[0].name().to_string());
        let leader = resp.leader == resp.member_id;
        g.is_leader = leader;
        log::info!(
            "{}: joined generation {} as {} ({}, protocol {protocol})",
            g.context(),
            resp.generation_id,
            resp.member_id,
            if leader { "leader" } else { "follower" }
        );
        let assignments = if leader && !resp.skip_assignment {
            self.lead_assignment(&protocol, &resp.members)?
        } else {
            Vec::new()
        };
        let g = self.group.as_ref().expect("group");
        let sync = SyncGroupRequest {
            group_id: g.group_id.clone(),
            generation_id: g.generation,
            member_id: g.member_id.clone(),
            group_instance_id: g.instance_id.clone(),
            protocol_type: Some("consumer".into()),
            protocol_name: Some(protocol.clone()),
            assignments,
            ..Default::default()
        };
        let sync_version = conn.version::<SyncGroupRequest>()?;
        let sresp = conn.request_with_timeout(&sync, sync_version, join_timeout)?;
        match KafkaCode::from_code(sresp.error_code) {
            None => {}
            Some(KafkaCode::RebalanceInProgress) => return Ok(false),
            Some(KafkaCode::UnknownMemberId) => {
                self.group.as_mut().expect("group").reset_membership(true);
                return Ok(false);
            }
            Some(KafkaCode::IllegalGeneration) => {
                self.group.as_mut().expect("group").reset_membership(false);
                return Ok(false);
            }
            Some(code) => {
                return Err(Error::Kafka {
                    code,
                    context: format!("SyncGroup for {context}"),
                    message: None,
                });
            }
        }
        let assignment = if sresp.assignment.is_empty() {
            Assignment::default()
        } else {
            decode_assignment(&sresp.assignment).map_err(|e| Error::decode(conn.label(), e))?
        };
        self.on_join_complete(&protocol, assignment, topics.clone())?;
        Ok(true)
    }

    /// The leader's work: run the chosen assignor over every member's subscription.
    fn lead_assignment(
        &mut self,
        protocol: &str,
        members: &[crate::protocol::messages::join_group_response::JoinGroupResponseMember],
    ) -> Result<Vec<SyncGroupRequestAssignment>> {
        let mut subs = Vec::new();
        let mut versions = Vec::new();
        for m in members {
            let sub = decode_subscription(&m.metadata).map_err(|e| {
                Error::protocol(
                    "group coordinator",
                    format!("subscription of member {}: {e}", m.member_id),
                )
            })?;
            versions.push(if m.metadata.len() >= 2 {
                i16::from_be_bytes([m.metadata[0], m.metadata[1]])
            } else {
                0
            });
            subs.push(sub.into_member(m.member_id.clone(), m.group_instance_id.clone()));
        }
        let all_topics: BTreeSet<String> = subs
            .iter()
            .flat_map(|s: &MemberSubscription| s.topics.iter().cloned())
            .collect();
        let list: Vec<String> = all_topics.iter().cloned().collect();
        let g = self.group.as_ref().expect("group");
        let md = self
            .fetcher
            .cluster
            .refresh_topics_until(Some(&list), Instant::now() + g.api_timeout)?;
        let counts: BTreeMap<String, i32> = all_topics
            .iter()
            .filter_map(|t| md.partition_count(t).map(|n| (t.clone(), n as i32)))
            .collect();
        let assignor = g
            .assignors
            .iter()
            .find(|a| a.name() == protocol)
            .ok_or_else(|| {
                // The coordinator's answer: not the caller's mistake.
                Error::protocol(
                    "group coordinator",
                    format!("JoinGroup chose assignor {protocol}, which this member did not offer"),
                )
            })?;
        let result = assignor.assign(&counts, &subs);
        let mut out = Vec::new();
        for (m, v) in subs.iter().zip(versions) {
            let a = result.get(&m.member_id).cloned().unwrap_or_default();
            out.push(SyncGroupRequestAssignment {
                member_id: m.member_id.clone(),
                assignment: Bytes::from(encode_assignment(&a, v.clamp(0, 3))?),
                ..Default::default()
            });
        }
        Ok(out)
    }

    /// Applies a new assignment: revokes what moved away (cooperative),
    /// positions new partitions at their committed offsets, calls the listener.
    fn on_join_complete(
        &mut self,
        protocol: &str,
        assignment: Assignment,
        topics: BTreeSet<String>,
    ) -> Result<()> {
        let md = self.fetcher.cluster.metadata();
        let now = Instant::now();
        let g = self.group.as_mut().expect("group");
        let generation = g.generation;
        if let Some(a) = g.assignors.iter_mut().find(|a| a.name() == protocol) {
            a.on_assignment(&assignment, generation);
        }
        let new: Vec<TopicPartition> = assignment
            .partitions
            .iter()
            .map(|(t, p)| TopicPartition::new(t.as_str(), *p))
            .collect();
        let revoked: Vec<TopicPartition> = g
            .owned
            .iter()
            .filter(|tp| !new.contains(tp))
            .cloned()
            .collect();
        let added: Vec<TopicPartition> = new
            .iter()
            .filter(|tp| !g.owned.contains(tp))
            .cloned()
            .collect();
        // A subscribed topic missing from metadata counts as 0 partitions, so
        // that check_subscription_changes rejoins once it appears.
        g.joined_counts = topics
            .iter()
            .map(|t| (t.clone(), md.partition_count(t).map_or(0, |n| n as i32)))
            .collect();
        g.joined_topics = topics;
        g.joined = true;
        g.needs_join = false;
        g.poll_timeout_left = false;
        g.last_heartbeat = now;
        g.heartbeat_in_flight = false;
        if let Some(i) = g.auto_commit {
            g.next_auto_commit = now + i;
        }
        if !revoked.is_empty() {
            // Cooperative: give these up now, then rejoin so that their new
            // owner can have them.
            self.call_listener(|l, c| l.on_partitions_revoked(c, &revoked));
            self.group.as_mut().expect("group").needs_join = true;
        }
        self.group.as_mut().expect("group").owned = new.clone();
        self.fetcher.subs.assign(new);
        if !added.is_empty() {
            let committed = self.committed(&added)?;
            for tp in &added {
                if let Some(Some(om)) = committed.get(tp) {
                    if let Some(st) = self.fetcher.subs.get_mut(tp) {
                        st.seek(om.offset);
                    }
                }
            }
        }
        self.call_listener(|l, c| l.on_partitions_assigned(c, &added));
        Ok(())
    }

    fn maybe_heartbeat(&mut self, now: Instant) {
        let Some(g) = self.group.as_ref() else { return };
        if !g.joined || g.heartbeat_in_flight || now < g.last_heartbeat + g.heartbeat_interval {
            return;
        }
        let Some(addr) = g.coordinator.clone() else {
            // Coordinator lost: rejoin (which finds it again). Java keeps the
            // membership and only rediscovers; that is left for later.
            self.group.as_mut().expect("group").needs_join = true;
            return;
        };
        let req = HeartbeatRequest {
            group_id: g.group_id.clone(),
            generation_id: g.generation,
            member_id: g.member_id.clone(),
            group_instance_id: g.instance_id.clone(),
            ..Default::default()
        };
        let generation = g.generation;
        let sent = self.fetcher.cluster.pool().get(&addr).and_then(|conn| {
            let v = conn.version::<HeartbeatRequest>()?;
            let tx = self.events_sender.clone();
            conn.send(&req, v, move |result| {
                let _ = tx.send(Event::Heartbeat { generation, result });
            })
        });
        let g = self.group.as_mut().expect("group");
        g.last_heartbeat = now;
        match sent {
            Ok(()) => g.heartbeat_in_flight = true,
            Err(e) => {
                log::debug!("{}: heartbeat not sent: {e}", g.context());
                self.mark_coordinator_dead();
                self.group.as_mut().expect("group").needs_join = true;
            }
        }
    }

    pub(crate) fn handle_heartbeat(
        &mut self,
        generation: i32,
        result: Result<crate::protocol::messages::HeartbeatResponse>,
    ) {
        let Some(g) = self.group.as_mut() else { return };
        g.heartbeat_in_flight = false;
        if generation != g.generation {
            return;
        }
        let code = match result {
            Ok(r) => KafkaCode::from_code(r.error_code),
            Err(e) => {
                log::debug!("{}: heartbeat failed: {e}", g.context());
                self.mark_coordinator_dead();
                return;
            }
        };
        match code {
            None => {}
            Some(KafkaCode::RebalanceInProgress) => {
                log::info!("{}: rebalance in progress; rejoining", g.context());
                g.needs_join = true;
            }
            Some(c @ (KafkaCode::IllegalGeneration | KafkaCode::UnknownMemberId)) => {
                log::warn!(
                    "{}: heartbeat answered {}; partitions lost, rejoining",
                    g.context(),
                    c.name()
                );
                g.lose_partitions();
                g.reset_membership(c == KafkaCode::UnknownMemberId);
            }
            Some(c) if is_coordinator_error(c) => self.mark_coordinator_dead(),
            Some(KafkaCode::FencedInstanceId) => {
                g.fatal = Some(Error::kafka(
                    KafkaCode::FencedInstanceId,
                    format!(
                        "{}: another consumer uses group.instance.id {}",
                        g.context(),
                        g.instance_id.as_deref().unwrap_or("")
                    ),
                ));
                g.lose_partitions();
                g.reset_membership(true);
            }
            Some(c) => log::warn!("{}: heartbeat error {}", g.context(), c.name()),
        }
    }

    fn maybe_auto_commit(&mut self, now: Instant) {
        let Some(g) = self.group.as_ref() else { return };
        let Some(interval) = g.auto_commit else {
            return;
        };
        if !g.joined || now < g.next_auto_commit {
            return;
        }
        self.group.as_mut().expect("group").next_auto_commit = now + interval;
        let offsets = self.consumed_offsets();
        if !offsets.is_empty() {
            self.send_commit_async(offsets, None);
        }
    }

    /// Positions of every assigned partition with a known position.
    fn consumed_offsets(&self) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        self.fetcher
            .subs
            .iter()
            .filter_map(|st| st.position.map(|p| (st.tp(), OffsetAndMetadata::new(p))))
            .collect()
    }

    fn commit_request(
        &self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> OffsetCommitRequest {
        let g = self.group.as_ref().expect("group");
        let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for (tp, om) in offsets {
            topics
                .entry(&tp.topic)
                .or_default()
                .push(OffsetCommitRequestPartition {
                    partition_index: tp.partition,
                    committed_offset: om.offset,
                    committed_leader_epoch: -1,
                    commit_timestamp: -1,
                    committed_metadata: Some(om.metadata.clone().unwrap_or_default()),
                    ..Default::default()
                });
        }
        let (generation, member_id) = if g.joined {
            (g.generation, g.member_id.clone())
        } else {
            (-1, String::new())
        };
        OffsetCommitRequest {
            group_id: g.group_id.clone(),
            generation_id_or_member_epoch: generation,
            member_id,
            group_instance_id: if g.joined {
                g.instance_id.clone()
            } else {
                None
            },
            retention_time_ms: -1,
            topics: topics
                .into_iter()
                .map(|(name, partitions)| OffsetCommitRequestTopic {
                    name: name.to_string(),
                    partitions,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn commit_result(
        &mut self,
        resp: &crate::protocol::messages::OffsetCommitResponse,
    ) -> Result<()> {
        let mut first_err = None;
        for t in &resp.topics {
            for p in &t.partitions {
                if let Some(code) = KafkaCode::from_code(p.error_code) {
                    first_err.get_or_insert((code, format!("{}-{}", t.name, p.partition_index)));
                }
            }
        }
        let Some((code, tp)) = first_err else {
            return Ok(());
        };
        let g = self.group.as_mut().expect("group");
        match code {
            KafkaCode::IllegalGeneration
            | KafkaCode::UnknownMemberId
            | KafkaCode::FencedInstanceId => {
                let e = commit_failed(g, Some(code));
                g.lose_partitions();
                g.reset_membership(code != KafkaCode::IllegalGeneration);
                Err(e)
            }
            KafkaCode::RebalanceInProgress => {
                g.needs_join = true;
                Err(Error::Kafka {
                    code,
                    context: format!("OffsetCommit for {} ({tp})", g.context()),
                    message: Some(
                        "a rebalance is in progress: poll() to complete it, then commit again"
                            .into(),
                    ),
                })
            }
            c => {
                if is_coordinator_error(c) {
                    self.mark_coordinator_dead();
                }
                let g = self.group.as_ref().expect("group");
                Err(Error::kafka(
                    c,
                    format!("OffsetCommit for {} ({tp})", g.context()),
                ))
            }
        }
    }

    /// Commits the positions of every assigned partition (the offsets of the
    /// next records to read), waiting for the coordinator's answer.
    pub fn commit_sync(&mut self) -> Result<()> {
        let offsets = self.consumed_offsets();
        self.commit_sync_offsets(&offsets)
    }

    /// Commits the given offsets (with metadata), waiting for the answer.
    /// Retriable errors are retried until `default.api.timeout.ms`.
    pub fn commit_sync_offsets(
        &mut self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<()> {
        self.commit_sync_offsets_within(offsets, None, false)
    }

    /// [`Consumer::commit_sync_offsets`], retrying until
    /// `default.api.timeout.ms` or `limit`, whichever comes first (at least
    /// one attempt). With `hard`, each request also waits no longer than
    /// `limit` (instead of request.timeout.ms): for a bounded close.
    fn commit_sync_offsets_within(
        &mut self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
        limit: Option<Instant>,
        hard: bool,
    ) -> Result<()> {
        self.ensure_open()?;
        let now = Instant::now();
        let g = self.group_ref()?;
        if g.joined && now.saturating_duration_since(g.last_poll) > g.rebalance_timeout {
            // The application was away too long: leave now, as Java's
            // heartbeat thread would have, and say why.
            self.leave_after_poll_timeout();
            return Err(commit_failed(self.group.as_ref().expect("group"), None));
        }
        if !g.joined && g.poll_timeout_left {
            return Err(commit_failed(g, None));
        }
        if offsets.is_empty() {
            return Ok(());
        }
        let deadline = limit.map_or(now + g.api_timeout, |l| l.min(now + g.api_timeout));
        let cluster = self.fetcher.cluster.clone();
        let mut retry = Retry::new(&cluster, deadline);
        loop {
            let req = self.commit_request(offsets);
            let attempt = self.coordinator(deadline).and_then(|conn| {
                let v = conn.version::<OffsetCommitRequest>()?;
                match limit.filter(|_| hard) {
                    Some(l) => conn.request_with_timeout(
                        &req,
                        v,
                        l.saturating_duration_since(Instant::now())
                            .max(Duration::from_millis(1)),
                    ),
                    None => conn.request_at(&req, v),
                }
            });
            let result = attempt.and_then(|resp| self.commit_result(&resp));
            match result {
                Ok(()) => return Ok(()),
                Err(e) => {
                    if e.is_retriable() && matches!(e, Error::Io { .. } | Error::Timeout { .. }) {
                        self.mark_coordinator_dead();
                    }
                    retry.backoff("OffsetCommit", e)?;
                }
            }
        }
    }

    /// Commits every consumed position without waiting; `callback` gets the
    /// outcome during a later `poll` (or `close`).
    pub fn commit_async(&mut self, callback: impl FnOnce(Result<()>) + Send + 'static) {
        let offsets = self.consumed_offsets();
        if self.group.is_none() {
            callback(Err(Error::InvalidArgument(
                "this consumer has no group.id: set group.id to commit offsets".into(),
            )));
            return;
        }
        self.send_commit_async(offsets, Some(Box::new(callback)));
    }

    fn send_commit_async(
        &mut self,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
        callback: Option<CommitCallback>,
    ) {
        let req = self.commit_request(&offsets);
        let g = self.group.as_mut().expect("group");
        let id = g.next_commit_id;
        g.next_commit_id += 1;
        let tx = self.events_sender.clone();
        let sent = match g.coordinator.clone() {
            Some(addr) => self.fetcher.cluster.pool().get(&addr).and_then(|conn| {
                let v = conn.version::<OffsetCommitRequest>()?;
                conn.send(&req, v, move |result| {
                    let _ = tx.send(Event::Commit { id, result });
                })
            }),
            None => Err(Error::kafka(
                KafkaCode::CoordinatorNotAvailable,
                "async commit: coordinator unknown",
            )),
        };
        match sent {
            Ok(()) => {
                self.group
                    .as_mut()
                    .expect("group")
                    .async_commits
                    .insert(id, callback);
            }
            Err(e) => {
                self.mark_coordinator_dead();
                match callback {
                    Some(cb) => cb(Err(e)),
                    None => log::debug!("auto-commit not sent: {e}"),
                }
            }
        }
    }

    pub(crate) fn handle_commit(
        &mut self,
        id: u64,
        result: Result<crate::protocol::messages::OffsetCommitResponse>,
    ) {
        let Some(g) = self.group.as_mut() else { return };
        let Some(callback) = g.async_commits.remove(&id) else {
            return;
        };
        let outcome = result.and_then(|r| self.commit_result(&r));
        match callback {
            Some(cb) => cb(outcome),
            None => {
                if let Err(e) = outcome {
                    log::warn!("auto-commit failed: {e}");
                }
            }
        }
    }

    /// The last committed offsets of `partitions` in this consumer's group
    /// (None for partitions without one).
    pub fn committed(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>> {
        self.ensure_open()?;
        let g = self.group_ref()?;
        let deadline = Instant::now() + g.api_timeout;
        let group_id = g.group_id.clone();
        let cluster = self.fetcher.cluster.clone();
        let mut retry = Retry::new(&cluster, deadline);
        let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for tp in partitions {
            by_topic
                .entry(tp.topic.to_string())
                .or_default()
                .push(tp.partition);
        }
        loop {
            let attempt = self.coordinator(deadline).and_then(|conn| {
                let v = conn.version::<OffsetFetchRequest>()?;
                let req = if v >= 8 {
                    OffsetFetchRequest {
                        groups: vec![OffsetFetchRequestGroup {
                            group_id: group_id.clone(),
                            member_id: None,
                            member_epoch: -1,
                            topics: Some(
                                by_topic
                                    .iter()
                                    .map(|(t, ps)| OffsetFetchRequestTopics {
                                        name: t.clone(),
                                        partition_indexes: ps.clone(),
                                        ..Default::default()
                                    })
                                    .collect(),
                            ),
                            ..Default::default()
                        }],
                        require_stable: true,
                        ..Default::default()
                    }
                } else {
                    OffsetFetchRequest {
                        group_id: group_id.clone(),
                        topics: Some(
                            by_topic
                                .iter()
                                .map(|(t, ps)| OffsetFetchRequestTopic {
                                    name: t.clone(),
                                    partition_indexes: ps.clone(),
                                    ..Default::default()
                                })
                                .collect(),
                        ),
                        require_stable: v >= 7,
                        ..Default::default()
                    }
                };
                let resp = conn.request_at(&req, v)?;
                let mut out = BTreeMap::new();
                let mut group_code = resp.error_code;
                let mut rows: Vec<(String, i32, i64, Option<String>, i16)> = Vec::new();
                if v >= 8 {
                    for grp in resp.groups {
                        group_code = grp.error_code;
                        for t in grp.topics {
                            for p in t.partitions {
                                rows.push((
                                    t.name.clone(),
                                    p.partition_index,
                                    p.committed_offset,
                                    p.metadata,
                                    p.error_code,
                                ));
                            }
                        }
                    }
                } else {
                    for t in resp.topics {
                        for p in t.partitions {
                            rows.push((
                                t.name.clone(),
                                p.partition_index,
                                p.committed_offset,
                                p.metadata,
                                p.error_code,
                            ));
                        }
                    }
                }
                if let Some(code) = KafkaCode::from_code(group_code) {
                    return Err(Error::kafka(
                        code,
                        format!("OffsetFetch for group {group_id} on {}", conn.label()),
                    ));
                }
                for (topic, partition, offset, metadata, code) in rows {
                    if let Some(code) = KafkaCode::from_code(code) {
                        return Err(Error::kafka(
                            code,
                            format!("OffsetFetch for group {group_id}, {topic}-{partition}"),
                        ));
                    }
                    let v = (offset >= 0).then(|| OffsetAndMetadata {
                        offset,
                        metadata: metadata.filter(|m| !m.is_empty()),
                    });
                    out.insert(TopicPartition::new(topic.as_str(), partition), v);
                }
                for tp in partitions {
                    out.entry(tp.clone()).or_insert(None);
                }
                Ok(out)
            });
            match attempt {
                Ok(out) => return Ok(out),
                Err(e) => {
                    if e.is_retriable()
                        && (e.kafka_code().is_some_and(is_coordinator_error)
                            || matches!(e, Error::Io { .. } | Error::Timeout { .. }))
                    {
                        self.mark_coordinator_dead();
                    }
                    retry.backoff("OffsetFetch", e)?;
                }
            }
        }
    }

    /// Sends LeaveGroup (not for static members) without waiting long
    /// (nor past `deadline`, when given).
    fn send_leave_group(&mut self, reason: &str, deadline: Option<Instant>) {
        let Some(g) = self.group.as_ref() else { return };
        if g.membership.is_some() {
            self.membership_leave(deadline);
            return;
        }
        if g.member_id.is_empty() || g.instance_id.is_some() {
            return;
        }
        let Some(addr) = g.coordinator.clone() else {
            return;
        };
        let Ok(conn) = self.fetcher.cluster.pool().get(&addr) else {
            return;
        };
        let Ok(v) = conn.version::<LeaveGroupRequest>() else {
            return;
        };
        let req = if v >= 3 {
            LeaveGroupRequest {
                group_id: g.group_id.clone(),
                members: vec![MemberIdentity {
                    member_id: g.member_id.clone(),
                    group_instance_id: g.instance_id.clone(),
                    reason: Some(reason.to_string()),
                    ..Default::default()
                }],
                ..Default::default()
            }
        } else {
            LeaveGroupRequest {
                group_id: g.group_id.clone(),
                member_id: g.member_id.clone(),
                ..Default::default()
            }
        };
        let answer = match deadline {
            Some(d) => conn.request_with_timeout(
                &req,
                v,
                d.saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1)),
            ),
            None => conn.request_at(&req, v),
        };
        match answer {
            Ok(r) => {
                if let Some(code) = KafkaCode::from_code(r.error_code) {
                    log::debug!("{}: LeaveGroup answered {}", g.context(), code.name());
                }
            }
            Err(e) => log::debug!("{}: LeaveGroup failed: {e}", g.context()),
        }
    }

    /// Orderly exit from the group: auto-commit, revoke, LeaveGroup.
    pub(crate) fn leave_group(&mut self, reason: &str) -> Result<()> {
        if let Err(e) = self.leave_group_within(reason, None) {
            log::warn!("auto-commit on leave failed: {e}");
        }
        Ok(())
    }

    /// [`Consumer::leave_group`] bounded by `deadline` (the auto-commit and
    /// LeaveGroup requests wait no longer; the rebalance listener is not
    /// bounded). Always leaves; returns the auto-commit's failure, if any.
    pub(crate) fn leave_group_within(
        &mut self,
        reason: &str,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let Some(g) = self.group.as_ref() else {
            return Ok(());
        };
        if !g.joined {
            return Ok(());
        }
        let mut commit_error = None;
        if g.auto_commit.is_some() {
            let offsets = self.consumed_offsets();
            if let Err(e) = self.commit_sync_offsets_within(&offsets, deadline, true) {
                commit_error = Some(e);
            }
        }
        let owned = std::mem::take(&mut self.group.as_mut().expect("group").owned);
        if !owned.is_empty() {
            self.call_listener(|l, c| l.on_partitions_revoked(c, &owned));
        }
        self.send_leave_group(reason, deadline);
        let g = self.group.as_mut().expect("group");
        g.reset_membership(true);
        g.needs_join = false;
        // Complete pending async commits' callbacks as best we can.
        let pending: Vec<_> = g.async_commits.drain().collect();
        for (_, cb) in pending {
            if let Some(cb) = cb {
                cb(Err(Error::Closed("consumer group membership".into())));
            }
        }
        commit_error.map_or(Ok(()), Err)
    }
}
