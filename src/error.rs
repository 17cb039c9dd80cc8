//! The crate's one error type.
//!
//! Every variant is something a caller can act on, and every message says
//! where it happened (broker, topic, partition) and what to do next.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::protocol::{DecodeError, EncodeError, KafkaCode};

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in kafka-blocking.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A broker answered with a Kafka error code.
    Kafka {
        /// The error code (its name, number and retriable flag are on [`KafkaCode`]).
        code: KafkaCode,
        /// Where it happened: the request, broker, topic or partition.
        context: String,
        /// The broker's own error message, when it sent one.
        message: Option<String>,
    },
    /// A setting is unknown or has a value that is not allowed.
    Config {
        /// The property name, as in the Java client (e.g. `acks`).
        key: String,
        /// The value given.
        value: String,
        /// What is allowed.
        allowed: String,
    },
    /// A network error talking to a broker.
    Io {
        /// The broker (`host:port`, with its node id when known).
        broker: String,
        /// The underlying error.
        source: io::Error,
    },
    /// An operation did not finish in time.
    Timeout {
        /// What timed out, including where.
        what: String,
        /// The limit that was exceeded.
        after: Duration,
    },
    /// A broker sent bytes that do not follow the protocol.
    Protocol {
        /// The broker that sent them.
        broker: String,
        /// What was wrong.
        message: String,
    },
    /// The client and the broker share no version of an API.
    UnsupportedVersion {
        /// The API name (e.g. `Fetch`).
        api: &'static str,
        /// The broker.
        broker: String,
        /// The broker's supported range, if it supports the API at all.
        broker_range: Option<(i16, i16)>,
        /// The range this client supports.
        client_range: (i16, i16),
    },
    /// A value cannot be encoded for the request (e.g. too long for its field).
    Encode(EncodeError),
    /// The client was closed.
    Closed(String),
    /// A misuse of the API or an invalid argument (e.g. an unknown partition):
    /// the caller's mistake only, never built from a broker's answer.
    InvalidArgument(String),
    /// The cluster metadata names a broker (a partition leader, the
    /// controller, a coordinator) that is not in its own broker list: the
    /// metadata is out of date or inconsistent (a broker that has just left,
    /// an answer from a lagging broker). Retriable: the metadata is refreshed
    /// and the request retried until its deadline.
    UnknownBroker {
        /// The node id the metadata named.
        node_id: i32,
        /// The node ids the metadata does list.
        known: Vec<i32>,
    },
    /// TLS with a broker failed for a reason that retrying will not fix
    /// (in the handshake, or the broker's refusal of our certificate right
    /// after it): an untrusted or mismatched certificate, a refused client
    /// certificate, a listener that does not speak TLS. The message says which
    /// check failed and which setting to look at.
    Tls {
        /// The broker (`host:port`, with its node id when known).
        broker: String,
        /// What failed, and what to check.
        message: String,
    },
    /// `Consumer::poll` was interrupted by `WakeupHandle::wakeup` from
    /// another thread (Java's `WakeupException`): not a failure; the
    /// consumer is usable and the next poll works normally.
    Wakeup,
    /// An offset commit was rejected because this consumer is no longer a
    /// member of the group's current generation (Java's
    /// `CommitFailedException`): the partitions may now belong to another
    /// member. The message says why and what to change.
    CommitFailed(String),
}

impl Error {
    /// A Kafka error with context.
    pub fn kafka(code: KafkaCode, context: impl Into<String>) -> Error {
        Error::Kafka {
            code,
            context: context.into(),
            message: None,
        }
    }

    /// A configuration error naming the key, the value and what is allowed.
    pub fn config(
        key: impl Into<String>,
        value: impl Into<String>,
        allowed: impl Into<String>,
    ) -> Error {
        Error::Config {
            key: key.into(),
            value: value.into(),
            allowed: allowed.into(),
        }
    }

    /// A protocol (malformed response) error.
    pub fn protocol(broker: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Protocol {
            broker: broker.into(),
            message: message.into(),
        }
    }

