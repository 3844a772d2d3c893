//! Cluster metadata, as rdkafka shapes it.

use super::types::RDKafkaRespErr;

#[derive(Debug, Clone)]
pub struct MetadataBroker {
    pub(crate) id: i32,
}

impl MetadataBroker {
    pub fn id(&self) -> i32 {
        self.id
    }
}

#[derive(Debug, Clone)]
pub struct MetadataPartition {
    pub(crate) id: i32,
}

impl MetadataPartition {
    pub fn id(&self) -> i32 {
        self.id
    }
}

#[derive(Debug, Clone)]
pub struct MetadataTopic {
    pub(crate) name: String,
    pub(crate) partitions: Vec<MetadataPartition>,
    pub(crate) error: Option<RDKafkaRespErr>,
}

impl MetadataTopic {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn partitions(&self) -> &[MetadataPartition] {
        &self.partitions
    }

    pub fn error(&self) -> Option<RDKafkaRespErr> {
        self.error
    }
}

#[derive(Debug, Clone)]
pub struct Metadata {
    pub(crate) orig_broker_id: i32,
    pub(crate) brokers: Vec<MetadataBroker>,
    pub(crate) topics: Vec<MetadataTopic>,
}

impl Metadata {
    pub fn orig_broker_id(&self) -> i32 {
        self.orig_broker_id
    }

    pub fn brokers(&self) -> &[MetadataBroker] {
        &self.brokers
    }

    pub fn topics(&self) -> &[MetadataTopic] {
        &self.topics
    }
}
