//! librdkafka's mock cluster (one broker, id 1), with the two controls rdkafka's
//! `MockCluster` does not offer: the address the broker advertises, and delayed
//! answers to one kind of request.

use std::ffi::CString;

use std::time::Duration;

use rdkafka::producer::{BaseProducer, FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;
use rdkafka_sys::types::RDKafkaApiKey;
use rdkafka_sys::{rd_kafka_mock_cluster_t, rd_kafka_resp_err_t};

pub struct MockKafka {
    /// Owns the mock cluster: dropping it takes the cluster down.
    owner: BaseProducer,
}

impl MockKafka {
    pub fn start() -> MockKafka {
        let owner: BaseProducer = ClientConfig::new()
            .set("test.mock.num.brokers", "1")
            .create()
            .expect("a mock cluster starts");
        MockKafka { owner }
    }

    /// Where the broker really listens.
    pub fn listener(&self) -> String {
        self.owner
            .client()
            .mock_cluster()
            .unwrap()
            .bootstrap_servers()
    }

    pub fn create_topic(&self, topic: &str, partitions: i32) {
        let cluster = self.owner.client().mock_cluster().unwrap();
        cluster.create_topic(topic, partitions, 1).unwrap();
    }

    /// Advertises the broker at `127.0.0.1:port` (a forwarder), so that clients keep
    /// one broker address while the cluster behind it is replaced.
    pub fn advertise(&self, port: u16) {
        let host = CString::new("127.0.0.1").unwrap();
        // SAFETY: the cluster lives as long as `self`; librdkafka copies `host`.
        unsafe {
            rdkafka_sys::rd_kafka_mock_broker_set_host_port(
                self.cluster(),
                1,
                host.as_ptr(),
                i32::from(port),
            );
        }
    }

    /// The next `count` Fetch requests are answered `delay_ms` late, each with the
    /// data the broker had when the request arrived.
    pub fn delay_fetches(&self, count: usize, delay_ms: i32) {
        for _ in 0..count {
            // SAFETY: the cluster lives as long as `self`; one (error, rtt) pair of
            // C ints follows the count, as the variadic call expects.
            let err = unsafe {
                rdkafka_sys::rd_kafka_mock_broker_push_request_error_rtts(
                    self.cluster(),
                    1,
                    RDKafkaApiKey::Fetch as i16,
                    1,
                    rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR as i32,
                    delay_ms,
                )
            };
            assert_eq!(err, rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR);
        }
    }

    fn cluster(&self) -> *mut rd_kafka_mock_cluster_t {
        // SAFETY: `owner` is alive; the handle it returns is owned by it.
        let cluster =
            unsafe { rdkafka_sys::rd_kafka_handle_mock_cluster(self.owner.client().native_ptr()) };
        assert!(!cluster.is_null(), "the producer owns a mock cluster");
        cluster
    }
}

/// A producer for the tests' own records (rdkafka's defaults, a short linger).
pub fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .unwrap()
}

/// Writes one keyed record and returns its offset.
pub async fn produce(producer: &FutureProducer, topic: &str, key: &str, payload: &[u8]) -> i64 {
    let record = FutureRecord::to(topic).key(key).payload(payload);
    producer
        .send(record, Duration::from_secs(30))
        .await
        .expect("the mock cluster accepts the record")
        .offset
}

/// A gateway exposing `topic` of the Kafka at `bootstrap`, refreshing metadata every
/// 300 ms; `tweak` changes the rest of its Kafka settings.
pub async fn start_gateway(
    bootstrap: String,
    topic: &str,
    tweak: impl FnOnce(&mut sluice_kafka::KafkaConfig),
) -> sluice::server::Server {
    super::start(|c| {
        c.gateway.exposed_topics = vec![topic.into()];
        c.broker.kind = sluice::config::BrokerKind::Kafka;
        c.broker.kafka = sluice_kafka::KafkaConfig {
            bootstrap_servers: bootstrap,
            metadata_refresh_ms: 300,
            ..sluice_kafka::KafkaConfig::default()
        };
        tweak(&mut c.broker.kafka);
    })
    .await
}
