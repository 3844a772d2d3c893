//! Process-wide logs and traces: a `tracing` subscriber writing human or JSON lines
//! to stderr (levels from `RUST_LOG`), and, when an OTLP endpoint is configured,
//! an OpenTelemetry tracer provider exporting spans over OTLP/HTTP. The standard
//! `OTEL_*` variables (endpoint, headers, timeout, service name, resource
//! attributes, sampler, batch settings) are read by the OpenTelemetry SDK.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use opentelemetry::global;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, TelemetryConfig};

/// Keeps the trace exporter running; dropping it flushes the spans still buffered.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exports_traces(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(err) = provider.shutdown() {
                eprintln!("flushing traces failed: {err}");
            }
        }
    }
}

/// Set once [`init`] installed an exporting tracer provider.
static SPANS_EXPORTED: AtomicBool = AtomicBool::new(false);

/// Whether spans go anywhere: without an exporter, the gateway skips making them
/// (building a no-op span per publish still cost about 4% of its CPU).
pub fn spans_exported() -> bool {
    SPANS_EXPORTED.load(Ordering::Relaxed)
}

/// Installs the process's subscriber and, if configured, the global tracer
/// provider. Call once, outside any async runtime (the OTLP HTTP client is
/// blocking). `default_level` applies when `RUST_LOG` is unset.
pub fn init(config: &TelemetryConfig, default_level: &str) -> anyhow::Result<Telemetry> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let human = (config.log_format == LogFormat::Human).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
    });
    let json = (config.log_format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(std::io::stderr)
    });
    let provider = otlp_provider(config)?;
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("sluice")));
    tracing_subscriber::registry()
        .with(filter)
        .with(human)
        .with(json)
        .with(otel)
        .try_init()
        .context("installing the log subscriber")?;
    global::set_text_map_propagator(TraceContextPropagator::new());
    if let Some(provider) = &provider {
        global::set_tracer_provider(provider.clone());
        SPANS_EXPORTED.store(true, Ordering::Relaxed);
    }
    Ok(Telemetry { provider })
}

/// The OTLP exporter's tracer provider, if an endpoint is configured and the SDK
/// is not disabled (`OTEL_SDK_DISABLED=true`, `OTEL_TRACES_EXPORTER=none`).
fn otlp_provider(config: &TelemetryConfig) -> anyhow::Result<Option<SdkTracerProvider>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let disabled = env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || env("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"));
    let endpoint = config
        .otlp_endpoint
        .as_deref()
        .filter(|e| !e.trim().is_empty());
    let from_env = env("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
        || env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some();
    if disabled || (endpoint.is_none() && !from_env) {
        return Ok(None);
    }
    check_protocol(
        env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .as_deref(),
    )?;
    let mut exporter = SpanExporter::builder().with_http();
    if let Some(endpoint) = endpoint {
        exporter = exporter.with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')));
    }
    let exporter = exporter
        .build()
        .context("creating the OTLP trace exporter")?;
    let mut resource = Resource::builder();
    let named_by_env = env("OTEL_SERVICE_NAME").is_some()
        || env("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|a| a.contains("service.name="));
    if !named_by_env {
        resource = resource.with_service_name("sluice");
    }
    let resource = resource
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(Some(
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build(),
    ))
}

/// The exporter speaks OTLP over HTTP with protobuf bodies only (gRPC would pull in
/// a second HTTP stack). Asking for another protocol fails the start, rather than
/// sending HTTP requests to a gRPC port and losing every span.
fn check_protocol(protocol: Option<&str>) -> anyhow::Result<()> {
    match protocol.map(str::trim) {
        None | Some("http/protobuf") => Ok(()),
        Some(other) => anyhow::bail!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={other:?} is not supported: Sluice exports traces \
             as OTLP over HTTP (\"http/protobuf\", usually port 4318)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::check_protocol;

    #[test]
    fn only_otlp_over_http_with_protobuf_is_accepted() {
        assert!(check_protocol(None).is_ok());
        assert!(check_protocol(Some("http/protobuf")).is_ok());
        for refused in ["grpc", "http/json", "carrier-pigeon"] {
            let err = check_protocol(Some(refused)).unwrap_err().to_string();
            assert!(
                err.contains(refused) && err.contains("http/protobuf"),
                "{err}"
            );
        }
    }
}
