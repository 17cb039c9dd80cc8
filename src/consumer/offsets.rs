//! Blocking offset lookups (ListOffsets) for the public API:
//! `beginning_offsets`, `end_offsets`, `offsets_for_times`, `position`.
//!
//! These wait on a private channel of their own; fetch responses that arrive
//! meanwhile stay queued in the consumer's channel for the next `poll`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::cluster::is_routing_error;
use crate::error::{Error, Result};
use crate::protocol::KafkaCode;
use crate::protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::fetcher::{Fetcher, leader_of, list_offsets_request};
use super::record::{OffsetAndTimestamp, TopicPartition};

/// ListOffsets timestamp: the log start.
pub(crate) const EARLIEST: i64 = -2;
/// ListOffsets timestamp: the log end (the last stable offset under read_committed).
pub(crate) const LATEST: i64 = -1;

type Answer = (i32, i16, Result<ListOffsetsResponse>);

impl Fetcher {
    /// Looks up offsets for `(partition, timestamp)` pairs at their leaders,
    /// retrying routing and retriable errors (after `retry.backoff.ms`, with a
    /// metadata refresh) until `timeout`. A partition whose answer has no
    /// offset (no record at or after the timestamp) maps to `None`.
    pub(crate) fn lookup_offsets(
        &mut self,
        query: &[(TopicPartition, i64)],
        timeout: Duration,
        what: &str,
    ) -> Result<HashMap<TopicPartition, Option<OffsetAndTimestamp>>> {
        let deadline = Instant::now() + timeout;
        let topics: Vec<String> = query
            .iter()
            .map(|(tp, _)| tp.topic.to_string())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        self.cluster.add_topics(&topics);
        let mut remaining: HashMap<TopicPartition, i64> = query.iter().cloned().collect();
        let mut out = HashMap::with_capacity(remaining.len());
        let mut last_error: Option<Error> = None;
        loop {
            if remaining.is_empty() {
                return Ok(out);
            }
            let md = self.cluster.metadata();
            if remaining
                .keys()
                .any(|tp| leader_of(&md, &tp.topic, tp.partition).is_none())
            {
                if let Err(e) = self.cluster.refresh_topics(Some(&topics)) {
                    last_error = Some(e);
                }
            }
            let md = self.cluster.metadata();
            let mut by_node: BTreeMap<i32, Vec<(TopicPartition, i64, i32)>> = BTreeMap::new();
            for (tp, ts) in &remaining {
                match leader_of(&md, &tp.topic, tp.partition) {
                    Some((node, epoch)) => {
                        by_node
                            .entry(node)
                            .or_default()
                            .push((tp.clone(), *ts, epoch))
                    }
                    None => {
                        let t = md.topics.get(&*tp.topic);
                        let code = t
                            .and_then(|t| t.error)
                            .or_else(|| {
                                t.filter(|t| {
                                    t.partitions.iter().all(|p| p.partition != tp.partition)
                                })
                                .map(|_| KafkaCode::UnknownTopicOrPartition)
                            })
                            .unwrap_or(KafkaCode::LeaderNotAvailable);
                        last_error = Some(Error::kafka(code, format!("Metadata for {tp}")));
                    }
                }
            }
            let (tx, rx) = mpsc::channel::<Answer>();
            let mut waiting = 0;
            for (node, parts) in &by_node {
                let node = *node;
                let sent = self.cluster.connection(node).and_then(|conn| {
                    let version = conn.version::<ListOffsetsRequest>()?;
                    let req = list_offsets_request(
                        version,
                        self.settings.read_committed,
                        parts.iter().map(|(tp, ts, e)| (tp, *ts, *e)),
                        timeout,
                    );
                    let tx = tx.clone();
                    conn.send(&req, version, move |r| {
                        let _ = tx.send((node, version, r));
                    })
                });
                match sent {
                    Ok(()) => waiting += 1,
                    Err(e) => {
                        self.cluster.request_refresh();
                        last_error = Some(e);
                    }
                }
            }
            while waiting > 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                let Ok((node, version, result)) = rx.recv_timeout(left) else {
                    break;
                };
                waiting -= 1;
                let resp = match result {
                    Ok(r) => r,
                    Err(e) => {
                        self.cluster.request_refresh();
                        last_error = Some(e);
                        continue;
                    }
                };
                for t in &resp.topics {
                    for p in &t.partitions {
                        let tp = TopicPartition::new(t.name.as_str(), p.partition_index);
                        if !remaining.contains_key(&tp) {
                            continue;
                        }
                        match KafkaCode::from_code(p.error_code) {
                            None => {
                                remaining.remove(&tp);
                                let offset = if version == 0 {
                                    p.old_style_offsets.first().copied().unwrap_or(-1)
                                } else {
                                    p.offset
                                };
                                out.insert(
                                    tp,
                                    (offset >= 0).then_some(OffsetAndTimestamp {
                                        offset,
                                        timestamp: if version >= 1 { p.timestamp } else { -1 },
                                        leader_epoch: (p.leader_epoch >= 0)
                                            .then_some(p.leader_epoch),
                                    }),
                                );
                            }
                            Some(code) if code.is_retriable() || is_routing_error(code) => {
                                self.cluster.request_refresh();
                                last_error = Some(Error::kafka(
                                    code,
                                    format!("ListOffsets for {tp} on broker {node}"),
                                ));
                            }
                            Some(code) => {
                                return Err(Error::kafka(
                                    code,
                                    format!("{what}: ListOffsets for {tp} on broker {node}"),
                                ));
                            }
                        }
                    }
                }
            }
            if remaining.is_empty() {
                return Ok(out);
            }
            let now = Instant::now();
            if now >= deadline {
                let mut names: Vec<String> = remaining.keys().map(|tp| tp.to_string()).collect();
                names.sort();
                let last = last_error
                    .map(|e| format!("; last error: {e}"))
                    .unwrap_or_default();
                return Err(self.cluster.annotate(Error::Timeout {
                    what: format!(
                        "{what} for {} (default.api.timeout.ms){last}",
                        names.join(", ")
                    ),
                    after: timeout,
                }));
            }
            std::thread::sleep(self.settings.retry_backoff.min(deadline - now));
            let _ = self.cluster.maybe_refresh();
        }
    }
}
