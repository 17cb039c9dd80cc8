//! Throttling statistics (KIP-219), per connection and for the process.

use super::*;

/// What broker throttling (KIP-219) did to the requests of one connection,
/// or of every connection of the process ([`throttle_totals`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThrottleStats {
    /// Responses that asked the client to back off (`throttle_time_ms` > 0
    /// at a version where the client must honour it).
    pub throttled_responses: u64,
    /// The sum of their throttle times.
    pub throttle_time: Duration,
    /// Requests held back (not written) because the connection was throttled.
    pub held_requests: u64,
    /// The sum of the times those requests were held back.
    pub held_time: Duration,
}

#[derive(Default)]
pub(super) struct ThrottleCounters {
    throttled_responses: AtomicU64,
    throttle_us: AtomicU64,
    held_requests: AtomicU64,
    held_us: AtomicU64,
}

impl ThrottleCounters {
    pub(super) const fn new() -> ThrottleCounters {
        ThrottleCounters {
            throttled_responses: AtomicU64::new(0),
            throttle_us: AtomicU64::new(0),
            held_requests: AtomicU64::new(0),
            held_us: AtomicU64::new(0),
        }
    }

    pub(super) fn throttled(&self, d: Duration) {
        self.throttled_responses.fetch_add(1, Ordering::Relaxed);
        self.throttle_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    pub(super) fn held(&self, d: Duration) {
        self.held_requests.fetch_add(1, Ordering::Relaxed);
        self.held_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> ThrottleStats {
        ThrottleStats {
            throttled_responses: self.throttled_responses.load(Ordering::Relaxed),
            throttle_time: Duration::from_micros(self.throttle_us.load(Ordering::Relaxed)),
            held_requests: self.held_requests.load(Ordering::Relaxed),
            held_time: Duration::from_micros(self.held_us.load(Ordering::Relaxed)),
        }
    }
}

/// Throttling of every connection of this process so far.
pub(super) static TOTALS: ThrottleCounters = ThrottleCounters::new();

/// What broker throttling (KIP-219) did to the requests of every connection
/// of this process so far (a diagnostic; see [`Connection::throttle_stats`]
/// for one connection).
pub fn throttle_totals() -> ThrottleStats {
    TOTALS.snapshot()
}
