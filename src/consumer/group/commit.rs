//! Offsets in the group: commits (synchronous, asynchronous, automatic) and
//! committed-offset lookups (blocking for [`Consumer::committed`], sent from
//! the poll loop for newly assigned partitions).
//!
//! [`Consumer::committed`]: crate::consumer::Consumer::committed

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{CommitCallback, Core, Ctx, Response, is_coordinator_error};
use crate::cluster::Retry;
use crate::consumer::state::Subscriptions;
use crate::consumer::{Event, TopicPartition};
use crate::error::{Error, Result};
use crate::protocol::KafkaCode;
use crate::protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use crate::protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use crate::protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
};

use super::OffsetAndMetadata;

/// The error for a commit that the group rejected because this member fell
/// out of the generation.
pub(crate) fn commit_failed(core: &Core, code: Option<KafkaCode>) -> Error {
    let why = match code {
        Some(c) => format!("the coordinator answered {} ({})", c.name(), c.code()),
        None => "this member left the group".to_string(),
    };
    let mut msg = format!(
        "group {} has already rebalanced and assigned the partitions to another member ({why}). ",
        core.s.group_id
    );
    if core.poll_timeout_left {
        msg.push_str(&format!(
            "The time between calls to poll() was longer than max.poll.interval.ms ({} ms), so this member left the group. \
             Increase max.poll.interval.ms, or reduce the work per poll with a smaller max.poll.records; the next poll() rejoins.",
            core.s.max_poll_interval.as_millis()
        ));
    } else {
        msg.push_str(
            "The member missed heartbeats (poll() was not called within session.timeout.ms) or was removed; \
             call poll() more often or raise session.timeout.ms / max.poll.interval.ms. The next poll() rejoins.",
        );
    }
    Error::CommitFailed(msg)
}

/// Positions of every assigned partition with a known position.
pub(crate) fn consumed_offsets(
    subs: &Subscriptions,
) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
    subs.iter()
        .filter_map(|st| {
            st.position.map(|p| {
                (
                    st.tp(),
                    OffsetAndMetadata {
                        leader_epoch: st.last_epoch,
                        ..OffsetAndMetadata::new(p)
                    },
                )
            })
        })
        .collect()
}

