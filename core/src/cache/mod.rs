//! The gateway's two bounded caches: the latest retained value per subject, and the
//! recent messages per subject that serve `history` and resume.

mod message_cache;
mod snapshot_cache;

pub use message_cache::MessageCache;
pub use snapshot_cache::SnapshotCache;
