//! The `sluice serve` configuration: a TOML file, overridden by `SLUICE_*` environment
//! variables, overridden by flags. Every key and default is listed in docs/configuration.md.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use sluice_auth::{AuthConfig, AuthMode};
use sluice_core::GatewayConfig;
use sluice_observability::{AdminConfig, TelemetryConfig};
use sluice_quic::QuicConfig;
use sluice_websocket::WebSocketConfig;

use crate::async_runtime::RuntimeSettings;

/// More shards than this is a typo, not a machine.
const SHARDS_MAX: usize = 1024;

/// Topics exposed when the configuration names none, so a first run has something to use.
pub const DEFAULT_TOPICS: [&str; 3] = ["demo", "chat", "_inbox"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the WebSocket listener (`wss://` when TLS is configured).
    pub listen: SocketAddr,
    pub gateway: GatewayConfig,
    pub websocket: WebSocketConfig,
    pub quic: QuicConfig,
    pub tls: TlsSettings,
    pub broker: BrokerConfig,
    pub admin: AdminConfig,
    pub telemetry: TelemetryConfig,
    pub auth: AuthConfig,
    pub runtime: RuntimeSettings,
    pub portal: sluice_portal::PortalConfig,
}

/// Where the gateway's certificate comes from. TLS is on when `cert_path` is set
/// or `self_signed` is true; it then covers the WebSocket listener and QUIC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first. Re-read on SIGHUP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_path: Option<PathBuf>,
    /// PEM private key of the leaf certificate. Re-read on SIGHUP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_path: Option<PathBuf>,
    /// Dev mode: generate a self-signed certificate at start and print its SHA-256
    /// fingerprint for clients to pin.
    pub self_signed: bool,
    /// TLS sessions remembered for resumption (and QUIC 0-RTT), per transport.
    pub session_cache_entries_max: usize,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            cert_path: None,
            key_path: None,
            self_signed: false,
            session_cache_entries_max: 4096,
        }
    }
}

impl TlsSettings {
    pub fn enabled(&self) -> bool {
        self.cert_path.is_some() || self.self_signed
    }
}

/// Which broker the gateway runs on, and the settings of each kind. Sections of
/// kinds not chosen are ignored, so switching is one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    pub kind: BrokerKind,
    #[serde(alias = "memory")]
    pub embedded: EmbeddedBrokerSettings,
    pub kafka: sluice_kafka::KafkaConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BrokerKind {
    /// The embedded broker: nothing to install; its log is kept under
    /// `broker.embedded.data_dir` (or only in memory, with `storage = "memory"`).
    #[default]
    #[serde(alias = "memory")]
    Embedded,
    /// An Apache Kafka cluster (or any Kafka-protocol broker).
    Kafka,
}

/// Where the embedded broker keeps its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EmbeddedStorage {
    /// Segment files under `data_dir`: survives restarts.
    #[default]
    Disk,
    /// Memory only: a restart starts empty, with new epochs.
    Memory,
}

/// When the embedded log syncs its files; see [`sluice_memory_broker::FsyncPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FsyncSetting {
    /// Acknowledge a publish once its record is synced (publishes arriving together
    /// share a sync). Survives power loss.
    #[default]
    Always,
    /// Acknowledge once written; sync every `fsync_interval_ms`.
    Interval,
    /// Acknowledge once written; the system syncs when it chooses.
    Never,
}

/// The embedded broker's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddedBrokerSettings {
    /// Partitions of each exposed topic.
    pub partitions: u32,
    /// Records kept per partition.
    pub retention_records_max: usize,
    /// Key + payload bytes kept per partition.
    pub retention_bytes_max: usize,
    /// Records older than this are dropped; 0 keeps them until the other limits.
    pub retention_ms: u64,
    pub storage: EmbeddedStorage,
    /// Where the log is kept with `storage = "disk"`; relative to the working
    /// directory.
    pub data_dir: PathBuf,
    pub fsync: FsyncSetting,
    /// With `fsync = "interval"`.
    pub fsync_interval_ms: u64,
    /// Size at which a segment file is closed and the next begun; retention
    /// deletes whole segments.
    pub segment_bytes_max: u64,
}

impl Default for EmbeddedBrokerSettings {
    fn default() -> Self {
        EmbeddedBrokerSettings {
            partitions: 4,
            retention_records_max: 100_000,
            retention_bytes_max: 64 * 1024 * 1024,
            retention_ms: 0,
            storage: EmbeddedStorage::Disk,
            data_dir: PathBuf::from("sluice-data"),
            fsync: FsyncSetting::Always,
            fsync_interval_ms: 1000,
            segment_bytes_max: 16 * 1024 * 1024,
        }
    }
}

impl Config {
    /// Where the Portal keeps its exposure changes on the embedded broker:
    /// `portal.data_dir`, else beside a log kept on disk, so exposures last as
    /// long as the records of the topics they expose.
    pub fn portal_state_dir(&self) -> Option<PathBuf> {
        let embedded = &self.broker.embedded;
        self.portal.data_dir.clone().or_else(|| {
            (embedded.storage == EmbeddedStorage::Disk).then(|| embedded.data_dir.clone())
        })
    }
}

