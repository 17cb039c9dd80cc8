//! Connections by node id, opened on demand, with reconnect backoff.
//!
//! A failed connect makes the broker wait `reconnect.backoff.ms`, doubling per
//! consecutive failure up to `reconnect.backoff.max.ms`, with ±20% jitter so
//! that many clients do not reconnect in lockstep. While a broker is backing
//! off, [`ConnectionPool::get`] fails at once instead of retrying in a loop:
//! the caller decides whether to wait (see [`ConnectionPool::backoff_remaining`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::connection::{BrokerAddress, Connection, ConnectionSettings};
use crate::error::{Error, Result};

/// An exponential backoff: `initial` doubling per consecutive failure up to
/// `max`, with ±20% jitter. The client's one backoff formula: reconnects
/// (`reconnect.backoff.ms` / `reconnect.backoff.max.ms`), retries of requests
/// (`retry.backoff.ms` / `retry.backoff.max.ms`: `cluster::Retry` and the
/// producer's batches) and the connection setup timeout.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// The first delay (e.g. `reconnect.backoff.ms`).
    pub initial: Duration,
    /// The ceiling (e.g. `reconnect.backoff.max.ms`; below `initial`, `initial` is the ceiling).
    pub max: Duration,
}

impl Backoff {
    /// The delay after `failures` consecutive failures (1 = first, and 0
    /// too), jittered.
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(20);
        let base = self
            .initial
            .saturating_mul(1u32 << exp)
            .min(self.max.max(self.initial));
        jitter(base, 0.2)
    }
}

/// The connection setup timeout after `failures` consecutive failed
/// connects: `socket.connection.setup.timeout.ms` doubled per failure, capped
/// at `socket.connection.setup.timeout.max.ms`, with 20% jitter.
pub fn setup_timeout(settings: &ConnectionSettings, failures: u32) -> Duration {
    Backoff {
        initial: settings.connect_timeout,
        max: settings.connect_timeout_max,
    }
    .delay(failures + 1)
}

/// Multiplies `d` by a random factor in `[1 - spread, 1 + spread]`.
pub fn jitter(d: Duration, spread: f64) -> Duration {
    let r = random_unit();
    d.mul_f64(1.0 - spread + 2.0 * spread * r)
}

/// A random number in [0, 1) from a per-thread xorshift generator seeded by
/// the clock and the thread: enough for jitter, no dependency needed.
pub fn random_unit() -> f64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1);
            let local = 0u8;
            (t ^ (&local as *const u8 as u64).rotate_left(32)) | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

#[derive(Default)]
struct Slot {
    conn: Option<Arc<Connection>>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<Error>,
    /// The address of the last connect attempt (for [`ConnectFailure`]).
    address: Option<BrokerAddress>,
}

/// The last failed connect to one broker, remembered until a connect to it
/// succeeds: what timeouts built on the metadata path report as their cause
/// (see `Cluster::annotate`).
#[derive(Clone, Debug)]
pub struct ConnectFailure {
    /// The broker tried.
    pub address: BrokerAddress,
    /// The error of the last attempt.
    pub error: Error,
    /// Consecutive failed attempts.
    pub attempts: u32,
}

impl std::fmt::Display for ConnectFailure {
    /// `host:port (id N): cause (N attempts)`; an I/O error shows only its
    /// cause, as the address is already named.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = if self.attempts == 1 { "" } else { "s" };
        match &self.error {
            Error::Io { source, .. } => write!(
                f,
                "{}: {source} ({} attempt{plural})",
                self.address, self.attempts
            ),
            e => write!(
                f,
                "{}: {e} ({} attempt{plural})",
                self.address, self.attempts
            ),
        }
    }
}

/// A pool of broker connections by node id.
pub struct ConnectionPool {
    settings: ConnectionSettings,
    backoff: Backoff,
    slots: Mutex<HashMap<i32, Arc<Mutex<Slot>>>>,
}

