//! The Portal's changes on Kafka: a compacted topic every gateway of a cluster reads
//! from its start when it starts and follows live, so an exposure made through one
//! gateway applies on all of them, survives restarts, and Kafka stays the only
//! shared system. Records are opaque here: a key (what changed) and a value (the
//! Portal's JSON); the latest record of a key wins.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::{client_config, KafkaConfig};

/// Drops librdkafka clients on a blocking thread: dropping one joins its threads.
fn drop_off_runtime<T: Send + 'static>(clients: T) {
    drop(tokio::task::spawn_blocking(move || drop(clients)));
}

/// One record of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposureLogRecord {
    pub key: String,
    pub value: Vec<u8>,
    pub offset: i64,
}

/// The opened log: reads, writes and cluster look-ups the Portal needs.
pub struct ExposureLog {
    topic: String,
    config: KafkaConfig,
    producer: FutureProducer,
    consumer: Arc<StreamConsumer>,
}

impl ExposureLog {
    /// Creates `topic` if missing (compacted, one partition), then reads every record
    /// it holds. Bounded by `timeout`.
    ///
    /// The clients are made and, when opening fails, dropped on a blocking thread:
    /// librdkafka starts and joins threads there, which stalled the gateway's
    /// worker (and every delivery on it) for up to 250 ms per attempt while a
    /// cluster refused the topic (measured with `sluice-bench --scenarios kafka`).
    pub async fn open(
        config: &KafkaConfig,
        topic: &str,
        timeout: Duration,
    ) -> Result<(ExposureLog, Vec<ExposureLogRecord>), String> {
        let deadline = Instant::now() + timeout;
        let log = {
            let (config, topic) = (config.clone(), topic.to_owned());
            tokio::task::spawn_blocking(move || ExposureLog::clients(config, topic))
                .await
                .map_err(|e| e.to_string())??
        };
        match log.read_whole(deadline).await {
            Ok(records) => Ok((log, records)),
            Err(err) => {
                drop_off_runtime(log);
                Err(err)
            }
        }
    }

    /// The log's consumer and producer.
    fn clients(config: KafkaConfig, topic: String) -> Result<ExposureLog, String> {
        // The gateway's reader settings, but from the log's start: the Portal's
        // topic is read whole, and compaction may have moved its start.
        let mut consumer_config = client_config::consumer(&config);
        consumer_config
            .set("auto.offset.reset", "earliest")
            .set("group.id", "sluice-portal-unjoined");
        let consumer: StreamConsumer = consumer_config.create().map_err(|e| e.to_string())?;
        let producer: FutureProducer = client_config::producer(&config)
            .create()
            .map_err(|e| e.to_string())?;
        Ok(ExposureLog {
            topic,
            config,
            producer,
            consumer: Arc::new(consumer),
        })
    }

