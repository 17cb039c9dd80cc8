//! The lower layers of the client, **without any semver guarantee**.
//!
//! Everything under this module may change, move or disappear in any release,
//! including patch releases. It is compiled into every build (the clients are
//! built on it) but is public only with the opt-in cargo feature `unstable`,
//! for the crate's own tests, fuzzing and power users who accept the churn.
//! Programs that want a stable API use [`producer`](crate::producer),
//! [`consumer`](crate::consumer), [`admin`](crate::admin),
//! [`config`](crate::config), [`error`](crate::error) and the types
//! re-exported at the crate root.
//!
//! Layers (data flows one way): [`protocol`] (bytes and typed messages, no
//! I/O) → [`net`] (one blocking connection per broker, with its own reader
//! thread) → [`cluster`] (metadata and routing) → the clients.

/// The wire protocol: primitive types, request/response headers, the
/// messages generated from Kafka's JSON definitions, record batches, CRC-32C
/// and compression. No I/O.
pub mod protocol {
    pub use crate::protocol::*;
}

/// Broker connections: one blocking socket per broker with its own reader
/// thread, pipelining, TLS and SASL, the connection pool.
pub mod net {
    pub use crate::net::*;
}

/// Cluster metadata and routing: the metadata cache, leader lookup, the
/// retry policy.
pub mod cluster {
    pub use crate::cluster::*;
}
