//! The `[portal]` section of the gateway's configuration.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where the Portal keeps its changes, and the bounds of its API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalConfig {
    /// Embedded broker: the directory of the Portal's state file
    /// (`portal-state.json`), created on the first change. Unset: changes last
    /// until the process ends, as everything else on the embedded broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Kafka: the compacted topic holding the Portal's changes, created if missing.
    pub kafka_topic: String,
    /// Largest request body accepted; larger ones get 413.
    pub body_bytes_max: usize,
    /// Most subjects one page of the subject browser may ask for (`limit`).
    pub subjects_page_max: usize,
    /// Bytes of each snapshot shown in the subject browser.
    pub snapshot_preview_bytes_max: usize,
    /// Longest lifetime of a token issued by `POST /api/v1/tokens`.
    pub token_ttl_s_max: u64,
    /// How long a change request waits for the change to reach this gateway's core
    /// before it answers 202 (accepted, still applying) instead of 200.
    pub apply_timeout_ms: u64,
    /// How often the stats shown by the console are sampled.
    pub stats_interval_ms: u64,
    /// Samples kept for the console's charts (`stats_interval_ms` apart).
    pub stats_samples_max: usize,
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            data_dir: None,
            kafka_topic: "_sluice_portal".into(),
            body_bytes_max: 65_536,
            subjects_page_max: 500,
            snapshot_preview_bytes_max: 1024,
            token_ttl_s_max: 86_400,
            apply_timeout_ms: 10_000,
            stats_interval_ms: 1000,
            stats_samples_max: 300,
        }
    }
}

impl PortalConfig {
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("portal.body_bytes_max", self.body_bytes_max as u64),
            ("portal.subjects_page_max", self.subjects_page_max as u64),
            ("portal.token_ttl_s_max", self.token_ttl_s_max),
            ("portal.apply_timeout_ms", self.apply_timeout_ms),
            ("portal.stats_interval_ms", self.stats_interval_ms),
            ("portal.stats_samples_max", self.stats_samples_max as u64),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{key} must be greater than 0"));
        }
        if !sluice_core::subject::is_valid_topic(&self.kafka_topic) {
            return Err(format!(
                "portal.kafka_topic: {:?} is not a valid Kafka topic name",
                self.kafka_topic
            ));
        }
        Ok(())
    }
}