impl EmbeddedBrokerSettings {
    /// The durable log these settings ask for; `None` for memory only.
    pub fn durable(&self) -> Option<sluice_memory_broker::DurableConfig> {
        use sluice_memory_broker::{DurableConfig, FsyncPolicy};
        (self.storage == EmbeddedStorage::Disk).then(|| DurableConfig {
            fsync: match self.fsync {
                FsyncSetting::Always => FsyncPolicy::Always,
                FsyncSetting::Interval => {
                    FsyncPolicy::Interval(std::time::Duration::from_millis(self.fsync_interval_ms))
                }
                FsyncSetting::Never => FsyncPolicy::Never,
            },
            segment_bytes_max: self.segment_bytes_max,
            ..DurableConfig::new(&self.data_dir)
        })
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
            quic: QuicConfig::default(),
            tls: TlsSettings::default(),
            broker: BrokerConfig::default(),
            admin: AdminConfig::default(),
            telemetry: TelemetryConfig::default(),
            auth: AuthConfig::default(),
            runtime: RuntimeSettings::default(),
            portal: sluice_portal::PortalConfig::default(),
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
        config.quic.frame_bytes_max = config.gateway.frame_bytes_max;
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
        let inbox = &self.gateway.inbox_topic;
        if !inbox.is_empty() && !sluice_core::subject::is_valid_topic(inbox) {
            return Err(format!(
                "gateway.inbox_topic: {inbox:?} is not a valid Kafka topic name (\"\" turns inboxes off)"
            ));
        }
        for topic in self.gateway.topic_partitioners.keys() {
            if !sluice_core::subject::is_valid_topic(topic) {
                return Err(format!(
                    "gateway.topic_partitioners: {topic:?} is not a valid Kafka topic name"
                ));
            }
        }
        let positive = [
            ("gateway.frame_bytes_max", self.gateway.frame_bytes_max),
            (
                "gateway.subject_partitions_bytes_max",
                self.gateway.subject_partitions_bytes_max,
            ),
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
                "gateway.history_scan_offsets",
                self.gateway.history_scan_offsets as usize,
            ),
            (
                "websocket.write_batch_frames_max",
                self.websocket.write_batch_frames_max,
            ),
            (
                "websocket.ping_interval_ms",
                self.websocket.ping_interval_ms as usize,
            ),
            ("quic.connections_max", self.quic.connections_max),
            (
                "quic.write_batch_frames_max",
                self.quic.write_batch_frames_max,
            ),
            ("quic.idle_timeout_ms", self.quic.idle_timeout_ms as usize),
            (
                "quic.udp_receive_buffer_bytes",
                self.quic.udp_receive_buffer_bytes,
            ),
            (
                "quic.keep_alive_interval_ms",
                self.quic.keep_alive_interval_ms as usize,
            ),
            (
                "tls.session_cache_entries_max",
                self.tls.session_cache_entries_max,
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
        if self.runtime.shards > SHARDS_MAX {
            return Err(format!("runtime.shards must be at most {SHARDS_MAX}"));
        }
        if self.gateway.client_queue_bytes_max < self.gateway.frame_bytes_max {
            return Err(
                "gateway.client_queue_bytes_max must be at least gateway.frame_bytes_max".into(),
            );
        }
        self.validate_tls()?;
        self.portal.validate()?;
        let admin_token = self.admin.admin_token()?;
        if admin_token.is_none() && !self.admin.listen.ip().is_loopback() {
            return Err(format!(
                "admin.listen {} is not a loopback address: set admin.token or admin.token_file, \
                 so the Portal's API (which changes what is exposed) is not open to the network",
                self.admin.listen
            ));
        }
        if self.auth.mode == AuthMode::Jwt {
            sluice_auth::JwtVerifier::new(&self.auth).map_err(|e| e.to_string())?;
        }
        let (embedded, kafka) = (&self.broker.embedded, &self.broker.kafka);
        match self.broker.kind {
            BrokerKind::Embedded if embedded.partitions == 0 => {
                Err("broker.embedded.partitions must be greater than 0".into())
            }
            BrokerKind::Embedded
                if embedded.storage == EmbeddedStorage::Disk
                    && embedded.data_dir.as_os_str().is_empty() =>
            {
                Err(
                    "broker.embedded.data_dir must name a directory (or set storage = \"memory\")"
                        .into(),
                )
            }
            BrokerKind::Embedded
                if embedded.fsync == FsyncSetting::Interval && embedded.fsync_interval_ms == 0 =>
            {
                Err("broker.embedded.fsync_interval_ms must be greater than 0".into())
            }
            BrokerKind::Embedded if embedded.segment_bytes_max == 0 => {
                Err("broker.embedded.segment_bytes_max must be greater than 0".into())
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

    fn validate_tls(&self) -> Result<(), String> {
        let tls = &self.tls;
        if tls.cert_path.is_some() != tls.key_path.is_some() {
            return Err("tls.cert_path and tls.key_path go together".into());
        }
        if tls.self_signed && tls.cert_path.is_some() {
            return Err("tls.self_signed and tls.cert_path exclude each other".into());
        }
        if self.quic.listen.is_some() && !tls.enabled() {
            return Err(
                "quic.listen needs TLS: set tls.cert_path and tls.key_path, or tls.self_signed"
                    .into(),
            );
        }
        if self.quic.keep_alive_interval_ms >= self.quic.idle_timeout_ms {
            return Err("quic.keep_alive_interval_ms must be below quic.idle_timeout_ms".into());
        }
        Ok(())
    }
}
