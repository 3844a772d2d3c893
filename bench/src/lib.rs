//! The benchmark harness (`sluice-bench`, `cargo xtask bench`) and the soak
//! (`sluice-soak`, `cargo xtask soak`): the pieces both binaries use.

pub mod conn;
pub mod durability;
pub mod history;
pub mod kafka_source;
pub mod load;
pub mod pinning;
pub mod proc_stats;
pub mod prometheus_text;
pub mod report;
pub mod resume_check;
pub mod scenario;
pub mod soak;
pub mod system;
pub mod wire;
