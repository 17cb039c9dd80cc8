//! The KIP-848 consumer group protocol (`group.protocol=consumer`): the
//! broker computes assignments and the member only heartbeats
//! (ConsumerGroupHeartbeat), reconciling towards the target assignment each
//! response carries.
//!
//! Rules (KIP-848): a member joins with epoch 0 and a member id it made up
//! itself (v1, KIP-1082); every heartbeat carries its subscription and the
//! partitions it owns, which is how it acknowledges a reconciled assignment.
//! Partitions leaving the target are revoked (committed first with
//! auto-commit, then `on_partitions_revoked`); new ones are positioned at
//! their committed offsets and given to `on_partitions_assigned`. On
//! FENCED_MEMBER_EPOCH or UNKNOWN_MEMBER_ID every owned partition is lost and
//! the member rejoins with epoch 0. Leaving sends epoch -1 (-2 for a static
//! member, which keeps its assignment for `session.timeout.ms`). Heartbeats
//! run inside `poll`, every `heartbeat_interval_ms` the broker asks for.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::{Consumer, Event, TopicPartition};
use crate::error::{Error, Result};
use crate::protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use crate::protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use crate::protocol::{KafkaCode, Uuid};

/// State of a member using the consumer protocol.
pub(crate) struct Membership {
    pub(crate) member_epoch: i32,
    heartbeat_interval: Duration,
    next_heartbeat: Instant,
    in_flight: bool,
    /// The latest target assignment (topic id, partitions) not yet applied.
    target: Option<Vec<(Uuid, Vec<i32>)>>,
}

impl Membership {
    pub(crate) fn new() -> Membership {
        Membership {
            member_epoch: 0,
            heartbeat_interval: Duration::from_millis(500),
            next_heartbeat: Instant::now(),
            in_flight: false,
            target: None,
        }
    }

