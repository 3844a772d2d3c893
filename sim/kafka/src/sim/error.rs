//! rdkafka's `KafkaError`, with the variants the simulation raises.

use std::fmt;

pub use super::types::RDKafkaErrorCode;

pub type KafkaResult<T> = Result<T, KafkaError>;

/// What went wrong, and in which kind of call (as in rdkafka).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KafkaError {
    AdminOp(RDKafkaErrorCode),
    ClientCreation(String),
    MessageConsumption(RDKafkaErrorCode),
    MessageProduction(RDKafkaErrorCode),
    MetadataFetch(RDKafkaErrorCode),
    OffsetFetch(RDKafkaErrorCode),
    SetPartitionOffset(RDKafkaErrorCode),
}

impl KafkaError {
    /// The Kafka error code, when there is one.
    pub fn rdkafka_error_code(&self) -> Option<RDKafkaErrorCode> {
        match self {
            KafkaError::AdminOp(code)
            | KafkaError::MessageConsumption(code)
            | KafkaError::MessageProduction(code)
            | KafkaError::MetadataFetch(code)
            | KafkaError::OffsetFetch(code)
            | KafkaError::SetPartitionOffset(code) => Some(*code),
            KafkaError::ClientCreation(_) => None,
        }
    }
}

impl fmt::Display for KafkaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KafkaError::AdminOp(code) => write!(f, "Admin operation error: {code}"),
            KafkaError::ClientCreation(why) => write!(f, "Client creation error: {why}"),
            KafkaError::MessageConsumption(code) => write!(f, "Message consumption error: {code}"),
            KafkaError::MessageProduction(code) => write!(f, "Message production error: {code}"),
            KafkaError::MetadataFetch(code) => write!(f, "Meta data fetch error: {code}"),
            KafkaError::OffsetFetch(code) => write!(f, "Offset fetch error: {code}"),
            KafkaError::SetPartitionOffset(code) => write!(f, "Set partition offset error: {code}"),
        }
    }
}

impl std::error::Error for KafkaError {}
