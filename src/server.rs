//! A whole gateway: the configured broker, the core runtime, the WebSocket listener.

use std::net::SocketAddr;

use anyhow::Context;
use sluice_kafka::Bootstrap;
use sluice_memory_broker::{MemoryBroker, MemoryBrokerConfig, TopicConfig};
use sluice_runtime::{BrokerLink, Runtime};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{BrokerKind, Config, MemoryBrokerSettings};

/// A gateway serving on a bound address. Dropping it stops accepting connections.
pub struct Server {
    local_addr: SocketAddr,
    runtime: Runtime,
    broker: Option<MemoryBroker>,
    accept: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Starts the broker session and the core, waits until the broker's snapshot
    /// bootstrap has caught up (Kafka), then binds the listener and returns.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        config.validate().map_err(anyhow::Error::msg)?;
        let (link, broker) = match config.broker.kind {
            BrokerKind::Memory => {
                let MemoryBrokerSettings {
                    partitions,
                    retention_records_max,
                    retention_bytes_max,
                } = config.broker.memory.clone();
                let broker = MemoryBroker::new(MemoryBrokerConfig {
                    topics: config
                        .gateway
                        .exposed_topics
                        .iter()
                        .map(|name| TopicConfig {
                            name: name.clone(),
                            partitions,
                        })
                        .collect(),
                    retention_records_max,
                    retention_bytes_max,
                    ..MemoryBrokerConfig::default()
                })
                .map_err(|err| anyhow::anyhow!("starting the embedded broker: {err}"))?;
                let (commands, events) = broker.connect();
                (BrokerLink { commands, events }, Some(broker))
            }
            BrokerKind::Kafka => {
                let exposed = config.gateway.exposed_topics.clone();
                let link = sluice_kafka::connect(config.broker.kafka.clone(), exposed)?;
                let mut bootstrap = link.bootstrap.clone();
                let link = BrokerLink {
                    commands: link.commands,
                    events: link.events,
                };
                // Runtime first, so the bootstrap's records are consumed while we wait.
                let runtime = Runtime::start(config.gateway.clone(), link);
                wait_for_bootstrap(&mut bootstrap).await?;
                return Self::listen(&config, runtime, None).await;
            }
        };
        let runtime = Runtime::start(config.gateway.clone(), link);
        Self::listen(&config, runtime, broker).await
    }

    async fn listen(
        config: &Config,
        runtime: Runtime,
        broker: Option<MemoryBroker>,
    ) -> anyhow::Result<Server> {
        wait_for_topics(&runtime, &config.gateway.exposed_topics).await;
        let listener = sluice_websocket::bind(config.listen, &config.websocket)
            .with_context(|| format!("binding {}", config.listen))?;
        let local_addr = listener.local_addr()?;
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

    /// The embedded broker, if this gateway runs on it: tools and tests write to it
    /// as Kafka producers would.
    pub fn broker(&self) -> Option<&MemoryBroker> {
        self.broker.as_ref()
    }

    /// Runs until the listener fails.
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        match (&mut self.accept).await {
            Ok(result) => result.context("WebSocket listener failed"),
            Err(err) => Err(anyhow::anyhow!("listener task ended: {err}")),
        }
    }
}

/// Waits for Kafka's snapshot bootstrap, logging why it is not done yet.
async fn wait_for_bootstrap(bootstrap: &mut watch::Receiver<Bootstrap>) -> anyhow::Result<()> {
    let mut last = String::new();
    loop {
        let state = bootstrap.borrow_and_update().clone();
        let line = match &state {
            Bootstrap::Ready => return Ok(()),
            Bootstrap::Connecting(why) => format!("waiting for Kafka: {why}"),
            Bootstrap::Reading {
                records_done,
                records_total,
            } => format!("bootstrap: {records_done}/{records_total} records read"),
        };
        if line != last {
            tracing::info!("{line}");
            last = line;
        }
        if bootstrap.changed().await.is_err() {
            anyhow::bail!("the Kafka session ended during bootstrap");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Waits until the core has taken in the broker's announcement of every configured
/// topic, so the first clients are not refused as `unavailable` because an event
/// was still on its way from the broker adapter. Bounded: a topic the broker never
/// announces is logged, and clients get `unavailable` for it until it appears.
async fn wait_for_topics(runtime: &Runtime, topics: &[String]) {
    const WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(30);
    let started = std::time::Instant::now();
    while !runtime.topics_known(topics) {
        if started.elapsed() > WAIT_MAX {
            tracing::warn!(
                ?topics,
                "not every exposed topic was announced by the broker; listening anyway"
            );
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