    /// True for failures to establish who we are or to prove the broker is who
    /// it claims: TLS handshake failures, SASL authentication errors and an
    /// unsupported SASL mechanism. A client stops at once on these (as the
    /// Java client's `AuthenticationException`) instead of retrying.
    pub fn is_authentication(&self) -> bool {
        match self {
            Error::Tls { .. } => true,
            Error::Kafka { code, .. } => matches!(
                code,
                KafkaCode::SaslAuthenticationFailed
                    | KafkaCode::UnsupportedSaslMechanism
                    | KafkaCode::IllegalSaslState
            ),
            _ => false,
        }
    }

    /// True when the client (or this operation's state) cannot go on until
    /// something outside it changes: another producer or member fenced this
    /// one (PRODUCER_FENCED, FENCED_INSTANCE_ID, TRANSACTION_COORDINATOR_FENCED),
    /// the principal lacks an ACL (the `*_AUTHORIZATION_FAILED` codes),
    /// the broker does not support what is asked (UNSUPPORTED_VERSION, no
    /// common API version, UNSUPPORTED_COMPRESSION_TYPE,
    /// UNSUPPORTED_FOR_MESSAGE_FORMAT), or authentication failed
    /// ([`Error::is_authentication`]). Fatal errors are never retriable.
    /// (FENCED_LEADER_EPOCH and FENCED_MEMBER_EPOCH are not fatal: the client
    /// refreshes and rejoins by itself.)
    pub fn is_fatal(&self) -> bool {
        if self.is_authentication() {
            return true;
        }
        match self {
            Error::UnsupportedVersion { .. } => true,
            Error::Kafka { code, .. } => matches!(
                code,
                KafkaCode::ProducerFenced
                    | KafkaCode::FencedInstanceId
                    | KafkaCode::TransactionCoordinatorFenced
                    | KafkaCode::TopicAuthorizationFailed
                    | KafkaCode::GroupAuthorizationFailed
                    | KafkaCode::ClusterAuthorizationFailed
                    | KafkaCode::TransactionalIdAuthorizationFailed
                    | KafkaCode::DelegationTokenAuthorizationFailed
                    | KafkaCode::UnsupportedVersion
                    | KafkaCode::UnsupportedCompressionType
                    | KafkaCode::UnsupportedForMessageFormat
            ),
            _ => false,
        }
    }

