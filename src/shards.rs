//! The gateway's shards beyond the first (`[runtime] shards`): each a one-worker
//! tokio runtime running its own core runtime on its own broker link: a session of
//! the embedded broker, or its end of the process's one Kafka session. The first
//! shard runs on the runtime that started the server.

use std::sync::Arc;

use sluice_driver::{BrokerLink, Observer, Runtime};
use sluice_memory_broker::MemoryBroker;

use crate::async_runtime::Background;
use crate::config::Config;

/// Where a shard's broker link comes from.
pub enum ShardBroker {
    /// A session of the embedded broker, which every shard shares.
    Memory(MemoryBroker),
    /// The shard's end of the process's Kafka session.
    Kafka(Box<sluice_kafka::ShardLink>),
}

/// The extra shards. Dropping them stops their threads.
pub struct ExtraShards {
    shards: Vec<(Runtime, Background)>,
}

impl ExtraShards {
    /// Starts a shard for each of `links`, each with a core runtime `start` builds.
    pub fn start(
        links: Vec<ShardBroker>,
        config: &Config,
        observer: &Arc<dyn Observer>,
        start: fn(&Config, BrokerLink, Arc<dyn Observer>) -> anyhow::Result<Runtime>,
    ) -> anyhow::Result<ExtraShards> {
        let mut shards = Vec::with_capacity(links.len());
        for (index, link) in links.into_iter().enumerate() {
            let tasks = Background::start(&format!("sluice-shard-{}", index + 1))?;
            // The broker session and the core's tasks are spawned on the shard.
            let _entered = tasks.handle().enter();
            let (commands, events) = match link {
                ShardBroker::Memory(broker) => broker.connect(),
                ShardBroker::Kafka(link) => link.start(),
            };
            let runtime = start(config, BrokerLink { commands, events }, observer.clone())?;
            shards.push((runtime, tasks));
        }
        Ok(ExtraShards { shards })
    }

    pub fn runtimes(&self) -> impl Iterator<Item = &Runtime> {
        self.shards.iter().map(|(runtime, _)| runtime)
    }

    /// Where the WebSocket listener hands connections besides its own shard.
    pub fn websocket_shards(&self) -> Vec<sluice_websocket::Shard> {
        self.shards
            .iter()
            .map(|(runtime, tasks)| sluice_websocket::Shard {
                runtime: runtime.clone(),
                tasks: tasks.handle().clone(),
            })
            .collect()
    }
}
