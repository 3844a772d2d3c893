//! Messages and headers, as rdkafka shapes them.

use std::marker::PhantomData;
use std::sync::Arc;

/// A record's timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timestamp {
    NotAvailable,
    CreateTime(i64),
    LogAppendTime(i64),
}

impl Timestamp {
    pub fn to_millis(self) -> Option<i64> {
        match self {
            Timestamp::NotAvailable => None,
            Timestamp::CreateTime(ms) | Timestamp::LogAppendTime(ms) => Some(ms),
        }
    }
}

/// One header; `value` is `None` for a null header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a, V> {
    pub key: &'a str,
    pub value: Option<V>,
}

/// Types whose bytes can be written to Kafka.
pub trait ToBytes {
    fn to_bytes(&self) -> &[u8];
}

impl ToBytes for [u8] {
    fn to_bytes(&self) -> &[u8] {
        self
    }
}

impl ToBytes for str {
    fn to_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl ToBytes for Vec<u8> {
    fn to_bytes(&self) -> &[u8] {
        self
    }
}

impl ToBytes for String {
    fn to_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl<const N: usize> ToBytes for [u8; N] {
    fn to_bytes(&self) -> &[u8] {
        self
    }
}

/// Read access to a message's headers.
pub trait Headers {
    fn count(&self) -> usize;
    fn get(&self, index: usize) -> Header<'_, &[u8]>;
    fn iter(&self) -> HeadersIter<'_, Self>
    where
        Self: Sized,
    {
        HeadersIter {
            headers: self,
            index: 0,
        }
    }
}

pub struct HeadersIter<'a, H> {
    headers: &'a H,
    index: usize,
}

impl<'a, H: Headers> Iterator for HeadersIter<'a, H> {
    type Item = Header<'a, &'a [u8]>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.index >= self.headers.count() {
            return None;
        }
        let header = self.headers.get(self.index);
        self.index += 1;
        Some(header)
    }
}

/// Headers built by the application.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnedHeaders {
    pub(crate) entries: Vec<(String, Option<Vec<u8>>)>,
}

impl OwnedHeaders {
    pub fn new() -> OwnedHeaders {
        OwnedHeaders::default()
    }

    pub fn new_with_capacity(capacity: usize) -> OwnedHeaders {
        OwnedHeaders {
            entries: Vec::with_capacity(capacity),
        }
    }

    pub fn insert<V>(mut self, header: Header<'_, &V>) -> OwnedHeaders
    where
        V: ToBytes + ?Sized,
    {
        self.entries.push((
            header.key.to_owned(),
            header.value.map(|v| v.to_bytes().to_vec()),
        ));
        self
    }
}

impl Headers for OwnedHeaders {
    fn count(&self) -> usize {
        self.entries.len()
    }

    fn get(&self, index: usize) -> Header<'_, &[u8]> {
        let (key, value) = &self.entries[index];
        Header {
            key,
            value: value.as_deref(),
        }
    }
}

/// Read access to a message.
pub trait Message {
    type Headers: Headers;
    fn key(&self) -> Option<&[u8]>;
    fn payload(&self) -> Option<&[u8]>;
    fn topic(&self) -> &str;
    fn partition(&self) -> i32;
    fn offset(&self) -> i64;
    fn timestamp(&self) -> Timestamp;
    fn headers(&self) -> Option<&Self::Headers>;
}

/// A record as the simulated cluster stores it; shared, never copied per reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: OwnedHeaders,
    pub timestamp_ms: i64,
}

/// A consumed message. In rdkafka it borrows the consumer's buffer; here it holds
/// the shared record.
#[derive(Debug, Clone)]
pub struct BorrowedMessage<'a> {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) record: Arc<StoredRecord>,
    pub(crate) consumer: PhantomData<&'a ()>,
}

impl Message for BorrowedMessage<'_> {
    type Headers = OwnedHeaders;

    fn key(&self) -> Option<&[u8]> {
        self.record.key.as_deref()
    }

    fn payload(&self) -> Option<&[u8]> {
        self.record.payload.as_deref()
    }

    fn topic(&self) -> &str {
        &self.topic
    }

    fn partition(&self) -> i32 {
        self.partition
    }

    fn offset(&self) -> i64 {
        self.record.offset
    }

    fn timestamp(&self) -> Timestamp {
        Timestamp::CreateTime(self.record.timestamp_ms)
    }

    fn headers(&self) -> Option<&OwnedHeaders> {
        (!self.record.headers.entries.is_empty()).then_some(&self.record.headers)
    }
}

/// A message the producer hands back with a failed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedMessage {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) payload: Option<Vec<u8>>,
    pub(crate) headers: OwnedHeaders,
}

impl Message for OwnedMessage {
    type Headers = OwnedHeaders;

    fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    fn payload(&self) -> Option<&[u8]> {
        self.payload.as_deref()
    }

    fn topic(&self) -> &str {
        &self.topic
    }

    fn partition(&self) -> i32 {
        self.partition
    }

    fn offset(&self) -> i64 {
        -1
    }

    fn timestamp(&self) -> Timestamp {
        Timestamp::NotAvailable
    }

    fn headers(&self) -> Option<&OwnedHeaders> {
        (!self.headers.entries.is_empty()).then_some(&self.headers)
    }
}
