//! The Grafana dashboard in `observability/dashboards/sluice.json` covers every
//! metric the gateway exports, names no metric that does not exist, and every
//! query in it is valid PromQL (checked by `promtool check rules`).

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::{http, RawClient};
use serde_json::{json, Value};

const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/observability/dashboards/sluice.json"
);

/// Families only a gateway on Kafka, or with a QUIC listener, exports (checked on
/// tansu in `kafka_interest.rs`, and on a QUIC gateway in `quic_e2e.rs`).
const KAFKA_OR_QUIC_ONLY: [&str; 9] = [
    "sluice_kafka_consumer_lag_records",
    "sluice_kafka_records_consumed_total",
    "sluice_kafka_consumed_bytes_total",
    "sluice_kafka_partitions_assigned",
    "sluice_kafka_partition_assignments_total",
    "sluice_kafka_partition_unassignments_total",
    "sluice_quic_handshakes_refused_total",
    "sluice_quic_migrations_total",
    "sluice_quic_early_frames_held_total",
];

fn queries(dashboard: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dashboard];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(expr)) = map.get("expr") {
                    out.push(expr.clone());
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out
}

/// The metric names (`sluice_*`, `process_*`) a query mentions, histogram suffixes
/// removed.
fn metric_names(expr: &str) -> BTreeSet<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("sluice_") || word.starts_with("process_"))
        .map(|word| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix))
                .filter(|base| base.ends_with("_seconds"))
                .unwrap_or(word)
                .to_owned()
        })
        .collect()
}

/// The families a gateway on the embedded broker exports once clients came and went.
async fn exported_families() -> BTreeSet<String> {
    let server = common::start(|_| {}).await;
    let mut client = RawClient::connect(&server.url(), "sluice.v1.json").await;
    let subscribe = r#"{"op":"subscribe","id":1,"subjects":["/demo/dash"]}"#;
    assert_eq!(client.request(subscribe).await["op"], "ok");
    let publish = json!({"op":"publish","id":2,"subject":"/demo/dash","data":"x"});
    assert_eq!(client.request(&publish.to_string()).await["op"], "ack");
    assert_eq!(client.recv().await["op"], "message");
    client.close().await;
    let admin = server.admin_addr();
    let body = common::eventually("the disconnect is counted", || async move {
        let (_, body) = http::get(admin, "/metrics").await;
        body.contains("sluice_disconnects_total{").then_some(body)
    })
    .await;
    body.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_dashboard_covers_the_exported_metrics() {
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap())
        .expect("the dashboard is JSON");
    let queries = queries(&dashboard);
    let used: BTreeSet<String> = queries.iter().flat_map(|q| metric_names(q)).collect();
    let mut exported = exported_families().await;
    exported.extend(KAFKA_OR_QUIC_ONLY.iter().map(|s| s.to_string()));

    let missing: Vec<_> = exported.difference(&used).collect();
    assert!(missing.is_empty(), "not on the dashboard: {missing:?}");
    let unknown: Vec<_> = used.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard names unknown metrics: {unknown:?}"
    );
}

#[test]
fn every_dashboard_query_is_valid_promql() {
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap())
        .expect("the dashboard is JSON");
    // Grafana's variables, as Grafana would substitute them.
    let rules: Vec<String> = queries(&dashboard)
        .iter()
        .enumerate()
        .map(|(i, expr)| {
            let expr = expr
                .replace("$__rate_interval", "1m")
                .replace("$instance", ".*");
            format!(
                "      - record: dashboard:query_{i}\n        expr: {}\n",
                json!(expr)
            )
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("sluice-dashboard-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("rules.yml");
    std::fs::write(
        &file,
        format!(
            "groups:\n  - name: dashboard\n    rules:\n{}",
            rules.concat()
        ),
    )
    .unwrap();
    let out = Command::new(common::prometheus::promtool())
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("promtool runs (Debian package `prometheus`; the README's test command, `cargo xtask test`, installs it)");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        out.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
