//! The part every client kind shares: which cluster, who it is, how patient.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::time::Duration;

use super::cluster::SimCluster;
use super::config::ClientConfig;
use super::error::KafkaError;
use super::types::RDKafkaErrorCode;

/// rdkafka's client contexts; the simulation has no callbacks.
pub trait ClientContext: Send + Sync {}

#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultClientContext;

impl ClientContext for DefaultClientContext {}

/// A client's link to its cluster.
pub struct Client<C = DefaultClientContext> {
    /// `None` when no simulated cluster answers at `bootstrap.servers`: every
    /// request then fails as if all brokers were down.
    pub(crate) cluster: Option<SimCluster>,
    pub(crate) id: String,
    pub(crate) request_timeout: Duration,
    context: PhantomData<C>,
}

impl<C> Client<C> {
    pub(crate) fn new(config: &ClientConfig) -> Client<C> {
        Client {
            cluster: config.get("bootstrap.servers").and_then(SimCluster::lookup),
            id: config.get("client.id").unwrap_or("rdkafka").to_owned(),
            request_timeout: Duration::from_millis(config.millis("socket.timeout.ms", 60_000)),
            context: PhantomData,
        }
    }

    /// The cluster, if it can be reached now.
    pub(crate) fn reachable(&self) -> Option<&SimCluster> {
        self.cluster.as_ref().filter(|c| c.reachable(&self.id))
    }

    pub(crate) fn cluster_or(
        &self,
        error: fn(RDKafkaErrorCode) -> KafkaError,
    ) -> Result<&SimCluster, KafkaError> {
        self.cluster
            .as_ref()
            .ok_or(error(RDKafkaErrorCode::AllBrokersDown))
    }

    /// Topic ids, as a DescribeTopics request answers them (the simulated body of
    /// `brokers/kafka`'s `describe_topic_ids`).
    pub fn describe_topic_ids(
        &self,
        topics: &[String],
    ) -> Result<HashMap<String, Option<u64>>, String> {
        match &self.cluster {
            Some(cluster) => cluster.topic_ids(&self.id, topics),
            None => Err("no simulated cluster at bootstrap.servers".into()),
        }
    }
}
