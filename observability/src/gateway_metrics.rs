//! The core's [`GatewayStats`] and limits as Prometheus families, built at scrape
//! time. The core counts; this file only names.

use prometheus::proto::MetricFamily;
use sluice_core::{GatewayConfig, GatewayStats};

use crate::family::Family;
use crate::probe::{EmbeddedLogStats, Health, KafkaConsumption, PartitionLag, QuicCounters};

/// Families read from the core's counters and gauges.
pub fn stats_families(s: &GatewayStats) -> Vec<MetricFamily> {
    // Publishes refused before reaching the broker: invalid subject, topic not
    // exposed or without partitions.
    let rejected = s.publishes_failed_total.saturating_sub(
        s.publishes_rate_limited_total
            + s.publishes_broker_failed_total
            + s.publishes_timed_out_total,
    );
    let in_flight = s
        .publishes_total
        .saturating_sub(s.publishes_acked_total + s.publishes_failed_total);
    let source = |broker: u64, publish: u64| [(broker, "broker"), (publish, "client_publish")];
    let mut messages_in = Family::counter(
        "sluice_messages_in_total",
        "Messages received, by source: records consumed from the broker, publishes from clients.",
    );
    for (value, label) in source(s.records_in_total, s.publishes_total) {
        messages_in = messages_in.with(&[("source", label)], value as f64);
    }
    let mut bytes_in = Family::counter(
        "sluice_messages_in_bytes_total",
        "Payload bytes received, by source.",
    );
    for (value, label) in source(s.record_bytes_in_total, s.publish_bytes_in_total) {
        bytes_in = bytes_in.with(&[("source", label)], value as f64);
    }
    let mut publishes = Family::counter(
        "sluice_publishes_total",
        "Client publishes finished, by result: acked by the broker, rejected (bad subject, \
         not exposed), rate_limited (too many in flight), broker_error, timeout.",
    );
    for (value, result) in [
        (s.publishes_acked_total, "acked"),
        (rejected, "rejected"),
        (s.publishes_rate_limited_total, "rate_limited"),
        (s.publishes_broker_failed_total, "broker_error"),
        (s.publishes_timed_out_total, "timeout"),
    ] {
        publishes = publishes.with(&[("result", result)], value as f64);
    }
    let resumes = Family::counter(
        "sluice_resumes_total",
        "Resumes, by outcome: sync (nothing missed is lost) or resync (snapshot instead).",
    )
    .with(&[("outcome", "sync")], s.resumes_sync_total as f64)
    .with(&[("outcome", "resync")], s.resumes_resync_total as f64);
    let mut families = vec![messages_in, bytes_in, publishes, resumes];
    let counters: [(&str, &str, u64); 20] = [
        (
            "sluice_messages_out_total",
            "Messages queued to clients (snapshots, updates, history, recovered).",
            s.messages_out_total,
        ),
        (
            "sluice_messages_out_bytes_total",
            "Payload bytes of the messages queued to clients.",
            s.message_bytes_out_total,
        ),
        (
            "sluice_deltas_out_total",
            "Messages queued as fossil deltas against the subscription's previous value (protocol 1.1).",
            s.deltas_out_total,
        ),
        (
            "sluice_delta_bytes_saved_total",
            "Payload bytes deltas saved: each whole value's size minus its delta's.",
            s.delta_bytes_saved_total,
        ),
        (
            "sluice_frames_out_total",
            "Frames of every kind queued to clients.",
            s.frames_out_total,
        ),
        (
            "sluice_records_redelivered_total",
            "Broker records at or below an offset already processed, ignored.",
            s.records_redelivered_total,
        ),
        (
            "sluice_records_unroutable_total",
            "Broker records whose key is no subject, and null-key records off partition 0.",
            s.records_unroutable_total,
        ),
        (
            "sluice_client_errors_total",
            "Error frames sent to clients for bad requests.",
            s.client_errors_total,
        ),
        (
            "sluice_slow_consumer_disconnects_total",
            "Clients closed because their queue exceeded client_queue_bytes_max.",
            s.slow_consumer_disconnects_total,
        ),
        (
            "sluice_oversized_frame_disconnects_total",
            "Clients closed for a frame over frame_bytes_max.",
            s.oversized_frame_disconnects_total,
        ),
        (
            "sluice_start_pauses_total",
            "Subscription starts paused for room in the client's queue (pacing, not slowness).",
            s.start_pauses_total,
        ),
        (
            "sluice_resumes_fetched_total",
            "Resumes older than the cache, read back from the broker (Kafka).",
            s.resumes_fetched_total,
        ),
        (
            "sluice_snapshot_cache_evictions_total",
            "Snapshots evicted from the cache (LRU by bytes).",
            s.snapshot_cache_evictions_total,
        ),
        (
            "sluice_message_cache_evictions_total",
            "Messages evicted from the message cache.",
            s.message_cache_evictions_total,
        ),
        (
            "sluice_subject_partitions_evictions_total",
            "Subjects forgotten by the key → partition memory for its bound.",
            s.subject_partitions_evictions_total,
        ),
        (
            "sluice_subject_partition_moves_total",
            "Records of a subject on another partition than its previous record (its subscribers got resync).",
            s.subject_partition_moves_total,
        ),
        (
            "sluice_partition_watches_total",
            "Interest mode: partitions this gateway started reading for a first subscriber.",
            s.partition_watches_total,
        ),
        (
            "sluice_partition_releases_total",
            "Interest mode: partitions released after their last subscriber's grace period.",
            s.partition_releases_total,
        ),
        (
            "sluice_publishes_received_total",
            "Client publishes received, finished or not.",
            s.publishes_total,
        ),
        (
            "sluice_publish_failures_total",
            "Client publishes not acknowledged, whatever the reason.",
            s.publishes_failed_total,
        ),
    ];
    families.extend(
        counters
            .into_iter()
            .map(|(n, h, v)| Family::counter(n, h).value(v)),
    );
    let gauges: [(&str, &str, u64); 20] = [
        (
            "sluice_clients",
            "Clients connected to the core, all transports.",
            s.clients_connected,
        ),
        (
            "sluice_subscriptions",
            "Active subscriptions, all clients.",
            s.subscriptions_active,
        ),
        (
            "sluice_subscriptions_conflated",
            "Subscriptions with a conflation interval (protocol 1.1).",
            s.subscriptions_conflated,
        ),
        (
            "sluice_conflated_messages_held",
            "Latest messages conflated subscriptions hold for the end of their interval.",
            s.conflated_messages_held,
        ),
        (
            "sluice_subjects",
            "Subjects with at least one subscriber.",
            s.subjects_subscribed,
        ),
        (
            "sluice_publishes_in_flight",
            "Client publishes awaiting the broker's answer.",
            in_flight,
        ),
        (
            "sluice_starts_paused",
            "Subscription starts waiting for room in their client's queue.",
            s.starts_paused,
        ),
        (
            "sluice_partitions_watched",
            "Interest mode: partitions read for this gateway's subscribers (or in their grace period).",
            s.partitions_watched,
        ),
        (
            "sluice_partitions_warming",
            "Interest mode: partitions being read for a first subscriber, its start parked.",
            s.partitions_warming,
        ),
        (
            "sluice_starts_parked",
            "Interest mode: subscription starts waiting for their partition to be read.",
            s.starts_parked,
        ),
        (
            "sluice_fetches_in_flight",
            "Read-backs from the broker running now.",
            s.fetches_in_flight,
        ),
        (
            "sluice_fetch_queue_length",
            "Resumes waiting for a broker read-back.",
            s.fetch_queue_len,
        ),
        (
            "sluice_snapshot_cache_bytes",
            "Bytes held by the snapshot cache.",
            s.snapshot_cache_bytes,
        ),
        (
            "sluice_snapshot_cache_entries",
            "Subjects with a cached snapshot.",
            s.snapshot_cache_entries,
        ),
        (
            "sluice_message_cache_bytes",
            "Bytes held by the message cache.",
            s.message_cache_bytes,
        ),
        (
            "sluice_message_cache_messages",
            "Messages held by the message cache.",
            s.message_cache_messages,
        ),
        (
            "sluice_subject_partitions",
            "Subjects whose partition the key → partition memory holds.",
            s.subject_partitions,
        ),
        (
            "sluice_subject_partitions_bytes",
            "Bytes held by the key → partition memory.",
            s.subject_partitions_bytes,
        ),
        (
            "sluice_client_queue_bytes",
            "Bytes queued towards all clients together.",
            s.client_queue_bytes,
        ),
        (
            "sluice_client_queue_largest_bytes",
            "Bytes queued towards the client with the longest queue.",
            s.client_queue_bytes_largest,
        ),
    ];
    families.extend(
        gauges
            .into_iter()
            .map(|(n, h, v)| Family::gauge(n, h).value(v)),
    );
    families.into_iter().map(Family::build).collect()
}

