//! # sluice-memory-broker
//!
//! The embedded in-memory broker Sluice runs when no Kafka is configured, and the
//! broker tests use when they want a real log without a Kafka cluster. It keeps
//! Kafka's shape where the gateway relies on it: per-partition offsets from 0 that
//! are never reused, murmur2 partitioning, epochs that change when a topic is
//! recreated, and bounded retention that moves the log start forward.
//!
//! By default it keeps its log in memory. With [`DurableConfig`] it also writes
//! every record to segment files under a data directory and reads them back at
//! start, with the same epochs, so a restart loses nothing acknowledged (with
//! [`FsyncPolicy::Always`], not even a power loss). Memory still holds every
//! retained record: the disk is the copy that survives, not a second tier.
//!
//! A gateway attaches with [`MemoryBroker::connect`] and talks over the broker
//! boundary of `sluice-core`: it sends [`sluice_core::BrokerCommand`]s and receives
//! [`sluice_core::BrokerEvent`]s, exactly as it would with the Kafka adapter.
//!
//! ```
//! use sluice_core::{ProduceRequest, BrokerEvent, BrokerCommand, ProduceId};
//! use sluice_memory_broker::{MemoryBroker, MemoryBrokerConfig, TopicConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let broker = MemoryBroker::new(MemoryBrokerConfig {
//!     topics: vec![TopicConfig { name: "vehicles".into(), partitions: 4 }],
//!     ..MemoryBrokerConfig::default()
//! })
//! .unwrap();
//! let (commands, mut events) = broker.connect();
//! // The gateway first learns the topics, one `TopicMeta` each.
//! assert!(matches!(events.recv().await, Some(BrokerEvent::TopicMeta { .. })));
//! commands
//!     .send(BrokerCommand::Produce(ProduceRequest {
//!         produce: ProduceId(1),
//!         topic: "vehicles".into(),
//!         partition: 0,
//!         key: Some("1/speed".into()),
//!         payload: "42".into(),
//!         headers: Vec::new(),
//!     }))
//!     .await
//!     .unwrap();
//! // Then it hears the answer and, separately, the record streamed back.
//! # }
//! ```

mod broker;
mod config;
mod data_dir;
mod log;
mod partition_files;
mod segment;
mod session;
mod simulated_disk;
mod storage;
mod topic;

pub use broker::{LogStats, MemoryBroker};
pub use config::{MemoryBrokerConfig, TopicConfig};
pub use data_dir::{DurableConfig, FsyncPolicy};
pub use simulated_disk::SimulatedDisk;
pub use storage::{AppendFile, DiskStorage, Storage};
pub use topic::TopicError;
