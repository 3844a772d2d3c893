//! An OTLP/HTTP trace receiver in the test process: what a collector would get
//! from a gateway's exporter, decoded from the protobuf it sends to `/v1/traces`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;
use tokio::net::TcpListener;

/// One exported span, with the resource attributes of the process that sent it.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub name: String,
    /// Hex, as in a `traceparent`.
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub resource: Vec<(String, String)>,
}

impl ReceivedSpan {
    pub fn resource(&self, key: &str) -> Option<&str> {
        self.resource
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

pub struct OtlpReceiver {
    pub addr: SocketAddr,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    task: tokio::task::JoinHandle<()>,
}

impl OtlpReceiver {
    pub async fn start() -> OtlpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(accept(listener, spans.clone()));
        OtlpReceiver { addr, spans, task }
    }

    /// The base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }

    /// The spans of one trace.
    pub fn trace(&self, trace_id: &str) -> Vec<ReceivedSpan> {
        self.spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, spans: Arc<Mutex<Vec<ReceivedSpan>>>) {
    while let Ok((stream, _)) = listener.accept().await {
        let spans = spans.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let spans = spans.clone();
                async move {
                    let body = request.into_body().collect().await.map(|b| b.to_bytes());
                    if let Ok(body) = body {
                        let export = ExportTraceServiceRequest::decode(body)
                            .expect("the exporter sends OTLP protobuf");
                        spans.lock().unwrap().extend(flatten(export));
                    }
                    let answer = ExportTraceServiceResponse::default().encode_to_vec();
                    let mut response = Response::new(Full::new(Bytes::from(answer)));
                    response
                        .headers_mut()
                        .insert("content-type", "application/x-protobuf".parse().unwrap());
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn flatten(export: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for resource_spans in export.resource_spans {
        let resource: Vec<(String, String)> = resource_spans
            .resource
            .map(|r| r.attributes)
            .unwrap_or_default()
            .into_iter()
            .map(|kv| {
                let value = match kv.value.and_then(|v| v.value) {
                    Some(Value::StringValue(s)) => s,
                    Some(other) => format!("{other:?}"),
                    None => String::new(),
                };
                (kv.key, value)
            })
            .collect();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                out.push(ReceivedSpan {
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    resource: resource.clone(),
                });
            }
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
