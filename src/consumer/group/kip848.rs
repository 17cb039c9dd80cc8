//! The KIP-848 consumer group protocol (`group.protocol=consumer`): the
//! broker computes assignments and the member only heartbeats
//! (ConsumerGroupHeartbeat), reconciling towards the target assignment each
//! response carries.
//!
//! Rules (KIP-848): a member joins with epoch 0 and a member id it made up
//! itself (v1, KIP-1082); every heartbeat carries its subscription and the
//! partitions it owns, which is how it acknowledges a reconciled assignment.
//! Partitions leaving the target are revoked (committed first with
//! auto-commit, then `on_partitions_revoked`); new ones wait for their
//! committed offsets and are given to `on_partitions_assigned`. On
//! FENCED_MEMBER_EPOCH or UNKNOWN_MEMBER_ID every owned partition is lost and
//! the member rejoins with epoch 0. Leaving sends epoch -1 (-2 for a static
//! member, which keeps its assignment for `session.timeout.ms`). Heartbeats
//! run inside `poll`, every `heartbeat_interval_ms` the broker asks for.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{Action, Core, Ctx, MemberProtocol, Response};
use crate::consumer::assignor::PartitionAssignor;
use crate::consumer::{Event, TopicPartition};
use crate::error::{Error, Result};
use crate::protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use crate::protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use crate::protocol::{KafkaCode, Uuid};

/// State of a member using the consumer protocol.
pub(crate) struct Kip848 {
    member_epoch: i32,
    heartbeat_interval: Duration,
    next_heartbeat: Instant,
    in_flight: bool,
    /// The latest target assignment (topic id, partitions) not yet applied.
    target: Option<Vec<(Uuid, Vec<i32>)>>,
    /// A target naming a topic id metadata does not know yet waits for a
    /// refresh until then.
    target_retry_at: Option<Instant>,
}

impl Kip848 {
    pub(crate) fn new() -> Kip848 {
        Kip848 {
            member_epoch: 0,
            heartbeat_interval: Duration::from_millis(500),
            next_heartbeat: Instant::now(),
            in_flight: false,
            target: None,
            target_retry_at: None,
        }
    }

