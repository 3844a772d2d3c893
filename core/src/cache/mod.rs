//! The gateway's bounded caches: the latest retained value per subject, the recent
//! messages per subject that serve `history` and resume, and the partition each
//! subject's records are on.

mod message_cache;
mod snapshot_cache;
mod subject_partitions;

pub use message_cache::MessageCache;
pub use snapshot_cache::SnapshotCache;
pub use subject_partitions::{Learned, Placement, SubjectPartitions};
