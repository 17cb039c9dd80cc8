//! The consumer's side of group membership: the public group API
//! (subscribe, commits, committed offsets) and the glue that drives the
//! [`Coordinator`] from `poll` and carries out its [`Action`]s (the
//! rebalance listener gets the consumer itself, so only the consumer can
//! call it).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::group::{
    Action, ConsumerGroupMetadata, ConsumerRebalanceListener, Coordinator, Ctx, OffsetAndMetadata,
    Response, SubscriptionMode, commit,
};
use super::{Consumer, TopicPartition};
use crate::error::{Error, Result};
use crate::protocol::KafkaCode;

fn no_group() -> Error {
    Error::InvalidArgument(
        "this consumer has no group.id (it is empty, and a group id must be non-empty): set group.id to subscribe or commit offsets".into(),
    )
}

/// At most this many rounds of actions per group step: a listener that keeps
/// causing new ones (e.g. by seeking) cannot hold `poll`.
const MAX_ACTION_ROUNDS: usize = 4;

impl Consumer {
    /// The coordinator and what it works on, borrowed apart.
    fn group_parts(&mut self) -> Option<(&mut Coordinator, Ctx<'_>)> {
        let Consumer {
            group,
            fetcher,
            events_sender,
            ..
        } = self;
        let g = group.as_mut()?;
        Some((
            g,
            Ctx {
                cluster: &fetcher.cluster,
                subs: &mut fetcher.subs,
                events: events_sender,
            },
        ))
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
        let (g, ctx) = self.group_parts().ok_or_else(no_group)?;
        ctx.cluster.add_topics(&list);
        g.subscribe(SubscriptionMode::Topics(set));
        Ok(())
    }

    /// Subscribes to every topic whose name matches `pattern`, re-evaluated
    /// on every metadata refresh (`metadata.max.age.ms`): a new matching
    /// topic triggers a rebalance. Internal topics are never matched (with
    /// `exclude.internal.topics=true`, the default).
    pub fn subscribe_pattern(
        &mut self,
        pattern: impl Fn(&str) -> bool + Send + 'static,
    ) -> Result<()> {
        self.ensure_open()?;
        let g = self.group.as_mut().ok_or_else(no_group)?;
        g.subscribe(SubscriptionMode::Pattern(Box::new(pattern)));
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
        if let Err(e) = self.leave_group_within("the consumer unsubscribed", None) {
            log::warn!("auto-commit on leave failed: {e}");
        }
        if let Some(g) = self.group.as_mut() {
            g.core.subscription = None;
            g.core.needs_join = false;
        }
        self.fetcher.subs.assign(Vec::new());
        Ok(())
    }

    /// The group identity (for transactional producers).
    pub fn group_metadata(&self) -> Result<ConsumerGroupMetadata> {
        Ok(self.group.as_ref().ok_or_else(no_group)?.metadata())
    }

    /// Called at the start of every `poll`.
    pub(crate) fn group_on_poll(&mut self, now: Instant) -> Result<()> {
        let Some((g, mut ctx)) = self.group_parts() else {
            return Ok(());
        };
        let r = g.on_poll(&mut ctx, now);
        self.run_group_actions(None);
        r
    }

    /// The group's step in the poll loop (never waits for the coordinator),
    /// then what it asks of the consumer. `deadline` bounds the commit of
    /// partitions being revoked.
    pub(crate) fn group_step(&mut self, now: Instant, deadline: Instant) -> Result<()> {
        // What the answers handled since the last step asked for goes first:
        // a cooperative revocation must be done before the step rejoins.
        self.run_group_actions(Some(deadline));
        for _ in 0..MAX_ACTION_ROUNDS {
            let Some((g, mut ctx)) = self.group_parts() else {
                return Ok(());
            };
            g.step(&mut ctx, now)?;
            if !self.run_group_actions(Some(deadline)) {
                break;
            }
        }
        Ok(())
    }

    /// Handles a group response (from the poll loop's event channel). The
    /// actions it causes wait for the next group step, which bounds a
    /// revocation's commit by the poll's deadline.
    pub(crate) fn handle_group(&mut self, response: Response) {
        if let Some((g, mut ctx)) = self.group_parts() {
            g.handle(&mut ctx, response);
        }
    }

    /// Carries out the coordinator's actions in order; false when there were
    /// none. A revocation's auto-commit waits until `deadline` at most
    /// (default.api.timeout.ms without one).
    fn run_group_actions(&mut self, deadline: Option<Instant>) -> bool {
        let Some(g) = self.group.as_mut() else {
            return false;
        };
        let actions = g.take_actions();
        if actions.is_empty() {
            return false;
        }
        for action in actions {
            match action {
                Action::Revoke(partitions) => {
                    let (g, mut ctx) = self.group_parts().expect("group");
                    if g.core.s.auto_commit().is_some() {
                        let offsets: BTreeMap<_, _> = commit::consumed_offsets(ctx.subs)
                            .into_iter()
                            .filter(|(tp, _)| partitions.contains(tp))
                            .collect();
                        if let Err(e) = g.commit_sync(&mut ctx, &offsets, deadline, false) {
                            log::warn!("auto-commit before revocation failed: {e}");
                        }
                    }
                    self.call_listener(|l, c| l.on_partitions_revoked(c, &partitions));
                    if let Some((g, mut ctx)) = self.group_parts() {
                        g.drop_partitions(&mut ctx, &partitions);
                    }
                }
                Action::Lost(partitions) => {
                    self.call_listener(|l, c| l.on_partitions_lost(c, &partitions));
                }
                Action::Assign { all, added } => {
                    if let Some((g, mut ctx)) = self.group_parts() {
                        g.take_assignment(&mut ctx, all, &added);
                    }
                    self.call_listener(|l, c| l.on_partitions_assigned(c, &added));
                }
            }
        }
        true
    }

