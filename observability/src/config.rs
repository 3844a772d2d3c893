//! The `[admin]` and `[telemetry]` sections of the gateway's configuration.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The admin listener: metrics and health, apart from the client port so it can
/// stay private to the cluster network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Address of `GET /metrics`, `/healthz` and `/readyz`.
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9600)),
        }
    }
}

/// Logs and traces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    pub log_format: LogFormat,
    /// OTLP/HTTP collector base URL (`/v1/traces` is appended), e.g.
    /// `http://otel-collector:4318`. Unset: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) decides; neither set: no traces exported.
    pub otlp_endpoint: Option<String>,
    /// Publish spans kept open until the broker answers; beyond it the oldest is
    /// ended unanswered (`sluice_publish_spans_evicted_total`).
    pub publish_spans_max: usize,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            log_format: LogFormat::default(),
            otlp_endpoint: None,
            publish_spans_max: 65_536,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One readable line per event, for people.
    #[default]
    Human,
    /// One JSON object per event, for log pipelines.
    Json,
}