    pub(crate) fn next_wakeup(&self) -> Option<Instant> {
        (!self.in_flight).then_some(self.next_heartbeat)
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

impl Consumer {
    fn membership(&mut self) -> &mut Membership {
        self.group
            .as_mut()
            .and_then(|g| g.membership.as_mut())
            .expect("consumer protocol")
    }

    /// The poll loop's step for the consumer protocol.
    pub(crate) fn membership_step(&mut self, now: Instant, deadline: Instant) -> Result<()> {
        if self
            .group
            .as_ref()
            .is_some_and(|g| g.member_id().is_empty())
        {
            self.group
                .as_mut()
                .expect("group")
                .set_member_id(new_member_id());
        }
        self.apply_target()?;
        let g = self.group.as_ref().expect("group");
        if g.subscription.is_none() {
            return Ok(());
        }
        let m = g.membership.as_ref().expect("consumer protocol");
        if m.in_flight || now < m.next_heartbeat {
            return Ok(());
        }
        self.send_membership_heartbeat(deadline, false)
    }

    fn heartbeat_request(&mut self, epoch: i32) -> Result<ConsumerGroupHeartbeatRequest> {
        let topics: Vec<String> = self.resolve_subscription_names()?.into_iter().collect();
        let md = self.fetcher.cluster.metadata();
        let g = self.group.as_ref().expect("group");
        let mut owned: std::collections::BTreeMap<Uuid, Vec<i32>> =
            std::collections::BTreeMap::new();
        for tp in g.owned_partitions() {
            if let Some(t) = md.topics.get(&*tp.topic) {
                owned.entry(t.topic_id).or_default().push(tp.partition);
            }
        }
        Ok(ConsumerGroupHeartbeatRequest {
            group_id: g.group_id.clone(),
            member_id: g.member_id().to_string(),
            member_epoch: epoch,
            instance_id: g.instance_id().map(str::to_string),
            rack_id: g.rack().map(str::to_string),
            rebalance_timeout_ms: g.rebalance_timeout().as_millis().min(i32::MAX as u128) as i32,
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
        })
    }

    fn send_membership_heartbeat(&mut self, deadline: Instant, _leaving: bool) -> Result<()> {
        let epoch = self.membership().member_epoch;
        let req = self.heartbeat_request(epoch)?;
        let conn = match self.coordinator_connection(deadline) {
            Ok(c) => c,
            Err(e) if e.is_retriable() => {
                let m = self.membership();
                m.next_heartbeat = Instant::now() + Duration::from_millis(200);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let v = conn.version::<ConsumerGroupHeartbeatRequest>()?;
        let tx = self.events_sender.clone();
        let sent = conn.send(&req, v, move |result| {
            let _ = tx.send(Event::MembershipHeartbeat { epoch, result });
        });
        let m = self.membership();
        m.next_heartbeat = Instant::now() + m.heartbeat_interval;
        match sent {
            Ok(()) => m.in_flight = true,
            Err(e) => {
                log::debug!("ConsumerGroupHeartbeat not sent: {e}");
                self.forget_coordinator();
            }
        }
        Ok(())
    }

    pub(crate) fn handle_membership_heartbeat(
        &mut self,
        epoch: i32,
        result: Result<ConsumerGroupHeartbeatResponse>,
    ) {
        let Some(m) = self.group.as_mut().and_then(|g| g.membership.as_mut()) else {
            return;
        };
        m.in_flight = false;
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                log::debug!("ConsumerGroupHeartbeat failed: {e}");
                self.forget_coordinator();
                return;
            }
        };
        match KafkaCode::from_code(resp.error_code) {
            None => {
                m.member_epoch = resp.member_epoch;
                if resp.heartbeat_interval_ms > 0 {
                    m.heartbeat_interval = Duration::from_millis(resp.heartbeat_interval_ms as u64);
                }
                if let Some(a) = resp.assignment {
                    m.target = Some(
                        a.topic_partitions
                            .into_iter()
                            .map(|t| (t.topic_id, t.partitions))
                            .collect(),
                    );
                    // Acknowledge the reconciled assignment promptly.
                    m.next_heartbeat = Instant::now();
                }
                let g = self.group.as_mut().expect("group");
                if let Some(id) = resp.member_id {
                    g.set_member_id(id);
                }
                g.set_joined(resp.member_epoch);
            }
            Some(c @ (KafkaCode::FencedMemberEpoch | KafkaCode::UnknownMemberId)) => {
                log::warn!(
                    "ConsumerGroupHeartbeat (epoch {epoch}) answered {}; partitions lost, rejoining",
                    c.name()
                );
                m.member_epoch = 0;
                m.target = None;
                m.next_heartbeat = Instant::now();
                self.group.as_mut().expect("group").lose_all();
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
                m.next_heartbeat = Instant::now() + Duration::from_millis(100);
                self.forget_coordinator();
            }
            Some(c) => {
                let g = self.group.as_mut().expect("group");
                let e = Error::Kafka {
                    code: c,
                    context: format!("ConsumerGroupHeartbeat for group {}", g.group_id),
                    message: resp.error_message,
                };
                log::warn!("{e}");
                g.set_fatal(e);
            }
        }
    }

    /// Reconciles the owned partitions with the latest target assignment.
    fn apply_target(&mut self) -> Result<()> {
        let Some(target) = self.membership().target.take() else {
            return Ok(());
        };
        let mut md = self.fetcher.cluster.metadata();
        if target.iter().any(|(id, _)| md.topic_name(id).is_none()) {
            let topics: Vec<String> = self.resolve_subscription_names()?.into_iter().collect();
            let api = self.api_timeout;
            md = self
                .fetcher
                .cluster
                .refresh_topics_until(Some(&topics), Instant::now() + api)?;
        }
        let mut new: Vec<TopicPartition> = Vec::new();
        for (id, parts) in &target {
            match md.topic_name(id) {
                Some(name) => new.extend(parts.iter().map(|p| TopicPartition::new(name, *p))),
                None => {
                    // Unknown topic id: try again after the next metadata refresh.
                    self.membership().target = Some(target.clone());
                    self.fetcher.cluster.request_refresh();
                    return Ok(());
                }
            }
        }
        new.sort();
        self.reconcile(new)
    }

    fn resolve_subscription_names(&mut self) -> Result<BTreeSet<String>> {
        self.resolve_subscription()
    }

    /// Sends the leave heartbeat (epoch -1, or -2 for a static member).
    pub(crate) fn membership_leave(&mut self, limit: Option<Instant>) {
        let g = self.group.as_ref().expect("group");
        let epoch = if g.instance_id().is_some() { -2 } else { -1 };
        if g.member_id().is_empty()
            || self
                .group
                .as_ref()
                .and_then(|g| g.membership.as_ref())
                .is_none_or(|m| m.member_epoch <= 0)
        {
            return;
        }
        let Ok(req) = self.heartbeat_request(epoch) else {
            return;
        };
        let five = Instant::now() + Duration::from_secs(5);
        let deadline = limit.map_or(five, |l| l.min(five));
        if let Ok(conn) = self.coordinator_connection(deadline) {
            if let Ok(v) = conn.version::<ConsumerGroupHeartbeatRequest>() {
                let answer = match limit {
                    Some(l) => conn.request_with_timeout(
                        &req,
                        v,
                        l.saturating_duration_since(Instant::now())
                            .max(Duration::from_millis(1)),
                    ),
                    None => conn.request_at(&req, v),
                };
                if let Err(e) = answer {
                    log::debug!("leave heartbeat failed: {e}");
                }
            }
        }
        self.membership().member_epoch = 0;
    }
}
