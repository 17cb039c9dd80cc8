//! Choosing a partition for a record.
//!
//! The rules, in order (as in the Java client since KIP-480/KIP-794):
//! 1. an explicit partition on the record wins;
//! 2. a keyed record goes to `toPositive(murmur2(key)) % partitions`, exactly as
//!    Java's and kafka-python's default partitioners compute it, so the same key
//!    lands on the same partition whichever client wrote it;
//! 3. an unkeyed record goes to the topic's current *sticky* partition, which
//!    changes only when a batch for it is sent, so unkeyed records fill whole
//!    batches instead of spreading thin ones over every partition. The sticky
//!    partition is one with a leader among the live brokers whenever there is
//!    one (a keyed record keeps its murmur2 partition, leader or not, as in
//!    Java).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::net::pool::random_unit;

/// Kafka's murmur2 hash (the 32-bit variant with seed 0x9747b28c), as used by
/// the Java client's `Utils.murmur2`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        h ^= tail[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Java's default partitioner gives a key:
/// `(murmur2(key) & 0x7fffffff) % partitions`.
pub fn partition_for_key(key: &[u8], partitions: usize) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) as u32 % partitions.max(1) as u32) as i32
}

/// Chooses partitions for records without an explicit partition.
///
/// Implementations must be cheap and thread-safe: `partition` runs on the
/// thread calling `send`.
pub trait Partitioner: Send + Sync {
    /// The partition (0-based, below `partitions`) for a record of `topic`.
    fn partition(&self, topic: &str, key: Option<&[u8]>, partitions: usize) -> i32;

    /// Like [`Partitioner::partition`], also told which partitions currently
    /// have a leader among the live brokers (`available`, ascending; empty
    /// when none has or metadata does not say). The producer calls this one;
    /// the default ignores `available` and calls `partition`.
    fn partition_available(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        partitions: usize,
        available: &[i32],
    ) -> i32 {
        let _ = available;
        self.partition(topic, key, partitions)
    }

    /// Called when a batch for `topic` was closed on `partition` so a sticky
    /// partitioner can move on. The default does nothing.
    fn on_new_batch(&self, topic: &str, partition: i32, partitions: usize) {
        let _ = (topic, partition, partitions);
    }
}

/// The default: murmur2 for keyed records, sticky for unkeyed ones (or for
/// every record when `partitioner.ignore.keys=true`).
#[derive(Debug, Default)]
pub struct DefaultPartitioner {
    ignore_keys: bool,
    sticky: StickyPartitionCache,
}

impl DefaultPartitioner {
    /// A default partitioner; `ignore_keys` makes keyed records sticky too.
    pub fn new(ignore_keys: bool) -> DefaultPartitioner {
        DefaultPartitioner {
            ignore_keys,
            sticky: StickyPartitionCache::default(),
        }
    }
}

impl Partitioner for DefaultPartitioner {
    fn partition(&self, topic: &str, key: Option<&[u8]>, partitions: usize) -> i32 {
        self.partition_available(topic, key, partitions, &[])
    }

    fn partition_available(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        partitions: usize,
        available: &[i32],
    ) -> i32 {
        match key {
            Some(k) if !self.ignore_keys => partition_for_key(k, partitions),
            _ => self.sticky.partition(topic, partitions, available),
        }
    }

    fn on_new_batch(&self, topic: &str, partition: i32, partitions: usize) {
        self.sticky.next(topic, partition, partitions);
    }
}

/// Sticky partition per topic (KIP-480).
#[derive(Debug, Default)]
struct StickyPartitionCache {
    current: Mutex<HashMap<String, i32>>,
}

impl StickyPartitionCache {
    /// The sticky partition, chosen anew when there is none yet, it is out
    /// of range, or it lost its leader while others have one (`available`:
    /// the partitions with a leader; empty = choose among all).
    fn partition(&self, topic: &str, partitions: usize, available: &[i32]) -> i32 {
        let mut m = self.current.lock().unwrap();
        // The per-record path: the sticky partition still stands, nothing
        // allocated.
        if let Some(&p) = m.get(topic) {
            if (p as usize) < partitions && (available.is_empty() || available.contains(&p)) {
                return p;
            }
        }
        let available: Vec<i32> = available
            .iter()
            .copied()
            .filter(|&p| p >= 0 && (p as usize) < partitions)
            .collect();
        let p = if available.is_empty() {
            random_partition(partitions, None)
        } else {
            available[random_partition(available.len(), None) as usize]
        };
        m.insert(topic.to_string(), p);
        p
    }

    /// Moves to another partition if `prev` is still the sticky one.
    fn next(&self, topic: &str, prev: i32, partitions: usize) {
        let mut m = self.current.lock().unwrap();
        match m.get(topic) {
            Some(&p) if p != prev => {}
            _ => {
                m.insert(topic.to_string(), random_partition(partitions, Some(prev)));
            }
        }
    }
}

fn random_partition(partitions: usize, avoid: Option<i32>) -> i32 {
    let n = partitions.max(1);
    if n == 1 {
        return 0;
    }
    let mut p = ((random_unit() * n as f64) as usize % n) as i32;
    if Some(p) == avoid {
        p = (p + 1) % n as i32;
    }
    p
}

