//! Connections to brokers: one blocking socket per broker with its own reader
//! thread ([`connection`]), secured as `security.protocol` says
//! ([`security`]: TLS in [`tls`] with the `tls` feature, SASL in [`sasl`]),
//! and a pool of them by node id with reconnect backoff ([`pool`]). API
//! versions are negotiated per connection ([`ApiVersionRanges`]).

pub mod connection;
pub mod pool;
pub mod sasl;
pub mod security;
#[cfg(feature = "tls")]
pub mod tls;
mod versions;

pub use connection::{
    ApiVersionRanges, BrokerAddress, Connection, ConnectionSettings, ThrottleStats, throttle_totals,
};
pub use pool::{ConnectFailure, ConnectionPool};
pub use security::{Security, SecurityProtocol};
