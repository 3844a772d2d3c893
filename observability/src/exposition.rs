//! `GET /metrics`: everything the gateway measures, in Prometheus text format.

use std::sync::Arc;

use prometheus::proto::MetricFamily;
use prometheus::{Encoder, Registry, TextEncoder};
use sluice_core::GatewayConfig;

use crate::family::Family;
use crate::gateway_metrics::{
    embedded_log_families, health_families, kafka_consumption_families, lag_family, limit_families,
    quic_families, stats_families,
};
use crate::probe::GatewayProbe;

/// What the build is, for `sluice_build_info`.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    pub version: String,
    /// The broker kind the gateway runs on (`memory`, `kafka`).
    pub broker: String,
}

/// The metrics of one gateway: its core's stats (read at scrape time), its
/// configured limits, its health, the process's resources, and the registry the
/// observer reports to.
pub struct Metrics {
    pub(crate) registry: Registry,
    probe: Arc<dyn GatewayProbe>,
    limits: Vec<MetricFamily>,
    build_info: MetricFamily,
}

impl Metrics {
    pub fn new(
        registry: Registry,
        probe: Arc<dyn GatewayProbe>,
        config: &GatewayConfig,
        build: &BuildInfo,
    ) -> Metrics {
        let build_info = Family::gauge(
            "sluice_build_info",
            "Always 1; the labels say which build runs on which broker.",
        )
        .with(
            &[("version", &build.version), ("broker", &build.broker)],
            1.0,
        )
        .build();
        // CPU, memory, file descriptors and threads of the process (`process_*`).
        #[cfg(target_os = "linux")]
        if let Err(err) = registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        )) {
            tracing::warn!(%err, "process metrics unavailable");
        }
        Metrics {
            registry,
            probe,
            limits: limit_families(config),
            build_info,
        }
    }

    pub fn probe(&self) -> &dyn GatewayProbe {
        &*self.probe
    }

    /// Every family, sorted by name.
    pub fn gather(&self) -> Vec<MetricFamily> {
        let mut families = self.registry.gather();
        families.extend(stats_families(&self.probe.stats()));
        families.extend(health_families(&self.probe.health()));
        families.extend(self.limits.iter().cloned());
        families.push(self.build_info.clone());
        if let Some(quic) = self.probe.quic() {
            families.extend(quic_families(&quic));
        }
        if let Some(log) = self.probe.embedded_log() {
            families.extend(embedded_log_families(&log));
        }
        if let Some(consumed) = self.probe.kafka_consumption() {
            families.extend(kafka_consumption_families(&consumed));
        }
        let lag = self.probe.consumer_lag();
        if !lag.is_empty() {
            families.push(lag_family(&lag));
        }
        families.sort_by(|a, b| a.name().cmp(b.name()));
        families
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec fails only on invalid families, which would be a bug here.
        if let Err(err) = TextEncoder::new().encode(&self.gather(), &mut out) {
            tracing::error!(%err, "encoding metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
