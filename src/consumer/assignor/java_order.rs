//! Java's orderings and hash-map iteration order, which the assignors
//! reproduce to give Java's answers.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::MemberSubscription;

/// Java's `String.compareTo`: lexicographic over UTF-16 code units.
pub(super) fn java_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Java's `String.hashCode`.
pub(super) fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// `java.util.HashMap.hash`: the key's hash with its high half folded in.
pub(super) fn java_spread(h: i32) -> u32 {
    let h = h as u32;
    h ^ (h >> 16)
}

pub(super) const JAVA_TREEIFY_BIN: usize = 9;
pub(super) const JAVA_MIN_TREEIFY_CAPACITY: usize = 64;

/// The iteration order of a `java.util.HashMap` (default capacity 16, load
/// factor 0.75) into which keys with these `hashCode()`s were put, in this
/// order, all distinct: indices into `hashes`, in iteration order.
///
/// Iteration goes bucket by bucket; a bucket keeps its keys in insertion
/// order, and resizing splits buckets without reordering them, so only the
/// final capacity matters. It grows when the size passes 3/4 of it, and when
/// a bucket reaches nine keys while the table is smaller than 64. (Buckets
/// that Java turns into trees, nine or more keys in a table of 64 or more,
/// are kept in insertion order here, which Java does not quite do.)
#[doc(hidden)]
pub fn java_hash_map_order(hashes: &[i32]) -> Vec<usize> {
    let spread: Vec<u32> = hashes.iter().map(|&h| java_spread(h)).collect();
    let mut cap = 16usize;
    let mut bins: HashMap<u32, usize> = HashMap::new();
    for (i, &h) in spread.iter().enumerate() {
        let bin = h & (cap as u32 - 1);
        let in_bin = {
            let n = bins.entry(bin).or_insert(0);
            *n += 1;
            *n
        };
        let mut new_cap = cap;
        if in_bin >= JAVA_TREEIFY_BIN && new_cap < JAVA_MIN_TREEIFY_CAPACITY {
            new_cap *= 2;
        }
        if i + 1 > new_cap / 4 * 3 {
            new_cap *= 2;
        }
        if new_cap != cap {
            cap = new_cap;
            bins.clear();
            for &h in &spread[..=i] {
                *bins.entry(h & (cap as u32 - 1)).or_insert(0) += 1;
            }
        }
    }
    let mask = cap as u32 - 1;
    let mut order: Vec<usize> = (0..hashes.len()).collect();
    order.sort_by_key(|&i| (spread[i] & mask, i));
    order
}

/// Java's ordering of group members (`AbstractPartitionAssignor.MemberInfo`):
/// static members first, by `group.instance.id`, then the others by member id.
pub(super) fn member_order(a: &MemberSubscription, b: &MemberSubscription) -> Ordering {
    match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => java_cmp(x, y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => java_cmp(&a.member_id, &b.member_id),
    }
}
