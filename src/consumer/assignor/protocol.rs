//! Kafka's `ConsumerProtocol` bytes (subscription and assignment) and the
//! sticky assignor's `StickyAssignorUserData`.

use std::collections::HashMap;

use crate::protocol::messages::consumer_protocol_assignment::{
    ConsumerProtocolAssignment, TopicPartition as AssignedTopic,
};
use crate::protocol::messages::consumer_protocol_subscription::{
    ConsumerProtocolSubscription, TopicPartition as OwnedTopic,
};
use crate::protocol::{BufMut, Bytes, Decodable, DecodeError, Encodable, EncodeError, Reader};

use super::{
    Assignment, CONSUMER_PROTOCOL_VERSION, NO_GENERATION, Subscription, java_cmp,
    java_hash_map_order, java_string_hash,
};

fn check_write_version(version: i16, what: &str) -> Result<i16, EncodeError> {
    if version < 0 {
        return Err(EncodeError::new(format!(
            "unsupported consumer protocol {what} version {version}"
        )));
    }
    Ok(version.min(CONSUMER_PROTOCOL_VERSION))
}

/// Reads the leading version, mapping a newer one to ours (Java's
/// `checkSubscriptionVersion` / `checkAssignmentVersion`).
fn read_version(r: &mut Reader, what: &str) -> Result<i16, DecodeError> {
    let version = r.read_i16().map_err(|_| {
        DecodeError::new(format!(
            "consumer protocol {what}: buffer underflow reading the version"
        ))
    })?;
    if version < 0 {
        return Err(DecodeError::new(format!(
            "unsupported consumer protocol {what} version {version}"
        )));
    }
    Ok(version.min(CONSUMER_PROTOCOL_VERSION))
}

/// The `ConsumerProtocol` subscription bytes (JoinGroup member metadata) at
/// `version` (0 to 3; a higher one writes 3, as Java does), exactly as Java's
/// `ConsumerProtocol.serializeSubscription` writes them: topics sorted, owned
/// partitions sorted by (topic, partition) and grouped by topic, a negative
/// generation written as −1. Fields the version lacks are left out.
///
/// Fails for a negative version, or a string longer than 32767 bytes.
pub fn encode_subscription(
    subscription: &Subscription,
    version: i16,
) -> Result<Vec<u8>, EncodeError> {
    let version = check_write_version(version, "subscription")?;
    let mut topics = subscription.topics.clone();
    topics.sort_by(|a, b| java_cmp(a, b));
    let mut owned: Vec<&(String, i32)> = subscription.owned_partitions.iter().collect();
    owned.sort_by(|a, b| java_cmp(&a.0, &b.0).then(a.1.cmp(&b.1)));
    let mut owned_partitions: Vec<OwnedTopic> = Vec::new();
    for (topic, partition) in owned {
        match owned_partitions.last_mut() {
            Some(last) if last.topic == *topic => last.partitions.push(*partition),
            _ => owned_partitions.push(OwnedTopic {
                topic: topic.clone(),
                partitions: vec![*partition],
            }),
        }
    }
    let message = ConsumerProtocolSubscription {
        topics,
        user_data: subscription.user_data.clone().map(Bytes::from),
        owned_partitions,
        generation_id: subscription.generation.max(NO_GENERATION),
        rack_id: subscription.rack.clone(),
    };
    let mut buf = Vec::new();
    buf.put_i16(version);
    message.encode(&mut buf, version)?;
    Ok(buf)
}

/// Reads `ConsumerProtocol` subscription bytes as Java's
/// `ConsumerProtocol.deserializeSubscription` does: a version newer than 3 is
/// read as 3 (later fields ignored); an empty rack reads as none; a negative
/// generation as −1.
pub fn decode_subscription(bytes: &[u8]) -> Result<Subscription, DecodeError> {
    let mut r = Reader::new(bytes.to_vec());
    let version = read_version(&mut r, "subscription")?;
    let m = ConsumerProtocolSubscription::decode(&mut r, version)
        .map_err(|e| e.context("consumer protocol subscription"))?;
    Ok(Subscription {
        topics: m.topics,
        user_data: m.user_data.map(|b| b.to_vec()),
        owned_partitions: m
            .owned_partitions
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic;
                t.partitions.into_iter().map(move |p| (topic.clone(), p))
            })
            .collect(),
        generation: m.generation_id.max(NO_GENERATION),
        rack: m.rack_id.filter(|r| !r.is_empty()),
    })
}

/// The `ConsumerProtocol` assignment bytes (SyncGroup) at `version` (0 to 3,
/// all the same body; a higher one writes 3), exactly as Java's
/// `ConsumerProtocol.serializeAssignment` writes them: partitions grouped by
/// topic in order of first appearance, each topic's partitions in the given
/// order.
///
/// Fails for a negative version, or a topic name longer than 32767 bytes.
pub fn encode_assignment(assignment: &Assignment, version: i16) -> Result<Vec<u8>, EncodeError> {
    let version = check_write_version(version, "assignment")?;
    let mut topics: Vec<AssignedTopic> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (topic, partition) in &assignment.partitions {
        let i = *index.entry(topic).or_insert_with(|| {
            topics.push(AssignedTopic {
                topic: topic.clone(),
                partitions: Vec::new(),
            });
            topics.len() - 1
        });
        topics[i].partitions.push(*partition);
    }
    let message = ConsumerProtocolAssignment {
        assigned_partitions: topics,
        user_data: assignment.user_data.clone().map(Bytes::from),
    };
    let mut buf = Vec::new();
    buf.put_i16(version);
    message.encode(&mut buf, version)?;
    Ok(buf)
}