fn commit_request(
    core: &Core,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
) -> OffsetCommitRequest {
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, om) in offsets {
        topics
            .entry(&tp.topic)
            .or_default()
            .push(OffsetCommitRequestPartition {
                partition_index: tp.partition,
                committed_offset: om.offset,
                committed_leader_epoch: om.leader_epoch.unwrap_or(-1),
                commit_timestamp: -1,
                committed_metadata: Some(om.metadata.clone().unwrap_or_default()),
                ..Default::default()
            });
    }
    let (generation, member_id) = if core.joined {
        (core.generation, core.member_id.clone())
    } else {
        (-1, String::new())
    };
    OffsetCommitRequest {
        group_id: core.s.group_id.clone(),
        generation_id_or_member_epoch: generation,
        member_id,
        group_instance_id: if core.joined {
            core.s.group_instance_id.clone()
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

fn commit_result(core: &mut Core, ctx: &mut Ctx, resp: &OffsetCommitResponse) -> Result<()> {
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
    match code {
        KafkaCode::IllegalGeneration
        | KafkaCode::UnknownMemberId
        | KafkaCode::FencedInstanceId
        | KafkaCode::FencedMemberEpoch => {
            // FENCED_MEMBER_EPOCH (KIP-848): the member rejoins with epoch 0
            // and keeps its member id, as Java.
            let e = commit_failed(core, Some(code));
            core.lose_partitions(ctx);
            core.reset_membership(matches!(
                code,
                KafkaCode::UnknownMemberId | KafkaCode::FencedInstanceId
            ));
            Err(e)
        }
        // KIP-848: the commit carried an epoch older than the member's: the
        // caller retries once the next heartbeat brought the current one.
        KafkaCode::StaleMemberEpoch => Err(Error::kafka(
            code,
            format!("OffsetCommit for {} ({tp})", core.context()),
        )),
        KafkaCode::RebalanceInProgress => {
            core.needs_join = true;
            Err(Error::Kafka {
                code,
                context: format!("OffsetCommit for {} ({tp})", core.context()),
                message: Some(
                    "a rebalance is in progress: poll() to complete it, then commit again".into(),
                ),
            })
        }
        c => {
            if is_coordinator_error(c) {
                core.coordinator_dead(ctx);
            }
            Err(Error::kafka(
                c,
                format!("OffsetCommit for {} ({tp})", core.context()),
            ))
        }
    }
}

/// Commits `offsets`, waiting for the answer; retriable errors are retried
/// until `default.api.timeout.ms` or `limit`, whichever comes first (at
/// least one attempt). With `hard`, each request also waits no longer than
/// `limit` (instead of request.timeout.ms): for a bounded close.
pub(crate) fn commit_sync(
    core: &mut Core,
    ctx: &mut Ctx,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    limit: Option<Instant>,
    hard: bool,
) -> Result<()> {
    let now = Instant::now();
    if offsets.is_empty() {
        return Ok(());
    }
    let deadline = limit.map_or(now + core.s.default_api_timeout, |l| {
        l.min(now + core.s.default_api_timeout)
    });
    let cluster = ctx.cluster.clone();
    let mut retry = Retry::new(&cluster, deadline);
    loop {
        let req = commit_request(core, offsets);
        let attempt = core.coordinator_blocking(ctx, deadline).and_then(|conn| {
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
        match attempt.and_then(|resp| commit_result(core, ctx, &resp)) {
            Ok(()) => return Ok(()),
            Err(e) => {
                if e.is_retriable() && matches!(e, Error::Io { .. } | Error::Timeout { .. }) {
                    core.coordinator_dead(ctx);
                }
                retry.backoff("OffsetCommit", e)?;
            }
        }
    }
}

/// Sends an OffsetCommit without waiting; `callback` (None: auto-commit,
/// failures logged) gets the outcome when the answer is handled.
pub(crate) fn send_commit_async(
    core: &mut Core,
    ctx: &mut Ctx,
    offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    callback: Option<CommitCallback>,
) {
    let req = commit_request(core, &offsets);
    let id = core.token();
    let tx = ctx.events.clone();
    let sent = match core.coordinator(ctx, Instant::now()) {
        Some(conn) => conn.version::<OffsetCommitRequest>().and_then(|v| {
            conn.send(&req, v, move |r| {
                let _ = tx.send(Event::Group(Response::Commit(id, r)));
            })
        }),
        None => Err(Error::kafka(
            KafkaCode::CoordinatorNotAvailable,
            format!(
                "asynchronous commit for {}: coordinator unknown",
                core.context()
            ),
        )),
    };
    match sent {
        Ok(()) => {
            core.async_commits.insert(id, callback);
        }
        Err(e) => {
            core.coordinator_dead(ctx);
            match callback {
                Some(cb) => cb(Err(e)),
                None => log::debug!("auto-commit not sent: {e}"),
            }
        }
    }
}

pub(crate) fn handle_commit(
    core: &mut Core,
    ctx: &mut Ctx,
    id: u64,
    result: Result<OffsetCommitResponse>,
) {
    let Some(callback) = core.async_commits.remove(&id) else {
        return;
    };
    let outcome = result.and_then(|r| commit_result(core, ctx, &r));
    match callback {
        Some(cb) => cb(outcome),
        None => {
            if let Err(e) = outcome {
                log::warn!("auto-commit failed: {e}");
            }
        }
    }
}

/// Auto-commit (asynchronous) when `auto.commit.interval.ms` passed.
pub(crate) fn maybe_auto_commit(core: &mut Core, ctx: &mut Ctx, now: Instant) {
    let Some(interval) = core.s.auto_commit() else {
        return;
    };
    if !core.joined || now < core.next_auto_commit {
        return;
    }
    core.next_auto_commit = now + interval;
    let offsets = consumed_offsets(ctx.subs);
    if !offsets.is_empty() {
        send_commit_async(core, ctx, offsets, None);
    }
}

fn offset_fetch_request(
    group_id: &str,
    partitions: &[TopicPartition],
    v: i16,
) -> OffsetFetchRequest {
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic
            .entry(tp.topic.to_string())
            .or_default()
            .push(tp.partition);
    }
    if v >= 8 {
        OffsetFetchRequest {
            groups: vec![OffsetFetchRequestGroup {
                group_id: group_id.to_string(),
                member_id: None,
                member_epoch: -1,
                topics: Some(
                    by_topic
                        .into_iter()
                        .map(|(name, partition_indexes)| OffsetFetchRequestTopics {
                            name,
                            partition_indexes,
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
            group_id: group_id.to_string(),
            topics: Some(
                by_topic
                    .into_iter()
                    .map(|(name, partition_indexes)| OffsetFetchRequestTopic {
                        name,
                        partition_indexes,
                        ..Default::default()
                    })
                    .collect(),
            ),
            require_stable: v >= 7,
            ..Default::default()
        }
    }
}

type Committed = BTreeMap<TopicPartition, Option<OffsetAndMetadata>>;

/// The committed offsets in an OffsetFetch answer (None: no committed offset).
fn offset_fetch_result(
    group_id: &str,
    partitions: &[TopicPartition],
    resp: OffsetFetchResponse,
    v: i16,
) -> Result<Committed> {
    let mut group_code = resp.error_code;
    // v8+ answers per group (one here), older versions at the top level.
    let topics = if v >= 8 {
        let mut topics = Vec::new();
        for grp in resp.groups {
            group_code = grp.error_code;
            topics.extend(grp.topics.into_iter().map(|t| {
                let parts = t.partitions.into_iter().map(|p| {
                    let row = (
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                    );
                    (row, p.metadata, p.error_code)
                });
                (t.name, parts.collect::<Vec<_>>())
            }));
        }
        topics
    } else {
        resp.topics
            .into_iter()
            .map(|t| {
                let parts = t.partitions.into_iter().map(|p| {
                    let row = (
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                    );
                    (row, p.metadata, p.error_code)
                });
                (t.name, parts.collect::<Vec<_>>())
            })
            .collect()
    };
    let rows = topics.into_iter().flat_map(|(topic, parts)| {
        parts
            .into_iter()
            .map(move |((partition, offset, epoch), metadata, code)| {
                (topic.clone(), partition, offset, epoch, metadata, code)
            })
    });
    if let Some(code) = KafkaCode::from_code(group_code) {
        return Err(Error::kafka(
            code,
            format!("OffsetFetch for group {group_id}"),
        ));
    }
    let mut out = BTreeMap::new();
    for (topic, partition, offset, epoch, metadata, code) in rows {
        if let Some(code) = KafkaCode::from_code(code) {
            return Err(Error::kafka(
                code,
                format!("OffsetFetch for group {group_id}, {topic}-{partition}"),
            ));
        }
        let v = (offset >= 0).then(|| OffsetAndMetadata {
            offset,
            metadata: metadata.filter(|m| !m.is_empty()),
            leader_epoch: (epoch >= 0).then_some(epoch),
        });
        out.insert(TopicPartition::new(topic.as_str(), partition), v);
    }
    for tp in partitions {
        out.entry(tp.clone()).or_insert(None);
    }
    Ok(out)
}

/// The committed offsets of `partitions`, waiting up to
/// `default.api.timeout.ms` (retrying retriable errors).
pub(crate) fn committed(
    core: &mut Core,
    ctx: &mut Ctx,
    partitions: &[TopicPartition],
) -> Result<Committed> {
    let deadline = Instant::now() + core.s.default_api_timeout;
    let cluster = ctx.cluster.clone();
    let mut retry = Retry::new(&cluster, deadline);
    let group_id = core.s.group_id.clone();
    loop {
        let attempt = core.coordinator_blocking(ctx, deadline).and_then(|conn| {
            let v = conn.version::<OffsetFetchRequest>()?;
            let resp = conn.request_at(&offset_fetch_request(&group_id, partitions, v), v)?;
            offset_fetch_result(&group_id, partitions, resp, v)
        });
        match attempt {
            Ok(out) => return Ok(out),
            Err(e) => {
                if e.is_retriable()
                    && (e.kafka_code().is_some_and(is_coordinator_error)
                        || matches!(e, Error::Io { .. } | Error::Timeout { .. }))
                {
                    core.coordinator_dead(ctx);
                }
                retry.backoff("OffsetFetch", e)?;
            }
        }
    }
}

/// Sends OffsetFetch for the assigned partitions waiting for their committed
/// offset, unless one is in flight or a failed one's backoff runs.
pub(crate) fn maybe_fetch_committed(core: &mut Core, ctx: &mut Ctx, now: Instant) {
    if core.offset_fetch.is_some() || core.offset_fetch_retry_at.is_some_and(|t| now < t) {
        return;
    }
    let waiting: Vec<TopicPartition> = ctx
        .subs
        .iter()
        .filter(|st| st.awaiting_committed)
        .map(|st| st.tp())
        .collect();
    if waiting.is_empty() {
        return;
    }
    let Some(conn) = core.coordinator(ctx, now) else {
        return;
    };
    let token = core.token();
    let tx = ctx.events.clone();
    let group_id = core.s.group_id.clone();
    let sent = conn.version::<OffsetFetchRequest>().and_then(|v| {
        let req = offset_fetch_request(&group_id, &waiting, v);
        let parts = waiting.clone();
        conn.send(&req, v, move |r| {
            let _ = tx.send(Event::Group(Response::OffsetFetch(token, parts, r, v)));
        })
    });
    match sent {
        Ok(()) => core.offset_fetch = Some(token),
        Err(e) => offset_fetch_failed(core, ctx, e),
    }
}

fn offset_fetch_failed(core: &mut Core, ctx: &mut Ctx, e: Error) {
    core.coordinator_error(ctx, &e);
    if e.is_retriable() {
        // The partitions keep waiting: their committed offsets are never
        // replaced by auto.offset.reset because a lookup failed.
        log::debug!(
            "{}: looking up committed offsets failed: {e}; retrying",
            core.context()
        );
        core.offset_fetch_retry_at =
            Some(Instant::now() + Core::backoff(ctx, core.offset_fetch_failures));
        core.offset_fetch_failures += 1;
    } else {
        core.offset_fetch_retry_at = Some(Instant::now() + core.s.retry_backoff);
        core.fatal = Some(e);
    }
}

pub(crate) fn handle_offset_fetch(
    core: &mut Core,
    ctx: &mut Ctx,
    token: u64,
    partitions: Vec<TopicPartition>,
    result: Result<OffsetFetchResponse>,
    version: i16,
) {
    if core.offset_fetch != Some(token) {
        return;
    }
    core.offset_fetch = None;
    let group_id = core.s.group_id.clone();
    match result.and_then(|r| offset_fetch_result(&group_id, &partitions, r, version)) {
        Ok(committed) => {
            core.offset_fetch_failures = 0;
            core.offset_fetch_retry_at = None;
            for (tp, om) in committed {
                let Some(st) = ctx.subs.get_mut(&tp) else {
                    continue;
                };
                // A seek since the request was sent cleared the flag: it wins.
                if !st.awaiting_committed {
                    continue;
                }
                match om {
                    Some(om) => st.seek_with_epoch(om.offset, om.leader_epoch),
                    None => st.awaiting_committed = false,
                }
            }
        }
        Err(e) => offset_fetch_failed(core, ctx, e),
    }
}
