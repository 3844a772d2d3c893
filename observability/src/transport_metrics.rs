//! Metrics the transports report as they happen: connections and deliveries. Held
//! in Prometheus types because they are observed here, not counted by the core.

use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};
use sluice_core::protocol::RecordOrigin;

/// Delivery latency buckets, in seconds: from a millisecond to ten seconds.
const LATENCY_BUCKETS_SECONDS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The gateway's own share of a delivery, in seconds: from 50 µs to 10 seconds.
const GATEWAY_LATENCY_BUCKETS_SECONDS: [f64; 16] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 10.0,
];

pub struct TransportMetrics {
    connections: IntGaugeVec,
    connects: IntCounterVec,
    disconnects: IntCounterVec,
    delivery_latency: HistogramVec,
    gateway_latency: HistogramVec,
    deflate_connections: IntGaugeVec,
    deflate_plain_bytes: IntCounter,
    deflate_wire_bytes: IntCounter,
}

impl TransportMetrics {
    /// Creates the metrics and registers them with `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<TransportMetrics> {
        let metrics = TransportMetrics {
            connections: IntGaugeVec::new(
                Opts::new(
                    "sluice_connections",
                    "Client connections open, by transport.",
                ),
                &["transport"],
            )?,
            connects: IntCounterVec::new(
                Opts::new(
                    "sluice_connects_total",
                    "Client connections accepted, by transport.",
                ),
                &["transport"],
            )?,
            disconnects: IntCounterVec::new(
                Opts::new(
                    "sluice_disconnects_total",
                    "Client connections ended, by transport and reason (client_closed, \
                     connection_error, slow_consumer, ping_timeout, frame_too_large).",
                ),
                &["transport", "reason"],
            )?,
            delivery_latency: HistogramVec::new(
                HistogramOpts::new(
                    "sluice_delivery_latency_seconds",
                    "Live messages: broker record timestamp to the write to the client's socket.",
                )
                .buckets(LATENCY_BUCKETS_SECONDS.to_vec()),
                &["transport"],
            )?,
            gateway_latency: HistogramVec::new(
                HistogramOpts::new(
                    "sluice_gateway_latency_seconds",
                    "Live messages from Kafka: the Kafka consumer handing the record over to \
                     the write to the client's socket (the gateway's own share of the delivery \
                     latency).",
                )
                .buckets(GATEWAY_LATENCY_BUCKETS_SECONDS.to_vec()),
                &["transport"],
            )?,
            deflate_connections: IntGaugeVec::new(
                Opts::new(
                    "sluice_websocket_deflate_connections",
                    "WebSocket connections with permessage-deflate, by whether they keep \
                     compression contexts between messages (context_takeover).",
                ),
                &["context_takeover"],
            )?,
            deflate_plain_bytes: IntCounter::new(
                "sluice_websocket_deflate_plain_bytes_total",
                "Bytes of the messages the gateway wrote compressed, before compression.",
            )?,
            deflate_wire_bytes: IntCounter::new(
                "sluice_websocket_deflate_wire_bytes_total",
                "Bytes of the messages the gateway wrote compressed, as written.",
            )?,
        };
        registry.register(Box::new(metrics.connections.clone()))?;
        registry.register(Box::new(metrics.connects.clone()))?;
        registry.register(Box::new(metrics.disconnects.clone()))?;
        registry.register(Box::new(metrics.delivery_latency.clone()))?;
        registry.register(Box::new(metrics.gateway_latency.clone()))?;
        registry.register(Box::new(metrics.deflate_connections.clone()))?;
        registry.register(Box::new(metrics.deflate_plain_bytes.clone()))?;
        registry.register(Box::new(metrics.deflate_wire_bytes.clone()))?;
        Ok(metrics)
    }

    /// Creates the transport's series at zero.
    pub fn listening(&self, transport: &str) {
        self.connections.with_label_values(&[transport]);
        self.connects.with_label_values(&[transport]);
        self.delivery_latency.with_label_values(&[transport]);
        self.gateway_latency.with_label_values(&[transport]);
        if transport == "websocket" {
            for takeover in ["false", "true"] {
                self.deflate_connections.with_label_values(&[takeover]);
            }
        }
    }

    pub fn deflate_connection(&self, context_takeover: bool, opened: bool) {
        let gauge = self
            .deflate_connections
            .with_label_values(&[if context_takeover { "true" } else { "false" }]);
        if opened {
            gauge.inc();
        } else {
            gauge.dec();
        }
    }

    pub fn deflated(&self, plain_bytes: u64, wire_bytes: u64) {
        self.deflate_plain_bytes.inc_by(plain_bytes);
        self.deflate_wire_bytes.inc_by(wire_bytes);
    }

    pub fn connected(&self, transport: &str) {
        self.connections.with_label_values(&[transport]).inc();
        self.connects.with_label_values(&[transport]).inc();
    }

    pub fn disconnected(&self, transport: &str, reason: &str) {
        self.connections.with_label_values(&[transport]).dec();
        self.disconnects
            .with_label_values(&[transport, reason])
            .inc();
    }

    pub fn delivered(&self, transport: &str, origins: &[RecordOrigin]) {
        let now_us = unix_now_us();
        let now_ms = now_us / 1000;
        let histogram = self.delivery_latency.with_label_values(&[transport]);
        let gateway = self.gateway_latency.with_label_values(&[transport]);
        for origin in origins {
            // A broker clock ahead of ours shows as zero, not as a negative latency.
            let latency_ms = now_ms.saturating_sub(origin.timestamp_ms).max(0);
            histogram.observe(latency_ms as f64 / 1000.0);
            if origin.handed_over_unix_us > 0 {
                let share_us = now_us.saturating_sub(origin.handed_over_unix_us).max(0);
                gateway.observe(share_us as f64 / 1_000_000.0);
            }
        }
    }
}

/// Wall-clock microseconds since the Unix epoch: broker timestamps are its
/// milliseconds, the Kafka adapter's hand-over stamps are in it.
fn unix_now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
