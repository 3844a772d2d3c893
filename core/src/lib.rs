//! # sluice-core
//!
//! The sans-IO heart of the Sluice gateway. It holds subscriptions, the snapshot and
//! message caches, and the per-client outbound queues; it routes broker records to
//! subscribers and turns publishes into produce commands. It never does I/O and never
//! reads a clock: the caller feeds it [`Input`]s with the current time and drains
//! [`Output`]s, in the manner of `quinn-proto` and `str0m`.
//!
//! Errors returned by the gateway mean bad input from the caller; a panic is a bug.
//! Nothing a client or a broker sends can make it panic.

pub mod auth;
pub mod broker;
pub mod cache;
pub mod config;
mod gateway;
pub mod ids;
mod input;
mod output;
pub mod partitioner;
pub mod protocol;
pub mod stats;
pub mod subject;
#[cfg(feature = "testing")]
pub mod testing;
pub mod token_bucket;

pub use auth::{AuthFailure, Grant, Permissions, SubjectPattern};
pub use broker::{
    BrokerCommand, BrokerError, BrokerEvent, BrokerRecord, Epoch, FetchRequest, Fetched, Header,
    PartitionMeta, ProduceRequest,
};
pub use config::GatewayConfig;
pub use gateway::{
    compile_pattern, ExposureChange, ExposureError, Gateway, GatewayError, SubjectInfo, TopicInfo,
};
pub use ids::{ClientId, FetchId, ProduceId, RequestId};
pub use input::Input;
pub use output::{close_code, Output};
pub use stats::GatewayStats;
pub use subject::{Subject, SubjectError};
