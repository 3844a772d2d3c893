//! Kafka's error codes, as rdkafka names them (the ones the simulation produces or
//! the adapter matches on).

use std::fmt;

/// rdkafka's `RDKafkaErrorCode`, reduced to the codes the simulation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RDKafkaErrorCode {
    Unknown,
    Fatal,
    BrokerTransportFailure,
    AllBrokersDown,
    OperationTimedOut,
    RequestTimedOut,
    MessageTimedOut,
    AutoOffsetReset,
    OffsetOutOfRange,
    UnknownTopicOrPartition,
    UnknownTopic,
    UnknownPartition,
    UnknownTopicId,
    MessageSizeTooLarge,
    InvalidMessageSize,
    UnknownProducerId,
    OutOfOrderSequenceNumber,
    DuplicateSequenceNumber,
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    TopicAlreadyExists,
    InvalidArgument,
}

impl fmt::Display for RDKafkaErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?} (simulated)")
    }
}

/// A response error in metadata (rdkafka's `RDKafkaRespErr`).
pub type RDKafkaRespErr = RDKafkaErrorCode;
