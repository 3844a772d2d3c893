//! OpenTelemetry spans for the path of a message: a `publish` span when a client's
//! publish goes to the broker, its W3C `traceparent` written into the record's
//! headers, and a `deliver` span for each client the record is written to, on every
//! gateway that reads the record, continuing the same trace.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use opentelemetry::global::{self, BoxedSpan, BoxedTracer};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{Span, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use prometheus::{IntCounter, IntGauge, Registry};
use sluice_core::broker::header;
use sluice_core::protocol::RecordOrigin;
use sluice_core::{BrokerError, Header, ProduceId, ProduceRequest};

/// Creates the spans through the global tracer provider. With no exporter (no
/// OTLP endpoint) it makes none, and a client's `traceparent` passes unchanged.
pub struct PublishTracing {
    /// An exporter was installed before this was made (`telemetry::spans_exported`).
    enabled: bool,
    tracer: BoxedTracer,
    propagator: TraceContextPropagator,
    /// Publish spans waiting for the broker's answer, at most `spans_max`: the core
    /// bounds publishes in flight, this bounds the spans should answers never come
    /// (the oldest is then ended unanswered and counted).
    in_flight: Mutex<BTreeMap<ProduceId, BoxedSpan>>,
    spans_max: usize,
    open: IntGauge,
    evicted: IntCounter,
}

impl PublishTracing {
    /// Registers its gauge and counter with `registry`.
    pub fn register(registry: &Registry, spans_max: usize) -> prometheus::Result<Self> {
        let open = IntGauge::new(
            "sluice_publish_spans",
            "Publish spans waiting for the broker's answer.",
        )?;
        let evicted = IntCounter::new(
            "sluice_publish_spans_evicted_total",
            "Publish spans ended unanswered because telemetry.publish_spans_max was reached.",
        )?;
        registry.register(Box::new(open.clone()))?;
        registry.register(Box::new(evicted.clone()))?;
        Ok(PublishTracing {
            enabled: crate::telemetry::spans_exported(),
            tracer: global::tracer("sluice"),
            propagator: TraceContextPropagator::new(),
            in_flight: Mutex::new(BTreeMap::new()),
            spans_max,
            open,
            evicted,
        })
    }

    /// Starts the publish span, as a child of the client's `traceparent` or as a new
    /// trace, and writes its context into the request's `traceparent` header.
    pub fn producing(&self, request: &mut ProduceRequest) {
        if !self.enabled {
            return;
        }
        let parent = self.extract(
            request
                .headers
                .iter()
                .find(|h| h.name == header::TRACEPARENT)
                .map(|h| &h.value),
        );
        let span = self
            .tracer
            .span_builder("publish")
            .with_kind(SpanKind::Producer)
            .with_attributes([
                KeyValue::new("messaging.operation.type", "send"),
                KeyValue::new("messaging.destination.name", request.topic.to_string()),
                KeyValue::new(
                    "messaging.destination.partition.id",
                    request.partition.to_string(),
                ),
            ])
            .start_with_context(&self.tracer, &parent);
        let context = span.span_context().clone();
        if context.is_valid() {
            let mut carrier = HashMap::new();
            self.propagator.inject_context(
                &Context::new().with_remote_span_context(context),
                &mut carrier,
            );
            if let Some(value) = carrier.remove(header::TRACEPARENT) {
                request.headers.retain(|h| h.name != header::TRACEPARENT);
                request.headers.push(Header {
                    name: header::TRACEPARENT.to_owned(),
                    value: Bytes::from(value),
                });
            }
        }
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        in_flight.insert(request.produce, span);
        while in_flight.len() > self.spans_max.max(1) {
            if let Some((_, mut oldest)) = in_flight.pop_first() {
                oldest.set_status(Status::error("no answer from the broker seen"));
                oldest.end();
                self.evicted.inc();
            }
        }
        self.open.set(in_flight.len() as i64);
    }

    /// Ends the publish span with the broker's answer.
    pub fn produced(&self, produce: ProduceId, result: &Result<u64, BrokerError>) {
        if !self.enabled {
            return;
        }
        let span = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            let span = in_flight.remove(&produce);
            self.open.set(in_flight.len() as i64);
            span
        };
        let Some(mut span) = span else { return };
        match result {
            Ok(offset) => span.set_attribute(KeyValue::new(
                "messaging.kafka.offset",
                i64::try_from(*offset).unwrap_or(i64::MAX),
            )),
            Err(err) => span.set_status(Status::error(err.to_string())),
        }
        span.end();
    }

    /// One `deliver` span per traced message written to a client: it continues the
    /// publisher's trace and runs from the record's broker timestamp to the write.
    pub fn delivered(&self, transport: &'static str, origins: &[RecordOrigin]) {
        if !self.enabled {
            return;
        }
        for origin in origins {
            let Some(traceparent) = &origin.traceparent else {
                continue;
            };
            let parent = self.extract(Some(traceparent));
            if !parent.span().span_context().is_valid() {
                continue;
            }
            let start = UNIX_EPOCH + Duration::from_millis(origin.timestamp_ms.max(0) as u64);
            self.tracer
                .span_builder("deliver")
                .with_kind(SpanKind::Consumer)
                .with_start_time(start)
                .with_attributes([
                    KeyValue::new("messaging.operation.type", "process"),
                    KeyValue::new("sluice.transport", transport),
                ])
                .start_with_context(&self.tracer, &parent)
                .end();
        }
    }

    fn extract(&self, traceparent: Option<&Bytes>) -> Context {
        let value = traceparent.and_then(|v| std::str::from_utf8(v).ok());
        match value {
            Some(value) => self.propagator.extract(&Traceparent(value)),
            None => Context::new(),
        }
    }
}

/// A carrier holding only a `traceparent` value.
struct Traceparent<'a>(&'a str);

impl Extractor for Traceparent<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == header::TRACEPARENT).then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec![header::TRACEPARENT]
    }
}
