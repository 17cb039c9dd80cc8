//! The classic group protocol: JoinGroup, SyncGroup (the leader runs the
//! assignor), Heartbeat and LeaveGroup, as a state machine that sends a
//! request from one step and handles its answer in a later one.
//!
//! A rebalance: (eager only) revoke every partition → JoinGroup, held by the
//! broker until every member joined → the leader computes the assignment
//! from every member's subscription → SyncGroup, held until the leader's
//! arrived → the new assignment. "Join again" answers
//! (REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, a moved
//! coordinator) go back to the start, after retry.backoff.ms where Java
//! waits too. No heartbeat is sent while a JoinGroup or SyncGroup is in
//! flight (the broker holds them on the same connection).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::{Action, Core, Ctx, MemberProtocol, Response, SubscriptionMode, is_coordinator_error};
use crate::consumer::Event;
use crate::consumer::TopicPartition;
use crate::consumer::assignor::{
    Assignment, MemberSubscription, PartitionAssignor, Subscription, assignor_by_name,
    decode_assignment, decode_subscription, encode_assignment, encode_subscription,
};
use crate::error::{Error, Result};
use crate::net::Connection;
use crate::protocol::messages::heartbeat_request::HeartbeatRequest;
use crate::protocol::messages::join_group_request::JoinGroupRequestProtocol;
use crate::protocol::messages::join_group_response::JoinGroupResponseMember;
use crate::protocol::messages::leave_group_request::MemberIdentity;
use crate::protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use crate::protocol::messages::{
    HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, SyncGroupRequest,
    SyncGroupResponse,
};
use crate::protocol::{Bytes, KafkaCode};

/// Where a rebalance stands.
enum Phase {
    /// No JoinGroup or SyncGroup in flight.
    Idle,
    /// JoinGroup sent; its answer carries this token.
    Joining {
        token: u64,
        topics: BTreeSet<String>,
    },
    /// SyncGroup sent.
    Syncing {
        token: u64,
        protocol: String,
        topics: BTreeSet<String>,
    },
}

/// A member of a classic group.
pub(crate) struct Classic {
    assignors: Vec<Box<dyn PartitionAssignor>>,
    phase: Phase,
    /// The assignor the group chose at the last join.
    protocol: Option<String>,
    /// Whether this member led (assigned) the current generation.
    is_leader: bool,
    /// Topics the subscription resolved to at the last join.
    joined_topics: BTreeSet<String>,
    /// Partition counts at the last join of the topics this member watches
    /// for changes: the whole group's subscription when it led (as Java's
    /// assignmentSnapshot), its own topics otherwise.
    joined_counts: BTreeMap<String, i32>,
    /// The counts the leader assigned from (every member's topics; 0 for a
    /// topic missing from metadata), until the join completes.
    assigned_counts: Option<BTreeMap<String, i32>>,
    /// No JoinGroup before this (after a failed or "join again" round).
    join_retry_at: Option<Instant>,
    join_failures: u32,
    last_heartbeat: Instant,
    heartbeat_in_flight: bool,
    last_pattern_check: Option<Instant>,
}

