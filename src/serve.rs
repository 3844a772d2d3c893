//! `sluice serve`: the gateway on the configured broker and the WebSocket listener.

use anyhow::Context;
use sluice_memory_broker::{MemoryBroker, MemoryBrokerConfig, TopicConfig};
use sluice_runtime::{BrokerLink, Runtime};
use tokio::net::TcpListener;

use crate::config::{BrokerConfig, Config};

pub async fn run(config: Config) -> anyhow::Result<()> {
    let link = match &config.broker {
        BrokerConfig::Memory {
            partitions,
            retention_records_max,
            retention_bytes_max,
        } => {
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
            .context("starting the embedded broker")?;
            println!(
                "broker: embedded in-memory ({partitions} partitions per topic; nothing survives a restart)"
            );
            let (commands, events) = broker.connect();
            BrokerLink { commands, events }
        }
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let address = listener.local_addr()?;
    let runtime = Runtime::start(config.gateway.clone(), link);
    println!(
        "exposed topics: {}",
        config.gateway.exposed_topics.join(", ")
    );
    println!("listening on ws://{address}/v1/ws");
    tokio::select! {
        served = sluice_websocket::serve(listener, runtime, config.websocket.clone()) => {
            served.context("WebSocket listener failed")?;
        }
        _ = tokio::signal::ctrl_c() => println!("shutting down"),
    }
    Ok(())
}
