//! The tokio runtimes `sluice serve` runs on, as `[runtime]` configures them.
//!
//! Each gateway shard runs on one tokio worker thread: its core, broker pump and
//! connections never leave that thread. Measured on the 2-core bench machine
//! (`BENCHMARKS.md`), a gateway whose core and connections were spread over two
//! workers delivered fewer messages than one on a single worker at the same CPU:
//! every delivery woke a connection task on the other worker (a system call) and
//! met the core's lock there. Shards share nothing but the embedded broker, so
//! they use more cores without that cost.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeSettings {
    /// Gateway shards, each on a thread of its own with its own core and caches;
    /// connections are dealt to them in turn. 0: one per CPU core. On Kafka the
    /// shards share one consumer and one producer.
    pub shards: usize,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings { shards: 1 }
    }
}

impl RuntimeSettings {
    /// The number of shards to run: `shards`, or one per core for 0.
    pub fn shard_count(&self) -> usize {
        match self.shards {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            shards => shards,
        }
    }
}

/// A runtime with one worker thread: the first shard's (with the admin listener
/// and the accept loop), or another shard's, named `name`.
///
/// tokio's multi-thread scheduler, even for one worker: its current-thread
/// scheduler delivered 123,000 of 720,000 messages/s offered where one worker of
/// this one delivered 700,000 (`BENCHMARKS.md`).
pub fn one_worker(name: &str) -> std::io::Result<tokio::runtime::Runtime> {
    workers(name, 1)
}

fn workers(name: &str, count: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(count)
        .thread_name(name)
        .enable_all()
        .build()
}

/// A runtime beside the first shard's: another shard's (one worker) or QUIC's
/// (two). Dropping it stops its threads without waiting: it is dropped from async code
/// (the server's owner), where a blocking shutdown is not allowed.
pub struct Background {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Background {
    /// One worker thread named `name`.
    pub fn start(name: &str) -> std::io::Result<Background> {
        Self::with_workers(name, 1)
    }

    /// `count` worker threads named `name`.
    pub fn with_workers(name: &str, count: usize) -> std::io::Result<Background> {
        Ok(Background {
            runtime: Some(workers(name, count)?),
        })
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime
            .as_ref()
            .expect("present until dropped")
            .handle()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_worker_has_one_worker_thread() {
        let runtime = one_worker("test-shard").unwrap();
        assert_eq!(runtime.metrics().num_workers(), 1);
    }

    #[test]
    fn zero_shards_means_one_per_core() {
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(RuntimeSettings { shards: 0 }.shard_count(), cores);
        assert_eq!(RuntimeSettings { shards: 3 }.shard_count(), 3);
    }
}