impl Classic {
    /// A member offering the named assignors, in preference order.
    pub(crate) fn new(names: &[String]) -> Result<Classic> {
        let mut assignors = Vec::new();
        for name in names {
            match assignor_by_name(name) {
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
        Ok(Classic {
            assignors,
            phase: Phase::Idle,
            protocol: None,
            is_leader: false,
            joined_topics: BTreeSet::new(),
            joined_counts: BTreeMap::new(),
            assigned_counts: None,
            join_retry_at: None,
            join_failures: 0,
            last_heartbeat: Instant::now(),
            heartbeat_in_flight: false,
            last_pattern_check: None,
        })
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

    /// Starts the next round after `pause` (zero: at once).
    fn retry_after(&mut self, pause: Duration) {
        self.phase = Phase::Idle;
        self.join_retry_at = Some(Instant::now() + pause);
    }

    /// Starts the next round after the backoff for one more failure.
    fn retry_later(&mut self, ctx: &Ctx) {
        let pause = Core::backoff(ctx, self.join_failures);
        self.join_failures += 1;
        self.retry_after(pause);
    }

    /// A rebalance is needed when the pattern matches other topics or a
    /// subscribed topic's partition count changed.
    fn check_subscription_changes(&mut self, core: &mut Core, ctx: &Ctx, now: Instant) {
        if !core.joined || core.needs_join {
            return;
        }
        let max_age = ctx.cluster.settings().metadata_max_age;
        if matches!(core.subscription, Some(SubscriptionMode::Pattern(_)))
            && self
                .last_pattern_check
                .is_none_or(|t| now.duration_since(t) >= max_age)
        {
            self.last_pattern_check = Some(now);
            let topics = core.resolve_topics(ctx).unwrap_or_else(|e| {
                log::debug!(
                    "{}: listing topics for the pattern failed: {e}",
                    core.context()
                );
                self.joined_topics.clone()
            });
            if topics != self.joined_topics {
                log::info!(
                    "{}: subscribed topics changed to [{}]; rejoining",
                    core.context(),
                    crate::consumer::list_or_none(&topics.iter().collect::<Vec<_>>())
                );
                core.needs_join = true;
            }
        }
        // Metadata changes are the leader's business (as Java's
        // assignmentSnapshot): it assigned from the partition counts it saw,
        // and it alone rejoins when they change. A follower that joined
        // before its own metadata had a new topic would otherwise force a
        // needless rebalance of the whole group.
        if !self.is_leader {
            return;
        }
        let md = ctx.cluster.metadata();
        for (topic, count) in &self.joined_counts {
            match md.partition_count(topic) {
                Some(n) if n as i32 != *count => {
                    log::info!(
                        "{}: topic {topic} now has {n} partitions; rejoining",
                        core.context()
                    );
                    core.needs_join = true;
                }
                // Subscribed but not in metadata at the join (a topic created a
                // moment ago that this broker's metadata did not have yet):
                // keep asking, at most once per retry.backoff.ms, so that the
                // group rebalances as soon as it appears instead of holding an
                // empty assignment until metadata.max.age.ms.
                None if *count == 0 => ctx.cluster.request_refresh(),
                _ => {}
            }
        }
    }

    /// Sends JoinGroup when the member must (re)join and nothing stops it.
    fn maybe_join(&mut self, core: &mut Core, ctx: &mut Ctx, now: Instant) -> Result<()> {
        if !matches!(self.phase, Phase::Idle) || self.join_retry_at.is_some_and(|t| now < t) {
            return Ok(());
        }
        // Eager protocol: give up everything before joining (the consumer
        // commits, calls the listener and drops them; the next step joins).
        if !self.cooperative() && !core.owned.is_empty() {
            if !core.actions.iter().any(|a| matches!(a, Action::Revoke(_))) {
                core.actions.push(Action::Revoke(core.owned.clone()));
            }
            return Ok(());
        }
        let Some(conn) = core.coordinator(ctx, now) else {
            return Ok(());
        };
        if matches!(core.subscription, Some(SubscriptionMode::Pattern(_))) {
            self.last_pattern_check = Some(now);
        }
        let topics = match core.resolve_topics(ctx) {
            Ok(t) => t,
            Err(e) => {
                log::debug!(
                    "{}: listing topics for the pattern failed: {e}",
                    core.context()
                );
                self.retry_later(ctx);
                return Ok(());
            }
        };
        let list: Vec<&str> = topics.iter().map(String::as_str).collect();
        ctx.cluster.add_topics(&list);
        let req = self.join_request(core, &topics, &conn)?;
        let token = core.token();
        let version = conn.version::<JoinGroupRequest>()?;
        let tx = ctx.events.clone();
        // The broker holds JoinGroup until every member joined: up to the
        // rebalance timeout, plus slack (as Java does).
        let timeout = core.s.max_poll_interval + Duration::from_secs(5);
        let sent = conn.send_with_timeout(&req, version, timeout, move |r| {
            let _ = tx.send(Event::Group(Response::Join(token, r)));
        });
        match sent {
            Ok(()) => {
                log::debug!("{}: JoinGroup sent", core.context());
                self.phase = Phase::Joining { token, topics };
            }
            Err(e) => {
                log::debug!("{}: JoinGroup not sent: {e}", core.context());
                core.coordinator_dead(ctx);
                self.retry_later(ctx);
            }
        }
        Ok(())
    }

    fn join_request(
        &self,
        core: &Core,
        topics: &BTreeSet<String>,
        conn: &Connection,
    ) -> Result<JoinGroupRequest> {
        let owned: Vec<(String, i32)> = core
            .owned
            .iter()
            .map(|tp| (tp.topic.to_string(), tp.partition))
            .collect();
        let topic_vec: Vec<String> = topics.iter().cloned().collect();
        let mut protocols = Vec::new();
        for a in &self.assignors {
            let sub = Subscription {
                topics: topic_vec.clone(),
                user_data: a.subscription_user_data(&topic_vec, &owned),
                owned_partitions: owned.clone(),
                generation: core.generation,
                rack: core.s.client_rack.clone(),
            };
            protocols.push(JoinGroupRequestProtocol {
                name: a.name().to_string(),
                metadata: Bytes::from(encode_subscription(&sub, 3)?),
                ..Default::default()
            });
        }
        let version = conn.version::<JoinGroupRequest>()?;
        if core.s.group_instance_id.is_some() && version < 5 {
            return Err(Error::config(
                "group.instance.id",
                core.s.group_instance_id.clone().unwrap_or_default(),
                format!(
                    "static membership needs JoinGroup v5+, broker {} supports up to v{version}",
                    conn.label()
                ),
            ));
        }
        Ok(JoinGroupRequest {
            group_id: core.s.group_id.clone(),
            session_timeout_ms: core.s.session_timeout.as_millis() as i32,
            rebalance_timeout_ms: core.s.max_poll_interval.as_millis() as i32,
            member_id: core.member_id.clone(),
            group_instance_id: core.s.group_instance_id.clone(),
            protocol_type: "consumer".into(),
            protocols,
            reason: None,
            ..Default::default()
        })
    }

    fn handle_join(
        &mut self,
        core: &mut Core,
        ctx: &mut Ctx,
        token: u64,
        result: Result<JoinGroupResponse>,
    ) {
        let topics = match &mut self.phase {
            Phase::Joining { token: t, topics } if *t == token => std::mem::take(topics),
            _ => return,
        };
        self.phase = Phase::Idle;
        let context = core.context();
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                log::debug!("{context}: JoinGroup failed: {e}");
                core.coordinator_error(ctx, &e);
                if !e.is_retriable() {
                    core.fatal = Some(e);
                }
                self.retry_later(ctx);
                return;
            }
        };
        match KafkaCode::from_code(resp.error_code) {
            None => {}
            Some(KafkaCode::MemberIdRequired) => {
                // KIP-394: join again at once with the id the coordinator gave us.
                core.member_id = resp.member_id;
                self.retry_after(Duration::ZERO);
                return;
            }
            Some(
                code @ (KafkaCode::CoordinatorLoadInProgress | KafkaCode::RebalanceInProgress),
            ) => {
                log::debug!("{context}: JoinGroup {}; retrying", code.name());
                self.retry_after(core.s.retry_backoff);
                return;
            }
            Some(code) => {
                self.round_failed(core, ctx, "JoinGroup", code);
                return;
            }
        }
        core.member_id = resp.member_id.clone();
        core.generation = resp.generation_id;
        self.protocol = resp.protocol_name.clone();
        let protocol = resp
            .protocol_name
            .clone()
            .unwrap_or_else(|| self.assignors[0].name().to_string());
        let leader = resp.leader == resp.member_id;
        self.is_leader = leader;
        log::info!(
            "{}: joined generation {} as {} ({}, protocol {protocol})",
            context,
            resp.generation_id,
            resp.member_id,
            if leader { "leader" } else { "follower" }
        );
        self.assigned_counts = None;
        let assignments = if leader && !resp.skip_assignment {
            match self.lead_assignment(core, ctx, &protocol, &resp.members) {
                Ok(a) => a,
                Err(e) => {
                    log::warn!("{context}: assigning the group failed: {e}");
                    if !e.is_retriable() {
                        core.fatal = Some(e);
                    }
                    self.retry_later(ctx);
                    return;
                }
            }
        } else {
            Vec::new()
        };
        let sync = SyncGroupRequest {
            group_id: core.s.group_id.clone(),
            generation_id: core.generation,
            member_id: core.member_id.clone(),
            group_instance_id: core.s.group_instance_id.clone(),
            protocol_type: Some("consumer".into()),
            protocol_name: Some(protocol.clone()),
            assignments,
            ..Default::default()
        };
        let Some(conn) = core.coordinator_now(ctx) else {
            self.retry_later(ctx);
            return;
        };
        let token = core.token();
        let tx = ctx.events.clone();
        let timeout = core.s.max_poll_interval + Duration::from_secs(5);
        let sent = conn.version::<SyncGroupRequest>().and_then(|v| {
            conn.send_with_timeout(&sync, v, timeout, move |r| {
                let _ = tx.send(Event::Group(Response::Sync(token, r)));
            })
        });
        match sent {
            Ok(()) => {
                self.phase = Phase::Syncing {
                    token,
                    protocol,
                    topics,
                }
            }
            Err(e) => {
                log::debug!("{context}: SyncGroup not sent: {e}");
                core.coordinator_dead(ctx);
                self.retry_later(ctx);
            }
        }
    }

    /// A JoinGroup or SyncGroup answered with `code`: what both have in
    /// common ("join again" answers, a moved coordinator, fencing, the rest).
    fn round_failed(&mut self, core: &mut Core, ctx: &mut Ctx, api: &str, code: KafkaCode) {
        match code {
            KafkaCode::UnknownMemberId | KafkaCode::IllegalGeneration => {
                core.reset_membership(code == KafkaCode::UnknownMemberId);
                self.retry_after(Duration::ZERO);
            }
            code if is_coordinator_error(code) => {
                core.coordinator_dead(ctx);
                self.retry_after(Duration::ZERO);
            }
            KafkaCode::FencedInstanceId => {
                core.fatal = Some(fenced_instance(core, api));
                core.lose_partitions(ctx);
                core.reset_membership(true);
                self.retry_after(core.s.retry_backoff);
            }
            code => {
                let e = Error::Kafka {
                    code,
                    context: format!("{api} for {}", core.context()),
                    message: None,
                };
                if e.is_retriable() {
                    log::debug!("{e}; retrying");
                    self.retry_later(ctx);
                } else {
                    core.fatal = Some(e);
                    self.retry_after(core.s.retry_backoff);
                }
            }
        }
    }

    /// The leader's work: run the chosen assignor over every member's subscription.
    fn lead_assignment(
        &mut self,
        core: &Core,
        ctx: &Ctx,
        protocol: &str,
        members: &[JoinGroupResponseMember],
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
        // One metadata request for the members' topics (bounded by
        // request.timeout.ms): the assignment must see current counts.
        let md = ctx.cluster.refresh_topics_until(
            Some(&list),
            Instant::now()
                + core
                    .s
                    .default_api_timeout
                    .min(ctx.cluster.settings().connection.request_timeout),
        )?;
        let counts: BTreeMap<String, i32> = all_topics
            .iter()
            .filter_map(|t| md.partition_count(t).map(|n| (t.clone(), n as i32)))
            .collect();
        // The leader watches every member's topics, not only its own: a
        // partition added to a topic only a follower reads must rebalance
        // the group too. Their metadata is kept fresh from now on.
        ctx.cluster.add_topics(&list);
        self.assigned_counts = Some(
            all_topics
                .iter()
                .map(|t| (t.clone(), counts.get(t).copied().unwrap_or(0)))
                .collect(),
        );
        let assignor = self
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

    fn handle_sync(
        &mut self,
        core: &mut Core,
        ctx: &mut Ctx,
        token: u64,
        result: Result<SyncGroupResponse>,
    ) {
        let (protocol, topics) = match &mut self.phase {
            Phase::Syncing {
                token: t,
                protocol,
                topics,
            } if *t == token => (std::mem::take(protocol), std::mem::take(topics)),
            _ => return,
        };
        self.phase = Phase::Idle;
        let context = core.context();
        let resp = match result {
            Ok(r) => r,
            Err(e) => {
                log::debug!("{context}: SyncGroup failed: {e}");
                core.coordinator_error(ctx, &e);
                self.retry_later(ctx);
                return;
            }
        };
        match KafkaCode::from_code(resp.error_code) {
            None => {}
            Some(KafkaCode::RebalanceInProgress) => {
                self.retry_after(Duration::ZERO);
                return;
            }
            Some(code) => {
                self.round_failed(core, ctx, "SyncGroup", code);
                return;
            }
        }
        let assignment = if resp.assignment.is_empty() {
            Assignment::default()
        } else {
            match decode_assignment(&resp.assignment) {
                Ok(a) => a,
                Err(e) => {
                    core.fatal = Some(Error::decode("group coordinator", e));
                    self.retry_later(ctx);
                    return;
                }
            }
        };
        self.join_failures = 0;
        self.join_retry_at = None;
        self.on_join_complete(core, ctx, &protocol, assignment, topics);
    }

    /// Applies a new assignment: revokes what moved away (cooperative), then
    /// takes the new one (the consumer runs the actions).
    fn on_join_complete(
        &mut self,
        core: &mut Core,
        ctx: &Ctx,
        protocol: &str,
        assignment: Assignment,
        topics: BTreeSet<String>,
    ) {
        let md = ctx.cluster.metadata();
        let now = Instant::now();
        let generation = core.generation;
        if let Some(a) = self.assignors.iter_mut().find(|a| a.name() == protocol) {
            a.on_assignment(&assignment, generation);
        }
        let new: Vec<TopicPartition> = assignment
            .partitions
            .iter()
            .map(|(t, p)| TopicPartition::new(t.as_str(), *p))
            .collect();
        let (revoked, added) = super::changes(&core.owned, &new);
        // A subscribed topic missing from metadata counts as 0 partitions, so
        // that check_subscription_changes rejoins once it appears.
        let assigned = self.assigned_counts.take();
        self.joined_counts = match assigned {
            Some(counts) if self.is_leader => counts,
            _ => topics
                .iter()
                .map(|t| (t.clone(), md.partition_count(t).map_or(0, |n| n as i32)))
                .collect(),
        };
        self.joined_topics = topics;
        core.joined = true;
        core.needs_join = false;
        core.poll_timeout_left = false;
        self.last_heartbeat = now;
        self.heartbeat_in_flight = false;
        if let Some(i) = core.s.auto_commit() {
            core.next_auto_commit = now + i;
        }
        if !revoked.is_empty() {
            // Cooperative: give these up now, then rejoin so that their new
            // owner can have them.
            core.actions.push(Action::Revoke(revoked));
            core.needs_join = true;
        }
        core.actions.push(Action::Assign { all: new, added });
    }

    fn maybe_heartbeat(&mut self, core: &mut Core, ctx: &mut Ctx, now: Instant) {
        if !core.joined
            || !matches!(self.phase, Phase::Idle)
            || self.heartbeat_in_flight
            || now < self.last_heartbeat + core.s.heartbeat_interval
        {
            return;
        }
        let Some(conn) = core.coordinator(ctx, now) else {
            return;
        };
        let req = HeartbeatRequest {
            group_id: core.s.group_id.clone(),
            generation_id: core.generation,
            member_id: core.member_id.clone(),
            group_instance_id: core.s.group_instance_id.clone(),
            ..Default::default()
        };
        let generation = core.generation;
        let tx = ctx.events.clone();
        let sent = conn.version::<HeartbeatRequest>().and_then(|v| {
            conn.send(&req, v, move |r| {
                let _ = tx.send(Event::Group(Response::Heartbeat(generation, r)));
            })
        });
        self.last_heartbeat = now;
        match sent {
            Ok(()) => self.heartbeat_in_flight = true,
            Err(e) => {
                log::debug!("{}: heartbeat not sent: {e}", core.context());
                core.coordinator_dead(ctx);
            }
        }
    }

    fn handle_heartbeat(
        &mut self,
        core: &mut Core,
        ctx: &mut Ctx,
        generation: i32,
        result: Result<HeartbeatResponse>,
    ) {
        self.heartbeat_in_flight = false;
        if generation != core.generation {
            return;
        }
        let code = match result {
            Ok(r) => KafkaCode::from_code(r.error_code),
            Err(e) => {
                log::debug!("{}: heartbeat failed: {e}", core.context());
                core.coordinator_dead(ctx);
                return;
            }
        };
        match code {
            None => {}
            Some(KafkaCode::RebalanceInProgress) => {
                log::info!("{}: rebalance in progress; rejoining", core.context());
                core.needs_join = true;
            }
            Some(c @ (KafkaCode::IllegalGeneration | KafkaCode::UnknownMemberId)) => {
                log::warn!(
                    "{}: heartbeat answered {}; partitions lost, rejoining",
                    core.context(),
                    c.name()
                );
                core.lose_partitions(ctx);
                core.reset_membership(c == KafkaCode::UnknownMemberId);
            }
            Some(c) if is_coordinator_error(c) => core.coordinator_dead(ctx),
            Some(KafkaCode::FencedInstanceId) => {
                core.fatal = Some(fenced_instance(core, "Heartbeat"));
                core.lose_partitions(ctx);
                core.reset_membership(true);
            }
            Some(c) => log::warn!("{}: heartbeat error {}", core.context(), c.name()),
        }
    }
}

impl MemberProtocol for Classic {
    fn step(&mut self, core: &mut Core, ctx: &mut Ctx, now: Instant) -> Result<()> {
        if core.subscription.is_none() {
            return Ok(());
        }
        self.check_subscription_changes(core, ctx, now);
        if core.needs_join || !core.joined {
            self.maybe_join(core, ctx, now)?;
        }
        self.maybe_heartbeat(core, ctx, now);
        Ok(())
    }

    fn handle(&mut self, core: &mut Core, ctx: &mut Ctx, response: Response) {
        match response {
            Response::Join(token, r) => self.handle_join(core, ctx, token, r),
            Response::Sync(token, r) => self.handle_sync(core, ctx, token, r),
            Response::Heartbeat(generation, r) => self.handle_heartbeat(core, ctx, generation, r),
            _ => {}
        }
    }

    fn next_wakeup(&self, core: &Core) -> Option<Instant> {
        if !matches!(self.phase, Phase::Idle) {
            return None;
        }
        // A join waiting for the coordinator (or anything in flight) is
        // woken by the answer, or by the core's FindCoordinator retry.
        if core.subscription.is_some() && (core.needs_join || !core.joined) {
            return self.join_retry_at.filter(|t| *t > Instant::now());
        }
        (core.joined && !self.heartbeat_in_flight && core.has_coordinator())
            .then(|| self.last_heartbeat + core.s.heartbeat_interval)
    }

    fn leave(&mut self, core: &mut Core, ctx: &mut Ctx, reason: &str, deadline: Option<Instant>) {
        self.phase = Phase::Idle;
        if core.member_id.is_empty() || core.s.group_instance_id.is_some() {
            return;
        }
        let Some(conn) = core.coordinator_now(ctx) else {
            return;
        };
        let Ok(v) = conn.version::<LeaveGroupRequest>() else {
            return;
        };
        let req = if v >= 3 {
            LeaveGroupRequest {
                group_id: core.s.group_id.clone(),
                members: vec![MemberIdentity {
                    member_id: core.member_id.clone(),
                    group_instance_id: core.s.group_instance_id.clone(),
                    reason: Some(reason.to_string()),
                    ..Default::default()
                }],
                ..Default::default()
            }
        } else {
            LeaveGroupRequest {
                group_id: core.s.group_id.clone(),
                member_id: core.member_id.clone(),
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
                    log::debug!("{}: LeaveGroup answered {}", core.context(), code.name());
                }
            }
            Err(e) => log::debug!("{}: LeaveGroup failed: {e}", core.context()),
        }
    }

    fn heartbeat_now(&mut self) {
        self.last_heartbeat = Instant::now() - Duration::from_secs(3600);
    }

    fn rebalancing(&self, _core: &Core) -> bool {
        !matches!(self.phase, Phase::Idle)
    }

    fn set_assignors(&mut self, assignors: Vec<Box<dyn PartitionAssignor>>) -> Result<()> {
        self.assignors = assignors;
        Ok(())
    }
}

/// FENCED_INSTANCE_ID: another member runs with this static member's
/// `group.instance.id`. Fatal, as in Java: retrying would fence the other one.
fn fenced_instance(core: &Core, api: &str) -> Error {
    Error::Kafka {
        code: KafkaCode::FencedInstanceId,
        context: format!("{api} for {}", core.context()),
        message: Some(format!(
            "another consumer is running with group.instance.id {}; give every member its own \
             group.instance.id (or stop the other one), then create a new consumer",
            core.s.group_instance_id.as_deref().unwrap_or("")
        )),
    }
}
