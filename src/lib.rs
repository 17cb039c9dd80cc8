//! # kafka-blocking
//!
//! A synchronous, dependency-light Apache Kafka client: ordinary threads and
//! blocking calls, no async runtime, no C library.
//!
//! Layers (data flows one way): [`protocol`] (bytes and typed messages, no
//! I/O) → [`net`] (one blocking connection per broker, with its own reader
//! thread) → [`cluster`] (metadata and routing) → clients: [`producer`] (one
//! background sender thread), [`consumer`] (a blocking poll loop that also
//! heartbeats and commits for its group) and [`admin`].
//!
//! ```no_run
//! use kafka_blocking::admin::{AdminClient, NewTopic};
//! use kafka_blocking::AdminConfig;
//!
//! let admin = AdminClient::new(AdminConfig::new().bootstrap_servers("localhost:9092"))?;
//! admin.create_topic(NewTopic::new("science", 3, 1))?;
//! for t in admin.list_topics()? {
//!     println!("{} ({} partitions)", t.name, t.partitions);
//! }
//! # Ok::<(), kafka_blocking::Error>(())
//! ```

#![warn(missing_docs)]

pub mod admin;
pub mod cluster;
pub mod config;
pub mod consumer;
pub mod error;
pub mod net;
pub mod producer;
pub mod protocol;

pub use config::{AdminConfig, ConsumerConfig, ProducerConfig};
pub use consumer::{Consumer, ConsumerRecord, ConsumerRecords, TopicPartition};
pub use error::{Error, Result};
/// An unsecured (`alg: none`) OAUTHBEARER token, for brokers with Kafka's
/// unsecured JWT validator (development and tests only).
pub use net::sasl::unsecured_token as unsecured_oauthbearer_token;
pub use net::sasl::{OAuthBearerToken, OAuthBearerTokenProvider};
pub use producer::{Producer, ProducerRecord, RecordMetadata};
pub use protocol::KafkaCode;

/// The README's examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
