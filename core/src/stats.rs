//! Counters and gauges of the core, as plain data. The observability crate turns them
//! into Prometheus metrics; the core itself knows nothing of Prometheus.

/// A snapshot of the gateway's counters (`_total`, monotonic) and gauges (current values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayStats {
    pub clients_connected: u64,
    pub subscriptions_active: u64,
    /// Subscriptions with a conflation interval, and how many hold a message for
    /// the end of it (at most one each).
    pub subscriptions_conflated: u64,
    pub conflated_messages_held: u64,
    pub subjects_subscribed: u64,
    pub records_in_total: u64,
    pub record_bytes_in_total: u64,
    /// Records at or below an offset already processed (broker redelivery or rewind).
    pub records_redelivered_total: u64,
    /// Records whose key is not a valid subject, and null-key records off partition 0.
    pub records_unroutable_total: u64,
    pub publishes_total: u64,
    /// Payload bytes of every publish received from clients.
    pub publish_bytes_in_total: u64,
    pub publishes_acked_total: u64,
    /// Every publish not acknowledged, whatever the reason; the four below are parts of it.
    pub publishes_failed_total: u64,
    /// Refused with `rate_limited` before the broker: over `publish_rate_per_s` (and
    /// its burst) or over `publishes_in_flight_per_client_max`.
    pub publishes_rate_limited_total: u64,
    /// The broker answered with an error.
    pub publishes_broker_failed_total: u64,
    /// The broker did not answer within `publish_timeout_ms`.
    pub publishes_timed_out_total: u64,
    pub messages_out_total: u64,
    pub message_bytes_out_total: u64,
    /// Messages queued as fossil deltas (protocol 1.1, `delta: true`).
    pub deltas_out_total: u64,
    /// Payload bytes those deltas saved: each whole value's size minus its delta's.
    pub delta_bytes_saved_total: u64,
    pub frames_out_total: u64,
    pub client_errors_total: u64,
    pub slow_consumer_disconnects_total: u64,
    /// Times a subscription start paused because its next frame did not fit the
    /// client's queue (it goes on as the client reads, and may pause again): pacing,
    /// not a sign of a slow consumer.
    pub start_pauses_total: u64,
    /// Subscription starts paused right now, waiting for room in their client's queue.
    pub starts_paused: u64,
    pub oversized_frame_disconnects_total: u64,
    pub resumes_sync_total: u64,
    pub resumes_resync_total: u64,
    /// Resumes that needed records older than the cache, read back from the broker.
    pub resumes_fetched_total: u64,
    pub fetches_in_flight: u64,
    pub fetch_queue_len: u64,
    pub snapshot_cache_bytes: u64,
    pub snapshot_cache_entries: u64,
    pub snapshot_cache_evictions_total: u64,
    pub message_cache_bytes: u64,
    pub message_cache_messages: u64,
    pub message_cache_evictions_total: u64,
    /// Subjects in the key → partition memory.
    pub subject_partitions: u64,
    /// Its bytes, bounded by `subject_partitions_bytes_max`.
    pub subject_partitions_bytes: u64,
    /// Subjects forgotten for the bound; a resume of one is answered with `resync`.
    pub subject_partitions_evictions_total: u64,
    /// Records of a subject on another partition than its previous record: mixed
    /// partitioners or a partition-count change. Its subscribers got `resync`.
    pub subject_partition_moves_total: u64,
    /// Bytes queued towards all clients together.
    pub client_queue_bytes: u64,
    /// Bytes queued towards the client with the longest queue: how close the slowest
    /// client is to `client_queue_bytes_max`.
    pub client_queue_bytes_largest: u64,
    /// The most bytes any one client's queue has held since start: at most
    /// `client_queue_bytes_max`, or one frame larger than that in an empty queue.
    pub client_queue_bytes_peak: u64,
    /// Subjects refused with `too_many_subscriptions`.
    pub subscriptions_refused_limit_total: u64,
    /// Subscribes and publishes refused with `forbidden` (per subject), and
    /// subscriptions dropped by a refresh that no longer allows them.
    pub forbidden_total: u64,
    /// Tokens accepted (from the handshake or an `auth` frame, refreshes included).
    pub tokens_accepted_total: u64,
    /// Tokens refused: invalid, expired, revoked, or a refresh for another user.
    pub tokens_refused_total: u64,
    /// Connections closed 4001: no valid token within `auth_timeout_ms`, or another
    /// frame before the `auth` frame.
    pub unauthenticated_disconnects_total: u64,
    /// Connections closed 4002 because their token expired without a refresh.
    pub token_expired_disconnects_total: u64,
    /// Connections closed 4003 because their token's `jti` was revoked.
    pub token_revoked_disconnects_total: u64,
    /// Token ids on the revocation list right now.
    pub revoked_token_ids: u64,
    // Counted by the transports (the core never sees these connections), merged in
    // by the runtime.
    /// Connections refused because `connections_max` were open.
    pub connections_refused_limit_total: u64,
    /// Connections refused because their source address had `connections_per_ip_max` open.
    pub connections_refused_per_ip_total: u64,
    /// WebSocket upgrades refused for an `Origin` not on the allow-list.
    pub handshakes_refused_origin_total: u64,
    /// WebSocket upgrades refused for a bad token in the header or query (HTTP 401).
    pub handshakes_refused_token_total: u64,
    /// Connections dropped for not finishing the handshake in `handshake_timeout_ms`.
    pub handshake_timeouts_total: u64,
    // Interest mode (`[broker.kafka] consumption = "interest"`); 0 otherwise.
    /// Partitions this core watches (its subscribers need them, or their grace
    /// period has not ended).
    pub partitions_watched: u64,
    /// Partitions being read for a first subscriber, its start parked meanwhile.
    pub partitions_warming: u64,
    /// Subscription starts parked until their partition is read.
    pub starts_parked: u64,
    pub partition_watches_total: u64,
    pub partition_releases_total: u64,
}