/// Reads `ConsumerProtocol` assignment bytes as Java's
/// `ConsumerProtocol.deserializeAssignment` does (a newer version read as 3).
pub fn decode_assignment(bytes: &[u8]) -> Result<Assignment, DecodeError> {
    let mut r = Reader::new(bytes.to_vec());
    let version = read_version(&mut r, "assignment")?;
    let m = ConsumerProtocolAssignment::decode(&mut r, version)
        .map_err(|e| e.context("consumer protocol assignment"))?;
    Ok(Assignment {
        partitions: m
            .assigned_partitions
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic;
                t.partitions.into_iter().map(move |p| (topic.clone(), p))
            })
            .collect(),
        user_data: m.user_data.map(|b| b.to_vec()),
    })
}

// ---------------------------------------------------------------------------
// StickyAssignorUserData

/// What a `sticky` member states in its subscription's user data (Java's
/// `StickyAssignorUserData`): its previous assignment and, from v1 (KIP-341),
/// the generation of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StickyUserData {
    /// The member's partitions in its previous assignment.
    pub partitions: Vec<(String, i32)>,
    /// The generation of that assignment; `None` when the data is v0.
    pub generation: Option<i32>,
}

/// `StickyAssignorUserData` v1 bytes, as Java's `StickyAssignor` writes them
/// (no version prefix): the partitions grouped by topic, the topics in the
/// order Java's `HashMap` iterates them, then the generation.
///
/// Fails for a topic name longer than 32767 bytes.
pub fn encode_sticky_user_data(
    partitions: &[(String, i32)],
    generation: i32,
) -> Result<Vec<u8>, EncodeError> {
    let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (topic, partition) in partitions {
        let i = *index.entry(topic).or_insert_with(|| {
            topics.push((topic, Vec::new()));
            topics.len() - 1
        });
        topics[i].1.push(*partition);
    }
    let hashes: Vec<i32> = topics.iter().map(|(t, _)| java_string_hash(t)).collect();
    let mut buf = Vec::new();
    buf.put_len(topics.len(), false)?;
    for i in java_hash_map_order(&hashes) {
        let (topic, parts) = &topics[i];
        buf.put_string(topic, false)?;
        buf.put_len(parts.len(), false)?;
        for &p in parts {
            buf.put_i32(p);
        }
    }
    buf.put_i32(generation);
    Ok(buf)
}

/// Reads `StickyAssignorUserData` as Java's `StickyAssignor` does: as v1,
/// failing that as v0; `None` when neither parses (Java then ignores the
/// member's previous assignment). Data that parses as neither but does after a
/// two-byte version prefix, as kafka-python 3 writes it, is read that way.
pub fn decode_sticky_user_data(bytes: &[u8]) -> Option<StickyUserData> {
    parse_sticky_user_data(bytes, true)
        .or_else(|| parse_sticky_user_data(bytes, false))
        .or_else(|| match bytes {
            [a, b, rest @ ..] => match i16::from_be_bytes([*a, *b]) {
                0 => parse_sticky_user_data(rest, false),
                v if v > 0 => parse_sticky_user_data(rest, true),
                _ => None,
            },
            _ => None,
        })
}

/// One of Java's schema reads: lengths checked as Java's `Type.STRING` and
/// `ArrayOf` do, trailing bytes ignored, invalid UTF-8 replaced.
fn parse_sticky_user_data(bytes: &[u8], with_generation: bool) -> Option<StickyUserData> {
    struct Cursor<'b>(&'b [u8]);
    impl<'b> Cursor<'b> {
        fn take(&mut self, n: usize) -> Option<&'b [u8]> {
            if n > self.0.len() {
                return None;
            }
            let (head, tail) = self.0.split_at(n);
            self.0 = tail;
            Some(head)
        }
        fn i16(&mut self) -> Option<i16> {
            self.take(2).map(|b| i16::from_be_bytes([b[0], b[1]]))
        }
        fn i32(&mut self) -> Option<i32> {
            self.take(4)
                .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        }
        /// An array length: not negative, and not more than the bytes left.
        fn len(&mut self) -> Option<usize> {
            let n = usize::try_from(self.i32()?).ok()?;
            (n <= self.0.len()).then_some(n)
        }
    }
    let mut r = Cursor(bytes);
    let mut partitions = Vec::new();
    for _ in 0..r.len()? {
        let len = usize::try_from(r.i16()?).ok()?;
        let topic = String::from_utf8_lossy(r.take(len)?).into_owned();
        for _ in 0..r.len()? {
            partitions.push((topic.clone(), r.i32()?));
        }
    }
    let generation = if with_generation {
        Some(r.i32()?)
    } else {
        None
    };
    Some(StickyUserData {
        partitions,
        generation,
    })
}
