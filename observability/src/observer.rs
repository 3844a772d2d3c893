//! The runtime's [`Observer`], backed by Prometheus metrics and OpenTelemetry spans.

use prometheus::Registry;
use sluice_core::protocol::RecordOrigin;
use sluice_core::{BrokerError, ProduceId, ProduceRequest};
use sluice_driver::{CloseReason, Observer};

use crate::publish_tracing::PublishTracing;
use crate::transport_metrics::TransportMetrics;

pub struct GatewayObserver {
    metrics: TransportMetrics,
    tracing: PublishTracing,
}

impl GatewayObserver {
    /// An observer whose metrics are registered with `registry`, keeping at most
    /// `publish_spans_max` publish spans open.
    pub fn new(registry: &Registry, publish_spans_max: usize) -> prometheus::Result<Self> {
        Ok(GatewayObserver {
            metrics: TransportMetrics::register(registry)?,
            tracing: PublishTracing::register(registry, publish_spans_max)?,
        })
    }
}

impl Observer for GatewayObserver {
    fn listening(&self, transport: &'static str) {
        self.metrics.listening(transport);
    }

    fn connected(&self, transport: &'static str) {
        self.metrics.connected(transport);
    }

    fn disconnected(&self, transport: &'static str, reason: CloseReason) {
        self.metrics.disconnected(transport, reason);
    }

    fn deflate_connection(&self, context_takeover: bool, opened: bool) {
        self.metrics.deflate_connection(context_takeover, opened);
    }

    fn deflated(&self, plain_bytes: u64, wire_bytes: u64) {
        self.metrics.deflated(plain_bytes, wire_bytes);
    }

    fn producing(&self, request: &mut ProduceRequest) {
        self.tracing.producing(request);
    }

    fn produced(&self, produce: ProduceId, result: &Result<u64, BrokerError>) {
        self.tracing.produced(produce, result);
    }

    fn delivered(&self, transport: &'static str, origins: &[RecordOrigin]) {
        self.metrics.delivered(transport, origins);
        self.tracing.delivered(transport, origins);
    }
}
