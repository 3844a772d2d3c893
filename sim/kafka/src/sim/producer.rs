//! `FutureProducer`: idempotent writes that retry while the broker is away, up to
//! `message.timeout.ms`.

// rdkafka's `OwnedDeliveryResult` hands the message back by value on failure.
#![allow(clippy::result_large_err)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::client::Client;
use super::cluster::NotWritten;
use super::config::{ClientConfig, FromClientConfig};
use super::error::{KafkaError, KafkaResult};
use super::message::{OwnedHeaders, OwnedMessage, Timestamp, ToBytes};
use super::types::RDKafkaErrorCode;
use super::util::Timeout;

/// Pause between attempts while the broker cannot be reached.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// A record to send.
pub struct FutureRecord<'a, K: ?Sized, P: ?Sized> {
    pub topic: &'a str,
    pub partition: Option<i32>,
    pub payload: Option<&'a P>,
    pub key: Option<&'a K>,
    pub timestamp: Option<i64>,
    pub headers: Option<OwnedHeaders>,
}

impl<'a, K: ToBytes + ?Sized, P: ToBytes + ?Sized> FutureRecord<'a, K, P> {
    pub fn to(topic: &'a str) -> FutureRecord<'a, K, P> {
        FutureRecord {
            topic,
            partition: None,
            payload: None,
            key: None,
            timestamp: None,
            headers: None,
        }
    }

    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    pub fn payload(mut self, payload: &'a P) -> Self {
        self.payload = Some(payload);
        self
    }

    pub fn key(mut self, key: &'a K) -> Self {
        self.key = Some(key);
        self
    }

    pub fn headers(mut self, headers: OwnedHeaders) -> Self {
        self.headers = Some(headers);
        self
    }
}

/// Where a record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Timestamp,
}

pub type OwnedDeliveryResult = Result<Delivery, (KafkaError, OwnedMessage)>;

/// The producer; clones share it.
#[derive(Clone)]
pub struct FutureProducer {
    client: Arc<Client>,
    /// The cluster's restart count when this producer got its id.
    generation: u64,
    message_timeout: Duration,
}

impl FromClientConfig for FutureProducer {
    fn from_config(config: &ClientConfig) -> KafkaResult<Self> {
        let client = Client::new(config);
        let generation = client.cluster.as_ref().map_or(0, |c| c.generation());
        Ok(FutureProducer {
            client: Arc::new(client),
            generation,
            message_timeout: Duration::from_millis(config.millis("message.timeout.ms", 300_000)),
        })
    }
}

impl FutureProducer {
    /// Sends `record`; completes when the broker acknowledged it, or failed.
    pub fn send<K, P, T>(
        &self,
        record: FutureRecord<'_, K, P>,
        _queue_timeout: T,
    ) -> impl Future<Output = OwnedDeliveryResult> + Send + 'static
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
        T: Into<Timeout>,
    {
        let message = OwnedMessage {
            topic: record.topic.to_owned(),
            // The adapter always names the partition; others get partition 0.
            partition: record.partition.unwrap_or(0),
            key: record.key.map(|k| k.to_bytes().to_vec()),
            payload: record.payload.map(|p| p.to_bytes().to_vec()),
            headers: record.headers.unwrap_or_default(),
        };
        let (client, generation, timeout) =
            (self.client.clone(), self.generation, self.message_timeout);
        async move {
            let deadline = Instant::now() + timeout;
            let timed_out = |message| {
                Err((
                    KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut),
                    message,
                ))
            };
            let Some(cluster) = client.cluster.clone() else {
                tokio::time::sleep(timeout).await;
                return timed_out(message);
            };
            loop {
                tokio::time::sleep(cluster.draw_ms(4) + Duration::from_millis(1)).await;
                if Instant::now() >= deadline {
                    return timed_out(message);
                }
                match cluster.produce(&client.id, generation, &message) {
                    Ok((offset, ack_lost)) => {
                        if ack_lost {
                            // Written; the answer is lost and retries find the
                            // broker slow to answer until the message times out.
                            tokio::time::sleep_until(deadline).await;
                            return timed_out(message);
                        }
                        return Ok(Delivery {
                            partition: message.partition,
                            offset: offset as i64,
                            timestamp: Timestamp::NotAvailable,
                        });
                    }
                    Err(NotWritten::Unreachable) => tokio::time::sleep(RETRY_BACKOFF).await,
                    Err(NotWritten::Refused(code)) => {
                        return Err((KafkaError::MessageProduction(code), message))
                    }
                }
            }
        }
    }
}