    /// The Kafka error code, when this is a broker error.
    pub fn kafka_code(&self) -> Option<KafkaCode> {
        match self {
            Error::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True when retrying the same operation may succeed: retriable Kafka
    /// errors, network errors and timeouts. Authentication, authorization and
    /// TLS certificate failures are not: they need a configuration change.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Kafka { code, .. } => code.is_retriable(),
            Error::Io { .. } | Error::Timeout { .. } | Error::UnknownBroker { .. } => true,
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Kafka {
                code,
                context,
                message,
            } => {
                write!(
                    f,
                    "{} ({}) from {context}: {}",
                    code.name(),
                    code.code(),
                    code.description()
                )?;
                if let Some(m) = message {
                    write!(f, " Broker says: {m}")?;
                }
                if code.is_retriable() {
                    write!(f, " (retriable)")?;
                }
                Ok(())
            }
            Error::Config {
                key,
                value,
                allowed,
            } => {
                write!(f, "invalid configuration {key}={value:?}: {allowed}")
            }
            Error::Io { broker, source } => write!(
                f,
                "network error with broker {broker}: {source} (check that the broker is running and reachable)"
            ),
            Error::Timeout { what, after } => {
                write!(f, "timed out after {} ms: {what}", after.as_millis())
            }
            Error::Protocol { broker, message } => write!(
                f,
                "malformed response from broker {broker}: {message} (the connection was dropped)"
            ),
            Error::UnsupportedVersion {
                api,
                broker,
                broker_range,
                client_range,
            } => match broker_range {
                Some((lo, hi)) => write!(
                    f,
                    "broker {broker} supports {api} versions {lo}-{hi}, this client supports {}-{}: no common version (upgrade the broker or the client)",
                    client_range.0, client_range.1
                ),
                None => write!(
                    f,
                    "broker {broker} does not support the {api} API (this client needs versions {}-{})",
                    client_range.0, client_range.1
                ),
            },
            Error::Encode(e) => write!(f, "cannot encode request: {e}"),
            Error::Closed(what) => write!(f, "{what} is closed"),
            Error::InvalidArgument(m) => f.write_str(m),
            Error::UnknownBroker { node_id, known } => {
                let known: Vec<String> = known.iter().map(i32::to_string).collect();
                write!(
                    f,
                    "broker {node_id} is named by the cluster metadata but is not in its broker list ({}): \
                     the metadata is out of date; it is refreshed and the request retried (retriable)",
                    if known.is_empty() {
                        "no brokers listed".to_string()
                    } else {
                        format!("brokers {}", known.join(", "))
                    }
                )
            }
            Error::CommitFailed(m) => write!(f, "offset commit failed: {m}"),
            Error::Tls { broker, message } => {
                write!(f, "TLS with broker {broker} failed: {message}")
            }
            Error::Wakeup => f.write_str("the consumer was woken up (WakeupHandle::wakeup)"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Kafka { code, .. } => Some(code),
            Error::Encode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<EncodeError> for Error {
    fn from(e: EncodeError) -> Self {
        Error::Encode(e)
    }
}

impl Error {
    /// Wraps a decode error as a protocol error from `broker`.
    pub fn decode(broker: impl Into<String>, e: DecodeError) -> Error {
        Error::protocol(broker, e.message())
    }
}

impl Clone for Error {
    /// Errors are fanned out to every record of a failed batch, so they clone;
    /// an I/O error keeps its kind and text.
    fn clone(&self) -> Self {
        match self {
            Error::Kafka {
                code,
                context,
                message,
            } => Error::Kafka {
                code: *code,
                context: context.clone(),
                message: message.clone(),
            },
            Error::Config {
                key,
                value,
                allowed,
            } => Error::Config {
                key: key.clone(),
                value: value.clone(),
                allowed: allowed.clone(),
            },
            Error::Io { broker, source } => Error::Io {
                broker: broker.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            Error::Timeout { what, after } => Error::Timeout {
                what: what.clone(),
                after: *after,
            },
            Error::Protocol { broker, message } => Error::Protocol {
                broker: broker.clone(),
                message: message.clone(),
            },
            Error::UnsupportedVersion {
                api,
                broker,
                broker_range,
                client_range,
            } => Error::UnsupportedVersion {
                api,
                broker: broker.clone(),
                broker_range: *broker_range,
                client_range: *client_range,
            },
            Error::Encode(e) => Error::Encode(e.clone()),
            Error::Closed(s) => Error::Closed(s.clone()),
            Error::InvalidArgument(s) => Error::InvalidArgument(s.clone()),
            Error::UnknownBroker { node_id, known } => Error::UnknownBroker {
                node_id: *node_id,
                known: known.clone(),
            },
            Error::CommitFailed(s) => Error::CommitFailed(s.clone()),
            Error::Wakeup => Error::Wakeup,
            Error::Tls { broker, message } => Error::Tls {
                broker: broker.clone(),
                message: message.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fatal_errors_are_never_retriable_and_fencing_of_epochs_is_not_fatal() {
        let fatal = [
            Error::kafka(KafkaCode::ProducerFenced, "Produce"),
            Error::kafka(KafkaCode::TopicAuthorizationFailed, "Metadata for topic t"),
            Error::kafka(KafkaCode::GroupAuthorizationFailed, "JoinGroup"),
            Error::kafka(KafkaCode::SaslAuthenticationFailed, "SASL"),
            Error::Tls {
                broker: "b".into(),
                message: "unknown issuer".into(),
            },
            Error::UnsupportedVersion {
                api: "Fetch",
                broker: "b".into(),
                broker_range: None,
                client_range: (4, 17),
            },
        ];
        for e in &fatal {
            assert!(e.is_fatal(), "{e}");
            assert!(!e.is_retriable(), "{e}");
        }
        for e in [
            Error::kafka(KafkaCode::FencedLeaderEpoch, "Fetch"),
            Error::kafka(KafkaCode::NotLeaderOrFollower, "Produce"),
            Error::Wakeup,
            Error::Timeout {
                what: "x".into(),
                after: Duration::from_secs(1),
            },
        ] {
            assert!(!e.is_fatal(), "{e}");
        }
    }
}
