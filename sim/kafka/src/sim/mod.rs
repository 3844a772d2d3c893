//! The simulated client: rdkafka 0.39's API (the part the adapter uses) over a
//! [`cluster::SimCluster`] on madsim's clock.
//!
//! Calls rdkafka makes blocking (metadata, watermarks, `BaseConsumer::poll`) are
//! answered at once from the cluster's state: in a simulation a blocked thread
//! would stop the world, so an unreachable broker fails them at once instead of at
//! their timeout. The asynchronous paths (`StreamConsumer::recv`,
//! `FutureProducer::send`) take simulated time: fetch latency, slow and lost fetch
//! answers, retries while the broker is away, acknowledgements that never come.

pub mod admin;
pub mod client;
pub mod cluster;
pub mod config;
pub mod consumer;
pub mod error;
pub mod message;
pub mod metadata;
pub mod producer;
pub mod topic_partition_list;
pub mod types;
pub mod util;

pub use config::ClientConfig;
pub use message::{Message, Timestamp};
pub use topic_partition_list::{Offset, TopicPartitionList};
