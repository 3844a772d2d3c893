//! # sluice-observability
//!
//! What an operator sees of a gateway: Prometheus metrics, OpenTelemetry traces,
//! structured logs, and the admin listener serving `/metrics`, `/healthz` and
//! `/readyz`. The core and the transports only count and report, as plain data
//! ([`sluice_core::GatewayStats`], the [`sluice_driver::Observer`] hooks); the
//! exporters live here, so those crates stay free of them.
//!
//! ```text
//! Runtime ──Observer──▶ GatewayObserver ──▶ Registry (connections, latency) + spans
//! GatewayProbe (stats, health, lag) ──read at scrape──▶ Metrics ──▶ AdminServer
//! ```

mod admin;
mod config;
mod exposition;
mod family;
mod gateway_metrics;
mod observer;
mod probe;
mod publish_tracing;
mod telemetry;
mod transport_metrics;

pub use admin::{AdminRoutes, AdminServer, CONNECTIONS_MAX as ADMIN_CONNECTIONS_MAX};
pub use config::{AdminConfig, LogFormat, TelemetryConfig};
pub use exposition::{BuildInfo, Metrics};
pub use observer::GatewayObserver;
pub use probe::{
    EmbeddedLogStats, GatewayProbe, Health, KafkaConsumption, PartitionLag, QuicCounters,
};
pub use prometheus::Registry;
pub use telemetry::{init as init_telemetry, Telemetry};
