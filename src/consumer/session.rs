//! Incremental fetch sessions (KIP-227), one per broker.
//!
//! The first request of a session is a full fetch (session id 0, epoch 0:
//! "create a session"); when the broker answers with a session id, later
//! requests carry only the partitions that were added or whose fetch
//! parameters changed, plus the ones to forget, and the broker keeps fetching
//! the others from where it last did. Any session error
//! (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH, a lost
//! connection...) drops the session; the next request is full again. Brokers
//! older than Fetch v7 have no sessions: every request is full.

use std::collections::HashMap;
use std::sync::Arc;

use crate::protocol::Uuid;
use crate::protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};

use super::record::TopicPartition;

/// The fetch parameters of one partition, as the broker last heard them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub topic: Arc<str>,
    pub topic_id: Uuid,
    pub partition: i32,
    pub fetch_offset: i64,
    pub max_bytes: i32,
    /// The leader epoch from the metadata (`current_leader_epoch`, -1 unknown).
    pub leader_epoch: i32,
    /// The leader epoch of the last batch fetched, before `fetch_offset`
    /// (`last_fetched_epoch`, KIP-320: Fetch v12+; -1 unknown).
    pub last_fetched_epoch: i32,
}

/// The topics, partitions and session fields of the next request.
#[derive(Debug, Default)]
pub(crate) struct SessionRequest {
    pub session_id: i32,
    pub session_epoch: i32,
    pub topics: Vec<FetchTopic>,
    pub forgotten: Vec<ForgottenTopic>,
    /// True for a full request (every wanted partition listed).
    pub full: bool,
}

/// One broker's fetch session.
#[derive(Debug, Default)]
pub(crate) struct FetchSession {
    id: i32,
    epoch: i32,
    uses_topic_ids: bool,
    /// What the broker holds for the session.
    partitions: HashMap<TopicPartition, Wanted>,
    names_by_id: HashMap<Uuid, Arc<str>>,
}

impl FetchSession {
    /// Forgets the session: the next request is full and asks for a new one.
    pub(crate) fn reset(&mut self) {
        self.id = 0;
        self.epoch = 0;
        self.partitions.clear();
        self.names_by_id.clear();
    }

    /// A topic's name from its id, for responses at Fetch v13+.
    pub(crate) fn topic_name(&self, id: &Uuid) -> Option<&Arc<str>> {
        self.names_by_id.get(id)
    }

    /// Builds the next request for `wanted` at `version`, and records it as
    /// what the broker will hold once it answers.
    pub(crate) fn build(&mut self, wanted: Vec<Wanted>, version: i16) -> SessionRequest {
        let sessions = version >= 7;
        let ids = version >= 13;
        if !sessions || ids != self.uses_topic_ids {
            self.reset();
        }
        self.uses_topic_ids = ids;
        let full = self.id == 0;
        let mut next: HashMap<TopicPartition, Wanted> = HashMap::with_capacity(wanted.len());
        let mut send: Vec<&Wanted> = Vec::new();
        for w in &wanted {
            let tp = TopicPartition {
                topic: w.topic.clone(),
                partition: w.partition,
            };
            if full || self.partitions.get(&tp) != Some(w) {
                send.push(w);
            }
            next.insert(tp, w.clone());
        }
        let mut forgotten: Vec<ForgottenTopic> = Vec::new();
        if !full {
            let mut gone: Vec<&TopicPartition> = self
                .partitions
                .keys()
                .filter(|tp| !next.contains_key(*tp))
                .collect();
            gone.sort();
            for tp in gone {
                let old = &self.partitions[tp];
                match forgotten.last_mut() {
                    Some(f)
                        if (ids && f.topic_id == old.topic_id)
                            || (!ids && f.topic == *old.topic) =>
                    {
                        f.partitions.push(tp.partition)
                    }
                    _ => forgotten.push(ForgottenTopic {
                        topic: if ids {
                            String::new()
                        } else {
                            old.topic.to_string()
                        },
                        topic_id: if ids { old.topic_id } else { Uuid::ZERO },
                        partitions: vec![tp.partition],
                        ..Default::default()
                    }),
                }
            }
        }
        let mut topics: Vec<FetchTopic> = Vec::new();
        for w in send {
            let part = FetchPartition {
                partition: w.partition,
                current_leader_epoch: w.leader_epoch,
                fetch_offset: w.fetch_offset,
                // Absent before v12 (no divergence check by the broker).
                last_fetched_epoch: if version >= 12 {
                    w.last_fetched_epoch
                } else {
                    -1
                },
                log_start_offset: -1,
                partition_max_bytes: w.max_bytes,
                ..Default::default()
            };
            match topics.last_mut() {
                Some(t) if (ids && t.topic_id == w.topic_id) || (!ids && t.topic == *w.topic) => {
                    t.partitions.push(part)
                }
                _ => topics.push(FetchTopic {
                    topic: if ids {
                        String::new()
                    } else {
                        w.topic.to_string()
                    },
                    topic_id: if ids { w.topic_id } else { Uuid::ZERO },
                    partitions: vec![part],
                    ..Default::default()
                }),
            }
        }
        for w in next.values() {
            if !w.topic_id.is_zero() {
                self.names_by_id.insert(w.topic_id, w.topic.clone());
            }
        }
        self.partitions = next;
        SessionRequest {
            session_id: if sessions { self.id } else { 0 },
            session_epoch: if !sessions {
                -1
            } else if full {
                0
            } else {
                self.epoch
            },
            topics,
            forgotten,
            full,
        }
    }

