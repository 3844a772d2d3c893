//! librdkafka client settings shared by the consumer, the producer and the fetchers.

use rdkafka::ClientConfig;

use crate::KafkaConfig;

/// The base settings, then the user's pass-through properties (which win).
pub fn base(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.bootstrap_servers)
        .set(
            "socket.timeout.ms",
            config.request_timeout_ms.max(10).to_string(),
        )
        .set("log_level", "4");
    for (key, value) in &config.properties {
        client.set(key, value);
    }
    client
}

/// A consumer that reads by manual assignment: no group, no commits, no rebalances,
/// so every gateway of a cluster reads every partition.
pub fn consumer(config: &KafkaConfig) -> ClientConfig {
    let mut client = base(config);
    client
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        // Reading below the log start must not silently jump ahead: the session turns
        // this error into a `TopicMeta` with the new start, so clients get `resync`.
        .set("auto.offset.reset", "error")
        // A group id is required by librdkafka's consumer even without a group; it is
        // never joined (no subscribe) and never committed to.
        .set("group.id", "sluice-gateway-unjoined");
    for (key, value) in &config.properties {
        client.set(key, value);
    }
    client
}

/// An idempotent producer: acks from all in-sync replicas, no duplicates on retry.
pub fn producer(config: &KafkaConfig) -> ClientConfig {
    let mut client = base(config);
    client
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set(
            "message.timeout.ms",
            config.produce_timeout_ms.max(1).to_string(),
        )
        .set("linger.ms", "1");
    for (key, value) in &config.properties {
        client.set(key, value);
    }
    client
}