impl ConnectionPool {
    /// A pool using `settings` for every connection.
    pub fn new(settings: ConnectionSettings, backoff: Backoff) -> ConnectionPool {
        ConnectionPool {
            settings,
            backoff,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The connection settings.
    pub fn settings(&self) -> &ConnectionSettings {
        &self.settings
    }

    fn slot(&self, node_id: i32) -> Arc<Mutex<Slot>> {
        self.slots
            .lock()
            .unwrap()
            .entry(node_id)
            .or_default()
            .clone()
    }

    /// The open connection to `address`, connecting if needed. While the
    /// broker is in reconnect backoff this fails at once with the last error.
    pub fn get(&self, address: &BrokerAddress) -> Result<Arc<Connection>> {
        let slot = self.slot(address.node_id);
        let mut s = slot.lock().unwrap();
        if let Some(c) = &s.conn {
            if !c.is_closed() && c.address() == address {
                return Ok(c.clone());
            }
            // Dead or moved: drop it (joins its reader thread) and reconnect.
            if let Some(old) = s.conn.take() {
                old.close();
            }
        }
        if let Some(at) = s.retry_at {
            let now = Instant::now();
            if now < at {
                let last = s.last_error.clone();
                return Err(match last {
                    Some(e) => e,
                    None => Error::Io {
                        broker: address.to_string(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::NotConnected,
                            "backing off after a failed connect",
                        ),
                    },
                });
            }
        }
        s.address = Some(address.clone());
        // As Java: the setup timeout grows exponentially (with 20% jitter)
        // with consecutive failures, up to socket.connection.setup.timeout.max.ms.
        let settings = if s.failures == 0 {
            std::borrow::Cow::Borrowed(&self.settings)
        } else {
            let mut grown = self.settings.clone();
            grown.connect_timeout = setup_timeout(&self.settings, s.failures);
            std::borrow::Cow::Owned(grown)
        };
        match Connection::connect(address, &settings) {
            Ok(c) => {
                let c = Arc::new(c);
                s.conn = Some(c.clone());
                s.failures = 0;
                s.retry_at = None;
                s.last_error = None;
                Ok(c)
            }
            Err(e) => {
                s.failures += 1;
                let delay = self.backoff.delay(s.failures);
                // Like Java's "Connection to node -1 could not be established":
                // a warning, repeated at 1, 2, 4, 8, ... failures in a row
                // so that a long outage does not flood the log.
                if s.failures.is_power_of_two() {
                    log::warn!(
                        "connection to {address} could not be established ({} attempt{} in a row): {e}; next attempt in {} ms",
                        s.failures,
                        if s.failures == 1 { "" } else { "s" },
                        delay.as_millis()
                    );
                } else {
                    log::debug!(
                        "connect to {address} failed ({e}); next attempt in {} ms",
                        delay.as_millis()
                    );
                }
                s.retry_at = Some(Instant::now() + delay);
                s.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// The brokers whose last connect failed (and none succeeded since),
    /// with the error and the number of attempts in a row, by address.
    pub fn connect_failures(&self) -> Vec<ConnectFailure> {
        let slots: Vec<_> = self.slots.lock().unwrap().values().cloned().collect();
        let mut out: Vec<ConnectFailure> = slots
            .iter()
            .filter_map(|slot| {
                let s = slot.lock().unwrap();
                if s.failures == 0 {
                    return None;
                }
                Some(ConnectFailure {
                    address: s.address.clone()?,
                    error: s.last_error.clone()?,
                    attempts: s.failures,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.address.host, a.address.port).cmp(&(&b.address.host, b.address.port))
        });
        out
    }

    /// True when some connection of this pool is open.
    pub fn has_live_connection(&self) -> bool {
        let slots: Vec<_> = self.slots.lock().unwrap().values().cloned().collect();
        slots.iter().any(|slot| {
            slot.lock()
                .unwrap()
                .conn
                .as_ref()
                .is_some_and(|c| !c.is_closed())
        })
    }

    /// The existing live connection to `node_id`, without connecting.
    pub fn existing(&self, node_id: i32) -> Option<Arc<Connection>> {
        let slot = self.slots.lock().unwrap().get(&node_id).cloned()?;
        let s = slot.lock().unwrap();
        s.conn.as_ref().filter(|c| !c.is_closed()).cloned()
    }

    /// How long until `node_id` may be tried again (zero when it may now).
    pub fn backoff_remaining(&self, node_id: i32) -> Duration {
        let Some(slot) = self.slots.lock().unwrap().get(&node_id).cloned() else {
            return Duration::ZERO;
        };
        let s = slot.lock().unwrap();
        s.retry_at
            .map(|at| at.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    }

    /// Until when broker `node_id` asked this client to send it nothing
    /// (KIP-219 throttling; see [`Connection::throttled_until`]), or `None`
    /// when its connection is not throttled now (or not open).
    pub fn throttled_until(&self, node_id: i32) -> Option<Instant> {
        self.existing(node_id)?.throttled_until()
    }

    /// True when `node_id` is waiting out a reconnect backoff.
    pub fn is_backing_off(&self, node_id: i32) -> bool {
        !self.backoff_remaining(node_id).is_zero()
    }

    /// Closes the connection to `node_id` (e.g. after a request timeout).
    pub fn disconnect(&self, node_id: i32) {
        let slot = self.slots.lock().unwrap().get(&node_id).cloned();
        if let Some(slot) = slot {
            if let Some(c) = slot.lock().unwrap().conn.take() {
                c.close();
            }
        }
    }

    /// Closes every connection and joins their reader threads.
    pub fn close_all(&self) {
        let slots: Vec<_> = self.slots.lock().unwrap().drain().map(|(_, s)| s).collect();
        for slot in slots {
            if let Some(c) = slot.lock().unwrap().conn.take() {
                c.close();
            }
        }
    }
}

impl Drop for ConnectionPool {
    fn drop(&mut self) {
        self.close_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_timeout_doubles_per_failure_up_to_the_max() {
        let settings = ConnectionSettings {
            connect_timeout: Duration::from_millis(1000),
            connect_timeout_max: Duration::from_millis(5000),
            ..Default::default()
        };
        let t1 = setup_timeout(&settings, 1);
        assert!(
            t1 >= Duration::from_millis(1600) && t1 <= Duration::from_millis(2400),
            "{t1:?}"
        );
        let t2 = setup_timeout(&settings, 2);
        assert!(
            t2 >= Duration::from_millis(3200) && t2 <= Duration::from_millis(4800),
            "{t2:?}"
        );
        for n in 3..30 {
            let t = setup_timeout(&settings, n);
            assert!(
                t >= Duration::from_millis(4000) && t <= Duration::from_millis(6000),
                "{n}: {t:?}"
            );
        }
    }

    #[test]
    fn backoff_grows_to_max_with_jitter() {
        let b = Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(1000),
        };
        let d1 = b.delay(1);
        assert!(
            d1 >= Duration::from_millis(40) && d1 <= Duration::from_millis(60),
            "{d1:?}"
        );
        let d3 = b.delay(3);
        assert!(
            d3 >= Duration::from_millis(160) && d3 <= Duration::from_millis(240),
            "{d3:?}"
        );
        for n in 6..40 {
            let d = b.delay(n);
            assert!(
                d >= Duration::from_millis(800) && d <= Duration::from_millis(1200),
                "{n}: {d:?}"
            );
        }
        let samples: std::collections::HashSet<_> = (0..20).map(|_| b.delay(10)).collect();
        assert!(samples.len() > 1, "jitter should vary the delay");
    }
}