    /// Takes note of a successful response (top-level error NONE) to a
    /// request built by [`FetchSession::build`].
    pub(crate) fn on_success(&mut self, response_session_id: i32, full: bool, version: i16) {
        if version < 7 {
            return;
        }
        if full {
            if response_session_id != 0 {
                self.id = response_session_id;
                self.epoch = 1;
            } else {
                // The broker declined a session: keep sending full requests.
                self.id = 0;
                self.epoch = 0;
            }
        } else if response_session_id != self.id {
            log::debug!(
                "fetch session {} answered with session id {response_session_id}: starting a new session",
                self.id
            );
            self.reset();
        } else {
            self.epoch = if self.epoch == i32::MAX {
                1
            } else {
                self.epoch + 1
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(topic: &str, p: i32, offset: i64) -> Wanted {
        Wanted {
            topic: Arc::from(topic),
            topic_id: Uuid([p as u8 + 1; 16]),
            partition: p,
            fetch_offset: offset,
            max_bytes: 100,
            leader_epoch: -1,
            last_fetched_epoch: -1,
        }
    }

    #[test]
    fn full_then_incremental_then_reset() {
        let mut s = FetchSession::default();
        let r = s.build(vec![w("a", 0, 0), w("a", 1, 0)], 12);
        assert!(r.full);
        assert_eq!((r.session_id, r.session_epoch), (0, 0));
        assert_eq!(r.topics.len(), 1);
        assert_eq!(r.topics[0].partitions.len(), 2);
        s.on_success(42, true, 12);
        // Partition 0 moved on, partition 1 did not, partition 2 is new.
        let r = s.build(vec![w("a", 0, 10), w("a", 1, 0), w("b", 2, 0)], 12);
        assert!(!r.full);
        assert_eq!((r.session_id, r.session_epoch), (42, 1));
        let listed: Vec<(String, i32)> = r
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| (t.topic.clone(), p.partition))
            })
            .collect();
        assert_eq!(listed.len(), 2);
        assert!(listed.contains(&("a".into(), 0)) && listed.contains(&("b".into(), 2)));
        assert!(r.forgotten.is_empty());
        s.on_success(42, false, 12);
        // Partition 1 is no longer wanted: forgotten.
        let r = s.build(vec![w("a", 0, 10), w("b", 2, 0)], 12);
        assert_eq!(r.session_epoch, 2);
        assert!(r.topics.is_empty());
        assert_eq!(r.forgotten.len(), 1);
        assert_eq!(r.forgotten[0].topic, "a");
        assert_eq!(r.forgotten[0].partitions, [1]);
        s.reset();
        let r = s.build(vec![w("a", 0, 10)], 12);
        assert!(r.full);
        assert_eq!((r.session_id, r.session_epoch), (0, 0));
    }

    #[test]
    fn topic_ids_and_old_versions() {
        let mut s = FetchSession::default();
        let r = s.build(vec![w("a", 0, 0)], 13);
        assert_eq!(r.topics[0].topic, "");
        assert_eq!(r.topics[0].topic_id, Uuid([1; 16]));
        assert_eq!(&**s.topic_name(&Uuid([1; 16])).unwrap(), "a");
        s.on_success(5, true, 13);
        // Dropping to v12 (a topic without id) starts a new session by name.
        let r = s.build(vec![w("a", 0, 0)], 12);
        assert!(r.full);
        assert_eq!(r.topics[0].topic, "a");
        // No sessions before v7.
        let r = s.build(vec![w("a", 0, 0)], 6);
        assert_eq!((r.session_id, r.session_epoch), (0, -1));
        s.on_success(0, true, 6);
        assert!(s.build(vec![w("a", 0, 0)], 6).full);
    }

    #[test]
    fn last_fetched_epoch_is_sent_from_v12_and_a_change_resends_the_partition() {
        let with = |epoch: i32| Wanted {
            last_fetched_epoch: epoch,
            leader_epoch: 4,
            ..w("a", 0, 10)
        };
        let mut s = FetchSession::default();
        let r = s.build(vec![with(3)], 12);
        let p = &r.topics[0].partitions[0];
        assert_eq!((p.current_leader_epoch, p.last_fetched_epoch), (4, 3));
        s.on_success(9, true, 12);
        // Unchanged: not listed in the incremental request.
        assert!(s.build(vec![with(3)], 12).topics.is_empty());
        s.on_success(9, false, 12);
        // A new epoch at the same offset (after a diverging epoch) is sent.
        let r = s.build(vec![with(2)], 12);
        assert_eq!(r.topics[0].partitions[0].last_fetched_epoch, 2);
        // Before v12 the field does not exist.
        let mut s = FetchSession::default();
        let r = s.build(vec![with(3)], 11);
        assert_eq!(r.topics[0].partitions[0].last_fetched_epoch, -1);
    }
}