impl GatewayStats {
    /// Adds another shard's stats (`[runtime] shards`) into these. Counters and
    /// gauges add up (every shard reads every record, so `records_in_total` counts
    /// each read); the largest and peak queues take the larger; every shard holds the
    /// same revocation list.
    pub fn merge(&mut self, other: &GatewayStats) {
        // Destructured in full, so a new field cannot be forgotten here.
        let GatewayStats {
            clients_connected,
            subscriptions_active,
            subscriptions_conflated,
            conflated_messages_held,
            subjects_subscribed,
            records_in_total,
            record_bytes_in_total,
            records_redelivered_total,
            records_unroutable_total,
            publishes_total,
            publish_bytes_in_total,
            publishes_acked_total,
            publishes_failed_total,
            publishes_rate_limited_total,
            publishes_broker_failed_total,
            publishes_timed_out_total,
            messages_out_total,
            message_bytes_out_total,
            deltas_out_total,
            delta_bytes_saved_total,
            frames_out_total,
            client_errors_total,
            slow_consumer_disconnects_total,
            start_pauses_total,
            starts_paused,
            oversized_frame_disconnects_total,
            resumes_sync_total,
            resumes_resync_total,
            resumes_fetched_total,
            fetches_in_flight,
            fetch_queue_len,
            snapshot_cache_bytes,
            snapshot_cache_entries,
            snapshot_cache_evictions_total,
            message_cache_bytes,
            message_cache_messages,
            message_cache_evictions_total,
            subject_partitions,
            subject_partitions_bytes,
            subject_partitions_evictions_total,
            subject_partition_moves_total,
            client_queue_bytes,
            subscriptions_refused_limit_total,
            forbidden_total,
            tokens_accepted_total,
            tokens_refused_total,
            unauthenticated_disconnects_total,
            token_expired_disconnects_total,
            token_revoked_disconnects_total,
            connections_refused_limit_total,
            connections_refused_per_ip_total,
            handshakes_refused_origin_total,
            handshakes_refused_token_total,
            handshake_timeouts_total,
            client_queue_bytes_largest,
            client_queue_bytes_peak,
            revoked_token_ids,
            partitions_watched,
            partitions_warming,
            starts_parked,
            partition_watches_total,
            partition_releases_total,
        } = other;
        self.clients_connected += clients_connected;
        self.subscriptions_active += subscriptions_active;
        self.subscriptions_conflated += subscriptions_conflated;
        self.conflated_messages_held += conflated_messages_held;
        self.subjects_subscribed += subjects_subscribed;
        self.records_in_total += records_in_total;
        self.record_bytes_in_total += record_bytes_in_total;
        self.records_redelivered_total += records_redelivered_total;
        self.records_unroutable_total += records_unroutable_total;
        self.publishes_total += publishes_total;
        self.publish_bytes_in_total += publish_bytes_in_total;
        self.publishes_acked_total += publishes_acked_total;
        self.publishes_failed_total += publishes_failed_total;
        self.publishes_rate_limited_total += publishes_rate_limited_total;
        self.publishes_broker_failed_total += publishes_broker_failed_total;
        self.publishes_timed_out_total += publishes_timed_out_total;
        self.messages_out_total += messages_out_total;
        self.message_bytes_out_total += message_bytes_out_total;
        self.deltas_out_total += deltas_out_total;
        self.delta_bytes_saved_total += delta_bytes_saved_total;
        self.frames_out_total += frames_out_total;
        self.client_errors_total += client_errors_total;
        self.slow_consumer_disconnects_total += slow_consumer_disconnects_total;
        self.start_pauses_total += start_pauses_total;
        self.starts_paused += starts_paused;
        self.oversized_frame_disconnects_total += oversized_frame_disconnects_total;
        self.resumes_sync_total += resumes_sync_total;
        self.resumes_resync_total += resumes_resync_total;
        self.resumes_fetched_total += resumes_fetched_total;
        self.fetches_in_flight += fetches_in_flight;
        self.fetch_queue_len += fetch_queue_len;
        self.snapshot_cache_bytes += snapshot_cache_bytes;
        self.snapshot_cache_entries += snapshot_cache_entries;
        self.snapshot_cache_evictions_total += snapshot_cache_evictions_total;
        self.message_cache_bytes += message_cache_bytes;
        self.message_cache_messages += message_cache_messages;
        self.message_cache_evictions_total += message_cache_evictions_total;
        self.subject_partitions += subject_partitions;
        self.subject_partitions_bytes += subject_partitions_bytes;
        self.subject_partitions_evictions_total += subject_partitions_evictions_total;
        self.subject_partition_moves_total += subject_partition_moves_total;
        self.client_queue_bytes += client_queue_bytes;
        self.subscriptions_refused_limit_total += subscriptions_refused_limit_total;
        self.forbidden_total += forbidden_total;
        self.tokens_accepted_total += tokens_accepted_total;
        self.tokens_refused_total += tokens_refused_total;
        self.unauthenticated_disconnects_total += unauthenticated_disconnects_total;
        self.token_expired_disconnects_total += token_expired_disconnects_total;
        self.token_revoked_disconnects_total += token_revoked_disconnects_total;
        self.connections_refused_limit_total += connections_refused_limit_total;
        self.connections_refused_per_ip_total += connections_refused_per_ip_total;
        self.handshakes_refused_origin_total += handshakes_refused_origin_total;
        self.handshakes_refused_token_total += handshakes_refused_token_total;
        self.handshake_timeouts_total += handshake_timeouts_total;
        self.partitions_watched += partitions_watched;
        self.partitions_warming += partitions_warming;
        self.starts_parked += starts_parked;
        self.partition_watches_total += partition_watches_total;
        self.partition_releases_total += partition_releases_total;
        self.client_queue_bytes_largest = self
            .client_queue_bytes_largest
            .max(*client_queue_bytes_largest);
        self.client_queue_bytes_peak = self.client_queue_bytes_peak.max(*client_queue_bytes_peak);
        self.revoked_token_ids = self.revoked_token_ids.max(*revoked_token_ids);
    }
}

#[cfg(test)]
mod tests {
    use super::GatewayStats;

    #[test]
    fn merge_adds_counters_and_keeps_the_larger_peak() {
        let mut first = GatewayStats {
            clients_connected: 3,
            records_in_total: 10,
            client_queue_bytes_peak: 900,
            revoked_token_ids: 2,
            ..GatewayStats::default()
        };
        let second = GatewayStats {
            clients_connected: 2,
            records_in_total: 10,
            client_queue_bytes_peak: 400,
            revoked_token_ids: 2,
            ..GatewayStats::default()
        };
        first.merge(&second);
        assert_eq!(first.clients_connected, 5);
        assert_eq!(first.records_in_total, 20);
        assert_eq!(first.client_queue_bytes_peak, 900);
        assert_eq!(first.revoked_token_ids, 2);
    }
}