/// Cycles through partitions record by record, ignoring keys
/// (Java's `RoundRobinPartitioner`).
#[derive(Debug, Default)]
pub struct RoundRobinPartitioner {
    counters: Mutex<HashMap<String, usize>>,
    fallback: AtomicUsize,
}

impl Partitioner for RoundRobinPartitioner {
    fn partition(&self, topic: &str, key: Option<&[u8]>, partitions: usize) -> i32 {
        self.partition_available(topic, key, partitions, &[])
    }

    /// Cycles through the partitions with a leader when there are any (as
    /// Java's `RoundRobinPartitioner`), else through all.
    fn partition_available(
        &self,
        topic: &str,
        _key: Option<&[u8]>,
        partitions: usize,
        available: &[i32],
    ) -> i32 {
        let n = partitions.max(1);
        let next = match self.counters.lock() {
            Ok(mut m) => {
                let c = m.entry(topic.to_string()).or_insert(0);
                let v = *c;
                *c = c.wrapping_add(1);
                v
            }
            Err(_) => self.fallback.fetch_add(1, Ordering::Relaxed),
        };
        let available: Vec<i32> = available
            .iter()
            .copied()
            .filter(|&p| p >= 0 && (p as usize) < n)
            .collect();
        if available.is_empty() {
            (next % n) as i32
        } else {
            available[next % available.len()]
        }
    }
}

/// Always murmur2 of the key (unkeyed records: sticky), i.e. the default.
pub type Murmur2Partitioner = DefaultPartitioner;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_java_vectors() {
        // Values of org.apache.kafka.common.utils.Utils.murmur2 (from the Java
        // client's UtilsTest and kafka-python's test_partitioner).
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            -58897971
        );
        assert_eq!(murmur2(b"abc"), 479470107);
        assert_eq!(murmur2(b""), 275646681);
    }

    #[test]
    fn keyed_partitions_match_kafka_python() {
        // kafka-python: murmur2(b'foo') & 0x7fffffff % n
        assert_eq!(partition_for_key(b"", 1000), 681);
        assert_eq!(partition_for_key(b"a", 1000), 524);
        assert_eq!(partition_for_key(b"ab", 1000), 434);
        assert_eq!(partition_for_key(b"abc", 1000), 107);
        assert_eq!(partition_for_key(b"123456789", 1000), 566);
        assert_eq!(partition_for_key(b"\x00 ", 1000), 742);
    }

    #[test]
    fn sticky_until_new_batch() {
        let p = DefaultPartitioner::new(false);
        let first = p.partition("t", None, 6);
        for _ in 0..100 {
            assert_eq!(p.partition("t", None, 6), first);
        }
        p.on_new_batch("t", first, 6);
        let second = p.partition("t", None, 6);
        assert_ne!(first, second);
        // A stale notification for an old partition does not move it again.
        p.on_new_batch("t", first, 6);
        assert_eq!(p.partition("t", None, 6), second);
        // Keyed records ignore stickiness unless told to.
        assert_eq!(p.partition("t", Some(b"abc"), 1000), 107);
        let ignoring = DefaultPartitioner::new(true);
        let s = ignoring.partition("t", Some(b"abc"), 1000);
        assert_eq!(ignoring.partition("t", Some(b"xyz"), 1000), s);
    }

    #[test]
    fn sticky_skips_partitions_without_leader() {
        let p = DefaultPartitioner::new(false);
        // Only 2 and 4 of 6 have a leader: unkeyed records stick to one of
        // them, also after each new batch.
        for _ in 0..50 {
            let s = p.partition_available("t", None, 6, &[2, 4]);
            assert!(s == 2 || s == 4, "{s}");
            assert_eq!(p.partition_available("t", None, 6, &[2, 4]), s);
            p.on_new_batch("t", s, 6);
        }
        // A sticky partition that loses its leader is left at once.
        let s = p.partition_available("t", None, 6, &[2, 4]);
        let other = if s == 2 { 4 } else { 2 };
        assert_eq!(p.partition_available("t", None, 6, &[other]), other);
        // No partition with a leader: any partition (as Java).
        let any = p.partition_available("t", None, 6, &[]);
        assert!((0..6).contains(&any));
        // Keyed records keep murmur2 even to a partition without leader,
        // unless keys are ignored.
        assert_eq!(p.partition_available("t", Some(b"abc"), 1000, &[5]), 107);
        let ignoring = DefaultPartitioner::new(true);
        assert_eq!(
            ignoring.partition_available("t", Some(b"abc"), 1000, &[5]),
            5
        );
        // Round-robin cycles through the available ones.
        let rr = RoundRobinPartitioner::default();
        let v: Vec<i32> = (0..4)
            .map(|_| rr.partition_available("t", None, 6, &[1, 3]))
            .collect();
        assert_eq!(v, [1, 3, 1, 3]);
    }

    #[test]
    fn round_robin_cycles() {
        let p = RoundRobinPartitioner::default();
        let v: Vec<i32> = (0..7).map(|_| p.partition("t", Some(b"k"), 3)).collect();
        assert_eq!(v, [0, 1, 2, 0, 1, 2, 0]);
    }
}
