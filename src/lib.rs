//! # kafka-blocking
//!
//! A synchronous, dependency-light Apache Kafka client: ordinary threads and
//! blocking calls, no async runtime, no C library.
//!
//! The clients: [`producer`] (one background sender thread), [`consumer`] (a
//! blocking poll loop that also heartbeats and commits for its group) and
//! [`admin`], configured through [`config`] with the Java client's property
//! names; every failure is an [`Error`]. These modules, [`error`] and the
//! types re-exported here are the stable API.
//!
//! Underneath are the protocol codec, the broker connections and the
//! metadata/routing layer. They are public only with the opt-in cargo feature
//! `unstable` (as `kafka_blocking::unstable::{protocol, net, cluster}`), with
//! no semver guarantee: they may change in any release. They exist for the
//! crate's tests, fuzzing and power users.
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
pub mod config;
pub mod consumer;
pub mod error;
pub mod producer;

// The lower layers (protocol, net, cluster) are private modules of the crate
// root (so their log targets stay `kafka_blocking::net::...`); the cargo
// feature `unstable` re-exports their contents, with no semver guarantee, as
// `kafka_blocking::unstable::{protocol, net, cluster}`. Without it, what the
// clients do not use is dead code.
#[cfg_attr(
    not(feature = "unstable"),
    allow(dead_code, unreachable_pub, unused_imports)
)]
mod cluster;
#[cfg_attr(
    not(feature = "unstable"),
    allow(dead_code, unreachable_pub, unused_imports)
)]
mod net;
#[cfg_attr(
    not(feature = "unstable"),
    allow(dead_code, unreachable_pub, unused_imports)
)]
mod protocol;
#[cfg(feature = "unstable")]
pub mod unstable;

pub use config::{AdminConfig, ConsumerConfig, ProducerConfig};
pub use consumer::{Consumer, ConsumerRecord, ConsumerRecords, Header, TopicPartition};
pub use error::{Error, Result};
pub use producer::{Producer, ProducerRecord, RecordMetadata};

// Shared types defined in the lower layers that the stable API uses: stable
// here (rustdoc documents them at the crate root), whatever the feature.
pub use cluster::{Broker, PartitionMetadata, TopicMetadata};
/// An unsecured (`alg: none`) OAUTHBEARER token, for brokers with Kafka's
/// unsecured JWT validator (development and tests only).
pub use net::sasl::unsecured_token as unsecured_oauthbearer_token;
pub use net::sasl::{OAuthBearerToken, OAuthBearerTokenProvider};
pub use protocol::{Bytes, DecodeError, EncodeError, KafkaCode, Uuid};

/// The README's examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
