//! The async runtime `sluice serve` runs on, as `[runtime]` configures it.
//!
//! One thread is the default. Measured on the 2-core bench machine
//! (`BENCHMARKS.md`, "One thread"), a gateway whose core and connections share
//! tokio's two workers delivers fewer messages than one on a single thread at
//! the same CPU: every delivery then wakes a connection task on the other
//! worker (a system call) and contends for the core's lock there. A host with
//! more cores runs one gateway process per core (they share nothing and read the
//! same Kafka log), or raises `worker_threads`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeSettings {
    /// Threads running the gateway's tasks (core, connections, listeners, admin).
    /// 1: one worker, no cross-thread wake-ups; 0: one per CPU core.
    /// Blocking Kafka calls and librdkafka's own threads are not counted.
    pub worker_threads: usize,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings { worker_threads: 1 }
    }
}

/// Builds the runtime `settings` describe.
pub fn build(settings: &RuntimeSettings) -> std::io::Result<tokio::runtime::Runtime> {
    // Always tokio's multi-thread scheduler, also for one worker: its current-thread
    // scheduler delivered 123,000 of 720,000 messages/s offered where one worker
    // of this one delivered 700,000 (`BENCHMARKS.md`).
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if settings.worker_threads > 0 {
        builder.worker_threads(settings.worker_threads);
    }
    builder.enable_all().build()
}

#[cfg(test)]
mod tests {
    use tokio::runtime::RuntimeFlavor;

    use super::*;

    fn built(worker_threads: usize) -> tokio::runtime::Runtime {
        build(&RuntimeSettings { worker_threads }).unwrap()
    }

    #[test]
    fn worker_threads_sets_the_workers() {
        for threads in [1, 3] {
            let runtime = built(threads);
            assert_eq!(
                runtime.handle().runtime_flavor(),
                RuntimeFlavor::MultiThread
            );
            assert_eq!(runtime.metrics().num_workers(), threads);
        }
    }

    #[test]
    fn zero_means_one_worker_per_core() {
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(built(0).metrics().num_workers(), cores);
    }
}