/// The configured bounds, so dashboards can draw each gauge against its limit.
pub fn limit_families(c: &GatewayConfig) -> Vec<MetricFamily> {
    let limits: [(&str, &str, usize); 7] = [
        (
            "sluice_client_queue_limit_bytes",
            "client_queue_bytes_max: queue bound per client.",
            c.client_queue_bytes_max,
        ),
        (
            "sluice_snapshot_cache_limit_bytes",
            "snapshot_cache_bytes_max.",
            c.snapshot_cache_bytes_max,
        ),
        (
            "sluice_message_cache_limit_bytes",
            "message_cache_bytes_max.",
            c.message_cache_bytes_max,
        ),
        (
            "sluice_subject_partitions_limit_bytes",
            "subject_partitions_bytes_max.",
            c.subject_partitions_bytes_max,
        ),
        (
            "sluice_fetches_in_flight_limit",
            "fetches_in_flight_max.",
            c.fetches_in_flight_max,
        ),
        (
            "sluice_fetch_queue_limit",
            "fetch_queue_max.",
            c.fetch_queue_max,
        ),
        (
            "sluice_publishes_in_flight_per_client_limit",
            "publishes_in_flight_per_client_max.",
            c.publishes_in_flight_per_client_max,
        ),
    ];
    limits
        .into_iter()
        .map(|(n, h, v)| Family::gauge(n, h).value(v as u64).build())
        .collect()
}

