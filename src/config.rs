//! The `sluice serve` configuration: a TOML file, overridden by `SLUICE_*` environment
//! variables, overridden by flags. Every key and default is listed in README.md.

use std::net::SocketAddr;
use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use sluice_auth::{AuthConfig, AuthMode};
use sluice_core::GatewayConfig;
use sluice_websocket::WebSocketConfig;

/// Topics exposed when the configuration names none, so a first run has something to use.
pub const DEFAULT_TOPICS: [&str; 2] = ["demo", "chat"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the WebSocket listener.
    pub listen: SocketAddr,
    pub gateway: GatewayConfig,
    pub websocket: WebSocketConfig,
    pub broker: BrokerConfig,
    pub auth: AuthConfig,
}

/// Which broker the gateway runs on, and the settings of each kind. Sections of
/// kinds not chosen are ignored, so switching is one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    pub kind: BrokerKind,
    pub memory: MemoryBrokerSettings,
    pub kafka: sluice_kafka::KafkaConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BrokerKind {
    /// The embedded in-memory broker: nothing to install, nothing survives a restart.
    #[default]
    Memory,
    /// An Apache Kafka cluster (or any Kafka-protocol broker).
    Kafka,
}

/// The embedded broker's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryBrokerSettings {
    /// Partitions of each exposed topic.
    pub partitions: u32,
    /// Records kept per partition.
    pub retention_records_max: usize,
    /// Key + payload bytes kept per partition.
    pub retention_bytes_max: usize,
}

impl Default for MemoryBrokerSettings {
    fn default() -> Self {
        MemoryBrokerSettings {
            partitions: 4,
            retention_records_max: 100_000,
            retention_bytes_max: 64 * 1024 * 1024,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            gateway: GatewayConfig {
                exposed_topics: DEFAULT_TOPICS.iter().map(|t| t.to_string()).collect(),
                ..GatewayConfig::default()
            },
            websocket: WebSocketConfig::default(),
            broker: BrokerConfig::default(),
            auth: AuthConfig::default(),
        }
    }
}

impl Config {
    /// Defaults, then the file (if any), then `SLUICE_*` variables: `SLUICE_LISTEN`,
    /// `SLUICE_GATEWAY__FRAME_BYTES_MAX`, `SLUICE_BROKER__KAFKA__BOOTSTRAP_SERVERS`, ...
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                anyhow::bail!("config file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file(file));
        }
        let mut config: Config = figment
            .merge(Env::prefixed("SLUICE_").split("__"))
            .extract()?;
        config.websocket.frame_bytes_max = config.gateway.frame_bytes_max;
        Ok(config)
    }

    /// Refuses settings the gateway cannot run with, with a message naming the key.
    pub fn validate(&self) -> Result<(), String> {
        for topic in &self.gateway.exposed_topics {
            if !sluice_core::subject::is_valid_topic(topic) {
                return Err(format!(
                    "gateway.exposed_topics: {topic:?} is not a valid Kafka topic name"
                ));
            }
        }
        let positive = [
            ("gateway.frame_bytes_max", self.gateway.frame_bytes_max),
            (
                "gateway.client_queue_bytes_max",
                self.gateway.client_queue_bytes_max,
            ),
            (
                "gateway.message_cache_messages_per_subject_max",
                self.gateway.message_cache_messages_per_subject_max,
            ),
            (
                "gateway.fetches_in_flight_max",
                self.gateway.fetches_in_flight_max,
            ),
            (
                "websocket.write_batch_frames_max",
                self.websocket.write_batch_frames_max,
            ),
            (
                "websocket.ping_interval_ms",
                self.websocket.ping_interval_ms as usize,
            ),
            ("websocket.connections_max", self.websocket.connections_max),
            (
                "websocket.connections_per_ip_max",
                self.websocket.connections_per_ip_max,
            ),
            (
                "auth.revoked_tokens_poll_ms",
                self.auth.revoked_tokens_poll_ms as usize,
            ),
            (
                "gateway.auth_timeout_ms",
                self.gateway.auth_timeout_ms as usize,
            ),
            ("gateway.publish_burst", self.gateway.publish_burst as usize),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{key} must be greater than 0"));
        }
        if self.gateway.client_queue_bytes_max < self.gateway.frame_bytes_max {
            return Err(
                "gateway.client_queue_bytes_max must be at least gateway.frame_bytes_max".into(),
            );
        }
        if self.auth.mode == AuthMode::Jwt {
            sluice_auth::JwtVerifier::new(&self.auth).map_err(|e| e.to_string())?;
        }
        let (memory, kafka) = (&self.broker.memory, &self.broker.kafka);
        match self.broker.kind {
            BrokerKind::Memory if memory.partitions == 0 => {
                Err("broker.memory.partitions must be greater than 0".into())
            }
            BrokerKind::Kafka if kafka.bootstrap_servers.trim().is_empty() => {
                Err("broker.kafka.bootstrap_servers must name at least one broker".into())
            }
            BrokerKind::Kafka if kafka.produce_timeout_ms >= self.gateway.publish_timeout_ms => {
                Err(
                    "broker.kafka.produce_timeout_ms must be below gateway.publish_timeout_ms"
                        .into(),
                )
            }
            _ => Ok(()),
        }
    }
}
