//! The one retry policy for requests that have a deadline (admin calls,
//! metadata waits, the group coordinator, offset commits and fetches): after
//! a failed attempt, a retriable error waits an exponential backoff
//! (`retry.backoff.ms` doubling up to `retry.backoff.max.ms`, 20% jitter, as
//! Java's KIP-580; at least the reconnect backoff of the brokers when every
//! one is backing off) and the caller tries again; anything else, or a
//! deadline reached, ends the call with the error (a timeout naming the
//! brokers that cannot be reached). No wait runs past the deadline.
//!
//! What to do between attempts (mark a coordinator dead, refresh metadata)
//! stays with the caller, which knows what the error means for it; requests
//! to the controller refresh metadata through [`Retry::controller_moved`].
//! The backoff formula is [`Backoff::delay`](crate::net::pool::Backoff::delay),
//! the one the producer also uses between tries of a batch.

use std::time::{Duration, Instant};

use super::Cluster;
use crate::error::{Error, Result};

/// Retry state of one call: its deadline and the attempts so far.
pub struct Retry<'a> {
    cluster: &'a Cluster,
    deadline: Instant,
    attempts: u32,
}

impl<'a> Retry<'a> {
    /// A call on `cluster` that may retry until `deadline`.
    pub fn new(cluster: &'a Cluster, deadline: Instant) -> Retry<'a> {
        Retry {
            cluster,
            deadline,
            attempts: 0,
        }
    }

    /// The call's deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// After a failed attempt with `e`: waits the backoff and returns
    /// `Ok(())` when `e` is retriable and the deadline is not reached (the
    /// caller tries again); otherwise returns `e` (a timeout annotated with
    /// the brokers that cannot be reached).
    pub fn backoff(&mut self, what: &str, e: Error) -> Result<()> {
        let now = Instant::now();
        if !e.is_retriable() || now >= self.deadline {
            return Err(self.cluster.annotate(e));
        }
        self.attempts += 1;
        let pause = self.pause().min(self.deadline - now);
        log::debug!(
            "{what} failed ({e}); retry {} in {} ms",
            self.attempts,
            pause.as_millis()
        );
        std::thread::sleep(pause);
        Ok(())
    }

    /// [`Retry::backoff`] for a request that must reach the controller
    /// (Java's NOT_CONTROLLER handling): after the wait, metadata is
    /// refreshed so that the next attempt goes to the controller it names.
    pub fn controller_moved(&mut self, what: &str, e: Error) -> Result<()> {
        self.backoff(what, e)?;
        self.cluster.refresh_controller();
        Ok(())
    }

    /// The wait before the next attempt (not capped by the deadline).
    fn pause(&self) -> Duration {
        self.cluster
            .settings()
            .retry_policy()
            .delay(self.attempts)
            .max(self.cluster.min_backoff())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ClusterSettings;
    use crate::net::BrokerAddress;
    use crate::net::pool::Backoff;
    use crate::protocol::KafkaCode;

    fn cluster(backoff_ms: u64, max_ms: u64) -> Cluster {
        Cluster::new(ClusterSettings {
            bootstrap: vec![BrokerAddress {
                node_id: -1,
                host: "127.0.0.1".into(),
                port: 1,
            }],
            connection: Default::default(),
            reconnect_backoff: Backoff {
                initial: Duration::from_millis(1),
                max: Duration::from_millis(1),
            },
            retry_backoff: Duration::from_millis(backoff_ms),
            retry_backoff_max: Duration::from_millis(max_ms),
            metadata_max_age: Duration::from_secs(300),
            allow_auto_create_topics: true,
        })
    }

    #[test]
    fn never_waits_past_the_deadline() {
        let c = cluster(400, 400);
        let started = Instant::now();
        let mut r = Retry::new(&c, started + Duration::from_millis(250));
        let e = || Error::kafka(KafkaCode::CoordinatorNotAvailable, "OffsetCommit");
        assert!(r.backoff("commit", e()).is_ok());
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(240) && waited < Duration::from_millis(350),
            "{waited:?}"
        );
        let err = r.backoff("commit", e()).unwrap_err();
        assert_eq!(err.kafka_code(), Some(KafkaCode::CoordinatorNotAvailable));
        assert!(started.elapsed() < Duration::from_millis(350));
    }

    #[test]
    fn backs_off_exponentially_and_stops_on_non_retriable_errors() {
        let c = cluster(20, 80);
        let mut r = Retry::new(&c, Instant::now() + Duration::from_secs(10));
        let pauses: Vec<Duration> = (0..5)
            .map(|_| {
                let t = Instant::now();
                r.backoff("x", Error::kafka(KafkaCode::NotCoordinator, "x"))
                    .unwrap();
                t.elapsed()
            })
            .collect();
        // 20, 40, 80, 80, 80 ms, each +-20%.
        assert!(pauses[0] < Duration::from_millis(35), "{pauses:?}");
        assert!(pauses[2] >= Duration::from_millis(60), "{pauses:?}");
        assert!(pauses[4] < Duration::from_millis(130), "{pauses:?}");
        let started = Instant::now();
        let e = r
            .backoff("x", Error::kafka(KafkaCode::GroupAuthorizationFailed, "x"))
            .unwrap_err();
        assert_eq!(e.kafka_code(), Some(KafkaCode::GroupAuthorizationFailed));
        assert!(started.elapsed() < Duration::from_millis(10), "no wait");
    }

    /// Nothing listens on 127.0.0.1:1: every connect is refused at once.
    #[test]
    fn waiting_for_a_topic_ends_at_the_deadline() {
        let c = cluster(400, 400);
        let started = Instant::now();
        let e = c
            .wait_for_topic("t", started + Duration::from_millis(250))
            .unwrap_err();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(240) && took < Duration::from_millis(350),
            "{took:?}: {e}"
        );
        assert!(
            matches!(&e, Error::Timeout { what, .. } if what.contains("topic t") && what.contains("127.0.0.1:1")),
            "{e}"
        );
    }

    #[test]
    fn controller_requests_end_at_the_deadline() {
        let c = cluster(400, 400);
        let started = Instant::now();
        let mut attempts = 0;
        let e = c
            .request_controller_with("CreateTopics", started + Duration::from_millis(250), |_| {
                attempts += 1;
                Ok(())
            })
            .unwrap_err();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(240) && took < Duration::from_millis(350),
            "{took:?}: {e}"
        );
        assert_eq!(attempts, 0, "no connection, no attempt");
        assert!(e.is_retriable(), "the last connect failure: {e}");
        // NOT_CONTROLLER after the deadline: no wait, no refresh.
        let mut r = Retry::new(&c, Instant::now());
        let started = Instant::now();
        let e = r
            .controller_moved("x", Error::kafka(KafkaCode::NotController, "x"))
            .unwrap_err();
        assert_eq!(e.kafka_code(), Some(KafkaCode::NotController));
        assert!(started.elapsed() < Duration::from_millis(50));
    }
}
