//! OpenTelemetry traces end to end, exported over OTLP/HTTP by real `sluice serve`
//! processes (configured by the standard `OTEL_*` variables) to a receiver in the
//! test: one publish yields one trace holding the publish span and a deliver span
//! per subscriber, on every gateway, linked through the record's `traceparent`.

mod common;

use std::time::Duration;

use common::otlp::{OtlpReceiver, ReceivedSpan};
use common::process::GatewayProcess;
use common::tansu::Tansu;
use common::RawClient;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{json, Value};

/// The trace a client started before publishing, and its span.
const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// A gateway exporting its spans to `receiver`, named `instance` in its resource.
fn traced_gateway(receiver: &OtlpReceiver, instance: &str, config: Option<&str>) -> GatewayProcess {
    let attributes = format!("service.instance.id={instance}");
    GatewayProcess::start_with_env(
        config,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint()),
            // Export batches often, so the test does not wait for the default 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("OTEL_RESOURCE_ATTRIBUTES", &attributes),
        ],
    )
}

async fn subscriber(url: &str, subject: &str) -> RawClient {
    let mut client = RawClient::connect(url, "sluice.v1.json").await;
    let subscribe = json!({"op":"subscribe","id":1,"subjects":[subject]}).to_string();
    assert_eq!(client.request(&subscribe).await["op"], "ok");
    client
}

/// Publishes `data` on `subject`, with the client's trace context if given; the ack.
async fn publish(url: &str, subject: &str, data: &str, traceparent: Option<&str>) -> Value {
    let mut client = RawClient::connect(url, "sluice.v1.json").await;
    let mut publish = json!({"op":"publish","id":1,"subject":subject,"data":data});
    if let Some(traceparent) = traceparent {
        publish["traceparent"] = json!(traceparent);
    }
    let ack = client.request(&publish.to_string()).await;
    assert_eq!(ack["op"], "ack", "{ack}");
    ack
}

/// Waits for the trace to hold one publish span and `deliveries` deliver spans;
/// returns them.
async fn wait_for_trace(
    receiver: &OtlpReceiver,
    trace_id: &str,
    deliveries: usize,
) -> (ReceivedSpan, Vec<ReceivedSpan>) {
    let what = format!("trace {trace_id} with a publish span and {deliveries} deliver spans");
    let spans = common::eventually(&what, || async {
        let spans = receiver.trace(trace_id);
        let delivered = spans.iter().filter(|s| s.name == "deliver").count();
        (delivered >= deliveries && spans.iter().any(|s| s.name == "publish")).then_some(spans)
    })
    .await;
    let (publishes, delivers): (Vec<_>, Vec<_>) =
        spans.into_iter().partition(|s| s.name == "publish");
    assert_eq!(
        publishes.len(),
        1,
        "one publish, one publish span: {publishes:?}"
    );
    assert_eq!(delivers.len(), deliveries, "{delivers:?}");
    let publish = publishes.into_iter().next().unwrap();
    for deliver in &delivers {
        assert_eq!(
            deliver.parent_span_id, publish.span_id,
            "a deliver span continues the publish span"
        );
    }
    (publish, delivers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traced_publish_and_its_deliveries_form_one_trace() {
    let receiver = OtlpReceiver::start().await;
    let gateway = traced_gateway(&receiver, "gw-1", None);
    let mut alice = subscriber(&gateway.url, "/demo/traced").await;
    let mut bob = subscriber(&gateway.url, "/demo/traced").await;

    let traceparent = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    publish(&gateway.url, "/demo/traced", "hello", Some(&traceparent)).await;
    assert_eq!(alice.recv().await["data"], "hello");
    assert_eq!(bob.recv().await["data"], "hello");

    let (publish, delivers) = wait_for_trace(&receiver, CLIENT_TRACE, 2).await;
    assert_eq!(
        publish.parent_span_id, CLIENT_SPAN,
        "the publish span continues the client's trace"
    );
    for span in std::iter::once(&publish).chain(&delivers) {
        assert_eq!(span.resource("service.name"), Some("sluice"));
        assert_eq!(span.resource("service.instance.id"), Some("gw-1"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_without_trace_context_starts_a_trace() {
    let receiver = OtlpReceiver::start().await;
    let gateway = traced_gateway(&receiver, "gw-1", None);
    let mut alice = subscriber(&gateway.url, "/demo/untraced").await;
    publish(&gateway.url, "/demo/untraced", "hi", None).await;
    assert_eq!(alice.recv().await["data"], "hi");

    let publish = common::eventually("a publish span", || async {
        receiver.spans().into_iter().find(|s| s.name == "publish")
    })
    .await;
    assert_eq!(
        publish.parent_span_id, "",
        "a new trace starts at the publish"
    );
    wait_for_trace(&receiver, &publish.trace_id, 1).await;
}

/// The record's `traceparent` header as Kafka stores it.
fn kafka_traceparent(bootstrap: &str, topic: &str, offset: i64) -> String {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "trace-reader")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Offset(offset))
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let record = match consumer.poll(Duration::from_secs(20)) {
        Some(Ok(record)) => record,
        other => panic!("the published record is not in Kafka: {other:?}"),
    };
    let headers = record.headers().expect("headers");
    let value = headers
        .iter()
        .find(|h| h.key == "traceparent")
        .and_then(|h| h.value)
        .expect("a traceparent header");
    String::from_utf8(value.to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_kafka_every_gateway_continues_the_publishers_trace() {
    let tansu = Tansu::start();
    tansu.create_topic("traced", 1, false);
    let config = format!(
        "[gateway]\nexposed_topics = [\"traced\"]\n\n[broker]\nkind = \"kafka\"\n\n\
         [broker.kafka]\nbootstrap_servers = \"{}\"\nmetadata_refresh_ms = 500\n",
        tansu.bootstrap()
    );
    let receiver = OtlpReceiver::start().await;
    let gateway_a = traced_gateway(&receiver, "gw-a", Some(&config));
    let gateway_b = traced_gateway(&receiver, "gw-b", Some(&config));
    let mut on_a = subscriber(&gateway_a.url, "/traced/x").await;
    let mut on_b = subscriber(&gateway_b.url, "/traced/x").await;

    let traceparent = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    let ack = publish(&gateway_a.url, "/traced/x", "hello", Some(&traceparent)).await;
    assert_eq!(on_a.recv().await["data"], "hello");
    assert_eq!(on_b.recv().await["data"], "hello");

    let (publish, delivers) = wait_for_trace(&receiver, CLIENT_TRACE, 2).await;
    assert_eq!(publish.parent_span_id, CLIENT_SPAN);
    assert_eq!(publish.resource("service.instance.id"), Some("gw-a"));
    let mut instances: Vec<_> = delivers
        .iter()
        .filter_map(|s| s.resource("service.instance.id"))
        .collect();
    instances.sort();
    assert_eq!(
        instances,
        ["gw-a", "gw-b"],
        "one deliver span on each gateway"
    );

    // The link is the record itself: Kafka holds the publish span's context.
    let offset = ack["seq"].as_i64().unwrap();
    let header = kafka_traceparent(&tansu.bootstrap(), "traced", offset);
    assert_eq!(header, format!("00-{CLIENT_TRACE}-{}-01", publish.span_id));
}
