//! A whole gateway: the configured broker, the core runtime, the WebSocket listener.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use sluice_auth::{AuthMode, JwtVerifier};
use sluice_kafka::Bootstrap;
use sluice_memory_broker::{MemoryBroker, MemoryBrokerConfig, TopicConfig};
use sluice_runtime::{BrokerLink, Runtime, TokenVerifier};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{BrokerKind, Config, MemoryBrokerSettings};
use crate::revocation_watch;

/// A gateway serving on a bound address. Dropping it stops accepting connections.
pub struct Server {
    local_addr: SocketAddr,
    runtime: Runtime,
    broker: Option<MemoryBroker>,
    accept: JoinHandle<std::io::Result<()>>,
    /// Reloads the revocation list, if one is configured.
    revocation: Option<JoinHandle<()>>,
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
                let runtime = start_runtime(&config, link)?;
                wait_for_bootstrap(&mut bootstrap).await?;
                return Self::listen(&config, runtime, None).await;
            }
        };
        let runtime = start_runtime(&config, link)?;
        Self::listen(&config, runtime, broker).await
    }

    async fn listen(
        config: &Config,
        runtime: Runtime,
        broker: Option<MemoryBroker>,
    ) -> anyhow::Result<Server> {
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let local_addr = listener.local_addr()?;
        let revocation = match &config.auth.revoked_tokens_file {
            Some(file) if config.auth.mode == AuthMode::Jwt => Some(
                revocation_watch::start(
                    file.clone(),
                    config.auth.revoked_tokens_poll_ms,
                    runtime.clone(),
                )
                .with_context(|| format!("reading auth.revoked_tokens_file {}", file.display()))?,
            ),
            _ => None,
        };
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
            revocation,
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

/// The core runtime, with a token verifier when `[auth] mode = "jwt"`.
fn start_runtime(config: &Config, link: BrokerLink) -> anyhow::Result<Runtime> {
    let mut gateway = config.gateway.clone();
    gateway.auth_required = config.auth.mode == AuthMode::Jwt;
    let verifier: Option<Arc<dyn TokenVerifier>> = match config.auth.mode {
        AuthMode::None => None,
        AuthMode::Jwt => Some(Arc::new(JwtVerifier::new(&config.auth)?)),
    };
    Ok(Runtime::start_with_verifier(gateway, link, verifier))
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
        if let Some(revocation) = &self.revocation {
            revocation.abort();
        }
    }
}