/// Readiness and broker reachability as 0/1 gauges.
pub fn health_families(h: &Health) -> Vec<MetricFamily> {
    [
        (
            "sluice_ready",
            "1 when the gateway accepts clients (see /readyz).",
            h.is_ready(),
        ),
        (
            "sluice_bootstrap_complete",
            "1 once the broker's snapshot bootstrap has caught up.",
            h.bootstrap.is_ok(),
        ),
        (
            "sluice_broker_reachable",
            "1 while the broker answers.",
            h.broker.is_ok(),
        ),
    ]
    .into_iter()
    .map(|(n, help, up)| Family::gauge(n, help).value(u64::from(up)).build())
    .collect()
}

/// The QUIC listener's own counters.
pub fn quic_families(q: &QuicCounters) -> Vec<MetricFamily> {
    [
        (
            "sluice_quic_handshakes_refused_total",
            "QUIC handshakes refused because quic.connections_max connections were open.",
            q.handshakes_refused_total,
        ),
        (
            "sluice_quic_migrations_total",
            "Times a QUIC connection's client address changed (connection migration).",
            q.migrations_total,
        ),
        (
            "sluice_quic_early_frames_held_total",
            "QUIC sessions whose first publish came as 0-RTT data and was held until the \
             handshake completed, so a replay cannot repeat it.",
            q.early_frames_held_total,
        ),
    ]
    .into_iter()
    .map(|(n, help, v)| Family::counter(n, help).value(v).build())
    .collect()
}