    fn heartbeat_request(
        &self,
        core: &Core,
        ctx: &Ctx,
        epoch: i32,
    ) -> ConsumerGroupHeartbeatRequest {
        let topics: Vec<String> = core
            .resolve_topics(ctx)
            .unwrap_or_else(|_| core.subscribed_topics(ctx))
            .into_iter()
            .collect();
        let md = ctx.cluster.metadata();
        let mut owned: BTreeMap<Uuid, Vec<i32>> = BTreeMap::new();
        for tp in &core.owned {
            if let Some(t) = md.topics.get(&*tp.topic) {
                owned.entry(t.topic_id).or_default().push(tp.partition);
            }
        }
        ConsumerGroupHeartbeatRequest {
            group_id: core.s.group_id.clone(),
            member_id: core.member_id.clone(),
            member_epoch: epoch,
            instance_id: core.s.group_instance_id.clone(),
            rack_id: core.s.client_rack.clone(),
            rebalance_timeout_ms: core.s.max_poll_interval.as_millis().min(i32::MAX as u128) as i32,
            subscribed_topic_names: Some(topics),
            // An empty regex says "no regex subscription" (it clears a
            // previous one); librdkafka sends both fields together too, and
            // its mock cluster insists on it.
            subscribed_topic_regex: Some(String::new()),
            server_assignor: None,
            topic_partitions: Some(
                owned
                    .into_iter()
                    .map(|(topic_id, partitions)| TopicPartitions {
                        topic_id,
                        partitions,
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    fn send_heartbeat(&mut self, core: &mut Core, ctx: &mut Ctx, now: Instant) {
        let Some(conn) = core.coordinator(ctx, now) else {
            return;
        };
        let epoch = self.member_epoch;
        let req = self.heartbeat_request(core, ctx, epoch);
        let tx = ctx.events.clone();
        let sent = conn
            .version::<ConsumerGroupHeartbeatRequest>()
            .and_then(|v| {
                conn.send(&req, v, move |r| {
                    let _ = tx.send(Event::Group(Response::MemberHeartbeat(epoch, r)));
                })
            });
        self.next_heartbeat = now + self.heartbeat_interval;
        match sent {
            Ok(()) => self.in_flight = true,
            Err(e) => {
                log::debug!("ConsumerGroupHeartbeat not sent: {e}");
                core.coordinator_dead(ctx);
            }
        }
    }

    fn handle_heartbeat(
        &mut self,
        core: &mut Core,
        ctx: &mut Ctx,
        epoch: i32,
        result: Result<ConsumerGroupHeartbeatResponse>,
    ) {
        self.in_flight = false;
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                log::debug!("ConsumerGroupHeartbeat failed: {e}");
                core.coordinator_dead(ctx);
                return;
            }
        };
        match KafkaCode::from_code(resp.error_code) {
            None => {
                if resp.member_epoch != self.member_epoch || resp.assignment.is_some() {
                    log::debug!(
                        "{}: member epoch {} -> {}{}",
                        core.context(),
                        self.member_epoch,
                        resp.member_epoch,
                        match &resp.assignment {
                            Some(a) => format!(
                                ", target assignment of {} partitions",
                                a.topic_partitions
                                    .iter()
                                    .map(|t| t.partitions.len())
                                    .sum::<usize>()
                            ),
                            None => String::new(),
                        }
                    );
                }
                self.member_epoch = resp.member_epoch;
                if resp.heartbeat_interval_ms > 0 {
                    self.heartbeat_interval =
                        Duration::from_millis(resp.heartbeat_interval_ms as u64);
                }
                if let Some(a) = resp.assignment {
                    self.target = Some(
                        a.topic_partitions
                            .into_iter()
                            .map(|t| (t.topic_id, t.partitions))
                            .collect(),
                    );
                    // Acknowledge the reconciled assignment promptly.
                    self.next_heartbeat = Instant::now();
                }
                if let Some(id) = resp.member_id {
                    core.member_id = id;
                }
                if !core.joined {
                    if let Some(i) = core.s.auto_commit() {
                        core.next_auto_commit = Instant::now() + i;
                    }
                }
                core.generation = resp.member_epoch;
                core.joined = resp.member_epoch > 0;
                core.needs_join = false;
                core.poll_timeout_left = false;
            }
            Some(c @ (KafkaCode::FencedMemberEpoch | KafkaCode::UnknownMemberId)) => {
                log::warn!(
                    "ConsumerGroupHeartbeat (epoch {epoch}) answered {}; partitions lost, rejoining",
                    c.name()
                );
                self.member_epoch = 0;
                self.target = None;
                self.next_heartbeat = Instant::now();
                core.lose_partitions(ctx);
                core.joined = false;
                core.generation = -1;
            }
            Some(
                c @ (KafkaCode::NotCoordinator
                | KafkaCode::CoordinatorNotAvailable
                | KafkaCode::CoordinatorLoadInProgress),
            ) => {
                log::debug!(
                    "ConsumerGroupHeartbeat answered {}; finding the coordinator again",
                    c.name()
                );
                self.next_heartbeat = Instant::now() + Duration::from_millis(100);
                core.coordinator_dead(ctx);
            }
            Some(c) => {
                let e = Error::Kafka {
                    code: c,
                    context: format!("ConsumerGroupHeartbeat for group {}", core.s.group_id),
                    message: resp.error_message,
                };
                log::warn!("{e}");
                core.fatal = Some(e);
            }
        }
    }

    /// Reconciles the owned partitions with the latest target assignment:
    /// revoke what left, take what came.
    fn apply_target(&mut self, core: &mut Core, ctx: &Ctx, now: Instant) {
        if self.target_retry_at.is_some_and(|t| now < t) {
            return;
        }
        let Some(target) = self.target.take() else {
            return;
        };
        self.target_retry_at = None;
        let md = ctx.cluster.metadata();
        let mut new: Vec<TopicPartition> = Vec::new();
        for (id, parts) in &target {
            match md.topic_name(id) {
                Some(name) => new.extend(parts.iter().map(|p| TopicPartition::new(name, *p))),
                None => {
                    // Unknown topic id: try again after the next metadata
                    // refresh (asked for now).
                    let topics: Vec<String> = core.subscribed_topics(ctx).into_iter().collect();
                    ctx.cluster.add_topics(&topics);
                    ctx.cluster.request_refresh();
                    self.target = Some(target);
                    self.target_retry_at = Some(now + core.s.retry_backoff);
                    return;
                }
            }
        }
        new.sort();
        let (revoked, added) = super::changes(&core.owned, &new);
        if !revoked.is_empty() {
            core.actions.push(Action::Revoke(revoked));
        }
        if !added.is_empty() {
            core.actions.push(Action::Assign { all: new, added });
        }
    }
}

impl MemberProtocol for Kip848 {
    fn step(&mut self, core: &mut Core, ctx: &mut Ctx, now: Instant) -> Result<()> {
        if core.member_id.is_empty() {
            core.member_id = new_member_id();
        }
        // Membership ended elsewhere (a commit answered FENCED_MEMBER_EPOCH
        // or UNKNOWN_MEMBER_ID): rejoin with epoch 0.
        if core.generation < 0 && self.member_epoch > 0 {
            self.member_epoch = 0;
            self.target = None;
            self.next_heartbeat = now;
        }
        self.apply_target(core, ctx, now);
        if core.subscription.is_none() || self.in_flight || now < self.next_heartbeat {
            return Ok(());
        }
        self.send_heartbeat(core, ctx, now);
        Ok(())
    }

    fn handle(&mut self, core: &mut Core, ctx: &mut Ctx, response: Response) {
        if let Response::MemberHeartbeat(epoch, r) = response {
            self.handle_heartbeat(core, ctx, epoch, r);
        }
    }

    fn next_wakeup(&self, core: &Core) -> Option<Instant> {
        if self.target.is_some() {
            return Some(self.target_retry_at.unwrap_or_else(Instant::now));
        }
        (core.subscription.is_some() && !self.in_flight && core.has_coordinator())
            .then_some(self.next_heartbeat)
    }

    fn leave(&mut self, core: &mut Core, ctx: &mut Ctx, _reason: &str, limit: Option<Instant>) {
        let epoch = if core.s.group_instance_id.is_some() {
            -2
        } else {
            -1
        };
        if core.member_id.is_empty() || self.member_epoch <= 0 {
            return;
        }
        let req = self.heartbeat_request(core, ctx, epoch);
        let five = Instant::now() + Duration::from_secs(5);
        let deadline = limit.map_or(five, |l| l.min(five));
        if let Ok(conn) = core.coordinator_blocking(ctx, deadline) {
            if let Ok(v) = conn.version::<ConsumerGroupHeartbeatRequest>() {
                let timeout = deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1));
                if let Err(e) = conn.request_with_timeout(&req, v, timeout) {
                    log::debug!("leave heartbeat failed: {e}");
                }
            }
        }
        self.member_epoch = 0;
        self.in_flight = false;
    }

    fn heartbeat_now(&mut self) {
        self.next_heartbeat = Instant::now();
    }

    fn rebalancing(&self, core: &Core) -> bool {
        self.target.is_some() || (core.subscription.is_some() && self.member_epoch <= 0)
    }

    fn set_assignors(&mut self, _assignors: Vec<Box<dyn PartitionAssignor>>) -> Result<()> {
        Err(Error::config(
            "group.protocol",
            "consumer",
            "custom assignors need group.protocol=classic: with the consumer protocol (KIP-848) the broker assigns",
        ))
    }
}

/// A member id as KIP-1082 wants it: a random UUID, printed like Kafka's.
pub(crate) fn new_member_id() -> String {
    let mut b = [0u8; 16];
    for chunk in b.chunks_mut(4) {
        let r = (crate::net::pool::random_unit() * u32::MAX as f64) as u32;
        chunk.copy_from_slice(&r.to_be_bytes());
    }
    Uuid(b).to_string()
}
