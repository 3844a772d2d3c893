//! The `[admin]` and `[telemetry]` sections of the gateway's configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The admin listener: metrics and health, apart from the client port so it can
/// stay private to the cluster network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Address of `GET /metrics`, `/healthz`, `/readyz`, the Portal's API and console.
    pub listen: SocketAddr,
    /// The Portal's API requires `Authorization: Bearer <token>` when set. Without
    /// it, the admin listener must be on a loopback address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The same, read from a file (surrounding whitespace trimmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9600)),
            token: None,
            token_file: None,
        }
    }
}

impl AdminConfig {
    /// The admin token, from `token` or `token_file`; `Ok(None)` when neither is set.
    pub fn admin_token(&self) -> Result<Option<String>, String> {
        let token = match (&self.token, &self.token_file) {
            (Some(_), Some(_)) => {
                return Err("admin.token and admin.token_file exclude each other".into())
            }
            (Some(token), None) => token.trim().to_owned(),
            (None, Some(file)) => std::fs::read_to_string(file)
                .map_err(|e| format!("reading admin.token_file {}: {e}", file.display()))?
                .trim()
                .to_owned(),
            (None, None) => return Ok(None),
        };
        if token.len() < 16 {
            return Err("the admin token must be at least 16 characters".into());
        }
        Ok(Some(token))
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
