//! A whole gateway: the configured broker, the core runtime, the WebSocket listener.

use std::net::SocketAddr;

use anyhow::Context;
use sluice_memory_broker::{MemoryBroker, MemoryBrokerConfig, TopicConfig};
use sluice_runtime::{BrokerLink, Runtime};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::{BrokerConfig, Config};

/// A gateway serving on a bound address. Dropping it stops accepting connections.
pub struct Server {
    local_addr: SocketAddr,
    runtime: Runtime,
    broker: MemoryBroker,
    accept: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Starts the broker, the core and the listener; returns once the listener is bound.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        config.validate().map_err(anyhow::Error::msg)?;
        let BrokerConfig::Memory {
            partitions,
            retention_records_max,
            retention_bytes_max,
        } = &config.broker;
        let broker = MemoryBroker::new(MemoryBrokerConfig {
            topics: config
                .gateway
                .exposed_topics
                .iter()
                .map(|name| TopicConfig {
                    name: name.clone(),
                    partitions: *partitions,
                })
                .collect(),
            retention_records_max: *retention_records_max,
            retention_bytes_max: *retention_bytes_max,
            ..MemoryBrokerConfig::default()
        })
        .map_err(|err| anyhow::anyhow!("starting the embedded broker: {err}"))?;
        let (commands, events) = broker.connect();
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let local_addr = listener.local_addr()?;
        let runtime = Runtime::start(config.gateway.clone(), BrokerLink { commands, events });
        let accept = tokio::spawn(sluice_websocket::serve(
            listener,
            runtime.clone(),
            config.websocket.clone(),
        ));
        Ok(Server {
            local_addr,
            runtime,
            broker,
            accept,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URL clients connect to.
    pub fn url(&self) -> String {
        format!("ws://{}/v1/ws", self.local_addr)
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The embedded broker, for tools and tests that write to it as Kafka producers would.
    pub fn broker(&self) -> &MemoryBroker {
        &self.broker
    }

    /// Runs until the listener fails.
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        match (&mut self.accept).await {
            Ok(result) => result.context("WebSocket listener failed"),
            Err(err) => Err(anyhow::anyhow!("listener task ended: {err}")),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