    fn call_listener(&mut self, f: impl FnOnce(&mut dyn ConsumerRebalanceListener, &mut Consumer)) {
        if let Some(mut l) = self.listener.take() {
            f(l.as_mut(), self);
            if self.listener.is_none() {
                self.listener = Some(l);
            }
        }
    }

    /// Topics the subscription means now (a pattern is matched against a
    /// fresh list of topics).
    pub(crate) fn resolve_subscription(&mut self) -> Result<BTreeSet<String>> {
        let (g, ctx) = self.group_parts().ok_or_else(no_group)?;
        g.core.resolve_topics(&ctx)
    }

    /// True while a subscribed member has no settled assignment.
    pub(crate) fn group_rebalancing(&self) -> bool {
        self.group.as_ref().is_some_and(Coordinator::rebalancing)
    }

    /// Whether this consumer subscribed (rather than assigned partitions).
    pub(crate) fn subscribed(&self) -> bool {
        self.group
            .as_ref()
            .is_some_and(|g| g.core.subscription.is_some())
    }

    /// Commits the positions of every assigned partition (the offsets of the
    /// next records to read), waiting for the coordinator's answer.
    pub fn commit_sync(&mut self) -> Result<()> {
        let offsets = commit::consumed_offsets(&self.fetcher.subs);
        self.commit_sync_offsets(&offsets)
    }

    /// Commits the given offsets (with metadata), waiting for the answer.
    /// Retriable errors are retried until `default.api.timeout.ms`.
    pub fn commit_sync_offsets(
        &mut self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<()> {
        self.ensure_open()?;
        let (g, _) = self.group_parts().ok_or_else(no_group)?;
        let deadline = Instant::now() + g.core.s.default_api_timeout;
        loop {
            let (g, mut ctx) = self.group_parts().ok_or_else(no_group)?;
            let r = g.commit_sync(&mut ctx, offsets, Some(deadline), false);
            self.run_group_actions(None);
            match r {
                // KIP-848: the epoch moved on (a heartbeat answer not handled
                // yet). Heartbeat now and commit again with the epoch it
                // brings, as Java does, within default.api.timeout.ms.
                Err(e)
                    if e.kafka_code() == Some(KafkaCode::StaleMemberEpoch)
                        && Instant::now() < deadline =>
                {
                    log::debug!("{e}; heartbeating for the current epoch");
                    self.refresh_member_epoch(deadline)?;
                }
                r => return r.map_err(|e| self.fetcher.cluster.annotate(e)),
            }
        }
    }

    /// Sends a heartbeat now and handles events until its answer arrived (or
    /// `deadline`): the member epoch is then current.
    fn refresh_member_epoch(&mut self, deadline: Instant) -> Result<()> {
        let Some(g) = self.group.as_mut() else {
            return Ok(());
        };
        g.heartbeat_now();
        let before = g.core.generation;
        self.group_step(Instant::now(), deadline)?;
        while Instant::now() < deadline {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self
                .events
                .recv_timeout(wait.min(std::time::Duration::from_millis(100)))
            {
                Ok(event) => {
                    let heartbeat = matches!(
                        event,
                        super::Event::Group(
                            Response::MemberHeartbeat(..) | Response::Heartbeat(..)
                        )
                    );
                    self.handle(event);
                    if heartbeat {
                        break;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    // Coordinator discovery or a backoff may be pending.
                    self.group_step(Instant::now(), deadline)?;
                }
                Err(_) => return Err(Error::Closed("consumer".into())),
            }
        }
        if let Some(g) = self.group.as_ref() {
            log::debug!("member epoch {before} -> {}", g.core.generation);
        }
        Ok(())
    }

    /// Commits every consumed position without waiting; `callback` gets the
    /// outcome during a later `poll` (or `close`).
    pub fn commit_async(&mut self, callback: impl FnOnce(Result<()>) + Send + 'static) {
        let offsets = commit::consumed_offsets(&self.fetcher.subs);
        let Some((g, mut ctx)) = self.group_parts() else {
            callback(Err(no_group()));
            return;
        };
        commit::send_commit_async(&mut g.core, &mut ctx, offsets, Some(Box::new(callback)));
    }

    /// The last committed offsets of `partitions` in this consumer's group
    /// (None for partitions without one), waiting up to
    /// `default.api.timeout.ms`.
    pub fn committed(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>> {
        self.ensure_open()?;
        let (g, mut ctx) = self.group_parts().ok_or_else(no_group)?;
        let r = commit::committed(&mut g.core, &mut ctx, partitions);
        r.map_err(|e| self.fetcher.cluster.annotate(e))
    }

    /// Orderly exit from the group, bounded by `deadline`: auto-commit,
    /// revoke (the listener, not bounded), LeaveGroup. Always leaves;
    /// returns the auto-commit's failure, if any.
    pub(crate) fn leave_group_within(
        &mut self,
        reason: &str,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let Some((g, mut ctx)) = self.group_parts() else {
            return Ok(());
        };
        let (owned, result) = g.prepare_leave(&mut ctx, deadline);
        if !owned.is_empty() {
            self.call_listener(|l, c| l.on_partitions_revoked(c, &owned));
        }
        if let Some((g, mut ctx)) = self.group_parts() {
            g.finish_leave(&mut ctx, reason, deadline);
        }
        self.run_group_actions(deadline);
        result
    }
}
