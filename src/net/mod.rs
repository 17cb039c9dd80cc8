//! Connections to brokers: one blocking socket per broker with its own reader
//! thread ([`connection`]), and a pool of them by node id with reconnect
//! backoff ([`pool`]).

pub mod connection;
pub mod pool;

pub use connection::{ApiVersionRanges, BrokerAddress, Connection, ConnectionSettings};
pub use pool::{ConnectFailure, ConnectionPool};