/// The embedded broker's log.
pub fn embedded_log_families(log: &EmbeddedLogStats) -> Vec<MetricFamily> {
    let gauges = [
        (
            "sluice_log_records",
            "Records the embedded broker holds, over every partition (bounded per partition by broker.embedded.retention_records_max).",
            log.records,
        ),
        (
            "sluice_log_bytes",
            "Key and payload bytes the embedded broker holds in memory (bounded per partition by broker.embedded.retention_bytes_max).",
            log.records_bytes,
        ),
        (
            "sluice_log_segments",
            "Segment files of the embedded broker's log on disk (0 with storage = \"memory\").",
            log.segments,
        ),
    ]
    .into_iter()
    .map(|(n, help, v)| Family::gauge(n, help).value(v).build());
    let syncs = Family::counter(
        "sluice_log_syncs_total",
        "File syncs (fsync) of the embedded broker's log.",
    )
    .value(log.syncs_total)
    .build();
    let sync_seconds = Family::counter(
        "sluice_log_sync_seconds_total",
        "Time spent in those syncs; divided by the syncs, the mean sync time.",
    )
    .with(&[], log.sync_seconds_total)
    .build();
    gauges.chain([syncs, sync_seconds]).collect()
}

/// What the Kafka consumer read, and the partitions interest mode assigned it.
pub fn kafka_consumption_families(k: &KafkaConsumption) -> Vec<MetricFamily> {
    let counters = [
        (
            "sluice_kafka_records_consumed_total",
            "Records the Kafka consumer handed to the gateway.",
            k.records_total,
        ),
        (
            "sluice_kafka_consumed_bytes_total",
            "Key, value and header bytes of those records: what the gateway fetched from Kafka, without protocol framing.",
            k.bytes_total,
        ),
        (
            "sluice_kafka_partition_assignments_total",
            "Interest mode: partitions assigned to the consumer because a subscriber needed them.",
            k.assignments_total,
        ),
        (
            "sluice_kafka_partition_unassignments_total",
            "Interest mode: partitions unassigned because no subscriber needed them any more.",
            k.releases_total,
        ),
    ]
    .into_iter()
    .map(|(n, help, v)| Family::counter(n, help).value(v).build());
    let assigned = Family::gauge(
        "sluice_kafka_partitions_assigned",
        "Interest mode: partitions the consumer reads now (0 in read-everything mode).",
    )
    .value(k.partitions_assigned)
    .build();
    counters.chain([assigned]).collect()
}

/// Kafka consumer lag, one series per partition.
pub fn lag_family(lag: &[PartitionLag]) -> MetricFamily {
    let mut family = Family::gauge(
        "sluice_kafka_consumer_lag_records",
        "Records on the partition this gateway has not read yet (high watermark - position).",
    );
    for p in lag {
        let partition = p.partition.to_string();
        family = family.with(
            &[("topic", &p.topic), ("partition", &partition)],
            p.records as f64,
        );
    }
    family.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(families: &[MetricFamily], name: &str, label: (&str, &str)) -> f64 {
        let family = families.iter().find(|f| f.name() == name).unwrap();
        let metric = family
            .get_metric()
            .iter()
            .find(|m| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == label.0 && l.value() == label.1)
            })
            .unwrap();
        metric.get_counter().get_value()
    }

    #[test]
    fn publishes_by_result_add_up_to_the_finished_ones() {
        let stats = GatewayStats {
            publishes_total: 20,
            publishes_acked_total: 10,
            publishes_failed_total: 8,
            publishes_rate_limited_total: 1,
            publishes_broker_failed_total: 2,
            publishes_timed_out_total: 3,
            ..GatewayStats::default()
        };
        let families = stats_families(&stats);
        let result = |r| value(&families, "sluice_publishes_total", ("result", r));
        assert_eq!(result("acked"), 10.0);
        assert_eq!(result("rejected"), 2.0);
        assert_eq!(result("rate_limited"), 1.0);
        assert_eq!(result("broker_error"), 2.0);
        assert_eq!(result("timeout"), 3.0);
        let in_flight = families
            .iter()
            .find(|f| f.name() == "sluice_publishes_in_flight")
            .unwrap();
        assert_eq!(in_flight.get_metric()[0].get_gauge().get_value(), 2.0);
    }
}