    /// Creates the topic if missing, then reads every record it holds.
    async fn read_whole(&self, deadline: Instant) -> Result<Vec<ExposureLogRecord>, String> {
        let topic = self.topic.as_str();
        let request_timeout = Duration::from_millis(self.config.request_timeout_ms.max(10));
        let partitions = match self.partitions(topic).await? {
            Some(p) => p,
            None => {
                self.create().await?;
                loop {
                    if let Some(p) = self.partitions(topic).await? {
                        break p;
                    }
                    if Instant::now() > deadline {
                        return Err(format!("topic {topic} was created but never appeared"));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let mut list = TopicPartitionList::new();
        let mut highs = Vec::new();
        for p in 0..partitions as i32 {
            list.add_partition_offset(topic, p, Offset::Beginning)
                .map_err(|e| e.to_string())?;
            let consumer = self.consumer.clone();
            let name = topic.to_owned();
            let (low, high) = tokio::task::spawn_blocking(move || {
                consumer.fetch_watermarks(&name, p, request_timeout)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
            if high > low {
                highs.push((p, high));
            }
        }
        self.consumer.assign(&list).map_err(|e| e.to_string())?;
        let mut records = Vec::new();
        let mut read: std::collections::BTreeMap<i32, i64> = Default::default();
        while highs
            .iter()
            .any(|(p, high)| read.get(p).is_none_or(|at| at + 1 < *high))
        {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("reading {topic} did not finish in time"));
            }
            let message = tokio::time::timeout(left, self.consumer.recv())
                .await
                .map_err(|_| format!("reading {topic} did not finish in time"))?
                .map_err(|e| e.to_string())?;
            read.insert(message.partition(), message.offset());
            if let Some(record) = to_record(&message) {
                records.push(record);
            }
        }
        Ok(records)
    }

    async fn create(&self) -> Result<(), String> {
        let base = client_config::base(&self.config);
        let admin: AdminClient<DefaultClientContext> =
            tokio::task::spawn_blocking(move || base.create().map_err(|e| e.to_string()))
                .await
                .map_err(|e| e.to_string())??;
        let created = self.create_with(&admin).await;
        drop_off_runtime(admin);
        created
    }

    async fn create_with(&self, admin: &AdminClient<DefaultClientContext>) -> Result<(), String> {
        let topic = NewTopic::new(&self.topic, 1, TopicReplication::Fixed(-1))
            .set("cleanup.policy", "compact");
        let options = AdminOptions::new().request_timeout(Some(Duration::from_millis(
            self.config.request_timeout_ms.max(10),
        )));
        let results = admin
            .create_topics([&topic], &options)
            .await
            .map_err(|e| e.to_string())?;
        for result in results {
            match result {
                Ok(_) => {
                    tracing::info!(topic = %self.topic, "created the Portal's compacted topic")
                }
                Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => return Err(format!("creating topic {name}: {code}")),
            }
        }
        Ok(())
    }

    /// Partitions of `topic`, `None` if the cluster does not have it.
    pub async fn partitions(&self, topic: &str) -> Result<Option<u32>, String> {
        let consumer = self.consumer.clone();
        let timeout = Duration::from_millis(self.config.request_timeout_ms.max(10));
        let name = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            let metadata = consumer
                .fetch_metadata(Some(&name), timeout)
                .map_err(|e| e.to_string())?;
            Ok(metadata
                .topics()
                .iter()
                .find(|t| t.name() == name && t.error().is_none() && !t.partitions().is_empty())
                .map(|t| t.partitions().len() as u32))
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// Appends a record and waits for Kafka's acknowledgement (acks=all).
    pub async fn write(&self, key: &str, value: &[u8]) -> Result<i64, String> {
        let record = FutureRecord::to(&self.topic).key(key).payload(value);
        let timeout = Duration::from_millis(self.config.produce_timeout_ms.max(1));
        self.producer
            .send(record, timeout)
            .await
            .map(|delivery| delivery.offset)
            .map_err(|(err, _)| err.to_string())
    }

    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Follows the log live from where [`ExposureLog::open`] stopped, calling
    /// `apply` for each record, until `apply` returns false.
    pub fn follow(&self, mut apply: impl FnMut(ExposureLogRecord) -> bool + Send + 'static) {
        let consumer = self.consumer.clone();
        tokio::spawn(async move {
            loop {
                match consumer.recv().await {
                    Ok(message) => {
                        if let Some(record) = to_record(&message) {
                            if !apply(record) {
                                return;
                            }
                        }
                    }
                    Err(err) => {
                        tracing::warn!(%err, "reading the Portal's topic failed; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        });
    }
}

fn to_record(message: &rdkafka::message::BorrowedMessage<'_>) -> Option<ExposureLogRecord> {
    let key = std::str::from_utf8(message.key()?).ok()?.to_owned();
    Some(ExposureLogRecord {
        key,
        value: message.payload().unwrap_or_default().to_vec(),
        offset: message.offset(),
    })
}
